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

  async list(): Promise<NodeRecord[]> {
    const out: NodeRecord[] = [];
    const keys = await this.kv.keys();
    for await (const k of keys) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT') out.push(NodeRecord.decode(e.value));
    }
    return out.sort((a, b) => a.nodeId - b.nodeId);
  }
}

export function isLive(record: NodeRecord, nowMs = Date.now()): boolean {
  return nowMs - Number(record.heartbeatAtMs) < LIVENESS_THRESHOLD_MS && !record.draining;
}
