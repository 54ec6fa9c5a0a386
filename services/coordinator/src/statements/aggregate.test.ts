import type { Datum } from '@cairn/catalog';
import { CairnError, ErrorCode } from '@cairn/errors';
import { ColumnType, DescriptorState, ObjectKind, type TableDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { Aggregate } from './aggregate.js';

/** `t (id INT PRIMARY KEY, balance INT, name STRING)`. */
const t: TableDescriptor = {
  id: 130,
  name: 't',
  parentId: 50,
  kind: ObjectKind.TABLE,
  columns: [
    { id: 1, name: 'id', type: ColumnType.INT, nullable: false },
    { id: 2, name: 'balance', type: ColumnType.INT, nullable: true },
    { id: 3, name: 'name', type: ColumnType.STRING, nullable: true },
  ],
  primaryKey: ['id'],
  foreignKeys: [],
  indexes: [],
  state: DescriptorState.PUBLIC,
  viewQuery: '',
  dependsOn: [],
  nextColumnId: 4,
};

function fold(fn: string, arg: string | undefined, rows: Datum[][]): string | null {
  const a = new Aggregate(t, fn, arg);
  for (const r of rows) a.add(r);
  return a.result();
}

describe('Aggregate', () => {
  const rows: Datum[][] = [
    [1n, 10n, 'b'],
    [2n, null, 'a'],
    [3n, 2n ** 60n, null],
    [4n, -5n, 'c'],
  ];

  it('counts rows, and a column only where it is not NULL', () => {
    expect(fold('count', undefined, rows)).toBe('4');
    expect(fold('count', 'balance', rows)).toBe('3');
    expect(fold('count', 'name', [])).toBe('0');
  });

  it('sums integers exactly and averages them', () => {
    expect(fold('sum', 'balance', rows)).toBe(String(10n + 2n ** 60n - 5n));
    expect(fold('avg', 'id', rows)).toBe('2.5');
  });

  it('takes min and max by the column order, skipping NULLs', () => {
    expect(fold('min', 'balance', rows)).toBe('-5');
    expect(fold('max', 'balance', rows)).toBe(String(2n ** 60n));
    expect(fold('min', 'name', rows)).toBe('a');
    expect(fold('max', 'name', rows)).toBe('c');
  });

  it('answers NULL over no values, as SQL does', () => {
    expect(fold('sum', 'balance', [[1n, null, 'x']])).toBeNull();
    expect(fold('max', 'name', [])).toBeNull();
  });

  it('folds a million rows one at a time, with no row kept', () => {
    const a = new Aggregate(t, 'sum', 'balance');
    for (let i = 0; i < 1_000_000; i++) a.add([BigInt(i), 1n, null]);
    expect(a.result()).toBe('1000000');
  });

  it('refuses sum(*) and an unknown column', () => {
    expect(() => new Aggregate(t, 'sum', undefined)).toThrow(/sum\(\*\) is not valid/);
    try {
      new Aggregate(t, 'max', 'nope');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).not.toBe(ErrorCode.Internal);
    }
  });
});
