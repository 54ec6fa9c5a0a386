/**
 * BACKUP, RESTORE, SHOW BACKUP, ALTER BACKUP ... ADD NEW_KMS, and the external storage they
 * write to: CREATE / DROP EXTERNAL CONNECTION, CHECK EXTERNAL CONNECTION, SHOW BACKUP
 * CONNECTION. Their `WITH` options live in `options.ts`.
 */
import type { BackupOptions, BackupStatement, CheckExternalConnectionStatement, Location, RestoreOptions, ShowBackupOptions, Statement, Targets } from '../ast.js';
import { RESERVED_KEYWORDS } from '../keywords.js';
import { optAsOf } from './expressions.js';
import { BACKUP_OPTIONS, CONNECTION_CHECK_OPTIONS, readOptionList, RESTORE_OPTIONS, SHOW_BACKUP_OPTIONS } from './options.js';
import type { Parser } from './parser-base.js';

/** `BACKUP [targets] INTO <location> | TO <uris> [AS OF ...] [INCREMENTAL FROM ...] [WITH ...]`. */
export function backup(p: Parser): BackupStatement {
  const pos = p.expectKw('BACKUP').pos;
  const targets = backupTargets(p, ['INTO', 'TO']);
  let mode: 'into' | 'to';
  let destination: Location;
  if (p.acceptKw('INTO')) {
    mode = 'into';
    destination = p.location();
  } else if (p.acceptKw('TO')) {
    mode = 'to';
    destination = p.uriList();
  } else {
    p.expected('INTO or TO');
  }
  const stmt: BackupStatement = { kind: 'backup', pos, targets, mode, destination, incrementalFrom: [], options: {} };
  const asOf = optAsOf(p);
  if (asOf !== undefined) stmt.asOf = asOf;
  if (p.acceptKw('INCREMENTAL')) {
    p.expectKw('FROM');
    stmt.incrementalFrom = p.commaList(() => p.string('backup URI'));
  }
  stmt.options = backupOptions(p);
  return stmt;
}

/** The `WITH ...` of a BACKUP (also of the backup a schedule runs). */
export function backupOptions(p: Parser): BackupOptions {
  return readOptionList(p, 'BACKUP', BACKUP_OPTIONS, {});
}

/** `RESTORE [targets] FROM <location> [, <incremental> ...] [AS OF ...] [WITH ...]`. */
export function restore(p: Parser): Statement {
  const pos = p.expectKw('RESTORE').pos;
  const targets = backupTargets(p, ['FROM']);
  p.expectKw('FROM');
  const source = p.location();
  const incrementalSources: Location[] = [];
  // `FROM 'full', 'inc1'`: only the old form (no subdir) names one location per layer.
  if (source.subdir === undefined) while (p.acceptOp(',')) incrementalSources.push(p.uriList());
  const asOf = optAsOf(p);
  const options = readOptionList<RestoreOptions>(p, 'RESTORE', RESTORE_OPTIONS, {});
  const stmt: Statement = { kind: 'restore', pos, targets, source, options };
  if (incrementalSources.length > 0) stmt.incrementalSources = incrementalSources;
  if (asOf !== undefined) stmt.asOf = asOf;
  return stmt;
}

/** Targets of BACKUP / RESTORE; nothing before one of `stop` means the whole cluster. */
export function backupTargets(p: Parser, stop: string[]): Targets {
  const pos = p.peek().pos;
  if (p.acceptKw('DATABASE')) return { kind: 'databases', pos, names: p.commaList(() => p.ident('database name')) };
  if (p.acceptKw('TABLE')) return { kind: 'tables', pos, tables: p.commaList(() => p.tablePattern()) };
  if (stop.some((w) => p.isKw(w))) return { kind: 'cluster', pos };
  const t = p.peek();
  if (t.kind !== 'ident' && !(t.kind === 'word' && !RESERVED_KEYWORDS.has(t.upper)) && !p.isOp('*')) {
    p.expected(`DATABASE, TABLE, a table name or ${stop.join(' or ')}`);
  }
  const tables = p.commaList(() => p.tablePattern());
  const only = tables[0];
  if (tables.length === 1 && only?.kind === 'table' && only.table.database === undefined && t.kind === 'word' && !stop.some((w) => p.isKw(w))) {
    // `RESTORE FORM LATEST ...`: a lone bare word not followed by the clause keyword is far
    // more likely a misspelt keyword than a table name, so point at it.
    p.fail(t, `expected ${stop.join(' or ')}`);
  }
  return { kind: 'tables', pos, tables };
}

/** After `SHOW BACKUP`: `[SCHEMAS | FILES | RANGES] FROM <subdir> IN <uris> | <uris> [WITH ...]`. */
export function showBackup(p: Parser, pos: number): Statement {
  let details: 'default' | 'schemas' | 'files' | 'ranges' = 'default';
  for (const d of ['SCHEMAS', 'FILES', 'RANGES'] as const) {
    if (p.acceptKw(d)) {
      details = d.toLowerCase() as typeof details;
      break;
    }
  }
  let source: Location;
  if (p.acceptKw('FROM') || p.isKw('LATEST') || (p.peek().kind === 'string' && p.isKw('IN', 1))) {
    // CockroachDB also takes `SHOW BACKUP LATEST IN ...` and `SHOW BACKUP 'subdir' IN ...`.
    source = p.location();
    if (source.subdir === undefined) p.expected('IN');
  } else if (p.peek().kind === 'string' || p.isOp('(')) {
    source = p.uriList();
  } else {
    p.expected('FROM or a backup URI');
  }
  const options = readOptionList<ShowBackupOptions>(p, 'SHOW BACKUP', SHOW_BACKUP_OPTIONS, {});
  return { kind: 'showBackup', pos, details, source, options };
}

/** The rest of `CHECK EXTERNAL CONNECTION` / `SHOW BACKUP CONNECTION`: `'uri' [WITH TRANSFER = .., EXECUTION LOCALITY = ..]`. */
export function connectionCheck(p: Parser, pos: number, form: 'check' | 'showBackup'): Statement {
  const stmtName = form === 'check' ? 'CHECK EXTERNAL CONNECTION' : 'SHOW BACKUP CONNECTION';
  const stmt: CheckExternalConnectionStatement = { kind: 'checkExternalConnection', pos, form, uri: p.string('URI') };
  return readOptionList(p, stmtName, CONNECTION_CHECK_OPTIONS, stmt);
}

/** `CHECK EXTERNAL CONNECTION 'uri' [WITH ...]`. */
export function checkExternalConnection(p: Parser): Statement {
  const pos = p.expectKw('CHECK').pos;
  p.expectKw('EXTERNAL');
  p.expectKw('CONNECTION');
  return connectionCheck(p, pos, 'check');
}

/**
 * An external connection's name: an identifier or a string (`'conn-foo'`), as CockroachDB's
 * grammar takes it (a string may hold what an identifier cannot, such as a dash).
 */
export function connectionName(p: Parser): string {
  return p.peek().kind === 'string' ? p.string('connection name') : p.ident('connection name');
}

/** After `CREATE EXTERNAL`: `CONNECTION name AS 'uri'`. */
export function createExternalConnection(p: Parser, pos: number): Statement {
  p.expectKw('CONNECTION');
  const name = connectionName(p);
  p.expectKw('AS');
  return { kind: 'createExternalConnection', pos, name, uri: p.string('connection URI') };
}

/** After `DROP EXTERNAL`: `CONNECTION name`. */
export function dropExternalConnection(p: Parser, pos: number): Statement {
  p.expectKw('CONNECTION');
  return { kind: 'dropExternalConnection', pos, name: connectionName(p) };
}

/** `ALTER BACKUP <location> ADD NEW_KMS = <uris> WITH OLD_KMS = <uris>`. */
export function alterBackupKms(p: Parser): Statement {
  const pos = p.expectKw('ALTER').pos;
  p.expectKw('BACKUP');
  const location = p.location();
  p.expectKw('ADD', 'ADD NEW_KMS');
  p.expectKw('NEW_KMS');
  const newKms = p.uriListValue();
  p.expectKw('WITH', 'WITH OLD_KMS');
  p.expectKw('OLD_KMS');
  return { kind: 'alterBackupKms', pos, location, newKms, oldKms: p.uriListValue() };
}
