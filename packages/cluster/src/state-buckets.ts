import type { JetStreamClient, JetStreamManager, KV, NatsConnection } from 'nats';
import { DATA_REQUEST_TIMEOUT_MS, ensureKv, ensureStream, jetStream, setupManager, stateReplicas } from './jetstream-setup.js';

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
  /** Lease TTL: the entry expires this long after its last renewal. A dead leader is replaced sooner (see LeaderLease); this bounds how long a holder may ride out a NATS failover. */
  leaseTtlMs: number;
}

export const DEFAULT_STATE_OPTIONS: StateOptions = { replicas: 1, leaseTtlMs: 15_000 };

/**
 * What `ClusterState.open` takes: without `replicas` the count follows the NATS cluster
 * (3 on three or more servers, else 1); a count the cluster cannot hold is refused.
 */
export interface OpenStateOptions {
  replicas?: number | undefined;
  leaseTtlMs?: number | undefined;
  /** How long to keep retrying while JetStream forms or elects leaders (default 60 s). */
  budgetMs?: number;
}

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
   * Opens (creating when missing) the buckets and the write log. Every process does this at
   * start, all at once on a fresh cluster: `ensureKv`/`ensureStream` make it idempotent and
   * retry while JetStream elects leaders.
   */
  static async open(nc: NatsConnection, options: OpenStateOptions = {}): Promise<ClusterState> {
    const opts: StateOptions = {
      replicas: await stateReplicas(nc, options.replicas),
      leaseTtlMs: options.leaseTtlMs ?? DEFAULT_STATE_OPTIONS.leaseTtlMs,
    };
    const setup = { replicas: opts.replicas, ...(options.budgetMs ? { budgetMs: options.budgetMs } : {}) };
    const jsm = await setupManager(nc);
    const [meta, nodes, ranges, lease, settings] = await Promise.all([
      ensureKv(nc, Buckets.meta, setup),
      ensureKv(nc, Buckets.nodes, setup),
      ensureKv(nc, Buckets.ranges, setup),
      // A renewal must give up well within the TTL, so the next one is tried before the holder
      // has to step down (a request lost with a dying server would otherwise hang 10 s).
      ensureKv(nc, Buckets.lease, { ...setup, ttlMs: opts.leaseTtlMs, resilient: false, requestTimeoutMs: Math.max(500, opts.leaseTtlMs / 4) }),
      ensureKv(nc, Buckets.settings, setup),
    ]);
    // The log keeps every entry: a replica that was down catches up from where it stopped.
    // (Trimming below the oldest replica's applied position is future work.)
    await ensureStream(
      jsm,
      { name: LOG_STREAM, subjects: [LOG_SUBJECT], num_replicas: opts.replicas, max_msg_size: 8 * 1024 * 1024 },
      setup,
    );
    const dataJsm = await nc.jetstreamManager({ timeout: DATA_REQUEST_TIMEOUT_MS, checkAPI: false });
    return new ClusterState(nc, jetStream(nc), dataJsm, meta, nodes, ranges, lease, settings, opts);
  }

  /** Opens (creating when missing) one more bucket of the cluster's state, on the same replicas. */
  openKv(name: string, extra: { history?: number; ttlMs?: number } = {}): Promise<KV> {
    return ensureKv(this.nc, name, { replicas: this.options.replicas, ...extra });
  }
}
