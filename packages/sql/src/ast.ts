/**
 * The typed AST of cairn's statement dialect (CockroachDB's BACKUP / RESTORE / schedules /
 * jobs statements plus a small data plane). Every node carries `pos`: the 1-based character
 * offset, in the string given to `parse`, of the node's first token (or, for a node that
 * is written as nothing, such as a cluster-wide target, of the token that follows it).
 *
 * Unquoted identifiers are folded to lower case, quoted ones keep their case. Integers that
 * may exceed 2^53 (job and schedule ids, INSERT values) are kept as their decimal text.
 */

/** Base of every AST node. */
export interface Node {
  pos: number;
}

// ---------------------------------------------------------------------------------------------
// Literals, names, predicates

/** An integer literal; `value` is its decimal text with an optional leading `-`. */
export interface IntLiteral extends Node {
  kind: 'int';
  value: string;
}
/** A decimal literal such as `1.5` or `-0.25`; `value` is its text. */
export interface DecimalLiteral extends Node {
  kind: 'decimal';
  value: string;
}
export interface StringLiteral extends Node {
  kind: 'string';
  value: string;
}
export interface BoolLiteral extends Node {
  kind: 'bool';
  value: boolean;
}
export interface NullLiteral extends Node {
  kind: 'null';
}
export type Literal = IntLiteral | DecimalLiteral | StringLiteral | BoolLiteral | NullLiteral;

/** `[database.][schema.]name`. Two parts mean database and table (cairn resolves no search path). */
export interface TableName extends Node {
  database?: string;
  schema?: string;
  name: string;
}

/** A table target of BACKUP / RESTORE / GRANT: one table, or every table (`db.*`, `*`). */
export type TablePattern = TablePatternOne | TablePatternAll;
export interface TablePatternOne extends Node {
  kind: 'table';
  table: TableName;
}
export interface TablePatternAll extends Node {
  kind: 'allTables';
  database?: string;
  schema?: string;
}

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** `column op literal`. `<>` is read as `!=`; `x BETWEEN a AND b` as `x >= a` and `x <= b`. */
export interface Comparison extends Node {
  kind: 'compare';
  column: string;
  op: ComparisonOp;
  value: Literal;
}
/** `column IN (literal, ...)`. */
export interface InList extends Node {
  kind: 'in';
  column: string;
  values: Literal[];
}
/** One conjunct of a WHERE clause; WHERE clauses are conjunctions (`AND`) only. */
export type Predicate = Comparison | InList;

/**
 * An AS OF SYSTEM TIME expression, classified:
 * - `interval`: a negative offset from now such as `'-10s'` (text without quotes);
 * - `timestamp`: a wall-clock time such as `'2024-01-01 00:00:00'`;
 * - `decimal`: an HLC timestamp `nanos[.logical]`, quoted or not;
 * - `follower`: `follower_read_timestamp()` (text is that call).
 */
export interface AsOf extends Node {
  kind: 'interval' | 'timestamp' | 'decimal' | 'follower';
  text: string;
}

// ---------------------------------------------------------------------------------------------
// Backup / restore building blocks

/** What a BACKUP or RESTORE covers. */
export type Targets = ClusterTarget | DatabasesTarget | TablesTarget;
export interface ClusterTarget extends Node {
  kind: 'cluster';
}
export interface DatabasesTarget extends Node {
  kind: 'databases';
  names: string[];
}
export interface TablesTarget extends Node {
  kind: 'tables';
  tables: TablePattern[];
}

/** `LATEST` or an explicit backup subdirectory such as `'2024/03/01-100000.00'`. */
export type Subdir = LatestSubdir | PathSubdir;
export interface LatestSubdir extends Node {
  kind: 'latest';
}
export interface PathSubdir extends Node {
  kind: 'path';
  path: string;
}

/**
 * A backup location: one collection URI, or several (a locality-aware list, each carrying
 * `COCKROACH_LOCALITY`), optionally narrowed to a subdirectory (`LATEST IN ...`, `'sub' IN ...`).
 */
export interface Location extends Node {
  subdir?: Subdir;
  uris: string[];
}

/** Options of BACKUP (and of the backup in CREATE SCHEDULE / ALTER BACKUP SCHEDULE SET WITH). */
export interface BackupOptions {
  revisionHistory?: boolean;
  detached?: boolean;
  encryptionPassphrase?: string;
  kms?: string[];
  incrementalLocation?: string[];
  /** `EXECUTION LOCALITY = 'region=us-east1,zone=b'`. */
  executionLocality?: string;
}

/** Options of RESTORE. */
export interface RestoreOptions {
  newDbName?: string;
  intoDb?: string;
  skipMissingForeignKeys?: boolean;
  skipMissingSequences?: boolean;
  skipMissingViews?: boolean;
  skipLocalitiesCheck?: boolean;
  schemaOnly?: boolean;
  verifyBackupTableData?: boolean;
  detached?: boolean;
  encryptionPassphrase?: string;
  kms?: string[];
  incrementalLocation?: string[];
  executionLocality?: string;
}

/** Options of SHOW BACKUP. */
export interface ShowBackupOptions {
  checkFiles?: boolean;
  asJson?: boolean;
  privileges?: boolean;
  encryptionPassphrase?: string;
  kms?: string[];
  incrementalLocation?: string[];
}

/** `RECURRING 'cron'` or `RECURRING NEVER`. */
export type Recurrence = CronRecurrence | NeverRecurrence;
export interface CronRecurrence extends Node {
  kind: 'cron';
  expr: string;
}
export interface NeverRecurrence extends Node {
  kind: 'never';
}

/** `FULL BACKUP 'cron'` or `FULL BACKUP ALWAYS`. */
export type FullBackup = CronRecurrence | AlwaysFullBackup;
export interface AlwaysFullBackup extends Node {
  kind: 'always';
}

export type OnExecutionFailure = 'retry' | 'reschedule' | 'pause';
export type OnPreviousRunning = 'start' | 'skip' | 'wait';

/** `WITH SCHEDULE OPTIONS ...`. */
export interface ScheduleOptions {
  /** `'now'` or a timestamp string, as written. */
  firstRun?: string;
  onExecutionFailure?: OnExecutionFailure;
  onPreviousRunning?: OnPreviousRunning;
  ignoreExistingBackups?: boolean;
  updatesClusterLastBackupTimeMetric?: boolean;
  /** How long the schedule's backups are kept (`'720h'`, `'30d'`), as written; checked by @cairn/schedules. */
  retention?: string;
}

/** Which schedules a statement acts on: one id, or a query over SHOW SCHEDULES. */
export type ScheduleSelector = ScheduleId | ScheduleQuery;
export interface ScheduleId extends Node {
  kind: 'scheduleId';
  /** Decimal text of the INT8 id. */
  id: string;
}
/**
 * `WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE ...` or
 * `SELECT id FROM [SHOW SCHEDULES] WHERE ...`; predicates are on `label`, `id`, `schedule_status`.
 */
export interface ScheduleQuery extends Node {
  kind: 'scheduleQuery';
  where: Predicate[];
}

/** Which jobs a statement acts on. */
export type JobSelector = JobId | JobQuery | JobsForSchedules;
export interface JobId extends Node {
  kind: 'jobId';
  id: string;
}
/** `SELECT job_id FROM [SHOW JOBS] WHERE ...`; predicates are on `job_id`, `job_type`, `status`. */
export interface JobQuery extends Node {
  kind: 'jobQuery';
  where: Predicate[];
}
/** `FOR SCHEDULE id` / `FOR SCHEDULES <schedule query>`. */
export interface JobsForSchedules extends Node {
  kind: 'forSchedules';
  schedules: ScheduleSelector;
}

// ---------------------------------------------------------------------------------------------
// Data plane

export type ColumnTypeName = 'INT' | 'FLOAT' | 'STRING' | 'BOOL' | 'BYTES' | 'TIMESTAMP' | 'TIMESTAMPTZ' | 'DECIMAL' | 'ENUM';

/** A column type, with synonyms folded (`BIGINT` → `INT`, `TEXT` → `STRING`, `NUMERIC` → `DECIMAL`...). */
export interface ColumnType extends Node {
  name: ColumnTypeName;
  /** `VARCHAR(n)` / `STRING(n)`. */
  length?: number;
  /** `DECIMAL(p[, s])`. */
  precision?: number;
  scale?: number;
  /** `ENUM`: the user-defined type named (`mood`, `sc.mood`), as CREATE TYPE made it. */
  enumType?: { schema?: string; name: string };
}

/** `DEFAULT nextval('seq')`. */
export interface NextvalDefault extends Node {
  kind: 'nextval';
  sequence: string;
}

export interface ColumnReference extends Node {
  table: TableName;
  column?: string;
}

export interface ColumnDef extends Node {
  name: string;
  type: ColumnType;
  /** True when declared `NOT NULL` (a primary key is non-null whether or not it says so). */
  notNull: boolean;
  /** Column-level `PRIMARY KEY`. */
  primaryKey: boolean;
  references?: ColumnReference;
  default?: Literal | NextvalDefault;
}

/** `[CONSTRAINT name] FOREIGN KEY (cols) REFERENCES table [(cols)]`. */
export interface ForeignKeyDef extends Node {
  name?: string;
  columns: string[];
  table: TableName;
  refColumns: string[];
}

export type SelectItem = StarItem | ColumnItem | AggregateItem;
export interface StarItem extends Node {
  kind: 'star';
}
export interface ColumnItem extends Node {
  kind: 'column';
  name: string;
}
export type AggregateFn = 'count' | 'sum' | 'min' | 'max' | 'avg';
/** `count(*)`, `sum(col)`... (`arg` undefined means `*`). */
export interface AggregateItem extends Node {
  kind: 'aggregate';
  fn: AggregateFn;
  arg?: string;
}

export interface OrderItem extends Node {
  column: string;
  desc: boolean;
}

/** A column's current value, in an UPDATE's SET expression. */
export interface ColumnRef extends Node {
  kind: 'columnRef';
  column: string;
}
/** `a + b` / `a - b`. */
export interface Arithmetic extends Node {
  kind: 'arith';
  op: '+' | '-';
  left: ValueExpr;
  right: ValueExpr;
}
/** `CASE column WHEN literal THEN expr ... [ELSE expr] END` (the simple form). */
export interface CaseExpr extends Node {
  kind: 'case';
  operand: string;
  whens: Array<{ pos: number; match: Literal; result: ValueExpr }>;
  else?: ValueExpr;
}
/**
 * The value of a SET assignment: a literal, or arithmetic over the row's own columns, enough
 * for the bank workload's `SET balance = CASE id WHEN 1 THEN balance - 5 ... END`.
 */
export type ValueExpr = Literal | ColumnRef | Arithmetic | CaseExpr;

export interface Assignment extends Node {
  column: string;
  value: ValueExpr;
}

/** Where a GRANT / REVOKE applies. */
export type PrivilegeTarget = SystemPrivilegeTarget | DatabasesTarget | TablesTarget | ExternalConnectionsTarget;
/** `ON EXTERNAL CONNECTION name, ...` (names as identifiers or strings, as CockroachDB takes them). */
export interface ExternalConnectionsTarget extends Node {
  kind: 'externalConnections';
  names: string[];
}
export interface SystemPrivilegeTarget extends Node {
  kind: 'system';
}

// ---------------------------------------------------------------------------------------------
// Statements

export interface CreateDatabaseStatement extends Node {
  kind: 'createDatabase';
  name: string;
  ifNotExists: boolean;
}
export interface DropDatabaseStatement extends Node {
  kind: 'dropDatabase';
  name: string;
  ifExists: boolean;
  cascade: boolean;
}
/** `USE name` and `SET DATABASE = name`. */
export interface UseDatabaseStatement extends Node {
  kind: 'useDatabase';
  name: string;
}
export interface CreateTableStatement extends Node {
  kind: 'createTable';
  table: TableName;
  ifNotExists: boolean;
  columns: ColumnDef[];
  /** Table-level `PRIMARY KEY (a, b)`; a column-level one is on its ColumnDef. */
  primaryKey?: string[];
  foreignKeys: ForeignKeyDef[];
}
export interface CreateViewStatement extends Node {
  kind: 'createView';
  view: TableName;
  ifNotExists: boolean;
  /** The query exactly as written, from SELECT to the end of the statement. */
  query: string;
}
export interface CreateSequenceStatement extends Node {
  kind: 'createSequence';
  sequence: TableName;
  ifNotExists: boolean;
}
/** `DROP TABLE|VIEW|SEQUENCE [IF EXISTS] name [CASCADE]`. */
export interface DropObjectStatement extends Node {
  kind: 'dropTable' | 'dropView' | 'dropSequence';
  name: TableName;
  ifExists: boolean;
  cascade: boolean;
}
/** `INSERT INTO` (`upsert` false) and `UPSERT INTO` (`upsert` true). */
export interface InsertStatement extends Node {
  kind: 'insert';
  upsert: boolean;
  table: TableName;
  columns?: string[];
  rows: Literal[][];
}
export interface DeleteStatement extends Node {
  kind: 'delete';
  table: TableName;
  where: Predicate[];
}
export interface UpdateStatement extends Node {
  kind: 'update';
  table: TableName;
  assignments: Assignment[];
  where: Predicate[];
}
export interface SelectStatement extends Node {
  kind: 'select';
  items: SelectItem[];
  from: TableName;
  /** `FROM t@idx`: read the rows through secondary index `idx` rather than the primary index. */
  index?: string;
  asOf?: AsOf;
  where: Predicate[];
  orderBy: OrderItem[];
  limit?: number;
}
/**
 * A query over a SHOW statement's rows, as CockroachDB composes them:
 * `SELECT items FROM [SHOW ...] [WHERE ...] [ORDER BY ...] [LIMIT n]`, or the same with the
 * SHOW named by a WITH clause, `WITH x AS (SHOW ...) SELECT items FROM x ...`.
 */
export interface SelectFromShowStatement extends Node {
  kind: 'selectFromShow';
  /** The name `WITH name AS (SHOW ...)` gave the rows; absent for `FROM [SHOW ...]`. */
  withName?: string;
  show: ShowStatement;
  items: SelectItem[];
  where: Predicate[];
  orderBy: OrderItem[];
  limit?: number;
}

/** `CREATE INDEX [IF NOT EXISTS] [name] ON t (col, ...)`: a (non-unique) secondary index. */
export interface CreateIndexStatement extends Node {
  kind: 'createIndex';
  /** Absent: CockroachDB's generated name `<table>_<col>_..._idx`. */
  name?: string;
  table: TableName;
  columns: string[];
  ifNotExists: boolean;
}

/** `DROP INDEX [IF EXISTS] [t@]name`. */
export interface DropIndexStatement extends Node {
  kind: 'dropIndex';
  /** Absent when written without `t@`: the index is looked for in the current database. */
  table?: TableName;
  name: string;
  ifExists: boolean;
}

/** `CREATE SCHEMA [IF NOT EXISTS] [db.]name`. */
export interface CreateSchemaStatement extends Node {
  kind: 'createSchema';
  database?: string;
  name: string;
  ifNotExists: boolean;
}

/** `DROP SCHEMA [IF EXISTS] [db.]name [CASCADE | RESTRICT]`. */
export interface DropSchemaStatement extends Node {
  kind: 'dropSchema';
  database?: string;
  name: string;
  ifExists: boolean;
  cascade: boolean;
}

/** `CREATE TYPE [IF NOT EXISTS] [[db.]schema.]name AS ENUM ('label', ...)`. */
export interface CreateTypeStatement extends Node {
  kind: 'createType';
  type: TableName;
  labels: string[];
  ifNotExists: boolean;
}

/** `DROP TYPE [IF EXISTS] [[db.]schema.]name`. */
export interface DropTypeStatement extends Node {
  kind: 'dropType';
  type: TableName;
  ifExists: boolean;
}

/** `SHOW SCHEMAS [FROM db]`. */
export interface ShowSchemasStatement extends Node {
  kind: 'showSchemas';
  database?: string;
}

/** `SHOW ENUMS [FROM db]` / `SHOW TYPES`. */
export interface ShowEnumsStatement extends Node {
  kind: 'showEnums';
  database?: string;
}

/** What `COMMENT ON` annotates. */
export type CommentTarget =
  | { kind: 'database'; name: string }
  | { kind: 'table'; table: TableName }
  | { kind: 'column'; table: TableName; column: string }
  | { kind: 'index'; table: TableName; index: string };

/** `COMMENT ON DATABASE d | TABLE t | COLUMN t.c | INDEX t@i IS 'text' | NULL` (NULL removes it). */
export interface CommentOnStatement extends Node {
  kind: 'commentOn';
  target: CommentTarget;
  comment: string | null;
}

/** `SET TIME ZONE zone`, `SET timezone = zone`: the session's time zone for timestamps shown. */
export interface SetTimeZoneStatement extends Node {
  kind: 'setTimeZone';
  /** As written: `'America/New_York'`, `'+05:30'`, `-5`, `UTC`; absent for DEFAULT or LOCAL (UTC). */
  zone?: string;
}

/** `SHOW TIME ZONE` / `SHOW timezone`. */
export interface ShowTimeZoneStatement extends Node {
  kind: 'showTimeZone';
}

export interface ShowDatabasesStatement extends Node {
  kind: 'showDatabases';
}
export interface ShowTablesStatement extends Node {
  kind: 'showTables';
  database?: string;
}
/** `SHOW RANGES FROM TABLE t` / `SHOW RANGES FROM DATABASE d`. */
export interface ShowRangesStatement extends Node {
  kind: 'showRanges';
  table?: TableName;
  database?: string;
}
export interface ShowNodesStatement extends Node {
  kind: 'showNodes';
}
/** `SHOW FINGERPRINTS FROM TABLE t` / `FROM DATABASE d` `[AS OF SYSTEM TIME ...]`. */
export interface ShowFingerprintsStatement extends Node {
  kind: 'showFingerprints';
  table?: TableName;
  database?: string;
  asOf?: AsOf;
}
export interface ShowCreateTableStatement extends Node {
  kind: 'showCreateTable';
  table: TableName;
}
/** `SHOW CREATE SCHEDULE id` and `SHOW CREATE ALL SCHEDULES` (`id` absent). */
export interface ShowCreateScheduleStatement extends Node {
  kind: 'showCreateSchedule';
  id?: string;
}
/**
 * `ALTER TABLE t SET (exclude_data_from_backup = true|false)`: the table's schema is backed
 * up, its rows are not (CockroachDB's storage parameter; the only one cairn has).
 */
export interface AlterTableSetStatement extends Node {
  kind: 'alterTableSet';
  table: TableName;
  excludeDataFromBackup: boolean;
}
/**
 * `ALTER TABLE t | DATABASE d CONFIGURE ZONE USING gc.ttlseconds = N` and `... CONFIGURE ZONE
 * DISCARD` (`gcTtlSeconds` absent): the GC TTL of the object, over the cluster setting.
 */
export interface ConfigureZoneStatement extends Node {
  kind: 'configureZone';
  target: { kind: 'table'; table: TableName } | { kind: 'database'; name: string };
  gcTtlSeconds?: number;
}
/** `SHOW ZONE CONFIGURATION FROM TABLE t | DATABASE d`. */
export interface ShowZoneConfigurationStatement extends Node {
  kind: 'showZoneConfiguration';
  target: { kind: 'table'; table: TableName } | { kind: 'database'; name: string };
}
/** `SET CLUSTER SETTING name = value`; `value` undefined means `DEFAULT`. */
export interface SetClusterSettingStatement extends Node {
  kind: 'setClusterSetting';
  name: string;
  value?: Literal;
}
export interface ShowClusterSettingStatement extends Node {
  kind: 'showClusterSetting';
  name: string;
}
export interface ShowClusterSettingsStatement extends Node {
  kind: 'showClusterSettings';
  all: boolean;
}
export interface ShowProtectedTimestampsStatement extends Node {
  kind: 'showProtectedTimestamps';
}
/** `GRANT privs ON ... TO roles` / `GRANT SYSTEM privs TO roles` (and REVOKE ... FROM). */
export interface GrantStatement extends Node {
  kind: 'grant' | 'revoke';
  /** Upper case, e.g. `['RESTORE']`, `['ALL']`. */
  privileges: string[];
  on: PrivilegeTarget;
  /** The grantees (users or roles), as identifiers: unquoted names folded to lower case. */
  roles: string[];
}
/** `GRANT role, ... TO members` / `REVOKE role, ... FROM members`: role membership (no ON). */
export interface GrantRoleStatement extends Node {
  kind: 'grantRole' | 'revokeRole';
  roles: string[];
  members: string[];
}
/**
 * `CREATE USER [IF NOT EXISTS] name [[WITH] PASSWORD 'pw' | PASSWORD NULL]`. `password` is
 * absent without a PASSWORD option and `null` for `PASSWORD NULL`.
 */
export interface CreateUserStatement extends Node {
  kind: 'createUser';
  name: string;
  ifNotExists: boolean;
  password?: string | null;
}
/**
 * `ALTER USER [IF EXISTS] name [WITH] PASSWORD 'pw' | PASSWORD NULL`: `password` is `null` for
 * `PASSWORD NULL` (the user can then log in only with a client certificate).
 */
export interface AlterUserStatement extends Node {
  kind: 'alterUser';
  name: string;
  ifExists: boolean;
  password: string | null;
}
/** `DROP USER [IF EXISTS] name, ...`. */
export interface DropUserStatement extends Node {
  kind: 'dropUser';
  names: string[];
  ifExists: boolean;
}
/** `SHOW USERS` (and its synonym `SHOW ROLES`). */
export interface ShowUsersStatement extends Node {
  kind: 'showUsers';
}
/**
 * `SHOW GRANTS [ON DATABASE d, ... | ON [TABLE] t, ...] [FOR users]` and
 * `SHOW SYSTEM GRANTS [FOR users]` (`on` of kind `system`). Without `on`, the grants on the
 * current database and its tables.
 */
export interface ShowGrantsStatement extends Node {
  kind: 'showGrants';
  on?: PrivilegeTarget;
  grantees?: string[];
}

/**
 * `BACKUP [targets] INTO location | TO 'uri' [AS OF SYSTEM TIME ...] [INCREMENTAL FROM ...]
 * [WITH options]`. `mode` is `'to'` for the pre-collection `BACKUP TO 'uri'` form.
 */
export interface BackupStatement extends Node {
  kind: 'backup';
  targets: Targets;
  mode: 'into' | 'to';
  destination: Location;
  asOf?: AsOf;
  /** `INCREMENTAL FROM 'full', 'inc1'...` (the pre-collection form). */
  incrementalFrom: string[];
  options: BackupOptions;
}

/**
 * `RESTORE [targets] FROM location [AS OF SYSTEM TIME ...] [WITH options]`, or the
 * pre-collection `RESTORE FROM 'full', 'inc1', 'inc2'` naming each layer's location in order.
 */
export interface RestoreStatement extends Node {
  kind: 'restore';
  targets: Targets;
  source: Location;
  /**
   * The pre-collection form's later locations (`RESTORE FROM 'full', 'inc1', ...`), oldest
   * first; each holds the incremental(s) written there by `BACKUP TO ... INCREMENTAL FROM`.
   */
  incrementalSources?: Location[];
  asOf?: AsOf;
  options: RestoreOptions;
}

/** `SHOW BACKUPS IN location`. */
export interface ShowBackupsStatement extends Node {
  kind: 'showBackups';
  collection: Location;
}

/**
 * `SHOW BACKUP [SCHEMAS|FILES|RANGES] FROM subdir IN location [WITH ...]`, or the old
 * `SHOW BACKUP 'uri'` (a source without `subdir`).
 */
export interface ShowBackupStatement extends Node {
  kind: 'showBackup';
  details: 'default' | 'schemas' | 'files' | 'ranges';
  source: Location;
  options: ShowBackupOptions;
}

/** `ALTER BACKUP <location> ADD NEW_KMS = <uris> WITH OLD_KMS = <uris>`: one more KMS key opens the backup. */
export interface AlterBackupKmsStatement extends Node {
  kind: 'alterBackupKms';
  location: Location;
  newKms: string[];
  oldKms: string[];
}

/**
 * `CHECK EXTERNAL CONNECTION 'uri'` and `SHOW BACKUP CONNECTION 'uri'`, `[WITH TRANSFER =
 * '<size>', EXECUTION LOCALITY = 'k=v,...']`: each (matching) node writes, reads back and
 * deletes a probe file.
 */
export interface CheckExternalConnectionStatement extends Node {
  kind: 'checkExternalConnection';
  form: 'check' | 'showBackup';
  uri: string;
  transfer?: string;
  executionLocality?: string;
}

export interface CreateExternalConnectionStatement extends Node {
  kind: 'createExternalConnection';
  name: string;
  uri: string;
}
export interface DropExternalConnectionStatement extends Node {
  kind: 'dropExternalConnection';
  name: string;
}
export interface ShowExternalConnectionsStatement extends Node {
  kind: 'showExternalConnections';
  /** `SHOW EXTERNAL CONNECTION name`. */
  name?: string;
}

/** `SHOW JOBS`, `SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE ...`, `SHOW JOBS FOR SCHEDULE(S) ...`. */
export interface ShowJobsStatement extends Node {
  kind: 'showJobs';
  filter?: JobQuery | JobsForSchedules;
}
/** `SHOW JOB id` / `SHOW JOB WHEN COMPLETE id`. */
export interface ShowJobStatement extends Node {
  kind: 'showJob';
  id: string;
  whenComplete: boolean;
}
/** `PAUSE|RESUME|CANCEL JOB id`, `... JOBS FOR SCHEDULE(S) ...`, `... JOBS (SELECT job_id ...)`. */
export interface ControlJobsStatement extends Node {
  kind: 'controlJobs';
  action: 'pause' | 'resume' | 'cancel';
  jobs: JobSelector;
}

export interface CreateScheduleStatement extends Node {
  kind: 'createSchedule';
  ifNotExists: boolean;
  label?: string;
  /** The scheduled backup: `mode` is `'into'`, with no AS OF SYSTEM TIME. */
  backup: BackupStatement;
  recurrence: Recurrence;
  fullBackup?: FullBackup;
  scheduleOptions: ScheduleOptions;
}
/** `SHOW SCHEDULES [FOR BACKUP]`, `SHOW RUNNING|PAUSED SCHEDULES`. */
export interface ShowSchedulesStatement extends Node {
  kind: 'showSchedules';
  status?: 'running' | 'paused';
  backupOnly: boolean;
}
export interface ShowScheduleStatement extends Node {
  kind: 'showSchedule';
  id: string;
}
/** `PAUSE|RESUME|DROP SCHEDULE id` and `... SCHEDULES <schedule query>`. */
export interface ControlSchedulesStatement extends Node {
  kind: 'controlSchedules';
  action: 'pause' | 'resume' | 'drop';
  schedules: ScheduleSelector;
}

/** One command of ALTER BACKUP SCHEDULE. */
export type AlterScheduleCommand =
  | SetLabelCommand
  | SetIntoCommand
  | SetWithCommand
  | SetRecurringCommand
  | SetFullBackupCommand
  | SetScheduleOptionCommand
  | ExecuteImmediatelyCommand;
export interface SetLabelCommand extends Node {
  kind: 'setLabel';
  label: string;
}
export interface SetIntoCommand extends Node {
  kind: 'setInto';
  uris: string[];
}
/** `SET WITH opt = value`: exactly one option is set. */
export interface SetWithCommand extends Node {
  kind: 'setWith';
  options: BackupOptions;
}
export interface SetRecurringCommand extends Node {
  kind: 'setRecurring';
  recurrence: Recurrence;
}
export interface SetFullBackupCommand extends Node {
  kind: 'setFullBackup';
  fullBackup: FullBackup;
}
/** `SET SCHEDULE OPTION opt = value`: exactly one option is set. */
export interface SetScheduleOptionCommand extends Node {
  kind: 'setScheduleOption';
  options: ScheduleOptions;
}
export interface ExecuteImmediatelyCommand extends Node {
  kind: 'executeImmediately';
  full: boolean;
}
export interface AlterBackupScheduleStatement extends Node {
  kind: 'alterBackupSchedule';
  id: string;
  commands: AlterScheduleCommand[];
}

/** Every statement of the dialect, discriminated on `kind`. */
export type Statement =
  | ShowCreateScheduleStatement
  | AlterTableSetStatement
  | ConfigureZoneStatement
  | ShowZoneConfigurationStatement
  | CreateDatabaseStatement
  | DropDatabaseStatement
  | UseDatabaseStatement
  | CreateTableStatement
  | CreateViewStatement
  | CreateSequenceStatement
  | DropObjectStatement
  | InsertStatement
  | DeleteStatement
  | UpdateStatement
  | SelectStatement
  | ShowDatabasesStatement
  | ShowTablesStatement
  | ShowRangesStatement
  | ShowNodesStatement
  | ShowFingerprintsStatement
  | ShowCreateTableStatement
  | SetClusterSettingStatement
  | ShowClusterSettingStatement
  | ShowClusterSettingsStatement
  | ShowProtectedTimestampsStatement
  | GrantStatement
  | GrantRoleStatement
  | CreateUserStatement
  | AlterUserStatement
  | DropUserStatement
  | ShowUsersStatement
  | ShowGrantsStatement
  | BackupStatement
  | RestoreStatement
  | ShowBackupsStatement
  | ShowBackupStatement
  | AlterBackupKmsStatement
  | CheckExternalConnectionStatement
  | CreateExternalConnectionStatement
  | DropExternalConnectionStatement
  | ShowExternalConnectionsStatement
  | ShowJobsStatement
  | ShowJobStatement
  | ControlJobsStatement
  | CreateScheduleStatement
  | ShowSchedulesStatement
  | ShowScheduleStatement
  | ControlSchedulesStatement
  | AlterBackupScheduleStatement
  | SelectFromShowStatement
  | CreateIndexStatement
  | DropIndexStatement
  | CommentOnStatement
  | CreateSchemaStatement
  | DropSchemaStatement
  | CreateTypeStatement
  | DropTypeStatement
  | ShowSchemasStatement
  | ShowEnumsStatement
  | SetTimeZoneStatement
  | ShowTimeZoneStatement;

export type StatementKind = Statement['kind'];

/**
 * The statements whose rows a query can select from (`SELECT ... FROM [SHOW ...]`): every
 * SHOW, and `SHOW BACKUP CONNECTION` (a `checkExternalConnection` in its SHOW form).
 */
export type ShowStatement = Extract<Statement, { kind: `show${string}` }> | CheckExternalConnectionStatement;
