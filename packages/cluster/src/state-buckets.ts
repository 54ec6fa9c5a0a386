import type { JetStreamClient, JetStreamManager, KV, NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';

/** Names of the JetStream resources that hold the cluster's replicated state. */
export const Buckets = {
  /** cluster id, id allocators. */
  meta: 'cairn_meta',
  /** NodeRecord per node id, refreshed by heartbeats. */
  nodes: 'cairn_nodes',
  /** RangeDescriptor per range id (the coordinator's view, for SHOW RANGES). */
  ranges: 'cairn_ranges',
  /** The coordinator leader lease; entries expire after the lease TTL. */
  lease: 'cairn_lease',
  /** Cluster settings (SET CLUSTER SETTING). */
  settings: 'cairn_settings',
} as const;

export const LOG_STREAM = 'CAIRN_LOG';
export const LOG_SUBJECT = 'cairn.log';

export interface StateOptions {
  /** Replicas for every bucket and stream: 1 on a single server, 3 on a NATS cluster. */
  replicas: number;
  /** Lease TTL; a dead leader's lease expires after this long. */
  leaseTtlMs: number;
}

export const DEFAULT_STATE_OPTIONS: StateOptions = { replicas: 1, leaseTtlMs: 4000 };

/** Opened handles to the cluster's buckets and log stream. */
export class ClusterState {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly meta: KV,
    readonly nodes: KV,
    readonly ranges: KV,
    readonly lease: KV,
    readonly settings: KV,
    readonly options: StateOptions,
  ) {}

  /**
   * Opens (creating when missing) the buckets and the write log. JetStream may still be
   * electing leaders right after a NATS restart, so this retries until `timeoutMs`.
   */
  static async open(nc: NatsConnection, options: Partial<StateOptions> = {}, timeoutMs = 30_000): Promise<ClusterState> {
    const opts = { ...DEFAULT_STATE_OPTIONS, ...options };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const jsm = await nc.jetstreamManager({ timeout: 5000 });
        const js = nc.jetstream({ timeout: 10_000 });
        const kv = (name: string, extra: Record<string, unknown> = {}) =>
          js.views.kv(name, { replicas: opts.replicas, history: 1, ...extra });
        const [meta, nodes, ranges, lease, settings] = await Promise.all([
          kv(Buckets.meta),
          kv(Buckets.nodes),
          kv(Buckets.ranges),
          kv(Buckets.lease, { ttl: opts.leaseTtlMs }),
          kv(Buckets.settings),
        ]);
        await ensureLogStream(jsm, opts.replicas);
        return new ClusterState(nc, js, jsm, meta, nodes, ranges, lease, settings, opts);
      } catch (err) {
        if (Date.now() > deadline) {
          const reason = err instanceof Error ? err.message : String(err);
          throw new CairnError(ErrorCode.Unavailable, `JetStream is not available: ${reason}`, {
            cause: err,
            retryable: true,
          });
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

async function ensureLogStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  try {
    await jsm.streams.info(LOG_STREAM);
  } catch {
    // The log keeps every entry: a replica that was down catches up from where it stopped.
    // (Trimming below the oldest replica's applied position is future work.)
    await jsm.streams.add({
      name: LOG_STREAM,
      subjects: [LOG_SUBJECT],
      num_replicas: replicas,
      max_msg_size: 8 * 1024 * 1024,
    });
  }
}
