import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_MIN, KeyBuilder, tablePrefix, tableSpan, type Span } from '@cairn/keys';
import { putAppending, sortsAfterLast, strictlyAscending } from './append-puts.js';
import { MvccStore } from './index.js';

const ALL: Span = { start: KEY_MIN, end: KEY_MIN };
const TABLE = 101;

function rowKey(id: number): Uint8Array {
  return new KeyBuilder().raw(tablePrefix(TABLE)).int(id).finish();
}

/** A 1000-byte row value that names its row, as the restore benchmark's rows are sized. */
function rowValue(id: number, tag = 'v'): Uint8Array {
  const v = Buffer.alloc(1000, 0x61);
  v.write(`${tag}${id};`);
  return v;
}

function rows(from: number, to: number, tag = 'v'): Array<{ key: Uint8Array; value: Uint8Array }> {
  return Array.from({ length: to - from }, (_, i) => ({ key: rowKey(from + i), value: rowValue(from + i, tag) }));
}

/** Every live row of the table as `<id-tag prefix>` strings, in key order. */
function contents(store: MvccStore, ts: bigint): string[] {
  return [...store.scan(tableSpan(TABLE), ts)].map((r) => Buffer.from(r.value).toString('latin1', 0, 12).split(';')[0]!);
}

/** Leaf pages of the store's `data` database, read with the store closed. */
async function leafPages(dir: string): Promise<number> {
  const root = open<Buffer, Buffer>({ path: join(dir, 'mvcc.mdb'), maxDbs: 4, readOnly: true });
  try {
    return (root.openDB<Buffer, Buffer>('data', { keyEncoding: 'binary', encoding: 'binary' }).getStats() as { treeLeafPageCount: number }).treeLeafPageCount;
  } finally {
    await root.close();
  }
}

const dirs: string[] = [];
async function tempStore(): Promise<{ dir: string; store: MvccStore }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-append-'));
  dirs.push(dir);
  return { dir, store: await MvccStore.open(dir, { mapSize: 1024 ** 3 }) };
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('bulk loads append in key order', () => {
  it('a load in key order past every key held fills its pages; the rows read back the same as put one by one', async () => {
    const bulk = await tempStore();
    const plain = await tempStore();
    for (let from = 0; from < 1200; from += 200) {
      await bulk.store.applyBulkBatch(rows(from, from + 200), 10n, [tableSpan(TABLE)]);
      await plain.store.applyBatch(rows(from, from + 200), 10n);
    }
    const expected = Array.from({ length: 1200 }, (_, i) => `v${i}`);
    expect(contents(bulk.store, 10n)).toEqual(expected);
    expect(contents(plain.store, 10n)).toEqual(expected);
    expect(bulk.store.spanStats(tableSpan(TABLE))).toEqual(plain.store.spanStats(tableSpan(TABLE)));
    await bulk.store.close();
    await plain.store.close();
    // Three 1 KB rows to a 4 KiB page when appended; split in half as they arrive otherwise.
    const [appended, split] = [await leafPages(bulk.dir), await leafPages(plain.dir)];
    expect(appended).toBeLessThanOrEqual(Math.ceil(1200 / 3) + 1);
    expect(split).toBeGreaterThan(appended * 1.3);
  });

  it('batches that land before keys held, out of order, or again are put the ordinary way and lose nothing', async () => {
    const { store } = await tempStore();
    // Later spans first (a restore's items are logged in the order they finish), then a
    // batch whose keys are not in order, then a re-applied batch (a replica restarted
    // mid-entry loads the same rows at the same timestamp again).
    await store.applyBulkBatch(rows(800, 1000), 10n, [tableSpan(TABLE)]);
    await store.applyBulkBatch(rows(600, 800), 10n, [tableSpan(TABLE)]);
    await store.applyBulkBatch(rows(1000, 1100), 10n, [tableSpan(TABLE)]);
    await store.applyBulkBatch(rows(0, 300).reverse(), 10n, [tableSpan(TABLE)]);
    await store.applyBulkBatch(rows(300, 600), 10n, [tableSpan(TABLE)]);
    await store.applyBulkBatch(rows(1000, 1100, 'w'), 10n, [tableSpan(TABLE)]);
    // A batch whose first key is past every key held but whose later keys are not.
    await store.applyBulkBatch([...rows(1100, 1150), ...rows(500, 510, 'x')], 10n, [tableSpan(TABLE)]);
    const expected = Array.from({ length: 1150 }, (_, i) => (i >= 1000 && i < 1100 ? `w${i}` : i >= 500 && i < 510 ? `x${i}` : `v${i}`));
    expect(contents(store, 10n)).toEqual(expected);
    // One revision per key: the re-applied rows replaced theirs.
    expect([...store.exportRevisions(ALL, 0n, 10n, true)]).toHaveLength(1150);
    expect(store.spanStats(tableSpan(TABLE))).toMatchObject({ keys: 1150 });
    await store.close();
  });
});

describe('append-puts', () => {
  let dir: string;
  let root: RootDatabase<Buffer, Buffer>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-append-raw-'));
    root = open<Buffer, Buffer>({ path: join(dir, 'db'), maxDbs: 2, keyEncoding: 'binary', encoding: 'binary' });
  });
  afterEach(async () => {
    await root.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an append LMDB refuses writes nothing and says so; one past the last key is written', async () => {
    const db = root.openDB<Buffer, Buffer>('d', { keyEncoding: 'binary', encoding: 'binary' });
    const k = (s: string) => Buffer.from(s);
    const outcomes = await root.transaction(() => {
      const first = [sortsAfterLast(db, k('m')), putAppending(db, k('m'), k('1'))];
      // Reads inside the transaction see its own puts.
      const before = [sortsAfterLast(db, k('c')), putAppending(db, k('c'), k('2'))];
      const same = putAppending(db, k('m'), k('3'));
      const after = [sortsAfterLast(db, k('z')), putAppending(db, k('z'), k('4'))];
      return { first, before, same, after };
    });
    expect(outcomes).toEqual({ first: [true, true], before: [false, false], same: false, after: [true, true] });
    expect([...db.getRange({})].map(({ key, value }) => `${key.toString()}=${value.toString()}`)).toEqual(['m=1', 'z=4']);
  });

  it('strictlyAscending: equal or falling neighbours are not', () => {
    const k = (s: string) => Buffer.from(s);
    expect(strictlyAscending([])).toBe(true);
    expect(strictlyAscending([k('a'), k('ab'), k('b')])).toBe(true);
    expect(strictlyAscending([k('a'), k('a')])).toBe(false);
    expect(strictlyAscending([k('b'), k('a')])).toBe(false);
  });
});
