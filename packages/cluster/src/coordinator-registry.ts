import type { KV } from 'nats';
import { CoordinatorRecord } from '@cairn/proto';
import { readAllKeys } from './kv-read-all.js';
import { HEARTBEAT_INTERVAL_MS } from './node-registry.js';
import type { ClusterState } from './state-buckets.js';

/** The KV bucket of coordinator records, one key per coordinator id. */
export const COORDINATORS_BUCKET = 'cairn_coordinators';

/**
 * How long a coordinator's record outlives its last heartbeat (the bucket's TTL). A crashed
 * coordinator stays listed for this long, so Prometheus keeps scraping it and reports it
 * down (`up == 0`) instead of silently forgetting it; after a day an operator has seen the
 * alert, and a coordinator that is never coming back stops being reported.
 */
export const COORDINATOR_RECORD_TTL_MS = 24 * 60 * 60 * 1000;

/** Keeps one coordinator's record fresh until stopped. */
export interface CoordinatorHeartbeat {
  /** Stops the heartbeat and deletes the record: a clean stop is not an outage. */
  stop(): Promise<void>;
}

/**
 * Coordinator records in the coordinators bucket. Each coordinator writes only its own key;
 * any coordinator (a standby too) reads them all, which is what Prometheus service discovery
 * needs: every coordinator can answer it, so the leader is no single point of monitoring.
 */
export class CoordinatorRegistry {
  private constructor(private readonly kv: KV) {}

  /** Opens the bucket, creating it when missing, through the state's one bucket helper. */
  static async open(state: ClusterState): Promise<CoordinatorRegistry> {
    return new CoordinatorRegistry(await state.openKv(COORDINATORS_BUCKET, { ttlMs: COORDINATOR_RECORD_TTL_MS }));
  }

  async put(record: CoordinatorRecord): Promise<void> {
    await this.kv.put(record.coordinatorId, CoordinatorRecord.encode(record).finish());
  }

  async remove(coordinatorId: string): Promise<void> {
    await this.kv.delete(coordinatorId);
  }

  /** Every coordinator record in the bucket, by id. A record that does not decode is skipped. */
  async list(): Promise<CoordinatorRecord[]> {
    const out: CoordinatorRecord[] = [];
    for (const value of (await readAllKeys(this.kv)).values()) {
      try {
        out.push(CoordinatorRecord.decode(value));
      } catch {
        // A record from a newer or broken writer must not hide every other coordinator.
      }
    }
    return out.sort((a, b) => a.coordinatorId.localeCompare(b.coordinatorId));
  }

  /**
   * Writes `record()` now and every heartbeat interval. The first write's failure is thrown
   * (the coordinator cannot register); later ones go to `onError` and are retried at the next
   * beat.
   */
  async startHeartbeat(record: () => CoordinatorRecord, onError: (err: unknown) => void): Promise<CoordinatorHeartbeat> {
    await this.put(record());
    let beating: Promise<void> | undefined;
    const timer = setInterval(() => {
      // While NATS is away a put can take its whole timeout: one at a time, not a pile.
      if (beating) return;
      beating = this.put(record())
        .catch(onError)
        .finally(() => (beating = undefined));
    }, HEARTBEAT_INTERVAL_MS);
    const id = record().coordinatorId;
    return {
      stop: async () => {
        clearInterval(timer);
        await beating;
        await this.remove(id).catch(onError);
      },
    };
  }
}
