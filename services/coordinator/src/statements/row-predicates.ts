import { CairnError, ErrorCode } from '@cairn/errors';
import { coerceLiteral, encodePrimaryKey, keySpanForPkRange, primaryIndexSpan, type Datum } from '@cairn/catalog';
import { compareKeys, type Span } from '@cairn/keys';
import type { ColumnDescriptor, TableDescriptor } from '@cairn/proto';
import type { Literal as SqlLiteral, Predicate } from '@cairn/sql';
import type { Literal as CatalogLiteral } from '@cairn/catalog';

/** A WHERE clause split into the key spans to scan and the predicates to check per row. */
export interface ScanPlan {
  spans: Span[];
  filters: Array<{ ordinal: number; test: (d: Datum) => boolean }>;
}

export function columnOrdinal(table: TableDescriptor, name: string, pos?: number): number {
  const i = table.columns.findIndex((c) => c.name === name);
  if (i < 0) {
    throw new CairnError(ErrorCode.UndefinedObject, `column "${name}" does not exist in "${table.name}"`, pos === undefined ? {} : { position: pos });
  }
  return i;
}

/**
 * Uses equality predicates on a prefix of the primary key (and one range or IN on the next
 * key column) to narrow the scan; every predicate is also kept as a row filter, which keeps
 * the plan simple and correct when a span is wider than the predicate.
 */
export function planScan(table: TableDescriptor, where: readonly Predicate[]): ScanPlan {
  const filters = where.map((p) => {
    const ordinal = columnOrdinal(table, p.column, p.pos);
    const col = table.columns[ordinal]!;
    if (p.kind === 'in') {
      const values = p.values.map((v) => coerceLiteral({ ...col, nullable: true }, literal(v)));
      // NULL equals nothing in SQL, not even NULL.
      return { ordinal, test: (d: Datum) => d !== null && values.some((v) => v !== null && compareDatums(d, v) === 0) };
    }
    const v = coerceLiteral({ ...col, nullable: true }, literal(p.value));
    const op = p.op;
    return {
      ordinal,
      test: (d: Datum) => {
        if (d === null || v === null) return false;
        const c = compareDatums(d, v);
        return op === '=' ? c === 0 : op === '!=' ? c !== 0 : op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
      },
    };
  });

  const prefix: Datum[] = [];
  for (const pkName of table.primaryKey) {
    const col = pkColumn(table, pkName);
    // Key columns are never NULL, so a comparison with NULL selects no row (rather than
    // failing the NOT NULL check of the coercion).
    const keyValue = (l: SqlLiteral): Datum => coerceLiteral({ ...col, nullable: true }, literal(l));
    const eq = where.find((p) => p.column === pkName && p.kind === 'compare' && p.op === '=');
    if (eq && eq.kind === 'compare') {
      const v = keyValue(eq.value);
      if (v === null) return { spans: [], filters };
      prefix.push(v);
      continue;
    }
    const inList = where.find((p) => p.column === pkName && p.kind === 'in');
    if (inList && inList.kind === 'in') {
      const spans = inList.values.flatMap((lit) => {
        const v = keyValue(lit);
        if (v === null) return [];
        const vals = [...prefix, v];
        return [keySpanForPkRange(table, { values: vals, inclusive: true }, { values: vals, inclusive: true })];
      });
      return { spans: inKeyOrder(spans), filters };
    }
    let lower = prefix.length > 0 ? { values: [...prefix], inclusive: true } : undefined;
    let upper = prefix.length > 0 ? { values: [...prefix], inclusive: true } : undefined;
    for (const p of where) {
      if (p.column !== pkName || p.kind !== 'compare') continue;
      const v = keyValue(p.value);
      if (v === null) return { spans: [], filters };
      if (p.op === '>' || p.op === '>=') lower = { values: [...prefix, v], inclusive: p.op === '>=' };
      if (p.op === '<' || p.op === '<=') upper = { values: [...prefix, v], inclusive: p.op === '<=' };
    }
    if (!lower && !upper) return { spans: [primaryIndexSpan(table)], filters };
    return { spans: [keySpanForPkRange(table, lower, upper)], filters };
  }
  if (prefix.length === table.primaryKey.length && prefix.length > 0) {
    const key = encodePrimaryKey(table, prefix);
    return { spans: [pointSpan(key)], filters };
  }
  return { spans: [primaryIndexSpan(table)], filters };
}

/**
 * Spans in key order without repeats: `IN (9, 1, 9)` scans 1 then 9, once each, so rows come
 * out in key order (which a LIMIT without sorting relies on) and none twice.
 */
function inKeyOrder(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => compareKeys(a.start, b.start));
  return sorted.filter((s, i) => i === 0 || compareKeys(s.start, sorted[i - 1]!.start) !== 0);
}

export function pointSpan(key: Uint8Array): Span {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return { start: key, end };
}

/**
 * One point span per distinct key, in key order: what `ReplicaReader.scanSpans` takes to read
 * a batch of rows by primary key (keys in any order, repeats allowed).
 */
export function distinctPointSpans(keys: readonly Uint8Array[]): Span[] {
  return inKeyOrder(keys.map(pointSpan));
}

function pkColumn(table: TableDescriptor, name: string): ColumnDescriptor {
  return table.columns[columnOrdinal(table, name)]!;
}

/** Orders two datums of one column type (NULLs first, as CockroachDB sorts them). */
export function compareDatums(a: Datum, b: Datum): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  if (typeof a === 'bigint' && typeof b === 'number') return Number(a) - b;
  if (typeof a === 'number' && typeof b === 'bigint') return a - Number(b);
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** The parser's literal in the shape the catalog's coercion takes (booleans as text). */
export function literal(l: SqlLiteral): CatalogLiteral {
  switch (l.kind) {
    case 'null':
      return { kind: 'null', value: '' };
    case 'bool':
      return { kind: 'bool', value: l.value ? 'true' : 'false' };
    default:
      return { kind: l.kind, value: l.value };
  }
}
