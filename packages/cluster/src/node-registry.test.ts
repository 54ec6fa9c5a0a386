import type { KV, NatsConnection } from 'nats';
import type { NodeRecord } from '@cairn/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { HEARTBEAT_INTERVAL_MS, isLive, LIVENESS_THRESHOLD_MS, NodeRegistry } from './node-registry.js';
import { Buckets, ClusterState } from './state-buckets.js';

let server: NatsServerHandle;
let ncWatcher: NatsConnection;
let ncWriter: NatsConnection;
let watcherKv: KV;
let writerKv: KV;

beforeAll(async () => {
  server = await startNatsServer();
  ncWatcher = await connectNats(server.url, 'registry-watcher');
  ncWriter = await connectNats(server.url, 'registry-writer');
  watcherKv = (await ClusterState.open(ncWatcher)).nodes;
  writerKv = (await ClusterState.open(ncWriter)).nodes;
});
afterAll(async () => {
  await ncWatcher?.close();
  await ncWriter?.close();
  await server?.stop();
});

function record(nodeId: number, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    nodeId,
    address: `127.0.0.1:${26000 + nodeId}`,
    locality: [{ key: 'region', value: `r${nodeId}` }],
    startedAtMs: 1_700_000_000_000n,
    heartbeatAtMs: BigInt(Date.now()),
    ranges: nodeId,
    appliedSeq: BigInt(nodeId * 10),
    draining: false,
    buildVersion: 'test',
    ...over,
  };
}

describe('NodeRegistry', () => {
  it('uses the nodes bucket', async () => {
    expect((await writerKv.status()).bucket).toBe(Buckets.nodes);
  });

  it('stores and reads back a record', async () => {
    const reg = new NodeRegistry(writerKv);
    const r = record(7);
    await reg.put(r);
    expect(await reg.get(7)).toEqual(r);
    expect(await new NodeRegistry(watcherKv).get(7)).toEqual(r);
    expect(await reg.get(8)).toBeUndefined();
  });

  it('watch() starts with the existing records and follows puts and deletes from another connection', async () => {
    const writer = new NodeRegistry(writerKv);
    await writer.put(record(1));
    await writer.put(record(2));

    const dir = await new NodeRegistry(watcherKv).watch(ncWatcher);
    try {
      // The initial records are there as soon as watch() resolves.
      expect(dir.get(1)?.address).toBe('127.0.0.1:26001');
      expect(dir.get(2)?.address).toBe('127.0.0.1:26002');

      await writer.put(record(3));
      await writer.put(record(1, { appliedSeq: 999n, draining: true }));
      await waitFor(async () => dir.has(3) && dir.get(1)?.appliedSeq === 999n, { what: 'watched puts' });
      expect(dir.get(1)?.draining).toBe(true);

      await writerKv.delete('2');
      await waitFor(async () => !dir.has(2), { what: 'watched delete' });
      expect(dir.list().map((r) => r.nodeId)).not.toContain(2);
    } finally {
      dir.stop();
    }
  });

  it('stops following after stop()', async () => {
    const writer = new NodeRegistry(writerKv);
    const dir = await new NodeRegistry(watcherKv).watch(ncWatcher);
    dir.stop();
    await writer.put(record(42));
    // A canary written after it and seen by a fresh watch proves the put had time to arrive.
    await writer.put(record(43));
    const fresh = await new NodeRegistry(watcherKv).watch(ncWatcher);
    try {
      expect(fresh.has(43)).toBe(true);
      expect(dir.has(42)).toBe(false);
    } finally {
      fresh.stop();
    }
  });

  it('lists records in node id order', async () => {
    const writer = new NodeRegistry(writerKv);
    for (const id of [12, 10, 11]) await writer.put(record(id));
    const dir = await new NodeRegistry(watcherKv).watch(ncWatcher);
    try {
      const ids = dir.list().map((r) => r.nodeId);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(ids).toEqual(expect.arrayContaining([10, 11, 12]));
    } finally {
      dir.stop();
    }
  });
});

describe('isLive', () => {
  const now = 1_800_000_000_000;
  it('is true while the heartbeat is younger than the threshold', () => {
    expect(HEARTBEAT_INTERVAL_MS).toBeLessThan(LIVENESS_THRESHOLD_MS);
    expect(isLive(record(1, { heartbeatAtMs: BigInt(now) }), now)).toBe(true);
    expect(isLive(record(1, { heartbeatAtMs: BigInt(now - LIVENESS_THRESHOLD_MS + 1) }), now)).toBe(true);
  });

  it('is false once the heartbeat is as old as the threshold, or the node drains', () => {
    expect(isLive(record(1, { heartbeatAtMs: BigInt(now - LIVENESS_THRESHOLD_MS) }), now)).toBe(false);
    expect(isLive(record(1, { heartbeatAtMs: BigInt(now), draining: true }), now)).toBe(false);
  });
});
