import type { KV, NatsConnection } from 'nats';
import { KvMirror } from './kv-mirror.js';
import { ensureKv, stateReplicas } from './jetstream-setup.js';

/**
 * Span configurations: what a zone configuration (`ALTER TABLE|DATABASE ... CONFIGURE ZONE
 * USING gc.ttlseconds = N`) means for the keys of each table, as CockroachDB's span configs
 * carry zone configs from descriptors to the KV layer. The coordinator leader derives them
 * from the catalog (a table's own TTL, else its database's) and keeps this bucket in step;
 * nodes mirror it and their GC uses a table's TTL over the `gc.ttlseconds` setting.
 *
 * One key per table with a TTL of its own or inherited: `table.<id>` → the TTL in seconds,
 * as decimal text.
 */
export const SPAN_CONFIGS_BUCKET = 'cairn_span_configs';

/** The bucket key of a table's span config. */
export function spanConfigKey(tableId: number): string {
  return `table.${tableId}`;
}

/** Opens (creating when missing) the span configs bucket. */
export async function openSpanConfigs(nc: NatsConnection, replicas?: number): Promise<KV> {
  return ensureKv(nc, SPAN_CONFIGS_BUCKET, { replicas: replicas ?? (await stateReplicas(nc)) });
}

/** A node's read-only view of the span configs, kept current by a watch. */
export class SpanConfigView {
  private constructor(private readonly configs: KvMirror<number>) {}

  static async open(nc: NatsConnection, kv: KV): Promise<SpanConfigView> {
    return new SpanConfigView(await KvMirror.open(nc, kv, (_key, value) => Number(new TextDecoder().decode(value))));
  }

  /** The GC TTL configured for a table (its own or its database's); undefined: the setting's. */
  gcTtlSecondsForTable(tableId: number): number | undefined {
    const ttl = this.configs.get(spanConfigKey(tableId));
    return ttl !== undefined && Number.isSafeInteger(ttl) && ttl > 0 ? ttl : undefined;
  }

  stop(): void {
    this.configs.stop();
  }
}
