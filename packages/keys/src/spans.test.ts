import { describe, expect, it } from 'vitest';
import {
  KEY_MAX,
  KEY_MIN,
  SYSTEM_SPAN,
  SpanSet,
  compareKeys,
  decodeTableId,
  hexToKey,
  intersectSpans,
  keyToHex,
  prefixEnd,
  prettyKey,
  spanContains,
  spansOverlap,
  tablePrefix,
  tableSpan,
  KeyBuilder,
  type Span,
} from './index.js';

const k = (...b: number[]): Uint8Array => Uint8Array.from(b);
const sp = (start: number[], end: number[]): Span => ({ start: k(...start), end: k(...end) });
const hexes = (s: SpanSet): string[] => s.toArray().map((x) => `${keyToHex(x.start)}-${keyToHex(x.end)}`);

describe('spans', () => {
  it('prefixEnd is above every extension of the prefix', () => {
    expect(prefixEnd(k(1, 2))).toEqual(k(1, 3));
    expect(prefixEnd(k(1, 0xff))).toEqual(k(2));
    expect(prefixEnd(k(0xff, 0xff))).toEqual(KEY_MIN);
    expect(compareKeys(k(1, 2, 0xff, 0xff), prefixEnd(k(1, 2)))).toBeLessThan(0);
  });

  it('contains, overlap and intersection treat an empty end as +infinity', () => {
    const open = { start: k(5), end: KEY_MIN };
    expect(spanContains(open, k(0xff, 0xff, 0xff))).toBe(true);
    expect(spanContains(sp([1], [3]), k(3))).toBe(false);
    expect(spanContains(sp([1], [3]), k(1))).toBe(true);
    expect(spansOverlap(sp([1], [3]), sp([3], [4]))).toBe(false);
    expect(spansOverlap(sp([1], [3]), open)).toBe(false);
    expect(spansOverlap(sp([1], [6]), open)).toBe(true);
    expect(intersectSpans(sp([1], [6]), open)).toEqual(sp([5], [6]));
    expect(intersectSpans(open, { start: k(7), end: KEY_MIN })).toEqual({ start: k(7), end: KEY_MIN });
    expect(intersectSpans(sp([1], [2]), sp([2], [3]))).toBeUndefined();
  });

  it('SpanSet merges, subtracts and answers contains', () => {
    const s = new SpanSet([sp([5], [7]), sp([1], [2]), sp([2], [3]), sp([9], [10])]);
    expect(hexes(s)).toEqual(['01-03', '05-07', '09-0a']);
    s.add(sp([6], [9]));
    expect(hexes(s)).toEqual(['01-03', '05-0a']);
    expect(s.contains(k(2, 0xff))).toBe(true);
    expect(s.contains(k(3))).toBe(false);
    expect(s.contains(k(0))).toBe(false);
    s.subtract(sp([6], [7]));
    expect(hexes(s)).toEqual(['01-03', '05-06', '07-0a']);
    s.subtract(sp([0], [5, 5]));
    expect(hexes(s)).toEqual(['0505-06', '07-0a']);
    s.add({ start: k(8), end: KEY_MIN });
    expect(hexes(s)).toEqual(['0505-06', '07-']);
    s.subtract({ start: k(9), end: KEY_MIN });
    expect(hexes(s)).toEqual(['0505-06', '07-09']);
    expect(s.covers(sp([7, 1], [8]))).toBe(true);
    expect(s.covers(sp([5], [6]))).toBe(false);
  });

  it('SpanSet agrees with a brute-force model', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const s = new SpanSet();
    const model = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const a = rnd(50);
      const b = a + 1 + rnd(8);
      if (rnd(3) === 0) {
        s.subtract(sp([a], [b]));
        for (let x = a; x < b; x++) model.delete(x);
      } else {
        s.add(sp([a], [b]));
        for (let x = a; x < b; x++) model.add(x);
      }
      for (let x = 0; x < 60; x++) expect(s.contains(k(x))).toBe(model.has(x));
      const arr = s.toArray();
      for (let j = 1; j < arr.length; j++) expect(compareKeys(arr[j - 1]!.end, arr[j]!.start)).toBeLessThan(0);
    }
  });

  it('hex round-trips', () => {
    expect(keyToHex(k(0, 0xab))).toBe('00ab');
    expect(hexToKey('0x00ab')).toEqual(k(0, 0xab));
    expect(() => hexToKey('abc')).toThrow(/invalid hex key/);
  });
});

describe('table keys', () => {
  it('table prefixes sort by id and spans hold exactly their table', () => {
    const ids = [0, 1, 2, 3, 99, 100, 104, 255, 256, 65535, 65536, 2 ** 40];
    for (let i = 1; i < ids.length; i++) {
      expect(compareKeys(tablePrefix(ids[i - 1]!), tablePrefix(ids[i]!))).toBeLessThan(0);
      const span = tableSpan(ids[i - 1]!);
      expect(spanContains(span, tablePrefix(ids[i]!))).toBe(false);
      expect(spanContains(span, new KeyBuilder().raw(tablePrefix(ids[i - 1]!)).string('zz').finish())).toBe(true);
    }
    expect(decodeTableId(new KeyBuilder().raw(tablePrefix(104)).int(5).finish())).toBe(104);
  });

  it('SYSTEM_SPAN holds the system tables and no user table', () => {
    for (const id of [0, 1, 2, 3, 99]) expect(spanContains(SYSTEM_SPAN, tablePrefix(id))).toBe(true);
    for (const id of [100, 104, 1000]) expect(spanContains(SYSTEM_SPAN, tablePrefix(id))).toBe(false);
  });

  it('prettyKey renders like CockroachDB', () => {
    expect(prettyKey(KEY_MIN)).toBe('/Min');
    expect(prettyKey(KEY_MAX)).toBe('/Max');
    expect(prettyKey(tablePrefix(104))).toBe('/Table/104');
    const key = new KeyBuilder().raw(tablePrefix(104)).uvarint(1).string('abc').finish();
    expect(prettyKey(key)).toBe('/Table/104/010161626300' + '01');
    expect(
      prettyKey(key, {
        decodeSuffix: (_id, r) => [String(r.uvarint()), JSON.stringify(r.string())],
      }),
    ).toBe('/Table/104/1/"abc"');
    expect(prettyKey(k(0xfe))).toBe('/0xfe');
  });
});
