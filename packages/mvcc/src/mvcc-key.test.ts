import { describe, expect, it } from 'vitest';
import { compareKeys } from '@cairn/keys';
import { decodeMvccKey, encodeMvccKey, encodeRevisionPrefix } from './mvcc-key.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('MVCC key encoding', () => {
  it('sorts by user key ascending, then timestamp descending (randomized, prefixes and 0x00)', () => {
    const r = rng(1);
    const items: Array<{ key: Uint8Array; ts: bigint }> = [];
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(r() * 5);
      const key = Uint8Array.from({ length: len }, () => (r() < 0.35 ? 0 : r() < 0.2 ? 0xff : Math.floor(r() * 3)));
      const ts = r() < 0.05 ? (1n << 64n) - 1n : BigInt(1 + Math.floor(r() * 10));
      items.push({ key, ts });
    }
    const byEncoding = items
      .map((it) => ({ ...it, enc: encodeMvccKey(it.key, it.ts) }))
      .sort((a, b) => compareKeys(a.enc, b.enc));
    for (let i = 1; i < byEncoding.length; i++) {
      const a = byEncoding[i - 1]!;
      const b = byEncoding[i]!;
      const c = compareKeys(a.key, b.key);
      expect(c <= 0).toBe(true);
      if (c === 0) expect(a.ts >= b.ts).toBe(true);
    }
    for (const it of byEncoding) expect(decodeMvccKey(it.enc)).toEqual({ key: it.key, ts: it.ts });
  });

  it('keeps every revision of a key inside its revision prefix', () => {
    const key = Uint8Array.of(1, 0, 2);
    const prefix = encodeRevisionPrefix(key);
    const enc = encodeMvccKey(key, 5n);
    expect(Buffer.from(enc.subarray(0, prefix.length)).equals(prefix)).toBe(true);
    // A longer key that starts with `key` sorts after all of key's revisions.
    expect(compareKeys(encodeMvccKey(key, 1n), encodeMvccKey(Uint8Array.of(1, 0, 2, 0), (1n << 64n) - 1n))).toBeLessThan(0);
  });

  it('rejects bad timestamps and corrupt keys', () => {
    expect(() => encodeMvccKey(Uint8Array.of(1), 0n)).toThrow(/invalid MVCC timestamp/);
    expect(() => decodeMvccKey(Uint8Array.of(1, 2, 3))).toThrow(/malformed MVCC key/);
    expect(() => encodeMvccKey(new Uint8Array(3000), 1n)).toThrow(/key too long/);
  });
});
