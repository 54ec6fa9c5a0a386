import type { KV } from 'nats';
import { NodeRecord } from '@cairn/proto';

/** A node is live while its heartbeat is younger than this (CockroachDB: 9 s; we are local). */
export const LIVENESS_THRESHOLD_MS = 4500;
export const HEARTBEAT_INTERVAL_MS = 1000;

/** Node records in the nodes bucket, keyed by node id. Each node writes only its own key. */
export class NodeRegistry {
  constructor(private readonly kv: KV) {}

  async put(record: NodeRecord): Promise<void> {
    await this.kv.put(String(record.nodeId), NodeRecord.encode(record).finish());
  }

  async get(nodeId: number): Promise<NodeRecord | undefined> {
    const e = await this.kv.get(String(nodeId));
    return e && e.operation === 'PUT' ? NodeRecord.decode(e.value) : undefined;
  }

  /**
   * Keeps a live map of every node record from a KV watch (no polling: a listing with
   * `keys()` can stall while heartbeats keep updating the bucket).
   */
  async watch(): Promise<NodeDirectory> {
    const dir = new NodeDirectory();
    let done!: () => void;
    const initialized = new Promise<void>((r) => (done = r));
    const w = await this.kv.watch({ initializedFn: () => done() });
    void (async () => {
      for await (const e of w) {
        if (e.operation === 'PUT') dir.records.set(Number(e.key), NodeRecord.decode(e.value));
        else dir.records.delete(Number(e.key));
      }
    })();
    await initialized;
    dir.stop = () => w.stop();
    return dir;
  }
}

/** Every node's latest record, kept current by a KV watch. */
export class NodeDirectory {
  readonly records = new Map<number, NodeRecord>();
  stop: () => void = () => undefined;

  list(): NodeRecord[] {
    return [...this.records.values()].sort((a, b) => a.nodeId - b.nodeId);
  }
}

export function isLive(record: NodeRecord, nowMs = Date.now()): boolean {
  return nowMs - Number(record.heartbeatAtMs) < LIVENESS_THRESHOLD_MS && !record.draining;
}
