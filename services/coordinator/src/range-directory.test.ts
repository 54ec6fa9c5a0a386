import { randomUUID } from 'node:crypto';
import type { KV, NatsConnection } from 'nats';
import { connectNats } from '@cairn/cluster';
import { compareKeys, FIRST_USER_ID, keyToHex, tablePrefix } from '@cairn/keys';
import type { NodeRecord, RangeDescriptor } from '@cairn/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom as rng, startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { RangeDirectory } from './range-directory.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let nc2: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'range-directory-test');
  nc2 = await connectNats(server.url, 'range-directory-test-2');
});
afterAll(async () => {
  await nc?.close();
  await nc2?.close();
  await server?.stop();
});

/** An empty ranges bucket of its own, as the coordinator's `cairn_ranges`. */
async function freshBucket(): Promise<{ kv: KV; name: string }> {
  const name = `ranges_${randomUUID().slice(0, 8)}`;
  return { kv: await nc.jetstream().views.kv(name, { history: 1 }), name };
}

async function emptyDirectory(): Promise<RangeDirectory> {
  return RangeDirectory.load((await freshBucket()).kv);
}

function node(nodeId: number, region: string, zone = `${region}-a`): NodeRecord {
  return {
    nodeId,
    address: `127.0.0.1:${26000 + nodeId}`,
    locality: [
      { key: 'region', value: region },
      { key: 'zone', value: zone },
    ],
    startedAtMs: 0n,
    heartbeatAtMs: BigInt(Date.now()),
    ranges: 0,
    appliedSeq: 0n,
    draining: false,
    buildVersion: 'test',
  };
}

/** Ranges without byte-array identity, for comparisons. */
function view(ranges: readonly RangeDescriptor[]) {
  return ranges.map((r) => ({
    rangeId: r.rangeId,
    start: keyToHex(r.startKey),
    end: keyToHex(r.endKey),
    replicas: [...r.replicas],
    generation: r.generation,
  }));
}

/** The ranges tile the keyspace: from the empty key, each ending where the next starts, the last unbounded. */
function expectCoversKeyspace(ranges: readonly RangeDescriptor[]): void {
  expect(ranges.length).toBeGreaterThan(0);
  expect(ranges[0]!.startKey.length).toBe(0);
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    const next = ranges[i + 1];
    if (next) {
      expect(keyToHex(r.endKey)).toBe(keyToHex(next.startKey));
      expect(compareKeys(r.startKey, r.endKey)).toBeLessThan(0);
    } else {
      expect(r.endKey.length).toBe(0);
    }
  }
  expect(new Set(ranges.map((r) => r.rangeId)).size).toBe(ranges.length);
}

function regionOf(nodes: readonly NodeRecord[], id: number): string | undefined {
  return nodes.find((n) => n.nodeId === id)?.locality[0]?.value;
}


describe('RangeDirectory.bootstrap', () => {
  it('starts empty', async () => {
    const d = await emptyDirectory();
    expect(d.isBootstrapped).toBe(false);
    expect(d.all()).toEqual([]);
    expect(d.find(tablePrefix(FIRST_USER_ID))).toBeUndefined();
  });

  it('covers the keyspace with a system range and a user range, both on the same replicas', async () => {
    const d = await emptyDirectory();
    const nodes = [node(1, 'us-east1'), node(2, 'us-west1'), node(3, 'europe-west1')];
    const created = d.bootstrap(nodes, 3);
    expect(d.isBootstrapped).toBe(true);
    expect(created).toHaveLength(2);
    expect(view(created)).toEqual(view(d.all()));
    expectCoversKeyspace(d.all());

    const [system, user] = d.all();
    expect(keyToHex(system!.endKey)).toBe(keyToHex(tablePrefix(FIRST_USER_ID)));
    expect([system!.rangeId, user!.rangeId]).toEqual([1, 2]);
    expect([system!.generation, user!.generation]).toEqual([1, 1]);
    expect([...system!.replicas].sort()).toEqual([1, 2, 3]);
    expect(user!.replicas).toEqual(system!.replicas);
    // Separate arrays: changing one range's replicas must not change the other's.
    expect(user!.replicas).not.toBe(system!.replicas);

    expect(d.find(tablePrefix(1))?.rangeId).toBe(1);
    expect(d.find(tablePrefix(FIRST_USER_ID - 1))?.rangeId).toBe(1);
    expect(d.find(tablePrefix(FIRST_USER_ID))?.rangeId).toBe(2);
    expect(d.find(Uint8Array.of(0xff, 0xff, 0xff))?.rangeId).toBe(2);
  });

  it('places no more replicas than there are nodes', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a'), node(2, 'b')], 3);
    for (const r of d.all()) expect([...r.replicas].sort()).toEqual([1, 2]);
  });
});

describe('RangeDirectory.splitAt', () => {
  it('splits the containing range in two, keeping coverage and replicas', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a'), node(2, 'b'), node(3, 'c')], 3);
    const original = d.all()[1]!;
    const key = tablePrefix(150);

    const [left, right] = d.splitAt(key);
    expect(left && right).toBeTruthy();
    expect(left!.rangeId).toBe(original.rangeId);
    expect(right!.rangeId).toBe(3);
    expect(keyToHex(left!.startKey)).toBe(keyToHex(original.startKey));
    expect(keyToHex(left!.endKey)).toBe(keyToHex(key));
    expect(keyToHex(right!.startKey)).toBe(keyToHex(key));
    expect(right!.endKey.length).toBe(0);
    expect(left!.replicas).toEqual(original.replicas);
    expect(right!.replicas).toEqual(original.replicas);
    expect([left!.generation, right!.generation]).toEqual([2, 2]);

    expect(d.all()).toHaveLength(3);
    expectCoversKeyspace(d.all());
    expect(d.find(tablePrefix(149))?.rangeId).toBe(original.rangeId);
    expect(d.find(key)?.rangeId).toBe(3);
  });

  it('does nothing at an existing boundary', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a')], 1);
    const before = view(d.all());
    expect(d.splitAt(tablePrefix(FIRST_USER_ID))).toEqual([]);
    expect(d.splitAt(new Uint8Array(0))).toEqual([]);
    expect(view(d.all())).toEqual(before);
  });

  it('keeps the keyspace tiled through many splits in any order', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a'), node(2, 'b')], 2);
    const next = rng(7);
    const keys = Array.from({ length: 40 }, () => tablePrefix(1 + Math.floor(next() * 500)));
    for (const k of keys) d.splitAt(k);
    expectCoversKeyspace(d.all());
    for (const k of keys) expect(keyToHex(d.find(k)!.startKey)).toBe(keyToHex(k));
    for (const r of d.all()) expect([...r.replicas].sort()).toEqual([1, 2]);
  });

  it('cuts one range into many pieces at once, each changed range listed once as it ends up', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a')], 1);
    const changed = d.splitAtKeys([tablePrefix(200), tablePrefix(300), tablePrefix(400), tablePrefix(300)]);
    // The user range (id 2) is cut three times: itself shrunk, and three new ranges.
    expect(changed.map((r) => r.rangeId).sort()).toEqual([2, 3, 4, 5]);
    expect(view(changed).sort((a, b) => a.rangeId - b.rangeId)).toEqual(view(d.all().slice(1)).sort((a, b) => a.rangeId - b.rangeId));
    expectCoversKeyspace(d.all());
    expect(d.splitAtKeys([tablePrefix(300)])).toEqual([]);
  });

  it('finds the ranges overlapping a span', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a')], 1);
    d.splitAt(tablePrefix(200));
    d.splitAt(tablePrefix(300));
    const ids = (start: number, end: number) =>
      d.overlapping({ start: tablePrefix(start), end: tablePrefix(end) }).map((r) => r.rangeId);
    expect(ids(150, 250)).toEqual([2, 3]);
    expect(ids(200, 300)).toEqual([3]);
    expect(ids(1, 2)).toEqual([1]);
    expect(d.overlapping({ start: tablePrefix(250), end: new Uint8Array(0) }).map((r) => r.rangeId)).toEqual([3, 4]);
  });
});

describe('RangeDirectory.upreplicate', () => {
  it('adds replicas in regions the range does not use yet before doubling up a region', async () => {
    const nodes = [node(1, 'us-east1'), node(2, 'us-east1', 'us-east1-b'), node(3, 'us-west1'), node(4, 'europe-west1')];
    const d = await emptyDirectory();
    d.bootstrap([nodes[0]!], 3);
    expect(d.all()[0]!.replicas).toEqual([1]);

    const changed = d.upreplicate(nodes, 3);
    expect(changed.map((r) => r.rangeId)).toEqual([1, 2]);
    for (const r of d.all()) {
      expect(r.replicas).toHaveLength(3);
      expect(r.replicas[0]).toBe(1);
      expect(new Set(r.replicas.map((n) => regionOf(nodes, n))).size).toBe(3);
      expect(r.replicas).not.toContain(2);
      expect(r.generation).toBe(2);
    }
    // Fully replicated: nothing more to do.
    expect(d.upreplicate(nodes, 3)).toEqual([]);
  });

  it('replaces a dead replica with a live node and never repeats a node', async () => {
    const nodes = [node(1, 'us-east1'), node(2, 'us-east1', 'us-east1-b'), node(3, 'us-west1'), node(4, 'europe-west1')];
    const d = await emptyDirectory();
    d.bootstrap(nodes, 3);
    const victim = d.all()[0]!.replicas.find((n) => n !== 1)!;
    const live = nodes.filter((n) => n.nodeId !== victim);
    const changed = d.upreplicate(live, 3);
    expect(changed).toHaveLength(2);
    for (const r of d.all()) {
      expect(new Set(r.replicas).size).toBe(r.replicas.length);
      expect(r.replicas.filter((n) => live.some((l) => l.nodeId === n))).toHaveLength(3);
    }
  });

  it('spreads new replicas over the least loaded nodes of an unused region', async () => {
    const d = await emptyDirectory();
    d.bootstrap([node(1, 'a')], 1);
    for (let t = 110; t < 200; t += 10) d.splitAt(tablePrefix(t));
    const live = [node(1, 'a'), node(2, 'b'), node(3, 'b')];
    d.upreplicate(live, 2);
    const counts = d.replicaCounts();
    expect(counts.get(1)).toBe(d.all().length);
    expect((counts.get(2) ?? 0) + (counts.get(3) ?? 0)).toBe(d.all().length);
    expect(Math.abs((counts.get(2) ?? 0) - (counts.get(3) ?? 0))).toBeLessThanOrEqual(1);
  });

  it('never places a node twice in a range, whatever the topology and failures', async () => {
    const next = rng(42);
    for (let round = 0; round < 30; round++) {
      const regions = ['r1', 'r2', 'r3', 'r4'].slice(0, 1 + Math.floor(next() * 4));
      const nodes = Array.from({ length: 1 + Math.floor(next() * 7) }, (_, i) =>
        node(i + 1, regions[Math.floor(next() * regions.length)]!),
      );
      const rf = 1 + Math.floor(next() * 5);
      const d = await RangeDirectory.load((await freshBucket()).kv);
      d.bootstrap(nodes.filter((_, i) => i === 0 || next() < 0.5), rf);
      for (let step = 0; step < 6; step++) {
        d.splitAt(tablePrefix(1 + Math.floor(next() * 300)));
        const live = nodes.filter(() => next() < 0.7);
        const before = new Map(d.all().map((r) => [r.rangeId, [...r.replicas]]));
        d.upreplicate(live, rf);
        for (const r of d.all()) {
          expect(new Set(r.replicas).size).toBe(r.replicas.length);
          const liveHere = r.replicas.filter((n) => live.some((l) => l.nodeId === n));
          expect(liveHere.length).toBeGreaterThanOrEqual(Math.min(rf, live.length));
          // Replicas are only added, and each one added goes to a region the range did not
          // use yet whenever a live node in such a region was available.
          const old = before.get(r.rangeId)!;
          expect(r.replicas.slice(0, old.length)).toEqual(old);
          for (let i = old.length; i < r.replicas.length; i++) {
            const prior = r.replicas.slice(0, i);
            const used = new Set(prior.filter((n) => live.some((l) => l.nodeId === n)).map((n) => regionOf(nodes, n)));
            const freshRegionAvailable = live.some((l) => !prior.includes(l.nodeId) && !used.has(regionOf(nodes, l.nodeId)));
            if (freshRegionAvailable) expect(used.has(regionOf(nodes, r.replicas[i]!))).toBe(false);
          }
        }
        expectCoversKeyspace(d.all());
      }
    }
  });
});

describe('RangeDirectory persistence', () => {
  it('loads back what it persisted, from another connection, and keeps allocating fresh range ids', async () => {
    const { kv, name } = await freshBucket();
    const d = await RangeDirectory.load(kv);
    const nodes = [node(1, 'a'), node(2, 'b'), node(3, 'c')];
    await d.persist(d.bootstrap(nodes, 3));
    await d.persist(d.splitAt(tablePrefix(300)));
    await d.persist(d.splitAt(tablePrefix(200)));
    await d.persist(d.upreplicate(nodes, 3));
    expect(d.all()).toHaveLength(4);

    const otherKv = await nc2.jetstream().views.kv(name, { bindOnly: true });
    const loaded = await RangeDirectory.load(otherKv);
    expect(loaded.isBootstrapped).toBe(true);
    expect(view(loaded.all())).toEqual(view(d.all()));
    expectCoversKeyspace(loaded.all());

    const [, right] = loaded.splitAt(tablePrefix(250));
    expect(right!.rangeId).toBe(5);
    expect(loaded.replicaCounts()).toEqual(
      new Map([
        [1, 5],
        [2, 5],
        [3, 5],
      ]),
    );
  });

  it('loads a split whose left half was never saved as a tiling again (a leader died between the two writes)', async () => {
    const { kv } = await freshBucket();
    const d = await RangeDirectory.load(kv);
    const nodes = [node(1, 'a'), node(2, 'b'), node(3, 'c')];
    await d.persist(d.bootstrap(nodes, 3));
    await d.persist(d.splitAt(tablePrefix(300)));
    const before = view(d.all());
    // The next split saves only its new right range, as a leader killed mid-persist leaves it.
    const [left, right] = d.splitAt(tablePrefix(200));
    await d.persist([right!]);

    const loaded = await RangeDirectory.load(kv);
    expectCoversKeyspace(loaded.all());
    expect(view(loaded.all())).toEqual(view(d.all()));
    expect(compareKeys(loaded.all().find((r) => r.rangeId === left!.rangeId)!.endKey, tablePrefix(200))).toBe(0);
    expect(view(loaded.all())).not.toEqual(before);
  });
});

