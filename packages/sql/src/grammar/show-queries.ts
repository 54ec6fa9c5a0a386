/**
 * SELECT, whose source is a table or the rows of a SHOW statement: `SELECT ... FROM [SHOW ...]`
 * and `WITH x AS (SHOW ...) SELECT ... FROM x`, as CockroachDB composes SHOW results.
 */
import type { SelectFromShowStatement, SelectItem, ShowStatement, Statement } from '../ast.js';
import { optLimit, orderBy, selectFromTable, selectItems } from './data.js';
import { optWhere } from './expressions.js';
import type { Parser } from './parser-base.js';
import { show } from './show.js';

/** `SELECT items FROM <table | [SHOW ...]> ...`. */
export function select(p: Parser): Statement {
  const pos = p.expectKw('SELECT').pos;
  const items = selectItems(p);
  p.expectKw('FROM');
  if (!p.acceptOp('[')) return selectFromTable(p, pos, items);
  const source = bracketedShow(p);
  p.expectOp(']');
  return showQueryTail(p, pos, items, source);
}

/** `WITH name AS (SHOW ...) SELECT items FROM name ...`. */
export function withShow(p: Parser): Statement {
  const pos = p.expectKw('WITH').pos;
  const name = p.ident('a name for the SHOW statement');
  p.expectKw('AS');
  p.expectOp('(');
  const source = bracketedShow(p);
  p.expectOp(')');
  p.expectKw('SELECT');
  const items = selectItems(p);
  p.expectKw('FROM');
  const fromTok = p.peek();
  if (p.ident(name) !== name) p.fail(fromTok, `expected ${name} (the name the WITH clause defines)`);
  const stmt = showQueryTail(p, pos, items, source);
  stmt.withName = name;
  return stmt;
}

function bracketedShow(p: Parser): ShowStatement {
  if (!p.isKw('SHOW')) p.expected('SHOW (only the rows of a SHOW statement can be selected from here)');
  const stmt = show(p);
  if (stmt.kind === 'checkExternalConnection' && stmt.form !== 'showBackup') p.expected('SHOW');
  return stmt as ShowStatement;
}

function showQueryTail(p: Parser, pos: number, items: SelectItem[], source: ShowStatement): SelectFromShowStatement {
  const stmt: SelectFromShowStatement = { kind: 'selectFromShow', pos, show: source, items, where: optWhere(p), orderBy: orderBy(p) };
  const limit = optLimit(p);
  if (limit !== undefined) stmt.limit = limit;
  return stmt;
}
