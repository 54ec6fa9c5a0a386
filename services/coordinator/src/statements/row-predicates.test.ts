import { encodePrimaryKey, primaryIndexSpan, type Datum } from '@cairn/catalog';
import { CairnError, ErrorCode } from '@cairn/errors';
import { keyToHex, spanContains, type Span } from '@cairn/keys';
import { ColumnType, DescriptorState, ObjectKind, type TableDescriptor } from '@cairn/proto';
import type { ComparisonOp, Literal, Predicate } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { compareDatums, planScan, pointSpan } from './row-predicates.js';

function table(id: number, cols: Array<[string, ColumnType]>, primaryKey: string[]): TableDescriptor {
  return {
    id,
    name: `t${id}`,
    parentId: 50,
    kind: ObjectKind.TABLE,
    columns: cols.map(([name, type], i) => ({ id: i + 1, name, type, nullable: !primaryKey.includes(name) })),
    primaryKey,
    foreignKeys: [],
    indexes: [],
    state: DescriptorState.PUBLIC,
    viewQuery: '',
    dependsOn: [],
    nextColumnId: cols.length + 1,
  };
}

/** `accounts (id INT PRIMARY KEY, name STRING, balance INT)`. */
const single = table(120, [['id', ColumnType.INT], ['name', ColumnType.STRING], ['balance', ColumnType.INT]], ['id']);
/** `events (tenant STRING, seq INT, body STRING, PRIMARY KEY (tenant, seq))`. */
const composite = table(121, [['tenant', ColumnType.STRING], ['seq', ColumnType.INT], ['body', ColumnType.STRING]], ['tenant', 'seq']);

function lit(v: number | string | null): Literal {
  if (v === null) return { kind: 'null', pos: 1 };
  return typeof v === 'number' ? { kind: 'int', value: String(v), pos: 1 } : { kind: 'string', value: v, pos: 1 };
}
function cmp(column: string, op: ComparisonOp, v: number | string | null): Predicate {
  return { kind: 'compare', column, op, value: lit(v), pos: 1 };
}
function inList(column: string, values: Array<number | string>): Predicate {
  return { kind: 'in', column, values: values.map(lit), pos: 1 };
}

const key = (t: TableDescriptor, ...pk: Datum[]) => encodePrimaryKey(t, pk);
const hex = (s: Span) => [keyToHex(s.start), keyToHex(s.end)];

/** The ids of `candidates` whose row key falls in one of `spans`. */
function covered(spans: Span[], t: TableDescriptor, candidates: Datum[][]): Datum[][] {
  return candidates.filter((pk) => spans.some((s) => spanContains(s, key(t, ...pk))));
}

const ids = (...n: number[]) => n.map((i) => [BigInt(i)]);

describe('planScan on a single-column primary key', () => {
  it('turns equality on the key into a point span holding only that row', () => {
    const plan = planScan(single, [cmp('id', '=', 42)]);
    expect(plan.spans).toHaveLength(1);
    expect(hex(plan.spans[0]!)).toEqual(hex(pointSpan(key(single, 42n))));
    expect(covered(plan.spans, single, ids(41, 42, 43))).toEqual(ids(42));
  });

  it('bounds a range predicate on both sides', () => {
    const plan = planScan(single, [cmp('id', '>=', 5), cmp('id', '<', 10)]);
    expect(plan.spans).toHaveLength(1);
    const full = primaryIndexSpan(single);
    expect(keyToHex(plan.spans[0]!.start)).not.toBe(keyToHex(full.start));
    expect(keyToHex(plan.spans[0]!.end)).not.toBe(keyToHex(full.end));
    expect(covered(plan.spans, single, ids(-1, 4, 5, 6, 9, 10, 11))).toEqual(ids(5, 6, 9));
  });

  it('honours strict and inclusive bounds, and leaves an open side unbounded', () => {
    const gt = planScan(single, [cmp('id', '>', 5)]);
    expect(covered(gt.spans, single, ids(5, 6, 1_000_000))).toEqual(ids(6, 1_000_000));
    expect(keyToHex(gt.spans[0]!.end)).toBe(keyToHex(primaryIndexSpan(single).end));
    const le = planScan(single, [cmp('id', '<=', 5)]);
    expect(covered(le.spans, single, ids(-7, 5, 6))).toEqual(ids(-7, 5));
    expect(keyToHex(le.spans[0]!.start)).toBe(keyToHex(primaryIndexSpan(single).start));
  });

  it('gives one point span per IN value', () => {
    const plan = planScan(single, [inList('id', [3, 7, 9])]);
    expect(plan.spans).toHaveLength(3);
    plan.spans.forEach((s, i) => {
      expect(covered([s], single, ids(2, 3, 4, 6, 7, 8, 9, 10))).toEqual(ids([3, 7, 9][i]!));
    });
  });

  it('orders IN spans by key and drops repeated values, so no row is read twice', () => {
    const plan = planScan(single, [inList('id', [9, -4, 3, 9, 3])]);
    expect(plan.spans.map((s) => covered([s], single, ids(-4, 3, 9)))).toEqual([ids(-4), ids(3), ids(9)]);
  });

  it('scans the whole table when no predicate is on the key, filtering rows instead', () => {
    const plan = planScan(single, [cmp('balance', '>', 100), cmp('id', '!=', 3)]);
    expect(plan.spans.map(hex)).toEqual([hex(primaryIndexSpan(single))]);
    expect(plan.filters.map((f) => f.ordinal)).toEqual([2, 0]);
    expect(plan.filters[0]!.test(101n)).toBe(true);
    expect(plan.filters[0]!.test(100n)).toBe(false);
    expect(plan.filters[0]!.test(null)).toBe(false);
    expect(plan.filters[1]!.test(3n)).toBe(false);
    expect(plan.filters[1]!.test(4n)).toBe(true);
  });

  it('keeps every predicate as a row filter, narrowed span or not', () => {
    const plan = planScan(single, [cmp('id', '=', 42), cmp('name', '=', 'ann'), inList('balance', [1, 2])]);
    expect(plan.filters.map((f) => f.ordinal)).toEqual([0, 1, 2]);
    expect(plan.filters[0]!.test(42n)).toBe(true);
    expect(plan.filters[0]!.test(43n)).toBe(false);
    expect(plan.filters[1]!.test('ann')).toBe(true);
    expect(plan.filters[1]!.test('bob')).toBe(false);
    expect(plan.filters[2]!.test(2n)).toBe(true);
    expect(plan.filters[2]!.test(3n)).toBe(false);
  });

  it('selects no row for a comparison of the key with NULL, as SQL does', () => {
    for (const op of ['=', '<', '>=', '!='] as const) {
      const plan = planScan(single, [cmp('id', op, null)]);
      expect(plan.spans).toEqual([]);
      expect(plan.filters[0]!.test(1n)).toBe(false);
    }
    const plan = planScan(single, [inList('id', [3]), cmp('name', '=', 'x')]);
    expect(plan.spans).toHaveLength(1);
    const withNull = planScan(single, [{ kind: 'in', column: 'id', values: [lit(null), lit(3)], pos: 1 }]);
    expect(covered(withNull.spans, single, ids(2, 3, 4))).toEqual(ids(3));
  });

  it('never matches NULL in a row filter, not even with IN (NULL)', () => {
    const plan = planScan(single, [
      { kind: 'in', column: 'name', values: [lit(null), lit('ann')], pos: 1 },
      cmp('balance', '=', null),
    ]);
    expect(plan.filters[0]!.test('ann')).toBe(true);
    expect(plan.filters[0]!.test(null)).toBe(false);
    expect(plan.filters[1]!.test(null)).toBe(false);
    expect(plan.filters[1]!.test(0n)).toBe(false);
  });

  it('refuses an unknown column, pointing at it', () => {
    let err: unknown;
    try {
      planScan(single, [{ kind: 'compare', column: 'nope', op: '=', value: lit(1), pos: 33 }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.UndefinedObject);
    expect((err as CairnError).message).toBe('column "nope" does not exist in "t120"');
    expect((err as CairnError).position).toBe(33);
  });
});

describe('planScan on a composite primary key', () => {
  const rows: Datum[][] = [
    ['acme', 1n],
    ['acme', 5n],
    ['acme', 9n],
    ['acmf', 0n],
    ['acm', 7n],
    ['zeta', 5n],
  ];

  it('gives a point span only when every key column is fixed', () => {
    const point = planScan(composite, [cmp('seq', '=', 5), cmp('tenant', '=', 'acme')]);
    expect(point.spans.map(hex)).toEqual([hex(pointSpan(key(composite, 'acme', 5n)))]);
    expect(covered(point.spans, composite, rows)).toEqual([['acme', 5n]]);
  });

  it('scans the rows of a key prefix', () => {
    const prefix = planScan(composite, [cmp('tenant', '=', 'acme')]);
    expect(prefix.spans).toHaveLength(1);
    expect(covered(prefix.spans, composite, rows)).toEqual([
      ['acme', 1n],
      ['acme', 5n],
      ['acme', 9n],
    ]);
  });

  it('bounds a range on the column after an equality prefix', () => {
    const plan = planScan(composite, [cmp('tenant', '=', 'acme'), cmp('seq', '>', 1), cmp('seq', '<=', 9)]);
    expect(covered(plan.spans, composite, rows)).toEqual([
      ['acme', 5n],
      ['acme', 9n],
    ]);
  });

  it('gives one span per IN value after an equality prefix', () => {
    const plan = planScan(composite, [cmp('tenant', '=', 'acme'), inList('seq', [9, 1])]);
    expect(plan.spans).toHaveLength(2);
    expect(covered([plan.spans[0]!], composite, rows)).toEqual([['acme', 1n]]);
    expect(covered([plan.spans[1]!], composite, rows)).toEqual([['acme', 9n]]);
  });

  it('gives one prefix span per IN value on the first key column', () => {
    const plan = planScan(composite, [inList('tenant', ['zeta', 'acm'])]);
    expect(plan.spans).toHaveLength(2);
    expect(covered([plan.spans[0]!], composite, rows)).toEqual([['acm', 7n]]);
    expect(covered([plan.spans[1]!], composite, rows)).toEqual([['zeta', 5n]]);
  });

  it('does not narrow by a later key column when an earlier one is free', () => {
    const plan = planScan(composite, [cmp('seq', '=', 5)]);
    expect(plan.spans.map(hex)).toEqual([hex(primaryIndexSpan(composite))]);
  });
});

describe('compareDatums', () => {
  it('orders NULL first and values of one type naturally', () => {
    expect(compareDatums(null, null)).toBe(0);
    expect(compareDatums(null, 1n)).toBeLessThan(0);
    expect(compareDatums(1n, null)).toBeGreaterThan(0);
    expect(compareDatums(2n, 10n)).toBeLessThan(0);
    expect(compareDatums('b', 'a')).toBeGreaterThan(0);
    expect(compareDatums(1.5, 1.5)).toBe(0);
    expect(compareDatums(false, true)).toBeLessThan(0);
    expect(compareDatums(new Date(1), new Date(2))).toBeLessThan(0);
    expect(compareDatums(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBeLessThan(0);
  });
});
