import type { KV } from 'nats';
import { readAllKeys, spanConfigKey } from '@cairn/cluster';
import type { Catalog } from '@cairn/catalog';
import type { Logger } from '@cairn/metrics';
import { DescriptorState, ObjectKind } from '@cairn/proto';

/** How often the leader brings the span configs in step with the catalog. */
const RECONCILE_INTERVAL_MS = 1000;

/**
 * The GC TTL each table's keys get, from its zone configuration: the table's own
 * `gc.ttlseconds`, else its database's; tables with neither are left out (the cluster
 * setting applies to them).
 */
export function desiredSpanConfigs(catalog: Catalog): Map<string, string> {
  const out = new Map<string, string>();
  for (const db of catalog.databases()) {
    if (db.state === DescriptorState.DROPPED) continue;
    for (const t of catalog.tablesIn(db.id)) {
      if (t.state === DescriptorState.DROPPED || t.kind !== ObjectKind.TABLE) continue;
      const ttl = t.gcTtlSeconds ?? db.gcTtlSeconds;
      if (ttl !== undefined) out.set(spanConfigKey(t.id), String(ttl));
    }
  }
  return out;
}

export interface SpanConfigReconcilerDeps {
  readonly kv: KV;
  readonly catalog: () => Catalog;
  /** Whether the catalog is loaded (reconciling an empty one would delete every config). */
  readonly isReady: () => boolean;
  /** False once this process no longer leads: the loop ends. */
  readonly isLeading: () => boolean;
  readonly log: Logger;
}

/**
 * Keeps the `cairn_span_configs` bucket equal to what the catalog's zone configurations say
 * (CockroachDB's span config reconciliation): after ALTER ... CONFIGURE ZONE, a restore of
 * tables with a TTL, a CREATE TABLE in a database with one, a DROP. Runs on the leader each
 * second and on demand; writes only the keys that differ.
 */
export class SpanConfigReconciler {
  private timer: NodeJS.Timeout | undefined;
  private written: Map<string, string> | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly d: SpanConfigReconcilerDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.d.isLeading()) {
        this.stop();
        return;
      }
      void this.reconcile().catch((err: unknown) => this.d.log.warn({ err }, 'span config reconciliation failed; will retry'));
    }, RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass (concurrent calls share it). */
  async reconcile(): Promise<void> {
    if (!this.d.isReady()) return;
    this.running ??= this.pass().finally(() => (this.running = undefined));
    await this.running;
  }

  private async pass(): Promise<void> {
    const want = desiredSpanConfigs(this.d.catalog());
    if (this.written === undefined) {
      const decoder = new TextDecoder();
      this.written = new Map([...(await readAllKeys(this.d.kv))].map(([k, v]) => [k, decoder.decode(v)]));
    }
    const encoder = new TextEncoder();
    for (const [key, value] of want) {
      if (this.written.get(key) === value) continue;
      await this.d.kv.put(key, encoder.encode(value));
      this.written.set(key, value);
    }
    for (const key of [...this.written.keys()]) {
      if (want.has(key)) continue;
      await this.d.kv.delete(key);
      this.written.delete(key);
    }
  }
}
