import type {
  ValueExpr,
  AlterScheduleCommand,
  AsOf,
  BackupOptions,
  BackupStatement,
  ColumnDef,
  ColumnType,
  FullBackup,
  JobQuery,
  JobsForSchedules,
  Literal,
  Location,
  OrderItem,
  Predicate,
  PrivilegeTarget,
  Recurrence,
  RestoreOptions,
  ScheduleOptions,
  ScheduleQuery,
  ScheduleSelector,
  SelectItem,
  ShowBackupOptions,
  Statement,
  TableName,
  TablePattern,
  Targets,
} from './ast.js';
import { GRAMMAR_KEYWORDS, RESERVED_KEYWORDS } from './keywords.js';
import { REDACTED, redactUri } from './redact.js';

export interface FormatOptions {
  /** Redact secrets: credentials in every URI and the values of `encryption_passphrase`. */
  redact?: boolean;
  /**
   * BACKUP's options as CockroachDB prints a schedule's statement (SHOW SCHEDULES, SHOW CREATE
   * SCHEDULE): `WITH OPTIONS (revision_history = true, detached)` instead of `WITH
   * revision_history, detached`. Both parse to the same statement.
   */
  parenthesizedBackupOptions?: boolean;
}

/**
 * Renders a statement in canonical form: keywords upper case, options lower case in a fixed
 * order, strings single-quoted. `parse(formatStatement(s))` gives back `s` (positions aside),
 * so the text can be stored as a job description or a schedule's backup statement, e.g.
 * `BACKUP INTO 's3://b/p?AWS_ACCESS_KEY_ID=x' WITH detached`.
 */
export function formatStatement(stmt: Statement, options: FormatOptions = {}): string {
  return new Formatter(options.redact ?? false, options.parenthesizedBackupOptions ?? false).statement(stmt);
}

/** A single-quoted SQL string literal. */
export function quoteString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

const PLAIN_IDENT = /^[a-z_][a-z0-9_$]*$/;

/** An identifier, double-quoted when it would not read back as itself unquoted. */
export function quoteIdent(name: string): string {
  const upper = name.toUpperCase();
  if (PLAIN_IDENT.test(name) && !RESERVED_KEYWORDS.has(upper) && !GRAMMAR_KEYWORDS.has(upper)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/** A name read where any word is accepted (roles, setting name parts). */
function quoteWord(name: string): string {
  return PLAIN_IDENT.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

class Formatter {
  constructor(
    private readonly redact: boolean,
    private readonly parenthesized: boolean,
  ) {}

  statement(s: Statement): string {
    switch (s.kind) {
      case 'createDatabase':
        return `CREATE DATABASE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdent(s.name)}`;
      case 'dropDatabase':
        return `DROP DATABASE ${s.ifExists ? 'IF EXISTS ' : ''}${quoteIdent(s.name)}${s.cascade ? ' CASCADE' : ''}`;
      case 'useDatabase':
        return `USE ${quoteIdent(s.name)}`;
      case 'createTable': {
        const elems = s.columns.map((c) => this.column(c));
        if (s.primaryKey !== undefined) elems.push(`PRIMARY KEY (${identList(s.primaryKey)})`);
        for (const fk of s.foreignKeys) {
          const name = fk.name === undefined ? '' : `CONSTRAINT ${quoteIdent(fk.name)} `;
          const refCols = fk.refColumns.length === 0 ? '' : ` (${identList(fk.refColumns)})`;
          elems.push(`${name}FOREIGN KEY (${identList(fk.columns)}) REFERENCES ${tableName(fk.table)}${refCols}`);
        }
        return `CREATE TABLE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${tableName(s.table)} (${elems.join(', ')})`;
      }
      case 'createView':
        return `CREATE VIEW ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${tableName(s.view)} AS ${s.query}`;
      case 'createSequence':
        return `CREATE SEQUENCE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${tableName(s.sequence)}`;
      case 'dropTable':
      case 'dropView':
      case 'dropSequence': {
        const what = s.kind === 'dropTable' ? 'TABLE' : s.kind === 'dropView' ? 'VIEW' : 'SEQUENCE';
        return `DROP ${what} ${s.ifExists ? 'IF EXISTS ' : ''}${tableName(s.name)}${s.cascade ? ' CASCADE' : ''}`;
      }
      case 'insert': {
        const cols = s.columns === undefined ? '' : ` (${identList(s.columns)})`;
        const rows = s.rows.map((r) => `(${r.map(literal).join(', ')})`).join(', ');
        return `${s.upsert ? 'UPSERT' : 'INSERT'} INTO ${tableName(s.table)}${cols} VALUES ${rows}`;
      }
      case 'delete':
        return join(['DELETE FROM', tableName(s.table), where(s.where)]);
      case 'update': {
        const sets = s.assignments.map((a) => `${quoteIdent(a.column)} = ${valueExpr(a.value)}`).join(', ');
        return join(['UPDATE', tableName(s.table), 'SET', sets, where(s.where)]);
      }
      case 'select':
        return join([
          'SELECT',
          s.items.map(selectItem).join(', '),
          'FROM',
          tableName(s.from) + (s.index === undefined ? '' : `@${quoteIdent(s.index)}`),
          asOf(s.asOf),
          where(s.where),
          orderBy(s.orderBy),
          s.limit === undefined ? '' : `LIMIT ${s.limit}`,
        ]);
      case 'selectFromShow': {
        const show = this.statement(s.show);
        return join([
          s.withName === undefined ? '' : `WITH ${quoteIdent(s.withName)} AS (${show})`,
          'SELECT',
          s.items.map(selectItem).join(', '),
          'FROM',
          s.withName === undefined ? `[${show}]` : quoteIdent(s.withName),
          where(s.where),
          orderBy(s.orderBy),
          s.limit === undefined ? '' : `LIMIT ${s.limit}`,
        ]);
      }
      case 'createIndex':
        return join([
          'CREATE INDEX',
          s.ifNotExists ? 'IF NOT EXISTS' : '',
          s.name === undefined ? '' : quoteIdent(s.name),
          `ON ${tableName(s.table)} (${identList(s.columns)})`,
        ]);
      case 'dropIndex':
        return join(['DROP INDEX', s.ifExists ? 'IF EXISTS' : '', (s.table === undefined ? '' : `${tableName(s.table)}@`) + quoteIdent(s.name)]);
      case 'commentOn': {
        const t = s.target;
        const what =
          t.kind === 'database'
            ? `DATABASE ${quoteIdent(t.name)}`
            : t.kind === 'table'
              ? `TABLE ${tableName(t.table)}`
              : t.kind === 'column'
                ? `COLUMN ${tableName(t.table)}.${quoteIdent(t.column)}`
                : `INDEX ${tableName(t.table)}@${quoteIdent(t.index)}`;
        return `COMMENT ON ${what} IS ${s.comment === null ? 'NULL' : quoteString(s.comment)}`;
      }
      case 'createSchema':
        return join(['CREATE SCHEMA', s.ifNotExists ? 'IF NOT EXISTS' : '', (s.database === undefined ? '' : `${quoteIdent(s.database)}.`) + quoteIdent(s.name)]);
      case 'dropSchema':
        return join(['DROP SCHEMA', s.ifExists ? 'IF EXISTS' : '', (s.database === undefined ? '' : `${quoteIdent(s.database)}.`) + quoteIdent(s.name), s.cascade ? 'CASCADE' : '']);
      case 'createType':
        return join(['CREATE TYPE', s.ifNotExists ? 'IF NOT EXISTS' : '', tableName(s.type), `AS ENUM (${s.labels.map(quoteString).join(', ')})`]);
      case 'dropType':
        return join(['DROP TYPE', s.ifExists ? 'IF EXISTS' : '', tableName(s.type)]);
      case 'showSchemas':
        return s.database === undefined ? 'SHOW SCHEMAS' : `SHOW SCHEMAS FROM ${quoteIdent(s.database)}`;
      case 'showEnums':
        return s.database === undefined ? 'SHOW ENUMS' : `SHOW ENUMS FROM ${quoteIdent(s.database)}`;
      case 'setTimeZone':
        return `SET TIME ZONE ${s.zone === undefined ? 'DEFAULT' : quoteString(s.zone)}`;
      case 'showTimeZone':
        return 'SHOW TIME ZONE';
      case 'showDatabases':
        return 'SHOW DATABASES';
      case 'showTables':
        return s.database === undefined ? 'SHOW TABLES' : `SHOW TABLES FROM ${quoteIdent(s.database)}`;
      case 'showRanges':
        return s.table !== undefined ? `SHOW RANGES FROM TABLE ${tableName(s.table)}` : `SHOW RANGES FROM DATABASE ${quoteIdent(s.database ?? '')}`;
      case 'showNodes':
        return 'SHOW NODES';
      case 'showFingerprints': {
        const from = s.table !== undefined ? `TABLE ${tableName(s.table)}` : `DATABASE ${quoteIdent(s.database ?? '')}`;
        return join(['SHOW FINGERPRINTS FROM', from, asOf(s.asOf)]);
      }
      case 'showCreateTable':
        return `SHOW CREATE TABLE ${tableName(s.table)}`;
      case 'setClusterSetting':
        return `SET CLUSTER SETTING ${settingName(s.name)} = ${s.value === undefined ? 'DEFAULT' : literal(s.value)}`;
      case 'showClusterSetting':
        return `SHOW CLUSTER SETTING ${settingName(s.name)}`;
      case 'showClusterSettings':
        return s.all ? 'SHOW ALL CLUSTER SETTINGS' : 'SHOW CLUSTER SETTINGS';
      case 'showProtectedTimestamps':
        return 'SHOW PROTECTED TIMESTAMPS';
      case 'showCreateSchedule':
        return s.id === undefined ? 'SHOW CREATE ALL SCHEDULES' : `SHOW CREATE SCHEDULE ${s.id}`;
      case 'alterTableSet':
        return `ALTER TABLE ${tableName(s.table)} SET (exclude_data_from_backup = ${String(s.excludeDataFromBackup)})`;
      case 'configureZone':
        return join([
          'ALTER',
          s.target.kind === 'table' ? `TABLE ${tableName(s.target.table)}` : `DATABASE ${quoteIdent(s.target.name)}`,
          s.gcTtlSeconds === undefined ? 'CONFIGURE ZONE DISCARD' : `CONFIGURE ZONE USING gc.ttlseconds = ${s.gcTtlSeconds}`,
        ]);
      case 'showZoneConfiguration':
        return `SHOW ZONE CONFIGURATION FROM ${s.target.kind === 'table' ? `TABLE ${tableName(s.target.table)}` : `DATABASE ${quoteIdent(s.target.name)}`}`;
      case 'grant':
      case 'revoke':
        return join([
          s.kind === 'grant' ? 'GRANT' : 'REVOKE',
          s.on.kind === 'system' ? 'SYSTEM' : '',
          s.privileges.join(', '),
          privilegeTarget(s.on),
          s.kind === 'grant' ? 'TO' : 'FROM',
          identList(s.roles),
        ]);
      case 'grantRole':
      case 'revokeRole':
        return join([s.kind === 'grantRole' ? 'GRANT' : 'REVOKE', identList(s.roles), s.kind === 'grantRole' ? 'TO' : 'FROM', identList(s.members)]);
      case 'createUser': {
        const password = s.password === undefined ? '' : s.password === null ? 'WITH PASSWORD NULL' : `WITH PASSWORD ${quoteString(this.redact ? REDACTED : s.password)}`;
        return join(['CREATE USER', s.ifNotExists ? 'IF NOT EXISTS' : '', quoteIdent(s.name), password]);
      }
      case 'alterUser': {
        const password = s.password === null ? 'WITH PASSWORD NULL' : `WITH PASSWORD ${quoteString(this.redact ? REDACTED : s.password)}`;
        return join(['ALTER USER', s.ifExists ? 'IF EXISTS' : '', quoteIdent(s.name), password]);
      }
      case 'dropUser':
        return join(['DROP USER', s.ifExists ? 'IF EXISTS' : '', identList(s.names)]);
      case 'showUsers':
        return 'SHOW USERS';
      case 'showGrants':
        return join([
          s.on?.kind === 'system' ? 'SHOW SYSTEM GRANTS' : 'SHOW GRANTS',
          s.on === undefined ? '' : privilegeTarget(s.on),
          s.grantees === undefined ? '' : `FOR ${identList(s.grantees)}`,
        ]);
      case 'backup':
        return this.backup(s);
      case 'restore':
        return join([
          'RESTORE',
          targets(s.targets),
          'FROM',
          [s.source, ...(s.incrementalSources ?? [])].map((l) => this.location(l)).join(', '),
          asOf(s.asOf),
          withOptions(this.restoreOptions(s.options)),
        ]);
      case 'showBackups':
        return `SHOW BACKUPS IN ${this.location(s.collection)}`;
      case 'showBackup':
        return join([
          'SHOW BACKUP',
          s.details === 'default' ? '' : s.details.toUpperCase(),
          s.source.subdir === undefined ? '' : 'FROM',
          this.location(s.source),
          withOptions(this.showBackupOptions(s.options)),
        ]);
      case 'checkExternalConnection':
        return join([
          s.form === 'check' ? 'CHECK EXTERNAL CONNECTION' : 'SHOW BACKUP CONNECTION',
          this.uri(s.uri),
          withOptions([
            ...(s.transfer === undefined ? [] : [`TRANSFER = ${quoteString(s.transfer)}`]),
            ...(s.executionLocality === undefined ? [] : [`EXECUTION LOCALITY = ${quoteString(s.executionLocality)}`]),
          ]),
        ]);
      case 'alterBackupKms':
        return `ALTER BACKUP ${this.location(s.location)} ADD NEW_KMS = ${this.uris(s.newKms)} WITH OLD_KMS = ${this.uris(s.oldKms)}`;
      case 'createExternalConnection':
        return `CREATE EXTERNAL CONNECTION ${quoteString(s.name)} AS ${this.uri(s.uri)}`;
      case 'dropExternalConnection':
        return `DROP EXTERNAL CONNECTION ${quoteString(s.name)}`;
      case 'showExternalConnections':
        return s.name === undefined ? 'SHOW EXTERNAL CONNECTIONS' : `SHOW EXTERNAL CONNECTION ${quoteString(s.name)}`;
      case 'showJobs':
        if (s.filter === undefined) return 'SHOW JOBS';
        if (s.filter.kind === 'jobQuery') return `SHOW JOBS ${jobQuery(s.filter, '*')}`;
        return `SHOW JOBS ${forSchedules(s.filter)}`;
      case 'showJob':
        return `SHOW JOB ${s.whenComplete ? 'WHEN COMPLETE ' : ''}${s.id}`;
      case 'controlJobs': {
        const action = s.action.toUpperCase();
        switch (s.jobs.kind) {
          case 'jobId':
            return `${action} JOB ${s.jobs.id}`;
          case 'jobQuery':
            return `${action} JOBS (${jobQuery(s.jobs, 'job_id')})`;
          case 'forSchedules':
            return `${action} JOBS ${forSchedules(s.jobs)}`;
        }
        break;
      }
      case 'createSchedule':
        return join([
          'CREATE SCHEDULE',
          s.ifNotExists ? 'IF NOT EXISTS' : '',
          s.label === undefined ? '' : quoteString(s.label),
          'FOR BACKUP',
          targets(s.backup.targets),
          'INTO',
          this.location(s.backup.destination),
          this.withBackupOptions(s.backup.options),
          `RECURRING ${recurrence(s.recurrence)}`,
          s.fullBackup === undefined ? '' : `FULL BACKUP ${recurrence(s.fullBackup)}`,
          scheduleOptions(s.scheduleOptions, false).length === 0
            ? ''
            : `WITH SCHEDULE OPTIONS ${scheduleOptions(s.scheduleOptions, false).join(', ')}`,
        ]);
      case 'showSchedules':
        return join(['SHOW', s.status === undefined ? '' : s.status.toUpperCase(), 'SCHEDULES', s.backupOnly ? 'FOR BACKUP' : '']);
      case 'showSchedule':
        return `SHOW SCHEDULE ${s.id}`;
      case 'controlSchedules':
        return `${s.action.toUpperCase()} ${scheduleSelector(s.schedules)}`;
      case 'alterBackupSchedule':
        return `ALTER BACKUP SCHEDULE ${s.id} ${s.commands.map((c) => this.alterCommand(c)).join(', ')}`;
    }
  }

  private backup(s: BackupStatement): string {
    return join([
      'BACKUP',
      targets(s.targets),
      s.mode === 'into' ? 'INTO' : 'TO',
      this.location(s.destination),
      asOf(s.asOf),
      s.incrementalFrom.length === 0 ? '' : `INCREMENTAL FROM ${s.incrementalFrom.map((u) => this.uri(u)).join(', ')}`,
      this.withBackupOptions(s.options),
    ]);
  }

  private alterCommand(c: AlterScheduleCommand): string {
    switch (c.kind) {
      case 'setLabel':
        return `SET LABEL ${quoteString(c.label)}`;
      case 'setInto':
        return `SET INTO ${this.uris(c.uris)}`;
      case 'setWith':
        return `SET WITH ${this.backupOptions(c.options, true).join(', ')}`;
      case 'setRecurring':
        return `SET RECURRING ${recurrence(c.recurrence)}`;
      case 'setFullBackup':
        return `SET FULL BACKUP ${recurrence(c.fullBackup)}`;
      case 'setScheduleOption':
        return `SET SCHEDULE OPTION ${scheduleOptions(c.options, true).join(', ')}`;
      case 'executeImmediately':
        return c.full ? 'EXECUTE FULL IMMEDIATELY' : 'EXECUTE IMMEDIATELY';
    }
  }

  private uri(u: string): string {
    return quoteString(this.redact ? redactUri(u) : u);
  }

  private uris(us: string[]): string {
    if (us.length === 1) return this.uri(us[0] as string);
    return `(${us.map((u) => this.uri(u)).join(', ')})`;
  }

  private location(l: Location): string {
    const uris = this.uris(l.uris);
    if (l.subdir === undefined) return uris;
    const subdir = l.subdir.kind === 'latest' ? 'LATEST' : quoteString(l.subdir.path);
    return `${subdir} IN ${uris}`;
  }

  private secret(v: string): string {
    return quoteString(this.redact ? REDACTED : v);
  }

  /** `WITH ...` of BACKUP and CREATE SCHEDULE FOR BACKUP, in the form asked for. */
  private withBackupOptions(o: BackupOptions): string {
    if (!this.parenthesized) return withOptions(this.backupOptions(o, false));
    // CockroachDB prints revision_history with its value and detached bare.
    const opts = this.backupOptions(o, false).map((x) => (x === 'revision_history' ? 'revision_history = true' : x));
    return opts.length === 0 ? '' : `WITH OPTIONS (${opts.join(', ')})`;
  }

  /** Backup options in CockroachDB's order; `explicit` writes flags as `= true`. */
  private backupOptions(o: BackupOptions, explicit: boolean): string[] {
    const out: string[] = [];
    flag(out, 'revision_history', o.revisionHistory, explicit);
    if (o.encryptionPassphrase !== undefined) out.push(`encryption_passphrase = ${this.secret(o.encryptionPassphrase)}`);
    flag(out, 'detached', o.detached, explicit);
    if (o.kms !== undefined) out.push(`kms = ${this.uris(o.kms)}`);
    if (o.incrementalLocation !== undefined) out.push(`incremental_location = ${this.uris(o.incrementalLocation)}`);
    if (o.executionLocality !== undefined) out.push(`EXECUTION LOCALITY = ${quoteString(o.executionLocality)}`);
    return out;
  }

  private restoreOptions(o: RestoreOptions): string[] {
    const out: string[] = [];
    if (o.newDbName !== undefined) out.push(`new_db_name = ${quoteString(o.newDbName)}`);
    if (o.intoDb !== undefined) out.push(`into_db = ${quoteString(o.intoDb)}`);
    flag(out, 'skip_missing_foreign_keys', o.skipMissingForeignKeys, false);
    flag(out, 'skip_missing_sequences', o.skipMissingSequences, false);
    flag(out, 'skip_missing_views', o.skipMissingViews, false);
    flag(out, 'skip_localities_check', o.skipLocalitiesCheck, false);
    flag(out, 'schema_only', o.schemaOnly, false);
    flag(out, 'verify_backup_table_data', o.verifyBackupTableData, false);
    if (o.encryptionPassphrase !== undefined) out.push(`encryption_passphrase = ${this.secret(o.encryptionPassphrase)}`);
    flag(out, 'detached', o.detached, false);
    if (o.kms !== undefined) out.push(`kms = ${this.uris(o.kms)}`);
    if (o.incrementalLocation !== undefined) out.push(`incremental_location = ${this.uris(o.incrementalLocation)}`);
    if (o.executionLocality !== undefined) out.push(`EXECUTION LOCALITY = ${quoteString(o.executionLocality)}`);
    return out;
  }

  private showBackupOptions(o: ShowBackupOptions): string[] {
    const out: string[] = [];
    flag(out, 'check_files', o.checkFiles, false);
    flag(out, 'as_json', o.asJson, false);
    flag(out, 'privileges', o.privileges, false);
    if (o.encryptionPassphrase !== undefined) out.push(`encryption_passphrase = ${this.secret(o.encryptionPassphrase)}`);
    if (o.kms !== undefined) out.push(`kms = ${this.uris(o.kms)}`);
    if (o.incrementalLocation !== undefined) out.push(`incremental_location = ${this.uris(o.incrementalLocation)}`);
    return out;
  }

  private column(c: ColumnDef): string {
    const parts = [quoteIdent(c.name), columnType(c.type)];
    if (c.notNull) parts.push('NOT NULL');
    if (c.primaryKey) parts.push('PRIMARY KEY');
    if (c.references !== undefined) {
      const col = c.references.column === undefined ? '' : ` (${quoteIdent(c.references.column)})`;
      parts.push(`REFERENCES ${tableName(c.references.table)}${col}`);
    }
    if (c.default !== undefined) {
      parts.push(`DEFAULT ${c.default.kind === 'nextval' ? `nextval(${quoteString(c.default.sequence)})` : literal(c.default)}`);
    }
    return parts.join(' ');
  }
}

function join(parts: string[]): string {
  return parts.filter((p) => p !== '').join(' ');
}

function withOptions(opts: string[]): string {
  return opts.length === 0 ? '' : `WITH ${opts.join(', ')}`;
}

function flag(out: string[], name: string, value: boolean | undefined, explicit: boolean): void {
  if (value === undefined) return;
  out.push(value && !explicit ? name : `${name} = ${value ? 'true' : 'false'}`);
}

function scheduleOptions(o: ScheduleOptions, explicit: boolean): string[] {
  const out: string[] = [];
  if (o.firstRun !== undefined) out.push(`first_run = ${quoteString(o.firstRun)}`);
  if (o.onExecutionFailure !== undefined) out.push(`on_execution_failure = ${quoteString(o.onExecutionFailure)}`);
  if (o.onPreviousRunning !== undefined) out.push(`on_previous_running = ${quoteString(o.onPreviousRunning)}`);
  flag(out, 'ignore_existing_backups', o.ignoreExistingBackups, explicit);
  flag(out, 'updates_cluster_last_backup_time_metric', o.updatesClusterLastBackupTimeMetric, explicit);
  if (o.retention !== undefined) out.push(`retention = ${quoteString(o.retention)}`);
  return out;
}

function identList(names: string[]): string {
  return names.map(quoteIdent).join(', ');
}

function tableName(t: TableName): string {
  return [t.database, t.schema, t.name]
    .filter((p): p is string => p !== undefined)
    .map(quoteIdent)
    .join('.');
}

function tablePattern(p: TablePattern): string {
  if (p.kind === 'table') return tableName(p.table);
  return [p.database, p.schema, undefined]
    .filter((x, i) => x !== undefined || i === 2)
    .map((x) => (x === undefined ? '*' : quoteIdent(x)))
    .join('.');
}

function targets(t: Targets): string {
  switch (t.kind) {
    case 'cluster':
      return '';
    case 'databases':
      return `DATABASE ${identList(t.names)}`;
    case 'tables':
      return `TABLE ${t.tables.map(tablePattern).join(', ')}`;
  }
}

function privilegeTarget(t: PrivilegeTarget): string {
  switch (t.kind) {
    case 'system':
      return '';
    case 'databases':
      return `ON DATABASE ${identList(t.names)}`;
    case 'tables':
      return `ON TABLE ${t.tables.map(tablePattern).join(', ')}`;
    case 'externalConnections':
      return `ON EXTERNAL CONNECTION ${t.names.map(quoteString).join(', ')}`;
  }
}

function settingName(name: string): string {
  return name.split('.').map(quoteWord).join('.');
}

function literal(l: Literal): string {
  switch (l.kind) {
    case 'int':
    case 'decimal':
      return l.value;
    case 'string':
      return quoteString(l.value);
    case 'bool':
      return l.value ? 'TRUE' : 'FALSE';
    case 'null':
      return 'NULL';
  }
}

function asOf(a: AsOf | undefined): string {
  if (a === undefined) return '';
  return `AS OF SYSTEM TIME ${a.kind === 'follower' ? 'follower_read_timestamp()' : quoteString(a.text)}`;
}

function predicate(p: Predicate): string {
  if (p.kind === 'in') return `${quoteIdent(p.column)} IN (${p.values.map(literal).join(', ')})`;
  return `${quoteIdent(p.column)} ${p.op} ${literal(p.value)}`;
}

function orderBy(items: OrderItem[]): string {
  return items.length === 0 ? '' : `ORDER BY ${items.map((o) => `${quoteIdent(o.column)}${o.desc ? ' DESC' : ''}`).join(', ')}`;
}

function where(ps: Predicate[]): string {
  return ps.length === 0 ? '' : `WHERE ${ps.map(predicate).join(' AND ')}`;
}

function selectItem(i: SelectItem): string {
  switch (i.kind) {
    case 'star':
      return '*';
    case 'column':
      return quoteIdent(i.name);
    case 'aggregate':
      return `${i.fn}(${i.arg === undefined ? '*' : quoteIdent(i.arg)})`;
  }
}

function columnType(t: ColumnType): string {
  if (t.enumType !== undefined) return t.enumType.schema === undefined ? quoteIdent(t.enumType.name) : `${quoteIdent(t.enumType.schema)}.${quoteIdent(t.enumType.name)}`;
  if (t.length !== undefined) return `${t.name}(${t.length})`;
  if (t.precision !== undefined) return `${t.name}(${t.precision}${t.scale === undefined ? '' : `, ${t.scale}`})`;
  return t.name;
}

function recurrence(r: Recurrence | FullBackup): string {
  switch (r.kind) {
    case 'cron':
      return quoteString(r.expr);
    case 'never':
      return 'NEVER';
    case 'always':
      return 'ALWAYS';
  }
}

function jobQuery(q: JobQuery, select: '*' | 'job_id'): string {
  return join([`SELECT ${select} FROM [SHOW JOBS]`, where(q.where)]);
}

function scheduleQuery(q: ScheduleQuery): string {
  return join(['WITH x AS (SHOW SCHEDULES) SELECT id FROM x', where(q.where)]);
}

function scheduleSelector(s: ScheduleSelector): string {
  return s.kind === 'scheduleId' ? `SCHEDULE ${s.id}` : `SCHEDULES ${scheduleQuery(s)}`;
}

function forSchedules(f: JobsForSchedules): string {
  return `FOR ${scheduleSelector(f.schedules)}`;
}

function valueExpr(e: ValueExpr): string {
  switch (e.kind) {
    case 'columnRef':
      return quoteIdent(e.column);
    case 'arith': {
      const right = e.right.kind === 'arith' ? `(${valueExpr(e.right)})` : valueExpr(e.right);
      return `${valueExpr(e.left)} ${e.op} ${right}`;
    }
    case 'case':
      return [
        'CASE',
        quoteIdent(e.operand),
        ...e.whens.map((w) => `WHEN ${literal(w.match)} THEN ${valueExpr(w.result)}`),
        ...(e.else ? [`ELSE ${valueExpr(e.else)}`] : []),
        'END',
      ].join(' ');
    default:
      return literal(e);
  }
}
