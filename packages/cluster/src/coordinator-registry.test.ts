import type { NatsConnection } from 'nats';
import type { CoordinatorRecord } from '@cairn/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { COORDINATOR_RECORD_TTL_MS, COORDINATORS_BUCKET, CoordinatorRegistry } from './coordinator-registry.js';
import { HEARTBEAT_INTERVAL_MS } from './node-registry.js';
import { ClusterState } from './state-buckets.js';

let server: NatsServerHandle;
let ncA: NatsConnection;
let ncB: NatsConnection;
let a: CoordinatorRegistry;
let b: CoordinatorRegistry;

beforeAll(async () => {
  server = await startNatsServer();
  ncA = await connectNats(server.url, 'coordinator-a');
  ncB = await connectNats(server.url, 'coordinator-b');
  a = await CoordinatorRegistry.open(await ClusterState.open(ncA));
  b = await CoordinatorRegistry.open(await ClusterState.open(ncB));
});
afterAll(async () => {
  await ncA?.close();
  await ncB?.close();
  await server?.stop();
});

function record(id: string, over: Partial<CoordinatorRecord> = {}): CoordinatorRecord {
  return {
    coordinatorId: id,
    httpAddress: `127.0.0.1:${8000 + id.length}`,
    grpcAddress: `127.0.0.1:${26000 + id.length}`,
    startedAtMs: 1_700_000_000_000n,
    heartbeatAtMs: BigInt(Date.now()),
    buildVersion: 'test',
    locality: [{ key: 'region', value: 'us-east1' }],
    ...over,
  };
}

describe('CoordinatorRegistry', () => {
  it('keeps records in a bucket whose entries expire after the record TTL', async () => {
    const js = ncA.jetstream();
    const status = await (await js.views.kv(COORDINATORS_BUCKET, { bindOnly: true })).status();
    expect(status.ttl).toBe(COORDINATOR_RECORD_TTL_MS);
  });

  it('lists what every coordinator wrote, from any coordinator, and forgets a removed one', async () => {
    await a.put(record('coordinator-a'));
    await b.put(record('coordinator-b'));
    expect((await b.list()).map((r) => r.coordinatorId)).toEqual(['coordinator-a', 'coordinator-b']);
    expect((await a.list()).find((r) => r.coordinatorId === 'coordinator-b')).toEqual(record('coordinator-b', { heartbeatAtMs: expect.any(BigInt) as bigint }));
    await b.remove('coordinator-b');
    expect((await a.list()).map((r) => r.coordinatorId)).toEqual(['coordinator-a']);
    await a.remove('coordinator-a');
  });

  it('heartbeats refresh the record; stopping deletes it', async () => {
    const errors: unknown[] = [];
    const beat = await a.startHeartbeat(() => record('coordinator-hb', { heartbeatAtMs: BigInt(Date.now()) }), (err) => errors.push(err));
    const first = (await b.list()).find((r) => r.coordinatorId === 'coordinator-hb');
    expect(first).toBeDefined();
    const later = await waitFor(
      async () => {
        const r = (await b.list()).find((x) => x.coordinatorId === 'coordinator-hb');
        return r && r.heartbeatAtMs > first!.heartbeatAtMs ? r : undefined;
      },
      { timeoutMs: HEARTBEAT_INTERVAL_MS * 5, what: 'a newer heartbeat' },
    );
    expect(later.httpAddress).toBe(first!.httpAddress);
    await beat.stop();
    expect((await b.list()).find((r) => r.coordinatorId === 'coordinator-hb')).toBeUndefined();
    expect(errors).toEqual([]);
  });
});
