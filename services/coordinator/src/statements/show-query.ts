import { CairnError, ErrorCode } from '@cairn/errors';
import { parseShownTimestamp } from '@cairn/jobs';
import type { Literal, Predicate, SelectFromShowStatement, ShowStatement } from '@cairn/sql';
import { rowsResult, type StatementResult } from './result.js';

type Cell = string | null;

/**
 * `SELECT ... FROM [SHOW ...]` and `WITH x AS (SHOW ...) SELECT ... FROM x`: runs the SHOW
 * through `runShow` (the same executor, privilege check included, as the SHOW alone) and
 * evaluates WHERE, aggregates, ORDER BY, LIMIT and the projection over its rows.
 *
 * SHOW results are text; a comparison takes its type from the literal, as CockroachDB's
 * typed columns would: a number compares numerically, TRUE / FALSE as a boolean, and a string
 * as a timestamp when both sides read as one, otherwise as text.
 */
export async function selectFromShow(
  stmt: SelectFromShowStatement,
  runShow: (show: ShowStatement) => Promise<StatementResult>,
): Promise<StatementResult> {
  const source = await runShow(stmt.show);
  const relation = stmt.withName ?? 'the SHOW statement';
  const ordinal = (name: string, pos: number): number => {
    const i = source.columns.indexOf(name);
    if (i < 0) throw new CairnError(ErrorCode.UndefinedObject, `column "${name}" does not exist in ${relation}`, { position: pos });
    return i;
  };

  const filters = stmt.where.map((p) => rowTest(p, ordinal(p.column, p.pos)));
  let rows = source.rows.filter((row) => filters.every((f) => f(row)));

  const aggregates = stmt.items.filter((i) => i.kind === 'aggregate');
  if (aggregates.length > 0) {
    if (aggregates.length !== stmt.items.length) {
      throw new CairnError(ErrorCode.FeatureNotSupported, 'mixing aggregates and columns needs GROUP BY, which is not supported');
    }
    const cells = aggregates.map((a) => aggregate(a.fn, a.arg === undefined ? undefined : ordinal(a.arg, a.pos), rows));
    return rowsResult(aggregates.map((a) => a.fn), [cells]);
  }

  if (stmt.orderBy.length > 0) {
    const keys = stmt.orderBy.map((o) => ({ i: ordinal(o.column, o.pos), desc: o.desc }));
    // A stable sort keeps the SHOW's own order among equal keys.
    rows = [...rows].sort((a, b) => {
      for (const k of keys) {
        const c = compareCells(a[k.i] ?? null, b[k.i] ?? null);
        if (c !== 0) return k.desc ? -c : c;
      }
      return 0;
    });
  }
  if (stmt.limit !== undefined) rows = rows.slice(0, stmt.limit);

  const ordinals = stmt.items.flatMap((i) => (i.kind === 'star' ? source.columns.map((_, o) => o) : i.kind === 'column' ? [ordinal(i.name, i.pos)] : []));
  return rowsResult(
    ordinals.map((o) => source.columns[o] as string),
    rows.map((row) => ordinals.map((o) => row[o] ?? null)),
  );
}

function rowTest(p: Predicate, i: number): (row: Cell[]) => boolean {
  if (p.kind === 'in') return (row) => p.values.some((v) => compareToLiteral(row[i] ?? null, v) === 0);
  const op = p.op;
  return (row) => {
    const c = compareToLiteral(row[i] ?? null, p.value);
    if (c === undefined) return false;
    return op === '=' ? c === 0 : op === '!=' ? c !== 0 : op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
  };
}

/** cell <=> literal, typed by the literal; undefined when either is NULL (SQL's unknown). */
function compareToLiteral(cell: Cell, lit: Literal): number | undefined {
  if (cell === null || lit.kind === 'null') return undefined;
  switch (lit.kind) {
    case 'int':
    case 'decimal': {
      const n = Number(cell);
      if (cell.trim() === '' || Number.isNaN(n)) {
        throw new CairnError(ErrorCode.InvalidArgument, `could not parse "${cell}" as type decimal: comparing a text column with a number`);
      }
      return Math.sign(n - Number(lit.value));
    }
    case 'bool': {
      const b = cell.toLowerCase();
      if (b !== 'true' && b !== 'false') throw new CairnError(ErrorCode.InvalidArgument, `could not parse "${cell}" as type bool`);
      return Number(b === 'true') - Number(lit.value);
    }
    case 'string':
      return compareText(cell, lit.value);
  }
}

/** Text, or two timestamps (shown in any zone) by the instant they name. */
function compareText(a: string, b: string): number {
  const ta = parseShownTimestamp(a);
  const tb = ta === undefined ? undefined : parseTimestampLiteral(b);
  if (ta !== undefined && tb !== undefined) return Math.sign(ta.ms - tb.ms || ta.micros - tb.micros);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `'2024-01-01'`, `'2024-01-01 10:00:00'` (UTC) or a shown timestamp with its offset. */
function parseTimestampLiteral(text: string): { ms: number; micros: number } | undefined {
  const shown = parseShownTimestamp(text);
  if (shown !== undefined) return shown;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?Z?$/.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m;
  const usec = Number(frac.padEnd(6, '0'));
  return { ms: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.floor(usec / 1000)), micros: usec % 1000 };
}

/** ORDER BY over text cells: NULLs first, numbers by value, timestamps by instant, else text. */
function compareCells(a: Cell, b: Cell): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const na = Number(a);
  const nb = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) {
    // Job and schedule ids exceed 2^53: compare integers exactly.
    if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
      const ba = BigInt(a);
      const bb = BigInt(b);
      return ba < bb ? -1 : ba > bb ? 1 : 0;
    }
    return Math.sign(na - nb);
  }
  return compareText(a, b);
}

function aggregate(fn: 'count' | 'sum' | 'min' | 'max' | 'avg', i: number | undefined, rows: Cell[][]): Cell {
  if (i === undefined) {
    if (fn !== 'count') throw new CairnError(ErrorCode.InvalidArgument, `${fn}(*) is not a function: only count takes *`);
    return String(rows.length);
  }
  const cells = rows.map((r) => r[i] ?? null).filter((c): c is string => c !== null);
  if (fn === 'count') return String(cells.length);
  if (cells.length === 0) return null;
  if (fn === 'min' || fn === 'max') {
    return cells.reduce((best, c) => ((fn === 'min' ? compareCells(c, best) < 0 : compareCells(c, best) > 0) ? c : best));
  }
  const numbers = cells.map((c) => {
    const n = Number(c);
    if (c.trim() === '' || Number.isNaN(n)) throw new CairnError(ErrorCode.InvalidArgument, `${fn}(): "${c}" is not a number`);
    return n;
  });
  const sum = numbers.reduce((a, b) => a + b, 0);
  return String(fn === 'sum' ? sum : sum / numbers.length);
}
