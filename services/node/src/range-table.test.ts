import { FIRST_USER_ID, keyToHex, tablePrefix } from '@cairn/keys';
import type { RangeDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { RangeTable } from './range-table.js';

const k = (s: string) => new TextEncoder().encode(s);
const END = new Uint8Array(0);

function range(rangeId: number, start: Uint8Array | string, end: Uint8Array | string, replicas: number[], generation = 1): RangeDescriptor {
  return {
    rangeId,
    startKey: typeof start === 'string' ? k(start) : start,
    endKey: typeof end === 'string' ? k(end) : end,
    replicas,
    generation,
  };
}

const ids = (rs: readonly RangeDescriptor[]) => rs.map((r) => r.rangeId);

/** [-, b) on 1; [b, d) on 2; [d, +inf) on 1 and 2. */
function threeRanges(): RangeDescriptor[] {
  return [range(1, END, 'b', [1]), range(2, 'b', 'd', [2]), range(3, 'd', END, [1, 2])];
}

describe('RangeTable.find / holdsKey', () => {
  it('finds the range holding each key, boundaries belonging to the range they start', () => {
    // Given out of order: the table sorts them.
    const t = new RangeTable(1, [...threeRanges()].reverse());
    expect(ids(t.all())).toEqual([1, 2, 3]);
    expect(t.find(END)?.rangeId).toBe(1);
    expect(t.find(k('a'))?.rangeId).toBe(1);
    expect(t.find(k('azzz'))?.rangeId).toBe(1);
    expect(t.find(k('b'))?.rangeId).toBe(2);
    expect(t.find(k('c'))?.rangeId).toBe(2);
    expect(t.find(k('d'))?.rangeId).toBe(3);
    expect(t.find(Uint8Array.of(0xff, 0xff, 0xff))?.rangeId).toBe(3);
  });

  it('answers holdsKey from the replicas of the range holding the key', () => {
    const one = new RangeTable(1, threeRanges());
    const two = new RangeTable(2, threeRanges());
    expect([one.holdsKey(k('a')), one.holdsKey(k('c')), one.holdsKey(k('x'))]).toEqual([true, false, true]);
    expect([two.holdsKey(k('a')), two.holdsKey(k('c')), two.holdsKey(k('x'))]).toEqual([false, true, true]);
    expect(ids(one.held())).toEqual([1, 3]);
    expect(ids(two.held())).toEqual([2, 3]);
  });

  it('answers holdsKeys as holdsKey for keys in order, out of order, at boundaries and in gaps', () => {
    const gappy = [range(1, 'a', 'c', [1]), range(2, 'c', 'e', [2]), range(3, 'g', END, [1, 2])];
    const names = ['', '0', 'a', 'b', 'bz', 'c', 'c0', 'd', 'e', 'f', 'g', 'h', 'zz'];
    const sorted = names.map(k);
    // Ascending (a restore batch), descending, and a fixed shuffle with repeats.
    const orders = [sorted, [...sorted].reverse(), [5, 0, 12, 5, 6, 1, 10, 3, 3, 9, 2, 11, 4, 8, 7].map((i) => sorted[i]!)];
    for (const node of [1, 2]) {
      const t = new RangeTable(node, gappy);
      for (const keys of orders) {
        const holds = t.holdsKeys();
        expect(keys.map((key) => holds(key)), `node ${node}`).toEqual(keys.map((key) => t.holdsKey(key)));
      }
    }
    // Not vacuous: both answers occur.
    const holds = new RangeTable(1, gappy).holdsKeys();
    expect(new Set(sorted.map((key) => holds(key)))).toEqual(new Set([true, false]));
  });

  it('finds nothing before bootstrap or in a gap', () => {
    const empty = new RangeTable(1);
    expect(empty.find(k('a'))).toBeUndefined();
    expect(empty.holdsKey(k('a'))).toBe(false);
    const gappy = new RangeTable(1, [range(1, 'a', 'c', [1]), range(2, 'e', 'g', [1])]);
    expect(gappy.find(k('0'))).toBeUndefined();
    expect(gappy.find(k('d'))).toBeUndefined();
    expect(gappy.find(k('g'))).toBeUndefined();
    expect(gappy.find(k('f'))?.rangeId).toBe(2);
  });

  it('agrees with a linear search over many ranges', () => {
    const bounds = Array.from({ length: 50 }, (_, i) => tablePrefix(i * 3 + 1));
    const ranges = [range(1, END, bounds[0]!, [1])];
    bounds.forEach((b, i) => ranges.push(range(i + 2, b, bounds[i + 1] ?? END, [i % 2 === 0 ? 1 : 2])));
    const t = new RangeTable(1, ranges);
    for (let id = 0; id < 160; id++) {
      const key = tablePrefix(id);
      const expected = ranges.find(
        (r) => Buffer.compare(r.startKey, key) <= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0),
      );
      expect(t.find(key)?.rangeId).toBe(expected?.rangeId);
    }
  });
});

describe('RangeTable.servesSpan', () => {
  it('serves a span only when it holds every range from its start to its end', () => {
    const t = new RangeTable(1, threeRanges());
    expect(t.servesSpan({ start: k('a'), end: k('b') })).toBe(true);
    expect(t.servesSpan({ start: k('a'), end: k('c') })).toBe(false);
    expect(t.servesSpan({ start: k('d'), end: END })).toBe(true);
    expect(new RangeTable(2, threeRanges()).servesSpan({ start: k('b'), end: k('x') })).toBe(true);
    expect(new RangeTable(1, []).servesSpan({ start: k('a'), end: k('b') })).toBe(false);
  });

  it('does not serve a range it joined until the entry that joined it has loaded its rows', () => {
    const t = new RangeTable(1, threeRanges());
    t.apply([range(2, 'b', 'd', [2, 1], 2)]);
    // Held (later writes apply to it) but still being copied in.
    expect(t.holdsKey(k('c'))).toBe(true);
    expect(t.servesSpan({ start: k('c'), end: k('c\0') })).toBe(false);
    expect(t.servesSpan({ start: k('a'), end: END })).toBe(false);
    expect(t.servesSpan({ start: k('a'), end: k('b') })).toBe(true);
    t.loaded();
    expect(t.servesSpan({ start: k('a'), end: END })).toBe(true);
    // A split of ranges it already holds copies nothing, so they keep serving.
    t.apply([range(3, 'd', 'q', [1, 2], 2), range(4, 'q', END, [1, 2], 2)]);
    expect(t.servesSpan({ start: k('a'), end: END })).toBe(true);
  });
});

describe('RangeTable.apply', () => {
  it('needs no snapshot for the ranges of a bootstrap (there is no data yet)', () => {
    const t = new RangeTable(1);
    const split = tablePrefix(FIRST_USER_ID);
    const fresh = t.apply([range(1, END, split, [1, 2, 3]), range(2, split, END, [1, 2, 3])]);
    expect(fresh).toEqual([]);
    expect(ids(t.held())).toEqual([1, 2]);
    expect(t.holdsKey(tablePrefix(500))).toBe(true);
  });

  it('needs no snapshot when a range it holds splits', () => {
    const t = new RangeTable(1, threeRanges());
    const fresh = t.apply([range(3, 'd', 'm', [1, 2], 2), range(4, 'm', END, [1, 2], 2)]);
    expect(fresh).toEqual([]);
    expect(ids(t.all())).toEqual([1, 2, 3, 4]);
    expect(keyToHex(t.find(k('e'))!.endKey)).toBe(keyToHex(k('m')));
    expect(t.find(k('z'))?.rangeId).toBe(4);
    expect(t.holdsKey(k('z'))).toBe(true);
  });

  it('needs a snapshot when the node joins an existing range', () => {
    const t = new RangeTable(1, threeRanges());
    const joined = range(2, 'b', 'd', [2, 1], 2);
    const fresh = t.apply([joined]);
    expect(fresh).toEqual([joined]);
    expect(t.holdsKey(k('c'))).toBe(true);
    expect(t.find(k('c'))?.generation).toBe(2);
    // Applying the same descriptor again (a re-announcement) asks for nothing more.
    expect(t.apply([joined])).toEqual([]);
  });

  it('needs a snapshot for a split half it joins, not for the half it already held', () => {
    const t = new RangeTable(2, threeRanges());
    // Range 2 ([b, d), on node 2 only) splits at c; node 3 joins the right half.
    const left = range(2, 'b', 'c', [2], 2);
    const right = range(5, 'c', 'd', [2, 3], 2);
    expect(t.apply([left, right])).toEqual([]);
    const three = new RangeTable(3, threeRanges());
    expect(three.apply([left, right])).toEqual([right]);
  });

  it('needs a snapshot for a range that now spans keys it did not hold', () => {
    // Node 2 held [b, d) but not [-, b); a merged range over both needs the missing part.
    const t = new RangeTable(2, threeRanges());
    const merged = range(1, END, 'd', [1, 2], 3);
    expect(t.apply([merged])).toEqual([merged]);
    expect(ids(t.all())).toEqual([1, 3]);
  });

  it('needs nothing when the node leaves a range or is not in it', () => {
    const t = new RangeTable(1, threeRanges());
    expect(t.apply([range(3, 'd', END, [2], 2)])).toEqual([]);
    expect(t.holdsKey(k('x'))).toBe(false);
    expect(t.apply([range(2, 'b', 'd', [2, 3], 2)])).toEqual([]);
    expect(t.holdsKey(k('c'))).toBe(false);
    expect(ids(t.held())).toEqual([1]);
  });

  it('replaces exactly the overlapped ranges, keeping the table tiled', () => {
    const t = new RangeTable(1, threeRanges());
    t.apply([range(2, 'b', 'c', [2], 2), range(6, 'c', 'd', [2], 2)]);
    const all = t.all();
    expect(all.map((r) => [r.rangeId, new TextDecoder().decode(r.startKey), new TextDecoder().decode(r.endKey)])).toEqual([
      [1, '', 'b'],
      [2, 'b', 'c'],
      [6, 'c', 'd'],
      [3, 'd', ''],
    ]);
  });
});
