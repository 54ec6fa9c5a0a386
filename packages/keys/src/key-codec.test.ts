import { describe, expect, it } from 'vitest';
import { seededRandom } from '@cairn/testing';
import { CairnError } from '@cairn/errors';
import { KeyBuilder, KeyReader } from './key-codec.js';
import { compareKeys } from './spans.js';

const rng = seededRandom;

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function checkOrder<T>(values: T[], encode: (v: T) => Uint8Array, cmp: (a: T, b: T) => number): void {
  const enc = values.map((v) => ({ v, k: encode(v) }));
  for (let i = 0; i < enc.length; i++) {
    const a = enc[i]!;
    const b = enc[(i * 7 + 3) % enc.length]!;
    expect(sign(compareKeys(a.k, b.k)), `${String(a.v)} vs ${String(b.v)}`).toBe(sign(cmp(a.v, b.v)));
  }
  const byKey = [...enc].sort((a, b) => compareKeys(a.k, b.k)).map((e) => e.v);
  const byValue = [...values].sort(cmp);
  for (let i = 0; i < byKey.length; i++) expect(cmp(byKey[i]!, byValue[i]!)).toBe(0);
}

const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const cmpBytes = (a: Uint8Array, b: Uint8Array): number => compareKeys(a, b);

describe('KeyBuilder / KeyReader', () => {
  const r = rng(42);

  it('uvarint sorts by value and round-trips', () => {
    const vals: bigint[] = [0n, 1n, 255n, 256n, 65535n, 65536n, (1n << 64n) - 1n];
    for (let i = 0; i < 500; i++) {
      const bits = BigInt(Math.floor(r() * 64));
      vals.push(BigInt(Math.floor(r() * 2 ** 32)) * BigInt(Math.floor(r() * 2 ** 32)) % (1n << (bits + 1n)));
    }
    checkOrder(vals, (v) => new KeyBuilder().uvarint(v).finish(), cmpBig);
    for (const v of vals) expect(new KeyReader(new KeyBuilder().uvarint(v).finish()).uvarintBig()).toBe(v);
    expect(new KeyBuilder().uvarint(0).finish()).toEqual(Uint8Array.of(0));
    expect(new KeyBuilder().uvarint(300).finish()).toEqual(Uint8Array.of(2, 1, 44));
    expect(new KeyReader(Uint8Array.of(2, 1, 44)).uvarint()).toBe(300);
  });

  it('int sorts negatives before positives and round-trips', () => {
    const vals: bigint[] = [0n, -1n, 1n, -(1n << 63n), (1n << 63n) - 1n];
    for (let i = 0; i < 500; i++) {
      const mag = BigInt(Math.floor(r() * 2 ** 53)) << BigInt(Math.floor(r() * 10));
      vals.push(r() < 0.5 ? -mag : mag);
    }
    checkOrder(vals, (v) => new KeyBuilder().int(v).finish(), cmpBig);
    for (const v of vals) expect(new KeyReader(new KeyBuilder().int(v).finish()).int()).toBe(v);
    expect(() => new KeyBuilder().int(1n << 63n)).toThrow(CairnError);
  });

  it('float sorts like numbers and round-trips', () => {
    const vals = [0, -0.5, 0.5, -Infinity, Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE];
    for (let i = 0; i < 500; i++) vals.push((r() - 0.5) * 10 ** Math.floor(r() * 40 - 20));
    checkOrder(vals, (v) => new KeyBuilder().float(v).finish(), (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const v of vals) expect(new KeyReader(new KeyBuilder().float(v).finish()).float()).toBe(v);
    expect(new KeyBuilder().float(-0).finish()).toEqual(new KeyBuilder().float(0).finish());
    expect(Number.isNaN(new KeyReader(new KeyBuilder().float(NaN).finish()).float())).toBe(true);
  });

  it('bytes with embedded 0x00 and prefixes sort bytewise and round-trip', () => {
    const vals: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(0),
      Uint8Array.of(0, 0),
      Uint8Array.of(1),
      Uint8Array.of(0, 1),
      Uint8Array.of(0xff),
      Uint8Array.of(0xff, 0),
      Uint8Array.of(1, 0),
      Uint8Array.of(1, 0, 0xff),
    ];
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(r() * 6);
      vals.push(Uint8Array.from({ length: len }, () => (r() < 0.3 ? 0 : r() < 0.2 ? 0xff : Math.floor(r() * 4))));
    }
    checkOrder(vals, (v) => new KeyBuilder().bytes(v).finish(), cmpBytes);
    for (const v of vals) expect(new KeyReader(new KeyBuilder().bytes(v).finish()).bytes()).toEqual(v);
  });

  it('composite keys order by the first column, then the next', () => {
    const vals: Array<[string, bigint]> = [];
    const words = ['', 'a', 'a\u0000', 'a\u0000b', 'ab', 'b', 'é', '\u0000', 'a\u0001'];
    for (const w of words) for (const n of [-5n, 0n, 7n]) vals.push([w, n]);
    const enc = (v: [string, bigint]): Uint8Array => new KeyBuilder().string(v[0]).int(v[1]).finish();
    const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
    checkOrder(vals, enc, (a, b) => compareKeys(utf8(a[0]), utf8(b[0])) || cmpBig(a[1], b[1]));
    for (const v of vals) {
      const rd = new KeyReader(enc(v));
      expect([rd.string(), rd.int()]).toEqual(v);
      expect(rd.done()).toBe(true);
    }
  });

  it('mixes every type and tracks the offset', () => {
    const key = new KeyBuilder(1)
      .raw(Uint8Array.of(9))
      .uvarint(104)
      .int(-3)
      .float(2.5)
      .string('x\u0000y')
      .bytes(Uint8Array.of(0, 0))
      .bool(true)
      .finish();
    const rd = new KeyReader(key, 1);
    expect(rd.uvarint()).toBe(104);
    expect(rd.int()).toBe(-3n);
    expect(rd.float()).toBe(2.5);
    expect(rd.string()).toBe('x\u0000y');
    expect(rd.bytes()).toEqual(Uint8Array.of(0, 0));
    expect(rd.bool()).toBe(true);
    expect(rd.offset).toBe(key.length);
    expect(rd.done()).toBe(true);
  });

  it('rejects malformed input with CairnError', () => {
    expect(() => new KeyReader(Uint8Array.of(9)).uvarint()).toThrow(CairnError);
    expect(() => new KeyReader(Uint8Array.of(2, 1)).uvarint()).toThrow(/malformed key/);
    expect(() => new KeyReader(Uint8Array.of(97, 98)).string()).toThrow(/unterminated/);
    expect(() => new KeyReader(Uint8Array.of(0, 7)).bytes()).toThrow(/bad escape/);
    expect(() => new KeyBuilder().uvarint(-1)).toThrow(CairnError);
  });
});
