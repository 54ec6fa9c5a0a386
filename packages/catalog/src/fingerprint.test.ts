import { ColumnType, DescriptorState } from '@cairn/proto';
import type { TableDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { Catalog } from './catalog.js';
import { canonicalDecimal } from './datum.js';
import type { Datum } from './datum.js';
import { TableFingerprinter, combineFingerprints, murmurHash3x86_128 } from './fingerprint.js';
import { encodeRowKey, encodeRowValue } from './row-codec.js';

const catalog = Catalog.fromDescriptors([
  { kind: { $case: 'database', value: { id: 100, name: 'bank', state: DescriptorState.PUBLIC } } },
]);

function accounts(id: number): TableDescriptor {
  return catalog.buildTableDescriptor(
    {
      name: 'accounts',
      columns: [
        { name: 'id', type: ColumnType.INT, nullable: false, primaryKey: true },
        { name: 'balance', type: ColumnType.DECIMAL, nullable: true },
        { name: 'owner', type: ColumnType.STRING, nullable: true },
        { name: 'opened', type: ColumnType.TIMESTAMP, nullable: true },
      ],
    },
    { id, parentId: 100 },
  );
}

function rows(n: number): Datum[][] {
  return Array.from({ length: n }, (_, i) => [
    BigInt(i) * 7919n - 1000n,
    canonicalDecimal(`${i * 3}.${i % 100}`),
    i % 5 === 0 ? null : `owner-${i}`,
    new Date(1_700_000_000_000 + i * 1000),
  ]);
}

function fingerprint(t: TableDescriptor, data: Datum[][]): string {
  const f = new TableFingerprinter();
  for (const row of data) f.add(encodeRowKey(t, row), encodeRowValue(t, row), t);
  return f.digest();
}

describe('MurmurHash3_x86_128', () => {
  it('matches the SMHasher verification value 0xB3ECE62A', () => {
    // SMHasher's VerificationTest: hash keys {0}, {0,1}, ... with seed 256-i, then hash the digests.
    const all = new Uint8Array(256 * 16);
    for (let i = 0; i < 256; i++) {
      const key = Uint8Array.from({ length: i }, (_, j) => j);
      all.set(murmurHash3x86_128(key, 256 - i), i * 16);
    }
    const final = murmurHash3x86_128(all, 0);
    const verification = (final[0]! | (final[1]! << 8) | (final[2]! << 16) | (final[3]! << 24)) >>> 0;
    expect(verification.toString(16)).toBe('b3ece62a');
  });
});

describe('TableFingerprinter', () => {
  const data = rows(2000);

  it('ignores the table id and the order rows arrive in', () => {
    const a = fingerprint(accounts(104), data);
    const b = fingerprint(accounts(9_999_999), [...data].reverse());
    expect(a).toBe(b);
    expect(a).toMatch(/^-?\d+$/);
    expect(a).not.toBe('0');
  });

  it('changes when any value, key or row changes', () => {
    const t = accounts(104);
    const base = fingerprint(t, data);
    const seen = new Set([base]);
    for (const [rowIdx, col, value] of [
      [10, 1, '31.1'],
      [10, 2, 'someone'],
      [11, 2, null],
      [12, 2, 'owner-13'],
      [14, 3, new Date(0)],
      [13, 0, 123456789n],
    ] as Array<[number, number, Datum]>) {
      const changed = data.map((r) => [...r]);
      changed[rowIdx]![col] = value;
      const fp = fingerprint(t, changed);
      expect(seen.has(fp)).toBe(false);
      seen.add(fp);
    }
    expect(seen.has(fingerprint(t, data.slice(1)))).toBe(false);
    expect(fingerprint(t, [])).toBe('0');
  });

  it('ignores deletions (empty values)', () => {
    const t = accounts(104);
    const f = new TableFingerprinter();
    f.add(encodeRowKey(t, data[0]!), new Uint8Array(0), t);
    expect(f.digest()).toBe('0');
    expect(f.rows).toBe(0);
  });

  it('combines per-range parts into the whole', () => {
    const t = accounts(104);
    const parts = [data.slice(0, 700), data.slice(700, 701), data.slice(701)].map((p) => fingerprint(t, p));
    expect(combineFingerprints(parts)).toBe(fingerprint(t, data));
    expect(combineFingerprints([])).toBe('0');
    expect(() => combineFingerprints(['12a'])).toThrow(/not a decimal int64/);
  });

  it('rejects keys of another table', () => {
    const f = new TableFingerprinter();
    expect(() => f.add(encodeRowKey(accounts(104), data[0]!), Uint8Array.of(1), accounts(105))).toThrow(
      /does not belong/,
    );
  });

  it('hashes fast (rows/s logged)', () => {
    const t = accounts(104);
    const n = 200_000;
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    const data = rows(n);
    const encStart = performance.now();
    for (const row of data) {
      keys.push(encodeRowKey(t, row));
      values.push(encodeRowValue(t, row));
    }
    const encMs = performance.now() - encStart;
    console.log(`row encoding: ${n} rows in ${encMs.toFixed(0)} ms = ${Math.round(n / (encMs / 1000)).toLocaleString('en-US')} rows/s`);
    const f = new TableFingerprinter();
    const start = performance.now();
    for (let rep = 0; rep < 5; rep++) for (let i = 0; i < n; i++) f.add(keys[i]!, values[i]!, t);
    const ms = performance.now() - start;
    const rate = Math.round((5 * n) / (ms / 1000));
    console.log(`fingerprint: ${5 * n} rows in ${ms.toFixed(0)} ms = ${rate.toLocaleString('en-US')} rows/s`);
    expect(f.rows).toBe(5 * n);
    expect(rate).toBeGreaterThan(200_000);
  });
});
