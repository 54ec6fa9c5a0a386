import { CairnError, ErrorCode } from '@cairn/errors';
import { coerceLiteral, columnTypeName, datumMatchesType, type Datum } from '@cairn/catalog';
import type { ColumnDescriptor, TableDescriptor } from '@cairn/proto';
import type { ValueExpr } from '@cairn/sql';
import { columnOrdinal, compareDatums, literal } from './row-predicates.js';

/**
 * Compiles an UPDATE's SET expression for `target` into a function of the old row. Literals
 * take the type of the column they meet (the target, a CASE operand, the other side of + / -).
 */
export function compileValueExpr(table: TableDescriptor, target: ColumnDescriptor, e: ValueExpr): (row: readonly Datum[]) => Datum {
  const f = compile(table, e, target);
  return (row) => {
    const v = f(row);
    if (v !== null && !datumMatchesType(v, target.type)) {
      throw new CairnError(ErrorCode.DatatypeMismatch, `value of type ${typeof v} cannot be assigned to ${columnTypeName(target.type)} column "${target.name}"`);
    }
    if (v === null && !target.nullable) {
      throw new CairnError(ErrorCode.InvalidArgument, `null value in column "${target.name}" violates not-null constraint`);
    }
    return v;
  };
}

function compile(table: TableDescriptor, e: ValueExpr, typeHint: ColumnDescriptor): (row: readonly Datum[]) => Datum {
  switch (e.kind) {
    case 'columnRef': {
      const o = columnOrdinal(table, e.column, e.pos);
      return (row) => row[o] ?? null;
    }
    case 'arith': {
      const hint = e.left.kind === 'columnRef' ? table.columns[columnOrdinal(table, e.left.column, e.left.pos)]! : typeHint;
      const l = compile(table, e.left, hint);
      const r = compile(table, e.right, hint);
      return (row) => arithmetic(e.op, l(row), r(row), e.pos);
    }
    case 'case': {
      const operandCol = table.columns[columnOrdinal(table, e.operand, e.pos)]!;
      const whens = e.whens.map((w) => ({
        match: coerceLiteral({ ...operandCol, nullable: true }, literal(w.match)),
        result: compile(table, w.result, typeHint),
      }));
      const otherwise = e.else ? compile(table, e.else, typeHint) : () => null;
      const o = table.columns.indexOf(operandCol);
      return (row) => {
        const v = row[o] ?? null;
        const hit = whens.find((w) => v !== null && compareDatums(v, w.match) === 0);
        return hit ? hit.result(row) : otherwise(row);
      };
    }
    default: {
      const d = coerceLiteral({ ...typeHint, nullable: true }, literal(e));
      return () => d;
    }
  }
}

function arithmetic(op: '+' | '-', a: Datum, b: Datum, pos: number): Datum {
  if (a === null || b === null) return null;
  if (typeof a === 'bigint' && typeof b === 'bigint') return op === '+' ? a + b : a - b;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return op === '+' ? Number(a) + Number(b) : Number(a) - Number(b);
  }
  throw new CairnError(ErrorCode.DatatypeMismatch, `unsupported operand types for ${op}`, { position: pos });
}
