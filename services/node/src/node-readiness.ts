import type { JetStreamManager, NatsConnection } from 'nats';
import { LOG_STREAM } from '@cairn/cluster';
import { cachedFor, checkWithin, evaluateReadiness, respondsWithin, type Readiness, type ReadinessCheck } from '@cairn/metrics';

/** How far behind the write log's last entry a node may be and still count as caught up. */
export const READY_MAX_LOG_LAG = 100;
/** How long a NATS round trip may take before the node reports itself not ready. */
const NATS_PROBE_TIMEOUT_MS = 1000;
/** The log's last sequence is read at most this often, however often probes come. */
const LOG_TAIL_CACHE_MS = 1000;

export interface NodeReadinessDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Sequence of the last log entry applied to the store. */
  appliedSeq(): number;
}

/**
 * When a node is ready: it has joined the cluster (written its first heartbeat), NATS answers,
 * and it has caught up with the write log (applied within READY_MAX_LOG_LAG entries of the
 * log's last sequence, read at most once a second). A draining node is not ready.
 */
export class NodeReadiness {
  private joinedCluster = false;
  private draining = false;
  private readonly checks: ReadinessCheck[];

  constructor(deps: NodeReadinessDeps) {
    const logTail = cachedFor(LOG_TAIL_CACHE_MS, async () => (await deps.jsm.streams.info(LOG_STREAM)).state.last_seq);
    this.checks = [
      () => (this.draining ? 'draining' : undefined),
      () => (this.joinedCluster ? undefined : 'not joined the cluster yet (no heartbeat written)'),
      respondsWithin(() => deps.nc.rtt(), NATS_PROBE_TIMEOUT_MS, 'NATS not reachable'),
      checkWithin(
        async () => {
          const last = await logTail();
          const applied = deps.appliedSeq();
          return applied + READY_MAX_LOG_LAG >= last ? undefined : `catching up with the write log (applied ${applied} of ${last})`;
        },
        2 * NATS_PROBE_TIMEOUT_MS,
        'cannot read the write log position',
      ),
    ];
  }

  check(): Promise<Readiness> {
    return evaluateReadiness(this.checks);
  }

  /** The first heartbeat is written: the coordinator can see this node. */
  joined(): void {
    this.joinedCluster = true;
  }

  drain(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
