import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { KEY_MIN, KeyBuilder, compareKeys, keyToHex, tablePrefix, tableSpan, type Span } from '@cairn/keys';
import { MvccStore, type MvccRevision, type RevisionSlot } from './index.js';
import { MVCC_TS_LEN, encodeMvccValue, encodeRevisionPrefix } from './mvcc-key.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string): Uint8Array => enc.encode(s);
const s = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : dec.decode(u));
const ALL: Span = { start: KEY_MIN, end: KEY_MIN };

function rowKey(table: number, id: number): Uint8Array {
  return new KeyBuilder().raw(tablePrefix(table)).int(id).finish();
}

function revs(it: Iterable<MvccRevision>): string[] {
  return [...it].map((r) => `${s(r.key)}@${r.ts}=${r.value === null ? '∅' : s(r.value)}`);
}

/** `revs` for an export with transient values: each value is read before the next revision. */
function revsEach(it: Iterable<MvccRevision>): string[] {
  const out: string[] = [];
  for (const r of it) out.push(`${s(r.key)}@${r.ts}=${r.value === null ? '∅' : s(r.value)}`);
  return out;
}

/** `revs` for `exportRevisionSlots`: each slot is read before the next (it is reused). */
function slotsEach(it: Iterable<RevisionSlot>): string[] {
  const out: string[] = [];
  for (const r of it) {
    const value = r.hasValue ? s(r.value.subarray(r.valueStart, r.valueEnd)) : '∅';
    out.push(`${s(r.key.subarray(0, r.keyLength))}@${r.ts}=${value}`);
  }
  return out;
}

let dir: string;
let store: MvccStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-mvcc-'));
  store = await MvccStore.open(dir, { mapSize: 1024 ** 3 });
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** a: 10=a1, 20=a2, 30=∅ ; ab: 15=ab1 ; b: 25=b1, 35=b2 ; c: 5=∅ */
async function seed(): Promise<void> {
  await store.applyBatch([{ key: b('c'), value: null }], 5n);
  await store.applyBatch([{ key: b('a'), value: b('a1') }], 10n);
  await store.applyBatch([{ key: b('ab'), value: b('ab1') }], 15n);
  await store.applyBatch([{ key: b('a'), value: b('a2') }], 20n);
  await store.applyBatch([{ key: b('b'), value: b('b1') }], 25n);
  await store.applyBatch([{ key: b('a'), value: null }], 30n);
  await store.applyBatch([{ key: b('b'), value: b('b2') }], 35n);
}

describe('MvccStore reads', () => {
  it('get returns the newest revision at or below ts and hides tombstones', async () => {
    await seed();
    expect(s(store.get(b('a'), 9n))).toBeUndefined();
    expect(s(store.get(b('a'), 10n))).toBe('a1');
    expect(s(store.get(b('a'), 29n))).toBe('a2');
    expect(s(store.get(b('a'), 30n))).toBeUndefined();
    expect(s(store.get(b('ab'), 100n))).toBe('ab1');
    expect(s(store.get(b('c'), 100n))).toBeUndefined();
    expect(s(store.get(b('zz'), 100n))).toBeUndefined();
  });

  it('prefetch takes present, absent and escaped keys (and none) and changes no read', async () => {
    await seed();
    await store.applyBatch([{ key: Uint8Array.of(0x61, 0x00, 0x62), value: b('nul') }], 40n);
    await store.prefetch([]);
    await store.prefetch([b('a'), b('zz'), Uint8Array.of(0x61, 0x00, 0x62), b('b')]);
    expect(s(store.get(b('a'), 29n))).toBe('a2');
    expect(s(store.get(Uint8Array.of(0x61, 0x00, 0x62), 40n))).toBe('nul');
    expect(s(store.get(b('zz'), 40n))).toBeUndefined();
  });

  it('scan returns live rows at ts in key order, with limit and span bounds', async () => {
    await seed();
    const at = (ts: bigint, span = ALL, limit?: number): string[] =>
      [...store.scan(span, ts, limit === undefined ? {} : { limit })].map((r) => `${s(r.key)}@${r.ts}=${s(r.value)}`);
    expect(at(12n)).toEqual(['a@10=a1']);
    expect(at(25n)).toEqual(['a@20=a2', 'ab@15=ab1', 'b@25=b1']);
    expect(at(40n)).toEqual(['ab@15=ab1', 'b@35=b2']);
    expect(at(25n, ALL, 2)).toEqual(['a@20=a2', 'ab@15=ab1']);
    expect(at(25n, { start: b('ab'), end: b('b') })).toEqual(['ab@15=ab1']);
    expect(at(25n, { start: b('a\u0000'), end: KEY_MIN })).toEqual(['ab@15=ab1', 'b@25=b1']);
  });

  it('handles keys with embedded 0x00 and keys that prefix others', async () => {
    const keys = [Uint8Array.of(1), Uint8Array.of(1, 0), Uint8Array.of(1, 0, 0), Uint8Array.of(1, 0, 1), Uint8Array.of(1, 1)];
    await store.applyBatch(
      [...keys].reverse().map((k, i) => ({ key: k, value: Uint8Array.of(i) })),
      7n,
    );
    const got = [...store.scan(ALL, 7n)].map((r) => keyToHex(r.key));
    expect(got).toEqual(keys.map(keyToHex));
    const inner = [...store.scan({ start: Uint8Array.of(1, 0), end: Uint8Array.of(1, 0, 1) }, 7n)].map((r) => keyToHex(r.key));
    expect(inner).toEqual(['0100', '010000']);
  });

  it('exports into reused slots what exportRevisions exports: escaped keys, long keys, seeks, tombstones', async () => {
    // Keys with 0x00 bytes (escaped in the store), one longer than the slot's and the raw
    // cursor's first buffers, and keys with more revisions than a cursor steps over before
    // it seeks (nextKey and skipNewerThan both seek).
    const keys = [Uint8Array.of(0), Uint8Array.of(0, 0, 1), Uint8Array.of(1, 0), b('k'.repeat(150)), b('many'), b('z\u0000z')];
    for (let t = 1; t <= 30; t++) {
      const ops = keys
        .filter((_, i) => i >= 4 || t % 7 === i)
        .map((key, i) => ({ key, value: (t + i) % 5 === 0 ? null : b(`v${t}-${i}`) }));
      await store.applyBatch(ops, BigInt(t * 10));
    }
    for (const [startTs, endTs] of [[0n, 300n], [0n, 155n], [0n, 5n], [40n, 155n], [149n, 150n], [0n, 1000n]] as const) {
      for (const all of [false, true]) {
        const expected = revs(store.exportRevisions(ALL, startTs, endTs, all, { useChangeIndex: false }));
        expect(slotsEach(store.exportRevisionSlots(ALL, startTs, endTs, all)), `(${startTs}, ${endTs}] all=${all}`).toEqual(expected);
        const span = { start: Uint8Array.of(0, 0), end: b('many') };
        const inSpan = revs(store.exportRevisions(span, startTs, endTs, all, { useChangeIndex: false }));
        expect(slotsEach(store.exportRevisionSlots(span, startTs, endTs, all)), `span (${startTs}, ${endTs}] all=${all}`).toEqual(inSpan);
      }
    }
    // The slot is one object, refilled: a consumer copies what it keeps.
    const seen = new Set(store.exportRevisionSlots(ALL, 0n, 300n, true));
    expect(seen.size).toBe(1);
    // Refusals come at the call, as exportRevisions'.
    expect(() => store.exportRevisionSlots(ALL, 20n, 10n, false)).toThrow(/invalid export window/);
    await store.gc(ALL, 100n);
    expect(() => store.exportRevisionSlots(ALL, 0n, 50n, false)).toThrow(expect.objectContaining({ code: ErrorCode.FailedPrecondition }));
  });

  it('skips many revisions by seeking and stays correct', async () => {
    for (let t = 1; t <= 50; t++) {
      await store.applyBatch(
        [
          { key: b('k1'), value: b(`v${t}`) },
          { key: b('k2'), value: t % 2 === 0 ? null : b(`w${t}`) },
        ],
        BigInt(t * 10),
      );
    }
    expect([...store.scan(ALL, 255n)].map((r) => `${s(r.key)}=${s(r.value)}`)).toEqual(['k1=v25', 'k2=w25']);
    expect([...store.scan(ALL, 260n)].map((r) => `${s(r.key)}=${s(r.value)}`)).toEqual(['k1=v26']);
    expect([...store.scan(ALL, 1000n)].map((r) => `${s(r.key)}=${s(r.value)}`)).toEqual(['k1=v50']);
    expect(revs(store.exportRevisions(ALL, 0n, 255n, false))).toEqual(['k1@250=v25', 'k2@250=w25']);
  });

  it('a scan keeps its snapshot while writes land', async () => {
    await seed();
    const it = store.scan(ALL, 100n)[Symbol.iterator]();
    expect(s(it.next().value?.key)).toBe('ab');
    await store.applyBatch([{ key: b('b'), value: null }, { key: b('bb'), value: b('new') }], 50n);
    expect(s(it.next().value?.key)).toBe('b');
    expect(it.next().done).toBe(true);
    expect([...store.scan(ALL, 100n)].map((r) => s(r.key))).toEqual(['ab', 'bb']);
  });

  it('matches an in-memory model on random histories', async () => {
    let seedN = 99;
    const rnd = (n: number): number => {
      seedN = (seedN * 1103515245 + 12345) & 0x7fffffff;
      return seedN % n;
    };
    const model = new Map<string, Array<{ ts: bigint; v: string | null }>>();
    for (let t = 1n; t <= 60n; t++) {
      const ops = [];
      for (let i = 0; i < 1 + rnd(4); i++) {
        const k = `k${rnd(12)}`;
        const v = rnd(4) === 0 ? null : `${k}-${t}-${i}`;
        ops.push({ key: b(k), value: v === null ? null : b(v) });
        const hist = model.get(k) ?? [];
        if (hist[0]?.ts === t) hist.shift();
        hist.unshift({ ts: t, v });
        model.set(k, hist);
      }
      await store.applyBatch(ops, t);
    }
    const sortedKeys = [...model.keys()].sort((x, y) => compareKeys(b(x), b(y)));
    const visible = (k: string, ts: bigint) => model.get(k)!.find((r) => r.ts <= ts);
    for (let q = 0; q < 40; q++) {
      const ts = BigInt(1 + rnd(65));
      const start = BigInt(rnd(Number(ts)));
      const expectScan = sortedKeys.flatMap((k) => {
        const r = visible(k, ts);
        return r && r.v !== null ? [`${k}=${r.v}`] : [];
      });
      expect([...store.scan(ALL, ts)].map((r) => `${s(r.key)}=${s(r.value)}`)).toEqual(expectScan);
      for (const k of sortedKeys) expect(s(store.get(b(k), ts))).toBe(visible(k, ts)?.v ?? undefined);
      const expectLatest = sortedKeys.flatMap((k) => {
        const r = visible(k, ts);
        if (!r || r.ts <= start || (r.v === null && start === 0n)) return [];
        return [`${k}@${r.ts}=${r.v ?? '∅'}`];
      });
      expect(revs(store.exportRevisions(ALL, start, ts, false))).toEqual(expectLatest);
      expect(slotsEach(store.exportRevisionSlots(ALL, start, ts, false))).toEqual(expectLatest);
      const expectAll = sortedKeys.flatMap((k) =>
        model
          .get(k)!
          .filter((r) => r.ts > start && r.ts <= ts)
          .map((r) => `${k}@${r.ts}=${r.v ?? '∅'}`),
      );
      expect(revs(store.exportRevisions(ALL, start, ts, true))).toEqual(expectAll);
      expect(slotsEach(store.exportRevisionSlots(ALL, start, ts, true))).toEqual(expectAll);
    }
  });
});

describe('MvccStore export and ingest', () => {
  it('the change index agrees with a full scan after random writes, deletes, ingests, bulk loads and GC', async () => {
    let seedN = 7;
    const rnd = (n: number): number => {
      seedN = (seedN * 1103515245 + 12345) & 0x7fffffff;
      // The high bits: the low ones of this generator repeat with short periods (seedN % 8
      // never picked the eighth query span).
      return (seedN >>> 12) % n;
    };
    const key = (i: number) => rowKey(100 + (i % 3), i);
    // The middle of table 101 is GC'd on its own: a bulk load's marker over all of 101 must
    // keep covering its two sides (queried as spans of their own).
    const middle101: Span = { start: rowKey(101, 60), end: rowKey(101, 140) };
    const spans: Span[] = [
      tableSpan(100),
      tableSpan(101),
      tableSpan(102),
      ALL,
      { start: key(30), end: key(150) },
      { start: tableSpan(101).start, end: middle101.start },
      { start: middle101.end, end: tableSpan(101).end },
      tableSpan(103),
    ];
    const gcSpans: Span[] = [tableSpan(100), tableSpan(101), tableSpan(102), middle101];
    /** A restore's ingest: rows in a few spans at one timestamp, in two batches, and now and then a key outside them. */
    const bulkLoad = async (at: bigint) => {
      const marked: Span[] = [];
      for (let n = 0; n < 1 + rnd(2); n++) {
        const lo = rnd(300);
        marked.push(rnd(2) === 0 ? tableSpan(100 + rnd(3)) : { start: rowKey(101, lo), end: rowKey(101, lo + 1 + rnd(150)) });
      }
      for (let part = 0; part < 2; part++) {
        const ops = [];
        for (let i = 0; i < 20; i++) {
          const k = key(rnd(300));
          if (marked.some((m) => compareKeys(k, m.start) >= 0 && (m.end.length === 0 || compareKeys(k, m.end) < 0))) {
            ops.push({ key: k, value: rnd(6) === 0 ? null : b(`bulk${at}-${part}-${i}`) });
          }
        }
        if (rnd(3) === 0) ops.push({ key: rowKey(103, rnd(50)), value: b(`stray${at}`) });
        await store.applyBulkBatch(ops, at, marked);
      }
    };
    const compare = (label: string) => {
      const floorAll = store.gcThreshold(ALL);
      if (floorAll === 0n) {
        for (const all of [false, true]) {
          const full = revs(store.exportRevisions(ALL, 0n, ts, all));
          expect(revsEach(store.exportRevisions(ALL, 0n, ts, all, { transientValues: true })), `${label}: full export, transient values`).toEqual(full);
          expect(slotsEach(store.exportRevisionSlots(ALL, 0n, ts, all)), `${label}: full export, slots`).toEqual(full);
        }
      }
      for (let q = 0; q < 30; q++) {
        const span = spans[rnd(spans.length)]!;
        const floor = store.gcThreshold(span);
        const endTs = floor + 1n + BigInt(rnd(Number(ts - floor)));
        const startTs = floor === 0n ? BigInt(1 + rnd(Number(endTs))) : floor + BigInt(rnd(Number(endTs - floor) + 1));
        if (startTs > endTs) continue;
        for (const all of [false, true]) {
          const viaIndex = revs(store.exportRevisions(span, startTs, endTs, all));
          const viaScan = revs(store.exportRevisions(span, startTs, endTs, all, { useChangeIndex: false }));
          expect(viaIndex, `${label}: (${startTs}, ${endTs}] all=${all}`).toEqual(viaScan);
          const viaViews = revsEach(store.exportRevisions(span, startTs, endTs, all, { transientValues: true }));
          expect(viaViews, `${label}: transient values (${startTs}, ${endTs}] all=${all}`).toEqual(viaScan);
          expect(slotsEach(store.exportRevisionSlots(span, startTs, endTs, all)), `${label}: slots (${startTs}, ${endTs}] all=${all}`).toEqual(viaScan);
          if (floor === 0n) {
            const fullSpan = revs(store.exportRevisions(span, 0n, endTs, all));
            expect(slotsEach(store.exportRevisionSlots(span, 0n, endTs, all)), `${label}: full slots of a span (0, ${endTs}] all=${all}`).toEqual(fullSpan);
          }
        }
      }
    };
    let ts = 0n;
    for (let round = 0; round < 6; round++) {
      for (let t = 0; t < 25; t++) {
        ts++;
        if (t === 10) {
          await bulkLoad(ts);
          continue;
        }
        const ops = [];
        for (let i = 0; i < 1 + rnd(8); i++) ops.push({ key: key(rnd(200)), value: rnd(5) === 0 ? null : b(`v${ts}-${i}`) });
        await store.applyBatch(ops, ts);
      }
      // A restore or snapshot lands revisions with their own (older) timestamps.
      ts++;
      const ingested: MvccRevision[] = [];
      for (let i = 0; i < 20; i++) ingested.push({ key: key(200 + rnd(100)), ts: BigInt(1 + rnd(Number(ts))), value: rnd(4) === 0 ? null : b(`in${ts}-${i}`) });
      await store.ingest(ingested);
      compare(`round ${round} before GC`);
      const before = store.changeIndexSize();
      const span = gcSpans[rnd(gcSpans.length)]!;
      await store.gc(span, ts - BigInt(10 + rnd(20)), rnd(2) === 0 ? [ts - BigInt(30 + rnd(10))] : []);
      expect(store.changeIndexSize()).toBeLessThanOrEqual(before);
      compare(`round ${round} after GC of table ${keyToHex(span.start)}`);
    }
    // GC of the whole keyspace trims the index to the revisions above the threshold (the
    // last bulk load is below it: its markers go, whole).
    await store.gc(ALL, ts - 5n);
    let above = 0;
    for (const r of store.exportRevisions(ALL, ts - 5n, ts, true)) if (r.ts > ts - 5n) above++;
    expect(store.changeIndexSize()).toBe(above);
    compare('after GC of everything');
  });

  it('a bulk load indexes its spans by markers, which GC trims to what it did not collect', async () => {
    const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ key: rowKey(101, from + i), value: b(`r${from + i}`) }));
    const left: Span = { start: tableSpan(101).start, end: rowKey(101, 40) };
    const middle: Span = { start: rowKey(101, 40), end: rowKey(101, 60) };
    const right: Span = { start: rowKey(101, 60), end: tableSpan(101).end };
    await store.applyBatch([{ key: rowKey(101, 1000), value: b('before') }], 5n);
    // Two batches at one timestamp, one marker over all of table 101 (put by both).
    await store.applyBulkBatch(rows(0, 50), 10n, [tableSpan(101)]);
    await store.applyBulkBatch(rows(50, 100), 10n, [tableSpan(101)]);
    await store.applyBatch([{ key: rowKey(101, 7), value: b('after') }], 20n);
    // One per-key entry for each normal write, one marker for the 100 bulk rows.
    expect(store.changeIndexSize()).toBe(3);
    const incremental = (span: Span, startTs: bigint) => revs(store.exportRevisions(span, startTs, 30n, false));
    const scanned = (span: Span, startTs: bigint) => revs(store.exportRevisions(span, startTs, 30n, false, { useChangeIndex: false }));
    expect(incremental(tableSpan(101), 5n)).toHaveLength(100);
    expect(incremental(tableSpan(101), 5n)).toEqual(scanned(tableSpan(101), 5n));
    // A window above the load names only what the index holds per key.
    expect(incremental(tableSpan(101), 10n)).toEqual([`${s(rowKey(101, 7))}@20=after`]);

    // GC of the middle leaves the marker's two sides, which windows below the load still need.
    await store.gc(middle, 15n);
    expect(store.changeIndexSize()).toBe(4);
    for (const side of [left, right]) {
      expect(incremental(side, 5n).length).toBeGreaterThan(0);
      expect(incremental(side, 5n)).toEqual(scanned(side, 5n));
    }
    await store.gc(left, 15n);
    expect(store.changeIndexSize()).toBe(3);
    expect(incremental(right, 5n)).toEqual(scanned(right, 5n));
    await store.gc(right, 15n);
    // Left: the write at 20 (the one at 5 is in the right side, trimmed with it).
    expect(store.changeIndexSize()).toBe(1);
  });

  it('a bulk load key outside its marked spans gets its own change index entry', async () => {
    await store.applyBulkBatch([{ key: rowKey(101, 1), value: b('in') }, { key: rowKey(102, 1), value: b('stray') }], 10n, [tableSpan(101)]);
    expect(store.changeIndexSize()).toBe(2);
    expect(revs(store.exportRevisions(tableSpan(102), 5n, 20n, false))).toEqual([`${s(rowKey(102, 1))}@10=stray`]);
  });

  it('full export omits tombstones; incremental includes them; allRevisions gives every revision', async () => {
    await seed();
    expect(revs(store.exportRevisions(ALL, 0n, 40n, false))).toEqual(['ab@15=ab1', 'b@35=b2']);
    expect(revs(store.exportRevisions(ALL, 0n, 22n, false))).toEqual(['a@20=a2', 'ab@15=ab1']);
    expect(revs(store.exportRevisions(ALL, 22n, 40n, false))).toEqual(['a@30=∅', 'b@35=b2']);
    expect(revs(store.exportRevisions(ALL, 0n, 40n, true))).toEqual([
      'a@30=∅',
      'a@20=a2',
      'a@10=a1',
      'ab@15=ab1',
      'b@35=b2',
      'b@25=b1',
      'c@5=∅',
    ]);
    expect(revs(store.exportRevisions(ALL, 15n, 30n, true))).toEqual(['a@30=∅', 'a@20=a2', 'b@25=b1']);
    expect(revs(store.exportRevisions({ start: b('b'), end: KEY_MIN }, 0n, 40n, true))).toEqual([
      'b@35=b2',
      'b@25=b1',
      'c@5=∅',
    ]);
    expect(revs(store.exportRevisions(ALL, 30n, 30n, true))).toEqual([]);
    expect(() => [...store.exportRevisions(ALL, 40n, 30n, true)]).toThrow(/invalid export window/);
  });

  it('ingest writes revisions as-is (sync and async sources) and round-trips an export', async () => {
    await seed();
    const exported = [...store.exportRevisions(ALL, 0n, 100n, true)];
    const dir2 = await mkdtemp(join(tmpdir(), 'cairn-mvcc-'));
    const other = await MvccStore.open(dir2, { mapSize: 1024 ** 3 });
    try {
      expect(await other.ingest(exported, { batchSize: 2 })).toBe(7);
      expect(revs(other.exportRevisions(ALL, 0n, 100n, true))).toEqual(revs(exported));
      async function* more(): AsyncGenerator<MvccRevision> {
        for (let i = 0; i < 2500; i++) yield { key: rowKey(104, i), ts: 50n, value: b(`r${i}`) };
      }
      expect(await other.ingest(more())).toBe(2500);
      expect([...other.scan(tableSpan(104), 60n)].length).toBe(2500);
      expect(s(other.get(rowKey(104, 1234), 50n))).toBe('r1234');
    } finally {
      await other.close();
      await rm(dir2, { recursive: true, force: true });
    }
  });
});

describe('MvccStore GC', () => {
  it('keeps the revision visible at the threshold and everything newer', async () => {
    await seed();
    // At 32: a's visible revision is the tombstone @30 (dropped with a@20, a@10);
    // ab@15 stays; b@25 stays (visible at 32), b@35 is newer; c's tombstone goes.
    const { removed } = await store.gc(ALL, 32n);
    expect(removed).toBe(4);
    expect(revs(store.exportRevisions(ALL, 0n, 100n, true))).toEqual(['ab@15=ab1', 'b@35=b2', 'b@25=b1']);
    expect(store.gcThreshold()).toBe(32n);
    expect(store.gcThreshold(ALL)).toBe(32n);
    expect([...store.scan(ALL, 32n)].map((r) => s(r.key))).toEqual(['ab', 'b']);
    expect(s(store.get(b('b'), 34n))).toBe('b1');
  });

  it('refuses reads and exports below the threshold with FailedPrecondition', async () => {
    await seed();
    await store.gc(ALL, 32n);
    let err: unknown;
    try {
      store.get(b('a'), 31n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.FailedPrecondition);
    expect((err as CairnError).message).toBe(
      'batch timestamp 31.0000000000 must be at or after replica GC threshold 32.0000000000',
    );
    expect(() => store.scan(ALL, 20n)).toThrow(/replica GC threshold/);
    expect(() => store.exportRevisions(ALL, 10n, 40n, false)).toThrow(/replica GC threshold/);
    expect(() => [...store.exportRevisions(ALL, 0n, 31n, false)]).toThrow(/replica GC threshold/);
    // A full export at or above the threshold is fine.
    expect(revs(store.exportRevisions(ALL, 0n, 40n, false))).toEqual(['ab@15=ab1', 'b@35=b2']);
  });

  it('thresholds are per span and survive a reopen', async () => {
    await store.applyBatch([{ key: rowKey(104, 1), value: b('x1') }, { key: rowKey(105, 1), value: b('y1') }], 10n);
    await store.applyBatch([{ key: rowKey(104, 1), value: b('x2') }, { key: rowKey(105, 1), value: b('y2') }], 20n);
    expect((await store.gc(tableSpan(104), 25n)).removed).toBe(1);
    expect(s(store.get(rowKey(105, 1), 10n))).toBe('y1');
    expect(() => store.get(rowKey(104, 1), 10n)).toThrow(/GC threshold/);
    await store.close();
    store = await MvccStore.open(dir);
    expect(store.gcThreshold(tableSpan(104))).toBe(25n);
    expect(store.gcThreshold(tableSpan(105))).toBe(0n);
    expect(store.gcThreshold()).toBe(25n);
    // Thresholds never move back.
    await store.gc(tableSpan(104), 15n);
    expect(store.gcThreshold(tableSpan(104))).toBe(25n);
  });

  it('protected timestamps hold the threshold back so history from them survives', async () => {
    await seed();
    const { removed } = await store.gc(ALL, 32n, [22n, 40n]);
    // Effective threshold 22: a@10 goes (a@20 is visible at 22), c's tombstone goes.
    expect(removed).toBe(2);
    expect(store.gcThreshold()).toBe(22n);
    expect(s(store.get(b('a'), 22n))).toBe('a2');
    expect(revs(store.exportRevisions(ALL, 22n, 40n, true))).toEqual(['a@30=∅', 'b@35=b2', 'b@25=b1']);
    expect(revs(store.exportRevisions(ALL, 0n, 40n, true))).toEqual([
      'a@30=∅',
      'a@20=a2',
      'ab@15=ab1',
      'b@35=b2',
      'b@25=b1',
    ]);
  });

  it('removes long histories in batches', async () => {
    for (let t = 1; t <= 30; t++) {
      await store.applyBatch(
        Array.from({ length: 100 }, (_, i) => ({ key: rowKey(104, i), value: b(`${i}@${t}`) })),
        BigInt(t),
      );
    }
    expect((await store.gc(tableSpan(104), 25n)).removed).toBe(100 * 24);
    expect(store.spanStats(tableSpan(104)).keys).toBe(100);
    expect([...store.exportRevisions(tableSpan(104), 0n, 30n, true)].length).toBe(100 * 6);
  });
});

describe('MvccStore stats, splits and meta', () => {
  it('spanStats counts keys, live keys and bytes', async () => {
    await seed();
    const st = store.spanStats(ALL);
    expect(st.keys).toBe(4);
    expect(st.liveKeys).toBe(2);
    // Every revision's stored key and value; live: the newest revision of ab and of b.
    const size = (k: string, v: string | null): number => encodeRevisionPrefix(b(k)).length + MVCC_TS_LEN + encodeMvccValue(v === null ? null : b(v)).length;
    const revisions: Array<[string, string | null]> = [['c', null], ['a', 'a1'], ['ab', 'ab1'], ['a', 'a2'], ['b', 'b1'], ['a', null], ['b', 'b2']];
    expect(st.bytes).toBe(revisions.reduce((n, [k, v]) => n + size(k, v), 0));
    expect(st.liveBytes).toBe(size('ab', 'ab1') + size('b', 'b2'));
    expect(store.spanStats({ start: b('x'), end: b('y') })).toEqual({ keys: 0, liveKeys: 0, bytes: 0, liveBytes: 0 });
  });

  it('approximateMidKey splits by key count, never inside a key', async () => {
    for (let t = 1; t <= 3; t++) {
      await store.applyBatch(
        Array.from({ length: 101 }, (_, i) => ({ key: rowKey(104, i), value: b('v') })),
        BigInt(t),
      );
    }
    const mid = store.approximateMidKey(tableSpan(104));
    expect(mid && keyToHex(mid)).toBe(keyToHex(rowKey(104, 50)));
    // With spanStats' key count it finds the same key in one pass.
    const known = store.approximateMidKey(tableSpan(104), store.spanStats(tableSpan(104)).keys);
    expect(known && keyToHex(known)).toBe(keyToHex(rowKey(104, 50)));
    expect(store.approximateMidKey({ start: rowKey(104, 7), end: rowKey(104, 8) })).toBeUndefined();
    expect(store.approximateMidKey(tableSpan(999))).toBeUndefined();
  });

  it('applyBatch stores ops and meta together, and validates before writing anything', async () => {
    await store.applyBatch([{ key: b('k'), value: b('v') }], 5n, { 'applied/r1': Uint8Array.of(0, 0, 7) });
    expect(store.getMeta('applied/r1')).toEqual(Uint8Array.of(0, 0, 7));
    expect(s(store.get(b('k'), 5n))).toBe('v');
    await expect(
      store.applyBatch([{ key: b('k2'), value: b('v') }, { key: new Uint8Array(4000), value: b('x') }], 6n, {
        'applied/r1': Uint8Array.of(8),
      }),
    ).rejects.toThrow(/key too long/);
    expect(store.get(b('k2'), 6n)).toBeUndefined();
    expect(store.getMeta('applied/r1')).toEqual(Uint8Array.of(0, 0, 7));
    await expect(store.applyBatch([], 7n, { 'mvcc.gc-thresholds': Uint8Array.of(1) })).rejects.toThrow(/reserved/);
    await expect(store.applyBatch([{ key: b('k'), value: null }], 0n)).rejects.toThrow(/invalid MVCC timestamp/);
    await store.putMeta('node-id', b('n1'));
    await store.close();
    store = await MvccStore.open(dir);
    expect(s(store.getMeta('node-id'))).toBe('n1');
    expect(store.getMeta('applied/r1')).toEqual(Uint8Array.of(0, 0, 7));
    expect(store.getMeta('missing')).toBeUndefined();
  });

  it('writes every value as given when batches commit together, their values assembled in one reused buffer', async () => {
    await store.setStatsSpans([KEY_MIN, tablePrefix(105)]);
    const valueOf = (i: number, ts: number): Uint8Array | null =>
      i % 7 === 3 ? null : new Uint8Array(i % 5 === 0 ? 70_000 + i : 10 + ((i * 37) % 900)).fill((i * 31 + ts) & 0xff);
    const pending: Promise<unknown>[] = [];
    for (let ts = 1; ts <= 6; ts++) {
      const ops = Array.from({ length: 50 }, (_, i) => ({ key: rowKey(104, i), value: valueOf(i, ts) }));
      // Not awaited one by one: LMDB runs the queued transactions' callbacks back to back.
      pending.push(store.applyBatch(ops, BigInt(ts)));
    }
    pending.push(
      store.ingest(
        Array.from({ length: 50 }, (_, i) => ({ key: rowKey(105, i), ts: BigInt(7 + (i % 3)), value: valueOf(i, 7 + (i % 3)) })),
        { batchSize: 8 },
      ),
    );
    await Promise.all(pending);
    for (let ts = 1; ts <= 6; ts++) {
      for (let i = 0; i < 50; i++) {
        const want = valueOf(i, ts);
        const got = store.get(rowKey(104, i), BigInt(ts));
        expect(got === undefined ? null : Buffer.from(got).toString('hex')).toBe(want === null ? null : Buffer.from(want).toString('hex'));
      }
    }
    for (let i = 0; i < 50; i++) {
      const want = valueOf(i, 7 + (i % 3));
      const got = store.get(rowKey(105, i), 9n);
      expect(got === undefined ? null : Buffer.from(got).toString('hex')).toBe(want === null ? null : Buffer.from(want).toString('hex'));
    }
    // The kept counters and the change index agree with the data.
    expect(store.trackedStats({ start: KEY_MIN, end: tablePrefix(105) })).toEqual(store.spanStats(tableSpan(104)));
    expect(store.trackedStats({ start: tablePrefix(105), end: KEY_MIN })).toEqual(store.spanStats({ start: tablePrefix(105), end: KEY_MIN }));
    expect(store.changeIndexSize()).toBe(6 * 50 + 50);
    expect(revs(store.exportRevisions(tableSpan(104), 5n, 6n, true)).length).toBe(50);
  });

  it('measures applyBatch and scan throughput', async () => {
    const batches = 200;
    const perBatch = 1000;
    const value = new Uint8Array(64).fill(7);
    const t0 = performance.now();
    for (let i = 0; i < batches; i++) {
      const ops = Array.from({ length: perBatch }, (_, j) => ({ key: rowKey(104, i * perBatch + j), value }));
      // Like a replica apply loop: one batch after another, each awaited.
      await store.applyBatch(ops, BigInt(i + 1), { applied: Uint8Array.of(i & 0xff) });
    }
    const t1 = performance.now();
    let rows = 0;
    for (const _ of store.scan(tableSpan(104), BigInt(batches))) rows++;
    const t2 = performance.now();
    const writeRate = Math.round((batches * perBatch) / ((t1 - t0) / 1000));
    const scanRate = Math.round(rows / ((t2 - t1) / 1000));
    console.log(`applyBatch: ${writeRate} ops/s (${batches} x ${perBatch}); scan: ${scanRate} rows/s (${rows} rows)`);
    expect(rows).toBe(batches * perBatch);
  });
});
