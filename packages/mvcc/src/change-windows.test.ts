import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_MIN, KeyBuilder, tablePrefix, tableSpan, type Span } from '@cairn/keys';
import { ChangeWindow, ChangeWindows } from './change-windows.js';
import { MvccStore, type MvccRevision } from './index.js';
import { MVCC_TS_LEN, encodeRevisionPrefix } from './mvcc-key.js';
import { spanMarkerKey } from './span-markers.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const ALL: Span = { start: KEY_MIN, end: KEY_MIN };

function rowKey(table: number, id: number): Uint8Array {
  return new KeyBuilder().raw(tablePrefix(table)).int(id).finish();
}

function revs(it: Iterable<MvccRevision>): string[] {
  return [...it].map((r) => `${Buffer.from(r.key).toString('hex')}@${r.ts}=${r.value === null ? '∅' : Buffer.from(r.value).toString()}`);
}

/** A change index key of `key`'s revision at `ts`, as the store writes it. */
function changeKey(key: Uint8Array, ts: bigint): Buffer {
  const prefix = encodeRevisionPrefix(key);
  const k = Buffer.alloc(MVCC_TS_LEN + prefix.length);
  k.writeBigUInt64BE(ts, 0);
  prefix.copy(k, MVCC_TS_LEN);
  return k;
}

describe('ChangeWindow', () => {
  const entries = [changeKey(rowKey(100, 2), 11n), changeKey(rowKey(100, 1), 12n), changeKey(rowKey(100, 2), 13n), changeKey(rowKey(101, 5), 14n)];
  const slice = (w: ChangeWindow, span: Span, all: boolean, limit = 100) =>
    w.changedKeys(span, encodeRevisionPrefix(span.start), span.end.length === 0 ? undefined : encodeRevisionPrefix(span.end), all, limit);

  it('slices a span in key order, every timestamp newest first or only the newest', () => {
    const w = ChangeWindow.read(entries, () => ALL)!;
    const t100 = tableSpan(100);
    const every = slice(w, t100, true)!;
    expect(every.map((c) => Buffer.from(c.prefix))).toEqual([rowKey(100, 1), rowKey(100, 2)].map((k) => Buffer.from(encodeRevisionPrefix(k))));
    expect(every.map((c) => c.stamps)).toEqual([[12n], [13n, 11n]]);
    expect(slice(w, t100, false)!.map((c) => c.stamps)).toEqual([[12n], [13n]]);
    expect(slice(w, tableSpan(101), true)!.map((c) => c.stamps)).toEqual([[14n]]);
    expect(slice(w, tableSpan(102), true)).toEqual([]);
  });

  it('leaves to a full read a span a marker overlaps, or one naming more than the limit', () => {
    const marker = spanMarkerKey(15n, tableSpan(101));
    const w = ChangeWindow.read([...entries, marker], () => tableSpan(101))!;
    expect(slice(w, tableSpan(101), false)).toBeUndefined();
    expect(slice(w, tableSpan(100), false)).toHaveLength(2);
    // Three revisions of two keys: over a limit of two with every revision, not without.
    expect(slice(w, tableSpan(100), true, 2)).toBeUndefined();
    expect(slice(w, tableSpan(100), false, 2)).toHaveLength(2);
  });

  it('is not kept past its limit of revisions, and a window too large is not read again', () => {
    expect(ChangeWindow.read(entries, () => ALL, 3)).toBeUndefined();
    const windows = new ChangeWindows();
    let reads = 0;
    const tooLarge = () => {
      reads++;
      return undefined;
    };
    expect(windows.window(10n, 20n, tooLarge)).toBeUndefined();
    expect(windows.window(10n, 20n, tooLarge)).toBeUndefined();
    expect(reads).toBe(1);
  });

  it('keeps two windows, and drops those a write at or below their end may change', () => {
    const windows = new ChangeWindows();
    const read = () => ChangeWindow.read([], () => ALL);
    windows.window(10n, 20n, read);
    windows.window(20n, 30n, read);
    windows.window(30n, 40n, read);
    expect(windows.size()).toBe(2);
    windows.written(41n);
    expect(windows.size()).toBe(2);
    windows.written(35n);
    expect(windows.size()).toBe(1);
    windows.clear();
    expect(windows.size()).toBe(0);
  });
});

describe('MvccStore incremental exports through a kept window', () => {
  let dir: string;
  let store: MvccStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-change-windows-'));
    store = await MvccStore.open(dir, { mapSize: 1024 ** 3 });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Ranges of tables 100-102 as a node's ranges would cut them, and one span over all. */
  const spans: Span[] = [ALL];
  for (const t of [100, 101, 102]) {
    for (let i = 0; i < 4; i++) spans.push({ start: i === 0 ? tableSpan(t).start : rowKey(t, i * 50), end: i === 3 ? tableSpan(t).end : rowKey(t, (i + 1) * 50) });
  }

  /** Every span's export of the window agrees with a scan of the span; returns how many windows were kept. */
  function expectAgree(startTs: bigint, endTs: bigint, label: string): number {
    for (const all of [false, true]) {
      for (const span of spans) {
        const viaIndex = revs(store.exportRevisions(span, startTs, endTs, all));
        expect(viaIndex, `${label}: (${startTs}, ${endTs}] all=${all}`).toEqual(revs(store.exportRevisions(span, startTs, endTs, all, { useChangeIndex: false })));
      }
    }
    return store.keptChangeWindows();
  }

  it('agrees with full scans span by span, and forgets what a late write, a snapshot or GC changes', async () => {
    let seed = 11;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 12) % n;
    };
    const key = () => rowKey(100 + rnd(3), rnd(200));
    for (let ts = 1n; ts <= 100n; ts++) {
      const ops = [];
      for (let i = 0; i < 1 + rnd(6); i++) ops.push({ key: key(), value: rnd(5) === 0 ? null : b(`v${ts}-${i}`) });
      await store.applyBatch(ops, ts);
    }
    // A restore's bulk load in the window: spans it overlaps are read in full.
    await store.applyBulkBatch([{ key: rowKey(101, 70), value: b('bulk') }], 101n, [{ start: rowKey(101, 60), end: rowKey(101, 80) }]);
    await store.applyBatch([{ key: rowKey(100, 7), value: b('after') }], 102n);
    expect(expectAgree(40n, 101n, 'first read')).toBe(1);

    // Writes after the window's end keep it; the exports still agree.
    await store.applyBatch([{ key: rowKey(102, 9), value: b('later') }], 150n);
    expect(expectAgree(40n, 101n, 'after a later write')).toBe(1);

    // A write at a timestamp inside the window (not one the log makes, but one the store
    // takes) drops it: the export sees the new revision.
    await store.applyBatch([{ key: rowKey(102, 500), value: b('late') }], 60n);
    expect(store.keptChangeWindows()).toBe(0);
    expect(revs(store.exportRevisions(tableSpan(102), 40n, 101n, false)).some((r) => r.endsWith('@60=late'))).toBe(true);
    expectAgree(40n, 101n, 'after a write inside the window');

    // A snapshot lands old revisions: every kept window goes.
    expect(store.keptChangeWindows()).toBe(1);
    await store.ingest([{ key: rowKey(100, 250), ts: 55n, value: b('snap') }]);
    expect(store.keptChangeWindows()).toBe(0);
    expect(revs(store.exportRevisions(tableSpan(100), 40n, 101n, true)).some((r) => r.endsWith('@55=snap'))).toBe(true);
    expectAgree(40n, 101n, 'after a snapshot');

    // GC trims the index below its threshold: kept windows go, and later ones agree.
    await store.gc(ALL, 30n);
    expect(store.keptChangeWindows()).toBe(0);
    expectAgree(40n, 101n, 'after GC');
    expectAgree(30n, 150n, 'a second window');
    expect(store.keptChangeWindows()).toBe(2);
  });
});
