import { CairnError } from '@cairn/errors';
import { compareKeys, tablePrefix } from '@cairn/keys';
import { ColumnType, DescriptorState, ObjectKind } from '@cairn/proto';
import type { TableDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@cairn/testing';
import { parseDecimal } from './datum.js';
import type { Datum } from './datum.js';
import {
  decodePrimaryKey,
  decodeRow,
  encodePrimaryKey,
  encodeRowKey,
  encodeRowValue,
  keySpanForPkRange,
  primaryIndexSpan,
} from './row-codec.js';

const ALL_TYPES = [
  ColumnType.INT,
  ColumnType.FLOAT,
  ColumnType.STRING,
  ColumnType.BOOL,
  ColumnType.BYTES,
  ColumnType.TIMESTAMP,
  ColumnType.DECIMAL,
];

function makeTable(
  id: number,
  cols: Array<[string, ColumnType]>,
  primaryKey: string[],
  name = `t${id}`,
): TableDescriptor {
  return {
    id,
    name,
    parentId: 100,
    kind: ObjectKind.TABLE,
    columns: cols.map(([n, type], i) => ({ id: i + 1, name: n, type, nullable: !primaryKey.includes(n) })),
    primaryKey,
    foreignKeys: [],
    indexes: [],
    state: DescriptorState.PUBLIC,
    viewQuery: '',
    dependsOn: [],
    nextColumnId: cols.length + 1,
  };
}

const rng = seededRandom;

function randomDatum(type: ColumnType, r: () => number): Datum {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  switch (type) {
    case ColumnType.INT: {
      const special = [0n, 1n, -1n, (1n << 63n) - 1n, -(1n << 63n), 1n << 53n, -(1n << 53n) - 1n];
      if (r() < 0.2) return pick(special);
      const hi = BigInt(Math.floor(r() * 2 ** 32));
      const lo = BigInt(Math.floor(r() * 2 ** 32));
      const v = BigInt.asIntN(64, (hi << 32n) | lo);
      return r() < 0.5 ? v >> BigInt(Math.floor(r() * 64)) : v;
    }
    case ColumnType.FLOAT: {
      if (r() < 0.15) return pick([0, Infinity, -Infinity, NaN, Number.MIN_VALUE, -Number.MAX_VALUE, 1e300]);
      return (r() - 0.5) * 10 ** Math.floor(r() * 20 - 10);
    }
    case ColumnType.STRING: {
      const alphabet = ['a', 'b', 'z', '\u0000', 'é', '日', '😀', '\u00ff', ' '];
      let s = '';
      const n = Math.floor(r() * 6);
      for (let i = 0; i < n; i++) s += pick(alphabet);
      return s;
    }
    case ColumnType.BOOL:
      return r() < 0.5;
    case ColumnType.BYTES: {
      const n = Math.floor(r() * 6);
      return Uint8Array.from({ length: n }, () => pick([0, 1, 0xff, 0x7f, 0x80, 42]));
    }
    case ColumnType.TIMESTAMP:
      return new Date(Math.floor((r() - 0.5) * 2 * 8.64e15 * (r() < 0.5 ? 1e-4 : 1)));
    case ColumnType.DECIMAL: {
      if (r() < 0.1) return '0';
      const digits = String(Math.floor(r() * 10 ** Math.floor(1 + r() * 15))).replace(/^0+/, '') || '1';
      const text = (r() < 0.5 ? '-' : '') + digits + 'e' + Math.floor(r() * 30 - 15);
      const p = parseDecimal(text)!;
      const out = p.sign === 0 ? '0' : text;
      return out === '0' ? '0' : canonical(out);
    }
    default:
      throw new Error(`no generator for ${type}`);
  }
}

function canonical(text: string): string {
  const p = parseDecimal(text)!;
  if (p.sign === 0) return '0';
  const neg = p.sign < 0 ? '-' : '';
  if (p.exp10 >= 0) return neg + p.digits + '0'.repeat(p.exp10);
  const point = p.digits.length + p.exp10;
  return point > 0
    ? neg + p.digits.slice(0, point) + '.' + p.digits.slice(point)
    : neg + '0.' + '0'.repeat(-point) + p.digits;
}

function compareDecimal(a: string, b: string): number {
  const pa = parseDecimal(a)!;
  const pb = parseDecimal(b)!;
  const exp = Math.min(pa.exp10, pb.exp10);
  const va = BigInt(pa.sign) * BigInt(pa.digits || '0') * 10n ** BigInt(pa.exp10 - exp);
  const vb = BigInt(pb.sign) * BigInt(pb.digits || '0') * 10n ** BigInt(pb.exp10 - exp);
  return va < vb ? -1 : va > vb ? 1 : 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function compareDatum(type: ColumnType, a: Datum, b: Datum): number {
  switch (type) {
    case ColumnType.INT:
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case ColumnType.FLOAT: {
      const x = a as number;
      const y = b as number;
      if (Number.isNaN(x) || Number.isNaN(y)) return Number(Number.isNaN(x)) - Number(Number.isNaN(y));
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case ColumnType.STRING:
      return compareBytes(Buffer.from(a as string), Buffer.from(b as string));
    case ColumnType.BOOL:
      return Number(a) - Number(b);
    case ColumnType.BYTES:
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case ColumnType.TIMESTAMP:
      return (a as Date).getTime() - (b as Date).getTime();
    case ColumnType.DECIMAL:
      return compareDecimal(a as string, b as string);
    default:
      throw new Error('unreachable');
  }
}

describe('row key and value encoding', () => {
  it('round-trips every type through keys and values', () => {
    const r = rng(1);
    for (const type of ALL_TYPES) {
      // pk = k (the type under test); v = same type as a value column; n = nullable copy.
      const t = makeTable(104, [['k', type], ['v', type], ['n', type]], ['k']);
      for (let i = 0; i < 300; i++) {
        const k = randomDatum(type, r);
        const v = randomDatum(type, r);
        const row: Datum[] = [k, v, i % 3 === 0 ? null : v];
        const key = encodeRowKey(t, row);
        const value = encodeRowValue(t, row);
        expect(decodeRow(t, key, value)).toEqual(row);
        expect(decodePrimaryKey(t, key)).toEqual([k]);
        expect(encodePrimaryKey(t, [k])).toEqual(key);
      }
    }
  });

  it('keeps -0 in values and folds it to 0 in keys', () => {
    const t = makeTable(104, [['k', ColumnType.FLOAT], ['v', ColumnType.FLOAT]], ['k']);
    const row = decodeRow(t, encodeRowKey(t, [-0, -0]), encodeRowValue(t, [-0, -0]));
    expect(Object.is(row[0], 0)).toBe(true);
    expect(Object.is(row[1], -0)).toBe(true);
  });

  it('round-trips INT values beyond 2^53 exactly', () => {
    const t = makeTable(104, [['k', ColumnType.INT], ['v', ColumnType.INT]], ['k']);
    for (const v of [(1n << 53n) + 1n, (1n << 63n) - 1n, -(1n << 63n), -(1n << 62n) - 3n, 1n << 48n, -(1n << 48n)]) {
      expect(decodeRow(t, encodeRowKey(t, [v, v]), encodeRowValue(t, [v, v]))).toEqual([v, v]);
    }
  });

  it('orders keys like values, per type and for composite keys', () => {
    const r = rng(7);
    for (const type of ALL_TYPES) {
      const t = makeTable(104, [['k', type]], ['k']);
      const vals = Array.from({ length: 400 }, () => randomDatum(type, r));
      const keyed = vals.map((v) => ({ v, key: encodePrimaryKey(t, [v]) }));
      keyed.sort((a, b) => compareKeys(a.key, b.key));
      for (let i = 1; i < keyed.length; i++) {
        const prev = keyed[i - 1]!;
        const cur = keyed[i]!;
        const c = compareDatum(type, prev.v, cur.v);
        if (c > 0) throw new Error(`type ${type}: ${String(prev.v)} sorted before ${String(cur.v)}`);
        // Equal keys only for equal values, and the other way round.
        expect(c === 0).toBe(compareKeys(prev.key, cur.key) === 0);
      }
    }
    const pairs: Array<[ColumnType, ColumnType]> = [
      [ColumnType.STRING, ColumnType.INT],
      [ColumnType.DECIMAL, ColumnType.BYTES],
      [ColumnType.BYTES, ColumnType.STRING],
      [ColumnType.BOOL, ColumnType.TIMESTAMP],
    ];
    for (const [ta, tb] of pairs) {
      const t = makeTable(104, [['a', ta], ['b', tb]], ['a', 'b']);
      const rows = Array.from({ length: 400 }, () => [randomDatum(ta, r), randomDatum(tb, r)] as Datum[]);
      const keyed = rows.map((row) => ({ row, key: encodeRowKey(t, row) }));
      keyed.sort((x, y) => compareKeys(x.key, y.key));
      for (let i = 1; i < keyed.length; i++) {
        const [a0, b0] = keyed[i - 1]!.row;
        const [a1, b1] = keyed[i]!.row;
        const c = compareDatum(ta, a0!, a1!) || compareDatum(tb, b0!, b1!);
        expect(c).toBeLessThanOrEqual(0);
      }
    }
  });

  it('encodes keys as tablePrefix + index id 1 + pk', () => {
    const t = makeTable(104, [['k', ColumnType.INT]], ['k']);
    const key = encodePrimaryKey(t, [5n]);
    const prefix = tablePrefix(104);
    expect(key.subarray(0, prefix.length)).toEqual(prefix);
    const span = primaryIndexSpan(t);
    expect(compareKeys(span.start, key)).toBeLessThan(0);
    expect(compareKeys(key, span.end)).toBeLessThan(0);
  });

  it('reads old rows after a column is added and skips dropped columns', () => {
    const v1 = makeTable(104, [['k', ColumnType.INT], ['a', ColumnType.STRING], ['b', ColumnType.INT]], ['k']);
    const key = encodeRowKey(v1, [1n, 'x', 2n]);
    const value = encodeRowValue(v1, [1n, 'x', 2n]);
    const added: TableDescriptor = {
      ...v1,
      columns: [...v1.columns, { id: 4, name: 'c', type: ColumnType.BOOL, nullable: true }],
      nextColumnId: 5,
    };
    expect(decodeRow(added, key, value)).toEqual([1n, 'x', 2n, null]);
    const dropped: TableDescriptor = { ...v1, columns: v1.columns.filter((c) => c.name !== 'a') };
    expect(decodeRow(dropped, key, value)).toEqual([1n, 2n]);
  });

  it('stores long strings and bytes', () => {
    const t = makeTable(104, [['k', ColumnType.INT], ['s', ColumnType.STRING], ['b', ColumnType.BYTES]], ['k']);
    const s = 'ü'.repeat(100_000);
    const b = new Uint8Array(300_000).fill(7);
    const row = decodeRow(t, encodeRowKey(t, [1n, s, b]), encodeRowValue(t, [1n, s, b]));
    expect(row[1] === s).toBe(true);
    expect(Buffer.from(row[2] as Uint8Array).equals(b)).toBe(true);
  });

  it('rejects NULL keys and wrongly typed datums', () => {
    const t = makeTable(104, [['k', ColumnType.INT], ['v', ColumnType.STRING]], ['k']);
    expect(() => encodeRowKey(t, [null, 'x'])).toThrow(/null value in column "k"/);
    expect(() => encodeRowKey(t, [1, 'x'])).toThrow(CairnError);
    expect(() => encodeRowValue(t, [1n, 5n])).toThrow(/column "v" of table "t104" is STRING/);
    expect(() => encodeRowValue(t, [1n])).toThrow(/2 column/);
    expect(() => decodeRow(t, encodePrimaryKey(makeTable(105, [['k', ColumnType.INT]], ['k']), [1n]), Uint8Array.of(1))).toThrow(
      CairnError,
    );
  });
});

describe('keySpanForPkRange', () => {
  const t = makeTable(104, [['a', ColumnType.INT], ['b', ColumnType.STRING]], ['a', 'b']);
  const rows: Datum[][] = [];
  for (let a = 0n; a < 6n; a++) for (const b of ['', 'x', 'y']) rows.push([a, b]);

  function scan(lower?: { values: Datum[]; inclusive: boolean }, upper?: { values: Datum[]; inclusive: boolean }) {
    const span = keySpanForPkRange(t, lower, upper);
    return rows.filter((row) => {
      const k = encodeRowKey(t, row);
      return compareKeys(span.start, k) <= 0 && compareKeys(k, span.end) < 0;
    });
  }

  it('covers the whole index without bounds', () => {
    expect(scan()).toHaveLength(rows.length);
  });

  it('handles prefix bounds, inclusive and exclusive', () => {
    expect(scan({ values: [2n], inclusive: true }, { values: [4n], inclusive: false }).map((r) => r[0])).toEqual([
      2n, 2n, 2n, 3n, 3n, 3n,
    ]);
    expect(scan({ values: [2n], inclusive: false }, { values: [4n], inclusive: true }).map((r) => r[0])).toEqual([
      3n, 3n, 3n, 4n, 4n, 4n,
    ]);
    expect(scan({ values: [1n, 'x'], inclusive: false }, { values: [1n, 'y'], inclusive: true })).toEqual([[1n, 'y']]);
    expect(scan(undefined, { values: [0n, 'x'], inclusive: false })).toEqual([[0n, '']]);
  });
});
