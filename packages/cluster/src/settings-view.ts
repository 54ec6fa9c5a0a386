import type { KV, NatsConnection } from 'nats';
import { KvMirror } from './kv-mirror.js';

/** `gc.ttlseconds`: age after which overwritten MVCC revisions may be garbage collected. */
export const GC_TTL_SETTING = 'gc.ttlseconds';
/** CockroachDB's default GC TTL: 4 hours. */
export const DEFAULT_GC_TTL_SECONDS = 14_400;
/** `kv.gc.interval`: how often each node garbage-collects its replicas. */
export const GC_INTERVAL_SETTING = 'kv.gc.interval';
export const DEFAULT_GC_INTERVAL = '1m';

/**
 * A read-only view of the cluster settings bucket for processes that only consume settings
 * (nodes): the values `SET CLUSTER SETTING` stored, kept current by a watch. The coordinator
 * owns the list of settings, their types and defaults; callers here give their default.
 */
export class SettingsView {
  private constructor(private readonly values: KvMirror<string>) {}

  /** Resolves once the stored values are loaded. */
  static async open(nc: NatsConnection, kv: KV): Promise<SettingsView> {
    return new SettingsView(await KvMirror.open(nc, kv, (_key, value) => new TextDecoder().decode(value)));
  }

  /** The stored value of `name`, or undefined when it was never set (or was reset). */
  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** The value of an integer setting, or `fallback` when unset or not a whole number. */
  getInt(name: string, fallback: number): number {
    const v = this.values.get(name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
  }

  /** The value of a duration setting in milliseconds, or `fallback`'s. */
  getDurationMs(name: string, fallback: string): number {
    return parseDurationMs(this.values.get(name) ?? fallback) ?? parseDurationMs(fallback) ?? 0;
  }

  stop(): void {
    this.values.stop();
  }
}

/** A duration setting's value (`250ms`, `30s`, `5m`, `1h`) in milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim().toLowerCase());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}
