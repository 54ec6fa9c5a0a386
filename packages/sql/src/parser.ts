/**
 * Entry points of the parser and the dispatch from a statement's first words to the family
 * that parses it. The families live in `grammar/`:
 * - `data.ts`: CREATE / DROP DATABASE, SCHEMA, TYPE, TABLE, INDEX, VIEW, SEQUENCE; COMMENT ON; USE; SET;
 *   INSERT, UPSERT, DELETE, UPDATE;
 * - `backup-restore.ts`: BACKUP, RESTORE, SHOW BACKUP, ALTER BACKUP ... NEW_KMS, external
 *   connections;
 * - `schedules-jobs.ts`: CREATE SCHEDULE, ALTER BACKUP SCHEDULE, PAUSE / RESUME / CANCEL /
 *   DROP jobs and schedules, SHOW JOBS / JOB;
 * - `access.ts`: users, GRANT / REVOKE, SHOW GRANTS;
 * - `alter-objects.ts`: ALTER TABLE ... SET (exclude_data_from_backup), CONFIGURE ZONE;
 * - `show.ts`: every other SHOW; `show-queries.ts`: SELECT (from a table or from
 *   `[SHOW ...]`) and `WITH x AS (SHOW ...) SELECT ...`;
 * - `options.ts`: the `WITH` option tables; `expressions.ts`: literals, WHERE, AS OF.
 */
import type { Statement } from './ast.js';
import { Source, tokenize } from './lexer.js';
import { alterUser, createUser, dropUser, grant } from './grammar/access.js';
import { alterDatabase, alterTable } from './grammar/alter-objects.js';
import {
  alterBackupKms,
  backup,
  checkExternalConnection,
  createExternalConnection,
  dropExternalConnection,
  restore,
} from './grammar/backup-restore.js';
import {
  commentOn,
  createDatabase,
  createIndex,
  createSchema,
  createType,
  createSequence,
  createTable,
  createView,
  deleteRows,
  dropDatabase,
  dropIndex,
  dropRelation,
  dropSchema,
  dropType,
  insert,
  set,
  update,
  useDatabase,
} from './grammar/data.js';
import { Parser } from './grammar/parser-base.js';
import { alterBackupSchedule, control, createSchedule, dropSchedules } from './grammar/schedules-jobs.js';
import { show } from './grammar/show.js';
import { select, withShow } from './grammar/show-queries.js';

/**
 * Parses a string of semicolon-separated statements. Empty statements (an empty input, a
 * trailing `;`) yield nothing. Throws a `CairnError` with code `SYNTAX_ERROR` and `position`
 * (1-based offset of the offending token) on the first error.
 */
export function parse(sql: string): Statement[] {
  return parseAll(new Parser(new Source(sql)));
}

/** Parses exactly one statement (a trailing `;` is allowed). */
export function parseOne(sql: string): Statement {
  const src = new Source(sql);
  const stmts = parseAll(new Parser(src));
  const first = stmts[0];
  if (first === undefined) throw src.error(sql.length + 1, 'EOF', 'expected a statement');
  const second = stmts[1];
  if (second !== undefined) {
    const tok = tokenize(src).find((t) => t.pos === second.pos);
    throw src.error(second.pos, tok === undefined ? '' : src.near(tok), 'expected exactly one statement');
  }
  return first;
}

function parseAll(p: Parser): Statement[] {
  const out: Statement[] = [];
  for (;;) {
    while (p.acceptOp(';'));
    if (p.peek().kind === 'eof') return out;
    out.push(statement(p));
    if (!p.isOp(';') && p.peek().kind !== 'eof') p.expected('end of statement');
  }
}

/** Statements known by their first word. */
const BY_FIRST_WORD: Readonly<Record<string, (p: Parser) => Statement>> = {
  CREATE: create,
  DROP: drop,
  USE: useDatabase,
  SET: set,
  INSERT: insert,
  UPSERT: insert,
  DELETE: deleteRows,
  UPDATE: update,
  SELECT: select,
  WITH: withShow,
  SHOW: show,
  BACKUP: backup,
  RESTORE: restore,
  PAUSE: control,
  RESUME: control,
  CANCEL: control,
  CHECK: checkExternalConnection,
  ALTER: (p) => {
    if (p.isKw('USER', 1)) return alterUser(p);
    if (p.isKw('TABLE', 1)) return alterTable(p);
    if (p.isKw('DATABASE', 1)) return alterDatabase(p);
    return p.isKw('SCHEDULE', 2) ? alterBackupSchedule(p) : alterBackupKms(p);
  },
  GRANT: grant,
  REVOKE: grant,
  COMMENT: commentOn,
};

function statement(p: Parser): Statement {
  const t = p.peek();
  const parse = t.kind === 'word' && Object.hasOwn(BY_FIRST_WORD, t.upper) ? BY_FIRST_WORD[t.upper] : undefined;
  if (parse === undefined) p.fail(t, 'expected a statement (BACKUP, RESTORE, SHOW, CREATE, ...)');
  return parse(p);
}

/** `CREATE <what>`: the word after CREATE → the family function, called after both words. */
const CREATE: Readonly<Record<string, (p: Parser, pos: number) => Statement>> = {
  DATABASE: createDatabase,
  TABLE: createTable,
  VIEW: createView,
  SEQUENCE: createSequence,
  SCHEDULE: createSchedule,
  EXTERNAL: createExternalConnection,
  USER: createUser,
  INDEX: createIndex,
  SCHEMA: createSchema,
  TYPE: createType,
  UNIQUE: (p) => p.fail(p.peek(-1), 'UNIQUE secondary indexes are not supported: CREATE INDEX makes a non-unique one'),
};

function create(p: Parser): Statement {
  return bySecondWord(p, 'CREATE', CREATE, 'DATABASE, SCHEMA, TABLE, INDEX, TYPE, VIEW, SEQUENCE, SCHEDULE, EXTERNAL CONNECTION or USER');
}

/** `DROP <what>`, as CREATE. */
const DROP: Readonly<Record<string, (p: Parser, pos: number) => Statement>> = {
  DATABASE: dropDatabase,
  TABLE: (p, pos) => dropRelation(p, pos, 'dropTable'),
  VIEW: (p, pos) => dropRelation(p, pos, 'dropView'),
  SEQUENCE: (p, pos) => dropRelation(p, pos, 'dropSequence'),
  SCHEDULE: (p, pos) => dropSchedules(p, pos, false),
  SCHEDULES: (p, pos) => dropSchedules(p, pos, true),
  EXTERNAL: dropExternalConnection,
  USER: dropUser,
  INDEX: dropIndex,
  SCHEMA: dropSchema,
  TYPE: dropType,
};

function drop(p: Parser): Statement {
  return bySecondWord(p, 'DROP', DROP, 'DATABASE, SCHEMA, TABLE, INDEX, TYPE, VIEW, SEQUENCE, SCHEDULE, SCHEDULES, EXTERNAL CONNECTION or USER');
}

/** `<first> <second> ...`: consumes both words and hands the rest to `table[second]`. */
function bySecondWord(
  p: Parser,
  first: string,
  table: Readonly<Record<string, (p: Parser, pos: number) => Statement>>,
  expected: string,
): Statement {
  const pos = p.expectKw(first).pos;
  const t = p.peek();
  const parse = t.kind === 'word' && Object.hasOwn(table, t.upper) ? table[t.upper] : undefined;
  if (parse === undefined) p.expected(expected);
  p.next();
  return parse(p, pos);
}
