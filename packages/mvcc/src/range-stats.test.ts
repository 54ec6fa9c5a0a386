import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_MIN, KeyBuilder, compareKeys, keyToHex, tablePrefix, tableSpan, type Span } from '@cairn/keys';
import { seededRandom } from '@cairn/testing';
import { MvccStore, type MvccRevision } from './index.js';

const ALL: Span = { start: KEY_MIN, end: KEY_MIN };

function rowKey(table: number, id: number): Uint8Array {
  return new KeyBuilder().raw(tablePrefix(table)).int(id).finish();
}

let dir: string;
let store: MvccStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-range-stats-'));
  store = await MvccStore.open(dir, { mapSize: 1024 ** 3 });
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** The spans starting at `starts` (sorted, the keyspace's start first) tile the keyspace. */
function spansOf(starts: Uint8Array[]): Span[] {
  const sorted = [KEY_MIN, ...starts.filter((s) => s.length > 0)].sort(compareKeys);
  return sorted.map((start, i) => ({ start, end: sorted[i + 1] ?? KEY_MIN }));
}

/** Every tracked span's counters, and their sum, equal a full scan. */
function expectAgreement(starts: Uint8Array[], what: string): void {
  const spans = spansOf(starts);
  expect(store.trackedSpans(), what).toBe(spans.length);
  for (const span of spans) {
    expect(store.trackedStats(span), `${what}: span ${keyToHex(span.start)}..${keyToHex(span.end)}`).toEqual(store.spanStats(span));
  }
  expect(store.trackedStats(ALL), `${what}: whole keyspace`).toEqual(store.spanStats(ALL));
}

describe('range stats kept as writes apply', () => {
  it('agree with a full scan after random writes, deletes, ingests, GC, splits, joins and restarts', async () => {
    const rand = seededRandom(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const keys = [
      ...Array.from({ length: 120 }, (_, i) => rowKey(104, i)),
      ...Array.from({ length: 60 }, (_, i) => rowKey(105, i)),
      Uint8Array.of(0x01, 0x00, 0x02),
      Uint8Array.of(0x03),
    ];
    const value = (): Uint8Array | null => (rand() < 0.2 ? null : new Uint8Array(Math.floor(rand() * 90)).fill(7));
    // Split points to choose from: table starts and keys inside the tables.
    const cutPoints = [tablePrefix(104), tablePrefix(105), tablePrefix(106), ...[10, 40, 41, 80, 119].map((i) => rowKey(104, i)), rowKey(105, 30)];
    let starts: Uint8Array[] = [tablePrefix(104), tablePrefix(105)];
    await store.setStatsSpans(starts);
    let ts = 1000n;
    for (let round = 0; round < 120; round++) {
      const action = rand();
      if (action < 0.45) {
        // A write batch, with repeated keys (the last wins) and deletes.
        const ops = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => ({ key: pick(keys), value: value() }));
        ts += BigInt(1 + Math.floor(rand() * 5));
        await store.applyBatch(ops, ts);
      } else if (action < 0.6) {
        // A restore or a snapshot: revisions at any timestamp, some already stored (written
        // again), some older than the key's newest, in no particular order.
        const stored = [...store.exportRevisions(ALL, 0n, ts, true)];
        const revisions: MvccRevision[] = [];
        for (let i = 0; i < 30; i++) {
          const again = stored.length > 0 && rand() < 0.4 ? pick(stored) : undefined;
          revisions.push(again ?? { key: pick(keys), ts: 1n + BigInt(Math.floor(rand() * Number(ts))), value: value() });
        }
        await store.ingest(revisions, { batchSize: 1 + Math.floor(rand() * 12) });
      } else if (action < 0.75) {
        // GC of one tracked span or of everything, sometimes held back by a protected timestamp.
        const spans = spansOf(starts);
        const span = rand() < 0.3 ? ALL : pick(spans);
        const threshold = ts - BigInt(Math.floor(rand() * 40));
        const protectedTs = rand() < 0.3 ? [threshold - 10n] : [];
        if (store.gcThreshold(span) < threshold) await store.gc(span, threshold, protectedTs);
      } else if (action < 0.92) {
        // Splits (several pieces of one span at once) and joins.
        starts = cutPoints.filter(() => rand() < 0.5);
        await store.setStatsSpans(starts);
      } else {
        await store.close();
        store = await MvccStore.open(dir, { mapSize: 1024 ** 3 });
        // A node sets its ranges again at start; kept counters make that a no-op.
        await store.setStatsSpans(starts);
      }
      expectAgreement(starts, `round ${round}`);
    }
    // Not vacuous: the workload left live keys, tombstones and history behind.
    const total = store.spanStats(ALL);
    expect(total.keys).toBeGreaterThan(total.liveKeys);
    expect(total.liveKeys).toBeGreaterThan(50);
  });

  it('agree with a full scan while GC and writes run at once', async () => {
    await store.setStatsSpans([tablePrefix(104), rowKey(104, 50)]);
    for (let t = 1; t <= 20; t++) {
      await store.applyBatch(
        Array.from({ length: 100 }, (_, i) => ({ key: rowKey(104, i), value: t % 7 === 0 && i % 3 === 0 ? null : new Uint8Array(t) })),
        BigInt(t),
      );
    }
    const writes = (async () => {
      for (let t = 21; t <= 40; t++) {
        await store.applyBatch(Array.from({ length: 50 }, (_, i) => ({ key: rowKey(104, i * 2), value: t % 5 === 0 ? null : new Uint8Array(3) })), BigInt(t));
      }
    })();
    await Promise.all([writes, store.gc(tableSpan(104), 30n), store.setStatsSpans([tablePrefix(104), rowKey(104, 20), rowKey(104, 50)])]);
    expectAgreement([tablePrefix(104), rowKey(104, 20), rowKey(104, 50)], 'after concurrent GC and writes');
  });

  it('are counted once for a store written before they were kept', async () => {
    await store.applyBatch(Array.from({ length: 30 }, (_, i) => ({ key: rowKey(104, i), value: Uint8Array.of(i) })), 5n);
    await store.applyBatch([{ key: rowKey(104, 3), value: null }], 6n);
    await store.close();
    // Remove the counters, as a store from before this change has none.
    const env = open<Buffer, Buffer>({ path: join(dir, 'mvcc.mdb'), keyEncoding: 'binary', encoding: 'binary', maxDbs: 4 });
    const meta = env.openDB<Buffer, Buffer>('meta', { keyEncoding: 'binary', encoding: 'binary' });
    const stats = [...meta.getKeys({ start: Buffer.from('mvcc.stats/'), end: Buffer.from('mvcc.stats0') })];
    expect(stats.length).toBe(1);
    await env.transaction(() => stats.forEach((k) => meta.remove(k)));
    await env.close();
    store = await MvccStore.open(dir, { mapSize: 1024 ** 3 });
    expect(store.trackedStats(ALL)).toEqual(store.spanStats(ALL));
    expect(store.trackedStats(ALL)).toMatchObject({ keys: 30, liveKeys: 29 });
    await store.setStatsSpans([rowKey(104, 10)]);
    expectAgreement([rowKey(104, 10)], 'after a split of the rebuilt counters');
  });

  it('let GC pass over a span with no history or tombstones, and still collect one that has them', async () => {
    await store.setStatsSpans([tablePrefix(104), tablePrefix(105)]);
    await store.applyBatch(Array.from({ length: 50 }, (_, i) => ({ key: rowKey(104, i), value: Uint8Array.of(i) })), 10n);
    await store.applyBatch(Array.from({ length: 50 }, (_, i) => ({ key: rowKey(105, i), value: Uint8Array.of(i) })), 10n);
    await store.applyBatch([{ key: rowKey(105, 7), value: Uint8Array.of(1, 2) }, { key: rowKey(105, 8), value: null }], 20n);
    expect(await store.gc(tableSpan(104), 30n)).toEqual({ removed: 0 });
    // Passed over, the span's threshold still moved: reads below it are refused.
    expect(store.gcThreshold(tableSpan(104))).toBe(30n);
    expect(() => store.scan(tableSpan(104), 29n)).toThrow(/GC threshold/);
    // The other span had an overwrite and a delete: the old revisions and the tombstone go.
    expect(await store.gc(tableSpan(105), 30n)).toEqual({ removed: 3 });
    expectAgreement([tablePrefix(104), tablePrefix(105)], 'after GC');
    expect(store.trackedStats({ start: tablePrefix(105), end: KEY_MIN })).toMatchObject({ keys: 49, liveKeys: 49 });
  });

  it('answer only for runs of whole tracked spans', async () => {
    await store.setStatsSpans([tablePrefix(104), tablePrefix(105)]);
    expect(store.trackedStats(tableSpan(104))).toEqual({ keys: 0, liveKeys: 0, bytes: 0, liveBytes: 0 });
    expect(store.trackedStats({ start: tablePrefix(104), end: KEY_MIN })).toBeDefined();
    expect(store.trackedStats({ start: rowKey(104, 1), end: tablePrefix(105) })).toBeUndefined();
    expect(store.trackedStats({ start: tablePrefix(104), end: rowKey(104, 1) })).toBeUndefined();
  });
});

describe('splitKeys', () => {
  it('cuts a span into pieces of about the target size in one pass, never inside a key', async () => {
    for (let t = 1; t <= 3; t++) {
      await store.applyBatch(Array.from({ length: 400 }, (_, i) => ({ key: rowKey(104, i), value: new Uint8Array(100) })), BigInt(t));
    }
    const span = tableSpan(104);
    const total = store.spanStats(span).bytes;
    const cuts = store.splitKeys(span, total / 4, 10);
    expect(cuts.length).toBe(3);
    const bounds = [span.start, ...cuts, span.end];
    for (let i = 0; i < 4; i++) {
      const piece = store.spanStats({ start: bounds[i]!, end: bounds[i + 1]! });
      expect(Math.abs(piece.bytes - total / 4)).toBeLessThan(total / 40);
    }
    // Each cut is a stored key, so its revisions all land on one side.
    for (const k of cuts) expect(store.get(k, 3n)).toBeDefined();
    expect(store.splitKeys(span, total / 4, 1).map(keyToHex)).toEqual([keyToHex(cuts[0]!)]);
    expect(store.splitKeys(span, total * 2, 10)).toEqual([]);
    expect(store.splitKeys({ start: rowKey(104, 7), end: rowKey(104, 8) }, 1, 10)).toEqual([]);
  });
});
