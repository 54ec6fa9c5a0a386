import type { KV, NatsConnection } from 'nats';
import { KvMirror } from './kv-mirror.js';
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
  async watch(nc: NatsConnection): Promise<NodeDirectory> {
    return new NodeDirectory(await KvMirror.open(nc, this.kv, (_key, value) => NodeRecord.decode(value)));
  }
}

/** Every node's latest record, kept current by a KV watch. */
export class NodeDirectory {
  constructor(private readonly records: KvMirror<NodeRecord>) {}

  get(nodeId: number): NodeRecord | undefined {
    return this.records.get(String(nodeId));
  }

  has(nodeId: number): boolean {
    return this.records.has(String(nodeId));
  }

  list(): NodeRecord[] {
    return [...this.records.values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  stop(): void {
    this.records.stop();
  }
}

export function isLive(record: NodeRecord, nowMs = Date.now()): boolean {
  return nowMs - Number(record.heartbeatAtMs) < LIVENESS_THRESHOLD_MS && !record.draining;
}
