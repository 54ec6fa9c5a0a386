import { randomUUID } from 'node:crypto';
import type { KV, NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, type NatsClusterHandle } from '@cairn/testing';
import { allocateId, getOrCreate } from './id-allocator.js';
import { connectNats } from './nats-connection.js';
import { ensureKv } from './jetstream-setup.js';

// A 3-server cluster with R3 buckets, each client on its own server: the setting in which
// nats-server 2.9's update() CAS is unsafe (TOOLCHAIN.md) and create() must still be.
let cluster: NatsClusterHandle;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  for (const url of cluster.urls) connections.push(await connectNats(url, 'id-allocator-test'));
});
afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stop();
});

/**
 * The same fresh R3 bucket, opened through each server as cairn opens its buckets (direct
 * gets off: with them on, a get served by a lagging replica could still see a deleted key,
 * which made the delete-then-create test fail now and then), without cairn's retries.
 */
async function bucketOnEveryServer(): Promise<KV[]> {
  const name = `ids_${randomUUID().slice(0, 8)}`;
  const first = await ensureKv(connections[0]!, name, { replicas: 3, resilient: false });
  const rest = await Promise.all(connections.slice(1).map((nc) => ensureKv(nc, name, { replicas: 3, resilient: false })));
  return [first, ...rest];
}

describe('allocateId', () => {
  it('gives distinct, dense ids to concurrent callers on different servers', async () => {
    const kvs = await bucketOnEveryServer();
    const owners = Array.from({ length: 12 }, (_, i) => `node-${i}`);
    const ids = await Promise.all(owners.map((owner, i) => allocateId(kvs[i % kvs.length]!, 'node', owner)));
    expect(new Set(ids).size).toBe(owners.length);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: owners.length }, (_, i) => i + 1));
    // Each id is recorded with the owner that got it.
    for (const [i, id] of ids.entries()) {
      expect((await kvs[0]!.get(`node.${id}`))?.string()).toBe(owners[i]);
    }
  });

  it('starts at `first` and skips ids already taken', async () => {
    const [kv] = await bucketOnEveryServer();
    await kv!.create('job.100', new TextEncoder().encode('someone'));
    expect(await allocateId(kv!, 'job', 'me', 100)).toBe(101);
    expect(await allocateId(kv!, 'job', 'me', 100)).toBe(102);
    // Separate prefixes count separately.
    expect(await allocateId(kv!, 'other', 'me')).toBe(1);
  });
});

describe('getOrCreate', () => {
  it('lets the first writer win and returns its value to every caller', async () => {
    const kvs = await bucketOnEveryServer();
    const made: string[] = [];
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        getOrCreate(kvs[i % kvs.length]!, 'cluster-id', () => {
          const v = `id-${i}`;
          made.push(v);
          return v;
        }),
      ),
    );
    const winner = results[0]!;
    expect(results.every((r) => r === winner)).toBe(true);
    expect(made).toContain(winner);
    expect((await kvs[1]!.get('cluster-id'))?.string()).toBe(winner);

    // Once it exists, the value is returned without making a new one.
    let called = false;
    const later = await getOrCreate(kvs[2]!, 'cluster-id', () => {
      called = true;
      return 'late';
    });
    expect(later).toBe(winner);
    expect(called).toBe(false);
  });

  it('creates the value again after the key was deleted', async () => {
    const [kv] = await bucketOnEveryServer();
    expect(await getOrCreate(kv!, 'k', () => 'first')).toBe('first');
    await kv!.delete('k');
    expect(await getOrCreate(kv!, 'k', () => 'second')).toBe('second');
  });
});
