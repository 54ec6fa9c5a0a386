import type { BackupOptions, RestoreOptions, ScheduleOptions, ShowBackupOptions } from '../ast.js';
import type { Token } from '../lexer.js';
import type { Parser } from './parser-base.js';

/** Reads one option's value (the parser stands on its `=` or the next option) into `into`. */
export type OptionReader<T> = (p: Parser, into: T) => void;

/** Option name (lower case, as `optionName` returns it) → how its value is read. */
export type OptionTable<T> = Readonly<Record<string, OptionReader<T>>>;

type SharedJobOptions = Pick<BackupOptions & RestoreOptions, 'detached' | 'encryptionPassphrase' | 'kms' | 'incrementalLocation' | 'executionLocality'>;

/** The options BACKUP and RESTORE share. */
const JOB_OPTIONS: OptionTable<SharedJobOptions> = {
  detached: (p, o) => (o.detached = p.flagValue()),
  encryption_passphrase: (p, o) => (o.encryptionPassphrase = p.stringValue()),
  kms: (p, o) => (o.kms = p.uriListValue()),
  incremental_location: (p, o) => (o.incrementalLocation = p.uriListValue()),
  'execution locality': (p, o) => (o.executionLocality = p.stringValue()),
};

/** `BACKUP ... WITH`, also `CREATE SCHEDULE FOR BACKUP ... WITH` and `ALTER BACKUP SCHEDULE ... SET WITH`. */
export const BACKUP_OPTIONS: OptionTable<BackupOptions> = {
  revision_history: (p, o) => (o.revisionHistory = p.flagValue()),
  ...JOB_OPTIONS,
};

/** `RESTORE ... WITH`. */
export const RESTORE_OPTIONS: OptionTable<RestoreOptions> = {
  new_db_name: (p, o) => (o.newDbName = p.nameValue('a database name')),
  into_db: (p, o) => (o.intoDb = p.nameValue('a database name')),
  skip_missing_foreign_keys: (p, o) => (o.skipMissingForeignKeys = p.flagValue()),
  skip_missing_sequences: (p, o) => (o.skipMissingSequences = p.flagValue()),
  skip_missing_views: (p, o) => (o.skipMissingViews = p.flagValue()),
  skip_localities_check: (p, o) => (o.skipLocalitiesCheck = p.flagValue()),
  schema_only: (p, o) => (o.schemaOnly = p.flagValue()),
  verify_backup_table_data: (p, o) => (o.verifyBackupTableData = p.flagValue()),
  ...JOB_OPTIONS,
};

/** `SHOW BACKUP ... WITH`. */
export const SHOW_BACKUP_OPTIONS: OptionTable<ShowBackupOptions> = {
  check_files: (p, o) => (o.checkFiles = p.flagValue()),
  as_json: (p, o) => (o.asJson = p.flagValue()),
  privileges: (p, o) => (o.privileges = p.flagValue()),
  encryption_passphrase: (p, o) => (o.encryptionPassphrase = p.stringValue()),
  kms: (p, o) => (o.kms = p.uriListValue()),
  incremental_location: (p, o) => (o.incrementalLocation = p.uriListValue()),
};

/** The spellings of Go's strconv.ParseBool, with which CockroachDB reads this schedule option's value. */
const GO_BOOLS: Readonly<Record<string, boolean>> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/** `opt`, `opt = TRUE|FALSE` or `opt = '<a ParseBool spelling>'` (`= '1'`, as CockroachDB's docs write it). */
function goBoolValue(p: Parser): boolean {
  const t = p.peek(1);
  if (p.isOp('=') && t.kind === 'string') {
    const value = GO_BOOLS[t.value];
    if (value === undefined) p.fail(t, "expected a boolean: 'true', 'false', '1', '0', 't' or 'f'");
    p.next();
    p.next();
    return value;
  }
  return p.flagValue();
}

/** `CREATE SCHEDULE ... WITH SCHEDULE OPTIONS` and `ALTER BACKUP SCHEDULE ... SET SCHEDULE OPTION`. */
export const SCHEDULE_OPTIONS: OptionTable<ScheduleOptions> = {
  first_run: (p, o) => (o.firstRun = p.stringValue()),
  on_execution_failure: (p, o) => (o.onExecutionFailure = p.enumValue(['retry', 'reschedule', 'pause'] as const)),
  on_previous_running: (p, o) => (o.onPreviousRunning = p.enumValue(['start', 'skip', 'wait'] as const)),
  ignore_existing_backups: (p, o) => (o.ignoreExistingBackups = p.flagValue()),
  updates_cluster_last_backup_time_metric: (p, o) => (o.updatesClusterLastBackupTimeMetric = goBoolValue(p)),
  retention: (p, o) => (o.retention = p.stringValue()),
};

/** `CHECK EXTERNAL CONNECTION ... WITH` and `SHOW BACKUP CONNECTION ... WITH`. */
export const CONNECTION_CHECK_OPTIONS: OptionTable<{ transfer?: string; executionLocality?: string }> = {
  transfer: (p, o) => (o.transfer = p.stringValue()),
  'execution locality': (p, o) => (o.executionLocality = p.stringValue()),
};

/**
 * Every option the parser accepts, by the statement that takes it (names as written in SQL,
 * lower case; `execution locality` with its space). Read from the tables the parser itself
 * dispatches on, so a test that walks this list covers every accepted option.
 */
export const STATEMENT_OPTIONS = {
  BACKUP: Object.keys(BACKUP_OPTIONS),
  RESTORE: Object.keys(RESTORE_OPTIONS),
  'SHOW BACKUP': Object.keys(SHOW_BACKUP_OPTIONS),
  'CREATE SCHEDULE': Object.keys(SCHEDULE_OPTIONS),
  'CHECK EXTERNAL CONNECTION': Object.keys(CONNECTION_CHECK_OPTIONS),
} as const satisfies Record<string, readonly string[]>;

/** Parses `WITH opt [= v], ...` / `WITH OPTIONS (...)` against `table` into `into`. */
export function readOptionList<T>(p: Parser, stmtName: string, table: OptionTable<T>, into: T): T {
  p.optionList(stmtName, (name, tok) => readOption(p, stmtName, table, into, name, tok));
  return into;
}

/** Parses `opt [= v], ...` (no `WITH`) against `table` into `into`. */
export function readOptions<T>(p: Parser, stmtName: string, table: OptionTable<T>, into: T): T {
  p.options(stmtName, (name, tok) => readOption(p, stmtName, table, into, name, tok));
  return into;
}

/** Reads one option whose name `tok` starts, refusing one `table` does not hold. */
export function readOneOption<T>(p: Parser, stmtName: string, table: OptionTable<T>, into: T): T {
  const tok = p.peek();
  readOption(p, stmtName, table, into, p.optionName(), tok);
  return into;
}

function readOption<T>(p: Parser, stmtName: string, table: OptionTable<T>, into: T, name: string, tok: Token): void {
  const reader = Object.hasOwn(table, name) ? table[name] : undefined;
  if (reader === undefined) p.unknownOption(tok, name, stmtName);
  reader(p, into);
}
