import type { AsOf, CaseExpr, Comparison, ComparisonOp, Literal, Predicate, ValueExpr } from '../ast.js';
import type { Parser } from './parser-base.js';

/** A literal: a number (optionally negative), a string, TRUE, FALSE or NULL. */
export function literal(p: Parser): Literal {
  const t = p.peek();
  if (t.kind === 'string') {
    p.next();
    return { kind: 'string', pos: t.pos, value: t.value };
  }
  let sign = '';
  if (t.kind === 'op' && t.value === '-' && p.peek(1).kind === 'number') {
    p.next();
    sign = '-';
  }
  const n = p.peek();
  if (n.kind === 'number') {
    p.next();
    const value = sign + n.value;
    return /^\d+$/.test(n.value) ? { kind: 'int', pos: t.pos, value } : { kind: 'decimal', pos: t.pos, value };
  }
  if (t.kind === 'word') {
    if (t.upper === 'TRUE' || t.upper === 'FALSE') {
      p.next();
      return { kind: 'bool', pos: t.pos, value: t.upper === 'TRUE' };
    }
    if (t.upper === 'NULL') {
      p.next();
      return { kind: 'null', pos: t.pos };
    }
  }
  p.expected('a literal (number, string, TRUE, FALSE or NULL)');
}

/** `term (('+' | '-') term)*`, left-associative. */
export function valueExpr(p: Parser): ValueExpr {
  let left = valueTerm(p);
  for (;;) {
    const t = p.peek();
    if (t.kind !== 'op' || (t.value !== '+' && t.value !== '-')) return left;
    p.next();
    left = { kind: 'arith', pos: left.pos, op: t.value, left, right: valueTerm(p) };
  }
}

function valueTerm(p: Parser): ValueExpr {
  const t = p.peek();
  if (p.acceptOp('(')) {
    const e = valueExpr(p);
    p.expectOp(')');
    return e;
  }
  if (p.acceptKw('CASE')) {
    const operand = p.ident('column name');
    const whens: CaseExpr['whens'] = [];
    while (p.isKw('WHEN')) {
      const wPos = p.next().pos;
      const match = literal(p);
      p.expectKw('THEN');
      whens.push({ pos: wPos, match, result: valueExpr(p) });
    }
    if (whens.length === 0) p.expected('WHEN');
    const c: CaseExpr = { kind: 'case', pos: t.pos, operand, whens };
    if (p.acceptKw('ELSE')) c.else = valueExpr(p);
    p.expectKw('END');
    return c;
  }
  if ((t.kind === 'word' && !['TRUE', 'FALSE', 'NULL'].includes(t.upper)) || t.kind === 'ident') {
    return { kind: 'columnRef', pos: t.pos, column: p.ident('column name') };
  }
  return literal(p);
}

/**
 * An optional `WHERE col op literal [AND ...]` (op: a comparison, `IN (...)` or
 * `BETWEEN a AND b`); `allowed` limits the columns where the statement knows only a few.
 */
export function optWhere(p: Parser, allowed?: readonly string[]): Predicate[] {
  if (!p.acceptKw('WHERE')) return [];
  const out: Predicate[] = [];
  do {
    const colTok = p.peek();
    const column = p.ident('column name');
    if (allowed !== undefined && !allowed.includes(column)) {
      p.fail(colTok, `expected column ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1] ?? ''}`);
    }
    const pos = colTok.pos;
    if (p.acceptKw('IN')) {
      p.expectOp('(');
      const values = p.commaList(() => literal(p));
      p.expectOp(')');
      out.push({ kind: 'in', pos, column, values });
    } else if (p.acceptKw('BETWEEN')) {
      const lo = literal(p);
      p.expectKw('AND');
      const hi = literal(p);
      out.push({ kind: 'compare', pos, column, op: '>=', value: lo }, { kind: 'compare', pos, column, op: '<=', value: hi });
    } else {
      const opTok = p.peek();
      const ops: readonly string[] = ['=', '!=', '<', '<=', '>', '>='];
      if (opTok.kind !== 'op' || !ops.includes(opTok.value)) p.expected('comparison operator (=, !=, <, <=, >, >=), IN or BETWEEN');
      p.next();
      const cmp: Comparison = { kind: 'compare', pos, column, op: opTok.value as ComparisonOp, value: literal(p) };
      out.push(cmp);
    }
  } while (p.acceptKw('AND'));
  return out;
}

/** An optional `AS OF SYSTEM TIME <string | decimal | follower_read_timestamp()>`. */
export function optAsOf(p: Parser): AsOf | undefined {
  if (!p.isKw('AS') || !p.isKw('OF', 1)) return undefined;
  const pos = p.next().pos;
  p.next();
  p.expectKw('SYSTEM');
  p.expectKw('TIME');
  const t = p.peek();
  if (t.kind === 'string') {
    p.next();
    const text = t.value;
    if (text.trim() === '') p.fail(t, 'expected a timestamp, a negative interval or a decimal');
    if (/^\d+(\.\d+)?$/.test(text)) return { kind: 'decimal', pos, text };
    if (text.startsWith('-')) return { kind: 'interval', pos, text };
    return { kind: 'timestamp', pos, text };
  }
  if (t.kind === 'number') {
    if (!/^\d+(\.\d+)?$/.test(t.value)) p.fail(t, 'expected a decimal HLC timestamp');
    p.next();
    return { kind: 'decimal', pos, text: t.value };
  }
  if (p.isKw('FOLLOWER_READ_TIMESTAMP')) {
    p.next();
    p.expectOp('(');
    p.expectOp(')');
    return { kind: 'follower', pos, text: 'follower_read_timestamp()' };
  }
  p.expected('a string, a decimal or follower_read_timestamp()');
}
