/**
 * The data plane: databases, tables, views and sequences (CREATE / DROP), USE and SET, and
 * INSERT / UPSERT / DELETE / UPDATE / SELECT.
 */
import type { Assignment, ColumnDef, CommentTarget, ColumnReference, ColumnType, ColumnTypeName, ForeignKeyDef, Literal, NextvalDefault, OrderItem, SelectItem, Statement } from '../ast.js';
import { literal, optAsOf, optWhere, valueExpr } from './expressions.js';
import type { Parser } from './parser-base.js';

const AGGREGATES = ['count', 'sum', 'min', 'max', 'avg'] as const;

/** After `CREATE DATABASE`. */
export function createDatabase(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  return { kind: 'createDatabase', pos, name: p.ident('database name'), ifNotExists };
}

/** After `CREATE VIEW`. */
export function createView(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const view = p.tableName();
  p.expectKw('AS');
  return { kind: 'createView', pos, view, ifNotExists, query: rawQuery(p) };
}

/** After `CREATE SEQUENCE`. */
export function createSequence(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  return { kind: 'createSequence', pos, sequence: p.tableName(), ifNotExists };
}

/** After `DROP DATABASE`. */
export function dropDatabase(p: Parser, pos: number): Statement {
  const ifExists = p.ifExists();
  const name = p.ident('database name');
  return { kind: 'dropDatabase', pos, name, ifExists, cascade: p.cascade() };
}

/** After `DROP TABLE | VIEW | SEQUENCE`. */
export function dropRelation(p: Parser, pos: number, kind: 'dropTable' | 'dropView' | 'dropSequence'): Statement {
  const ifExists = p.ifExists();
  const name = p.tableName();
  return { kind, pos, name, ifExists, cascade: p.cascade() };
}

/** `USE db`. */
export function useDatabase(p: Parser): Statement {
  const pos = p.expectKw('USE').pos;
  return { kind: 'useDatabase', pos, name: p.ident('database name') };
}

/**
 * `SET CLUSTER SETTING name = value | DEFAULT`, `SET DATABASE = db`, and the session's time
 * zone: `SET TIME ZONE zone` or `SET timezone = | TO zone`.
 */
export function set(p: Parser): Statement {
  const pos = p.expectKw('SET').pos;
  if (p.isKw('TIME') && p.isKw('ZONE', 1)) {
    p.next();
    p.next();
    return setTimeZone(p, pos);
  }
  if (p.peek().value === 'timezone' && (p.peek().kind === 'word' || p.peek().kind === 'ident')) {
    p.next();
    if (!p.acceptOp('=')) p.expectKw('TO', '"=" or TO');
    return setTimeZone(p, pos);
  }
  if (p.acceptKw('CLUSTER')) {
    p.expectKw('SETTING');
    const name = p.settingName();
    if (!p.acceptOp('=')) p.expectKw('TO', '"=" or TO');
    if (p.acceptKw('DEFAULT')) return { kind: 'setClusterSetting', pos, name };
    return { kind: 'setClusterSetting', pos, name, value: literal(p) };
  }
  if (p.acceptKw('DATABASE')) {
    if (!p.acceptOp('=')) p.expectKw('TO', '"=" or TO');
    return { kind: 'useDatabase', pos, name: p.ident('database name') };
  }
  p.expected('CLUSTER SETTING, DATABASE or TIME ZONE');
}

/** A time zone: `'name'`, `name`, a signed hour offset, `DEFAULT` or `LOCAL` (both UTC). */
function setTimeZone(p: Parser, pos: number): Statement {
  const t = p.peek();
  if (p.acceptKw('DEFAULT') || p.acceptKw('LOCAL')) return { kind: 'setTimeZone', pos };
  if (t.kind === 'string') return { kind: 'setTimeZone', pos, zone: p.string('a time zone') };
  if (t.kind === 'op' && (t.value === '-' || t.value === '+') && p.peek(1).kind === 'number') {
    p.next();
    return { kind: 'setTimeZone', pos, zone: `${t.value}${p.next().value}` };
  }
  if (t.kind === 'number') return { kind: 'setTimeZone', pos, zone: p.next().value };
  return { kind: 'setTimeZone', pos, zone: p.ident('a time zone') };
}

/** After `CREATE TABLE`. */
export function createTable(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const table = p.tableName();
  p.expectOp('(');
  const columns: ColumnDef[] = [];
  const foreignKeys: ForeignKeyDef[] = [];
  let primaryKey: string[] | undefined;
  do {
    const t = p.peek();
    let constraintName: string | undefined;
    if (p.acceptKw('CONSTRAINT')) constraintName = p.ident('constraint name');
    if (p.isKw('PRIMARY')) {
      p.next();
      p.expectKw('KEY');
      if (primaryKey !== undefined || columns.some((c) => c.primaryKey)) p.fail(t, 'multiple primary keys');
      primaryKey = p.identList();
    } else if (p.isKw('FOREIGN')) {
      const fkPos = p.next().pos;
      p.expectKw('KEY');
      const cols = p.identList();
      p.expectKw('REFERENCES');
      const refTable = p.tableName();
      const refColumns = p.isOp('(') ? p.identList() : [];
      const fk: ForeignKeyDef = { pos: constraintName === undefined ? fkPos : t.pos, columns: cols, table: refTable, refColumns };
      if (constraintName !== undefined) fk.name = constraintName;
      foreignKeys.push(fk);
    } else if (constraintName !== undefined) {
      p.expected('PRIMARY KEY or FOREIGN KEY');
    } else {
      const col = columnDef(p);
      if (col.primaryKey && (primaryKey !== undefined || columns.some((c) => c.primaryKey))) {
        p.fail(t, 'multiple primary keys');
      }
      columns.push(col);
    }
  } while (p.acceptOp(','));
  p.expectOp(')');
  if (columns.length === 0) p.fail(p.peek(), 'a table needs at least one column');
  const stmt: Statement = { kind: 'createTable', pos, table, ifNotExists, columns, foreignKeys };
  if (primaryKey !== undefined) stmt.primaryKey = primaryKey;
  return stmt;
}

function columnDef(p: Parser): ColumnDef {
  const pos = p.peek().pos;
  const name = p.ident('column name');
  const type = columnType(p);
  const col: ColumnDef = { pos, name, type, notNull: false, primaryKey: false };
  for (;;) {
    if (p.acceptKw('NOT')) {
      p.expectKw('NULL');
      col.notNull = true;
    } else if (p.acceptKw('NULL')) {
      col.notNull = false;
    } else if (p.acceptKw('PRIMARY')) {
      p.expectKw('KEY');
      col.primaryKey = true;
    } else if (p.isKw('REFERENCES')) {
      const refPos = p.next().pos;
      const ref: ColumnReference = { pos: refPos, table: p.tableName() };
      if (p.acceptOp('(')) {
        ref.column = p.ident('column name');
        p.expectOp(')');
      }
      col.references = ref;
    } else if (p.acceptKw('DEFAULT')) {
      col.default = columnDefault(p);
    } else {
      return col;
    }
  }
}

function columnDefault(p: Parser): Literal | NextvalDefault {
  if (p.isKw('NEXTVAL') && p.isOp('(', 1)) {
    const pos = p.next().pos;
    p.next();
    const sequence = p.string('sequence name');
    p.expectOp(')');
    return { kind: 'nextval', pos, sequence };
  }
  return literal(p);
}

function columnType(p: Parser): ColumnType {
  const t = p.peek();
  if (t.kind === 'ident' || (t.kind === 'word' && !BUILTIN_TYPE_WORDS.has(t.upper) && !UNSUPPORTED_TYPES.has(t.upper))) return enumType(p);
  if (t.kind !== 'word') p.expected('column type');
  p.next();
  const pos = t.pos;
  const simple = (name: ColumnTypeName): ColumnType => ({ pos, name });
  switch (t.upper) {
    case 'INT':
    case 'INT2':
    case 'INT4':
    case 'INT8':
    case 'INTEGER':
    case 'BIGINT':
    case 'SMALLINT':
      return simple('INT');
    case 'FLOAT':
    case 'FLOAT4':
    case 'FLOAT8':
    case 'REAL':
      return simple('FLOAT');
    case 'DOUBLE':
      p.expectKw('PRECISION');
      return simple('FLOAT');
    case 'STRING':
    case 'TEXT':
    case 'VARCHAR':
    case 'CHAR':
    case 'CHARACTER': {
      if (t.upper === 'CHARACTER') p.acceptKw('VARYING');
      const type = simple('STRING');
      if (p.acceptOp('(')) {
        type.length = p.smallInt('length');
        p.expectOp(')');
      }
      return type;
    }
    case 'BOOL':
    case 'BOOLEAN':
      return simple('BOOL');
    case 'BYTES':
    case 'BYTEA':
      return simple('BYTES');
    case 'TIMESTAMPTZ':
      return simple('TIMESTAMPTZ');
    case 'TIMESTAMP':
      if (p.isKw('WITH') || p.isKw('WITHOUT')) {
        const withTz = p.next().upper === 'WITH';
        p.expectKw('TIME');
        p.expectKw('ZONE');
        return simple(withTz ? 'TIMESTAMPTZ' : 'TIMESTAMP');
      }
      return simple('TIMESTAMP');
    case 'DECIMAL':
    case 'NUMERIC':
    case 'DEC': {
      const type = simple('DECIMAL');
      if (p.acceptOp('(')) {
        type.precision = p.smallInt('precision');
        if (p.acceptOp(',')) type.scale = p.smallInt('scale');
        p.expectOp(')');
      }
      return type;
    }
  }
  p.fail(t, 'expected a column type (INT, FLOAT, STRING, BOOL, BYTES, TIMESTAMP, TIMESTAMPTZ, DECIMAL)');
}

/** Words that open a built-in column type. */
const BUILTIN_TYPE_WORDS: ReadonlySet<string> = new Set([
  'INT', 'INT2', 'INT4', 'INT8', 'INTEGER', 'BIGINT', 'SMALLINT', 'FLOAT', 'FLOAT4', 'FLOAT8', 'REAL', 'DOUBLE',
  'STRING', 'TEXT', 'VARCHAR', 'CHAR', 'CHARACTER', 'BOOL', 'BOOLEAN', 'BYTES', 'BYTEA', 'TIMESTAMPTZ', 'TIMESTAMP',
  'DECIMAL', 'NUMERIC', 'DEC',
]);

/**
 * CockroachDB types cairn does not have: named as a column type they are a syntax error here
 * (naming what cairn takes) rather than a lookup of a user-defined type of that name.
 */
const UNSUPPORTED_TYPES: ReadonlySet<string> = new Set([
  'BLOB', 'JSON', 'JSONB', 'UUID', 'DATE', 'TIME', 'TIMETZ', 'INTERVAL', 'INET', 'SERIAL', 'BIGSERIAL', 'SMALLSERIAL',
  'BIT', 'VARBIT', 'GEOMETRY', 'GEOGRAPHY', 'OID', 'ARRAY', 'TSVECTOR', 'TSQUERY', 'BOX2D', 'VECTOR', 'CITEXT',
]);

/** A user-defined type as a column type: `name` or `schema.name` (an ENUM made by CREATE TYPE). */
function enumType(p: Parser): ColumnType {
  const pos = p.peek().pos;
  const first = p.ident('column type');
  if (!p.acceptOp('.')) return { pos, name: 'ENUM', enumType: { name: first } };
  return { pos, name: 'ENUM', enumType: { schema: first, name: p.ident('type name') } };
}

/** After `CREATE SCHEMA`: `[IF NOT EXISTS] [db.]name`. */
export function createSchema(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const first = p.ident('schema name');
  if (!p.acceptOp('.')) return { kind: 'createSchema', pos, name: first, ifNotExists };
  return { kind: 'createSchema', pos, database: first, name: p.ident('schema name'), ifNotExists };
}

/** After `DROP SCHEMA`: `[IF EXISTS] [db.]name [CASCADE | RESTRICT]`. */
export function dropSchema(p: Parser, pos: number): Statement {
  const ifExists = p.ifExists();
  const first = p.ident('schema name');
  const stmt: Statement = p.acceptOp('.')
    ? { kind: 'dropSchema', pos, database: first, name: p.ident('schema name'), ifExists, cascade: false }
    : { kind: 'dropSchema', pos, name: first, ifExists, cascade: false };
  stmt.cascade = p.cascade();
  return stmt;
}

/** After `CREATE TYPE`: `[IF NOT EXISTS] name AS ENUM ('label', ...)` (the only kind of type cairn makes). */
export function createType(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const type = p.tableName();
  p.expectKw('AS');
  const enumTok = p.peek();
  if (!(enumTok.kind === 'word' && enumTok.upper === 'ENUM')) p.expected('ENUM (cairn makes enum types only)');
  p.next();
  p.expectOp('(');
  const labels = p.isOp(')') ? [] : p.commaList(() => p.string('an enum label string'));
  p.expectOp(')');
  return { kind: 'createType', pos, type, labels, ifNotExists };
}

/** After `DROP TYPE`: `[IF EXISTS] name`. */
export function dropType(p: Parser, pos: number): Statement {
  const ifExists = p.ifExists();
  return { kind: 'dropType', pos, type: p.tableName(), ifExists };
}

/** The raw text of a view's query: from SELECT to the end of the statement. */
function rawQuery(p: Parser): string {
  const first = p.peek();
  if (!p.isKw('SELECT')) p.expected('SELECT');
  let depth = 0;
  let last = first;
  while (p.peek().kind !== 'eof' && !(depth === 0 && p.isOp(';'))) {
    const t = p.next();
    if (t.kind === 'op' && (t.value === '(' || t.value === '[')) depth++;
    if (t.kind === 'op' && (t.value === ')' || t.value === ']')) depth--;
    last = t;
  }
  return p.src.text.slice(first.pos - 1, last.end);
}

/** `INSERT | UPSERT INTO t [(cols)] VALUES (...), ...`. */
export function insert(p: Parser): Statement {
  const t = p.next();
  const upsert = t.upper === 'UPSERT';
  p.expectKw('INTO');
  const table = p.tableName();
  let columns: string[] | undefined;
  if (p.isOp('(')) columns = p.identList();
  p.expectKw('VALUES');
  const rows = p.commaList(() => {
    const open = p.expectOp('(');
    const row = p.commaList(() => literal(p));
    p.expectOp(')');
    if (columns !== undefined && row.length !== columns.length) {
      p.fail(open, `VALUES lists must have ${columns.length} values to match the column list`);
    }
    return row;
  });
  const stmt: Statement = { kind: 'insert', pos: t.pos, upsert, table, rows };
  if (columns !== undefined) stmt.columns = columns;
  return stmt;
}

/** `DELETE FROM t [WHERE ...]`. */
export function deleteRows(p: Parser): Statement {
  const pos = p.expectKw('DELETE').pos;
  p.expectKw('FROM');
  const table = p.tableName();
  return { kind: 'delete', pos, table, where: optWhere(p) };
}

/** `UPDATE t SET col = expr, ... [WHERE ...]`. */
export function update(p: Parser): Statement {
  const pos = p.expectKw('UPDATE').pos;
  const table = p.tableName();
  p.expectKw('SET');
  const assignments = p.commaList((): Assignment => {
    const aPos = p.peek().pos;
    const column = p.ident('column name');
    p.expectOp('=');
    return { pos: aPos, column, value: valueExpr(p) };
  });
  return { kind: 'update', pos, table, assignments, where: optWhere(p) };
}

/**
 * The rest of `SELECT items FROM t [AS OF SYSTEM TIME ...] [WHERE ...] [ORDER BY ...] [LIMIT n]`
 * after FROM (`grammar/show-queries.ts` reads up to there, as the source may be a SHOW).
 */
export function selectFromTable(p: Parser, pos: number, items: SelectItem[]): Statement {
  const from = p.tableName();
  const stmt: Statement = { kind: 'select', pos, items, from, where: [], orderBy: [] };
  if (p.acceptOp('@')) stmt.index = p.ident('index name');
  const asOf = optAsOf(p);
  if (asOf !== undefined) stmt.asOf = asOf;
  stmt.where = optWhere(p);
  stmt.orderBy = orderBy(p);
  const limit = optLimit(p);
  if (limit !== undefined) stmt.limit = limit;
  return stmt;
}

/** An optional `ORDER BY col [ASC | DESC], ...`. */
export function orderBy(p: Parser): OrderItem[] {
  if (!p.acceptKw('ORDER')) return [];
  p.expectKw('BY');
  return p.commaList((): OrderItem => {
    const oPos = p.peek().pos;
    const column = p.ident('column name');
    let desc = false;
    if (p.acceptKw('DESC')) desc = true;
    else p.acceptKw('ASC');
    return { pos: oPos, column, desc };
  });
}

/** An optional `LIMIT n`. */
export function optLimit(p: Parser): number | undefined {
  return p.acceptKw('LIMIT') ? p.smallInt('LIMIT count') : undefined;
}

/** `item, ...` of a SELECT: `*`, a column, or `count | sum | min | max | avg (col | *)`. */
export function selectItems(p: Parser): SelectItem[] {
  return p.commaList((): SelectItem => {
    const t = p.peek();
    if (p.acceptOp('*')) return { kind: 'star', pos: t.pos };
    const fn = AGGREGATES.find((a) => t.kind === 'word' && t.value === a);
    if (fn !== undefined && p.isOp('(', 1)) {
      p.next();
      p.next();
      const item: SelectItem = { kind: 'aggregate', pos: t.pos, fn };
      if (!p.acceptOp('*')) item.arg = p.ident('column name');
      p.expectOp(')');
      return item;
    }
    return { kind: 'column', pos: t.pos, name: p.ident('column name or *') };
  });
}

/** After `CREATE INDEX`: `[IF NOT EXISTS] [name] ON t (col, ...)`. `CREATE UNIQUE INDEX` is refused. */
export function createIndex(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const stmt: Statement = { kind: 'createIndex', pos, table: { pos, name: '' }, columns: [], ifNotExists };
  if (!p.isKw('ON')) stmt.name = p.ident('index name or ON');
  p.expectKw('ON');
  stmt.table = p.tableName();
  stmt.columns = p.identList();
  return stmt;
}

/** After `DROP INDEX`: `[IF EXISTS] [t@]name`. */
export function dropIndex(p: Parser, pos: number): Statement {
  const ifExists = p.ifExists();
  const table = p.tableName();
  if (!p.acceptOp('@')) {
    if (table.database !== undefined) p.expected('"@" (DROP INDEX table@index)');
    return { kind: 'dropIndex', pos, name: table.name, ifExists };
  }
  return { kind: 'dropIndex', pos, table, name: p.ident('index name'), ifExists };
}

/** `COMMENT ON DATABASE d | TABLE t | COLUMN t.c | INDEX t@i IS 'text' | NULL`. */
export function commentOn(p: Parser): Statement {
  const pos = p.expectKw('COMMENT').pos;
  p.expectKw('ON');
  let target: CommentTarget;
  if (p.acceptKw('DATABASE')) {
    target = { kind: 'database', name: p.ident('database name') };
  } else if (p.acceptKw('TABLE')) {
    target = { kind: 'table', table: p.tableName() };
  } else if (p.acceptKw('COLUMN')) {
    const first = p.peek();
    const parts = [p.ident('table name')];
    while (parts.length < 4 && p.acceptOp('.')) parts.push(p.ident('name'));
    if (parts.length < 2) p.fail(first, 'expected a column name qualified by its table (t.c)');
    const column = parts.pop() as string;
    const [a, b, c] = parts as [string, string | undefined, string | undefined];
    const table = c !== undefined ? { pos: first.pos, database: a, schema: b, name: c } : b !== undefined ? { pos: first.pos, database: a, name: b } : { pos: first.pos, name: a };
    target = { kind: 'column', table, column };
  } else if (p.acceptKw('INDEX')) {
    const table = p.tableName();
    p.expectOp('@');
    target = { kind: 'index', table, index: p.ident('index name') };
  } else {
    p.expected('DATABASE, TABLE, COLUMN or INDEX');
  }
  p.expectKw('IS');
  const comment = p.acceptKw('NULL') ? null : p.string("a comment string or NULL");
  return { kind: 'commentOn', pos, target, comment };
}
