import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { formatStatement, parse, parseOne, redactUri } from './index.js';
import type { Statement } from './index.js';

function withoutPositions<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withoutPositions(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== 'pos') out[k] = withoutPositions(v);
    return out as T;
  }
  return value;
}

function one<K extends Statement['kind']>(sql: string, kind: K): Extract<Statement, { kind: K }> {
  const stmt = parseOne(sql);
  expect(stmt.kind).toBe(kind);
  return stmt as Extract<Statement, { kind: K }>;
}

/** The CairnError thrown by parsing `sql`. */
function parseError(sql: string): CairnError {
  try {
    parse(sql);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code).toBe(ErrorCode.Syntax);
    expect(e.message).not.toContain('\n');
    return e;
  }
  throw new Error(`expected a syntax error for: ${sql}`);
}

describe('statement lists', () => {
  it('splits on semicolons, skips empty statements and comments', () => {
    expect(parse('')).toEqual([]);
    expect(parse('  ;; -- nothing here\n')).toEqual([]);
    const sql = 'SHOW JOBS; -- all of them\nshow schedules;\n/* block */ SHOW NODES';
    const stmts = parse(sql);
    expect(stmts.map((s) => s.kind)).toEqual(['showJobs', 'showSchedules', 'showNodes']);
    expect(stmts.map((s) => s.pos)).toEqual([1, sql.indexOf('show') + 1, sql.indexOf('SHOW NODES') + 1]);
  });

  it('parseOne takes exactly one statement', () => {
    expect(parseOne('SHOW JOBS;').kind).toBe('showJobs');
    expect(() => parseOne('')).toThrow(/expected a statement/);
    const err = (() => {
      try {
        parseOne('SHOW JOBS; SHOW NODES');
      } catch (e) {
        return e as CairnError;
      }
      throw new Error('no error');
    })();
    expect(err.message).toBe('at or near "SHOW": syntax error: expected exactly one statement (line 1, column 12)');
    expect(err.position).toBe(12);
  });

  it('folds unquoted identifiers, keeps quoted ones, unescapes quotes', () => {
    const s = one(`RESTORE TABLE Bank."MixedCase", "we""ird".t FROM 'it''s' WITH new_db_name = 'a''b'`, 'restore');
    expect(withoutPositions(s.targets)).toEqual({
      kind: 'tables',
      tables: [
        { kind: 'table', table: { database: 'bank', name: 'MixedCase' } },
        { kind: 'table', table: { database: 'we"ird', name: 't' } },
      ],
    });
    expect(s.source.uris).toEqual(["it's"]);
    expect(s.options.newDbName).toBe("a'b");
    expect(formatStatement(s)).toBe(`RESTORE TABLE bank."MixedCase", "we""ird".t FROM 'it''s' WITH new_db_name = 'a''b'`);
  });
});

describe('backup and restore', () => {
  it('parses BACKUP with every clause', () => {
    const sql =
      "BACKUP DATABASE bank, shop INTO LATEST IN ('s3://a?COCKROACH_LOCALITY=default', 's3://b?COCKROACH_LOCALITY=region%3Dwest') " +
      "AS OF SYSTEM TIME '-10s' WITH revision_history, encryption_passphrase = 'pw', kms = ('aws:///k1', 'aws:///k2'), " +
      "EXECUTION LOCALITY = 'region=us-east1,zone=b', incremental_location = 's3://inc', detached = false";
    expect(parseOne(sql)).toEqual({
      kind: 'backup',
      pos: 1,
      targets: { kind: 'databases', pos: 8, names: ['bank', 'shop'] },
      mode: 'into',
      destination: {
        pos: 33,
        subdir: { kind: 'latest', pos: 33 },
        uris: ['s3://a?COCKROACH_LOCALITY=default', 's3://b?COCKROACH_LOCALITY=region%3Dwest'],
      },
      asOf: { kind: 'interval', pos: sql.indexOf('AS OF') + 1, text: '-10s' },
      incrementalFrom: [],
      options: {
        revisionHistory: true,
        encryptionPassphrase: 'pw',
        kms: ['aws:///k1', 'aws:///k2'],
        executionLocality: 'region=us-east1,zone=b',
        incrementalLocation: ['s3://inc'],
        detached: false,
      },
    });
  });

  it('parses the target forms: cluster, databases, tables, bare names, wildcards', () => {
    expect(one("BACKUP INTO 's3://x'", 'backup').targets.kind).toBe('cluster');
    const bare = one("BACKUP bank.customers, bank.* INTO 'sub' IN 's3://x' WITH OPTIONS (detached)", 'backup');
    expect(withoutPositions(bare.targets)).toEqual({
      kind: 'tables',
      tables: [
        { kind: 'table', table: { database: 'bank', name: 'customers' } },
        { kind: 'allTables', database: 'bank' },
      ],
    });
    expect(withoutPositions(bare.destination)).toEqual({ subdir: { kind: 'path', path: 'sub' }, uris: ['s3://x'] });
    expect(bare.options).toEqual({ detached: true });
    expect(formatStatement(bare)).toBe("BACKUP TABLE bank.customers, bank.* INTO 'sub' IN 's3://x' WITH detached");
  });

  it('parses the pre-collection BACKUP TO ... INCREMENTAL FROM form', () => {
    const s = one("BACKUP TABLE t TO 's3://inc' INCREMENTAL FROM 's3://full', 's3://inc1'", 'backup');
    expect(s.mode).toBe('to');
    expect(s.incrementalFrom).toEqual(['s3://full', 's3://inc1']);
  });

  it('classifies AS OF SYSTEM TIME', () => {
    const asOf = (e: string) => withoutPositions(one(`SELECT * FROM t AS OF SYSTEM TIME ${e}`, 'select').asOf);
    expect(asOf("'-10s'")).toEqual({ kind: 'interval', text: '-10s' });
    expect(asOf("'2024-01-01 00:00:00'")).toEqual({ kind: 'timestamp', text: '2024-01-01 00:00:00' });
    expect(asOf("'1700000000000000000.0000000000'")).toEqual({ kind: 'decimal', text: '1700000000000000000.0000000000' });
    expect(asOf('1700000000000000000.0000000001')).toEqual({ kind: 'decimal', text: '1700000000000000000.0000000001' });
    expect(asOf('follower_read_timestamp()')).toEqual({ kind: 'follower', text: 'follower_read_timestamp()' });
  });

  it('parses RESTORE options', () => {
    const s = one(
      "RESTORE DATABASE bank FROM '2024/03/01-100000.00' IN 's3://x' AS OF SYSTEM TIME '2024-03-01 10:00:00' WITH new_db_name = 'bank2', " +
        "skip_missing_foreign_keys, skip_missing_sequences, skip_missing_views, skip_localities_check, schema_only, verify_backup_table_data, " +
        "DETACHED, encryption_passphrase = 'p', kms = 'aws:///k', incremental_location = ('s3://i1', 's3://i2'), EXECUTION LOCALITY = 'region=a'",
      'restore',
    );
    expect(s.options).toEqual({
      newDbName: 'bank2',
      skipMissingForeignKeys: true,
      skipMissingSequences: true,
      skipMissingViews: true,
      skipLocalitiesCheck: true,
      schemaOnly: true,
      verifyBackupTableData: true,
      detached: true,
      encryptionPassphrase: 'p',
      kms: ['aws:///k'],
      incrementalLocation: ['s3://i1', 's3://i2'],
      executionLocality: 'region=a',
    });
    expect(withoutPositions(s.source)).toEqual({ subdir: { kind: 'path', path: '2024/03/01-100000.00' }, uris: ['s3://x'] });
    expect(s.asOf?.kind).toBe('timestamp');
  });

  it('parses the pre-collection RESTORE FROM one location per layer', () => {
    const s = one("RESTORE DATABASE bank FROM 's3://b/weekly', 's3://b/nightly', ('s3://b/x?COCKROACH_LOCALITY=default') WITH new_db_name = 'b2'", 'restore');
    expect(withoutPositions(s.source)).toEqual({ uris: ['s3://b/weekly'] });
    expect(s.incrementalSources?.map((l) => l.uris)).toEqual([['s3://b/nightly'], ['s3://b/x?COCKROACH_LOCALITY=default']]);
    expect(formatStatement(s)).toBe(
      "RESTORE DATABASE bank FROM 's3://b/weekly', 's3://b/nightly', 's3://b/x?COCKROACH_LOCALITY=default' WITH new_db_name = 'b2'",
    );
    // A collection form names one collection: a comma after it is a syntax error.
    expect(() => parse("RESTORE FROM LATEST IN 's3://a', 's3://b'")).toThrow(/syntax error/);
  });

  it('parses SHOW BACKUP(S) forms', () => {
    expect(withoutPositions(one("SHOW BACKUPS IN 's3://x'", 'showBackups'))).toEqual({ kind: 'showBackups', collection: { uris: ['s3://x'] } });
    const s = one("SHOW BACKUP FILES FROM LATEST IN 's3://x' WITH check_files, as_json, privileges, encryption_passphrase = 'p'", 'showBackup');
    expect(s.details).toBe('files');
    expect(s.source.subdir?.kind).toBe('latest');
    expect(s.options).toEqual({ checkFiles: true, asJson: true, privileges: true, encryptionPassphrase: 'p' });
    const old = one("SHOW BACKUP 's3://x/old'", 'showBackup');
    expect(withoutPositions(old.source)).toEqual({ uris: ['s3://x/old'] });
    expect(formatStatement(old)).toBe("SHOW BACKUP 's3://x/old'");
  });

  it('parses external connections', () => {
    expect(withoutPositions(parse("CREATE EXTERNAL CONNECTION backup_s3 AS 's3://b'; DROP EXTERNAL CONNECTION backup_s3; SHOW EXTERNAL CONNECTIONS"))).toEqual([
      { kind: 'createExternalConnection', name: 'backup_s3', uri: 's3://b' },
      { kind: 'dropExternalConnection', name: 'backup_s3' },
      { kind: 'showExternalConnections' },
    ]);
  });
});

describe('schedules and jobs', () => {
  it('parses CREATE SCHEDULE', () => {
    const s = one(
      "CREATE SCHEDULE IF NOT EXISTS 'nightly' FOR BACKUP TABLE bank.accounts INTO 's3://x' WITH revision_history, detached " +
        "RECURRING '@hourly' FULL BACKUP '@daily' WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause', " +
        "on_previous_running = 'skip', ignore_existing_backups, updates_cluster_last_backup_time_metric",
      'createSchedule',
    );
    expect(withoutPositions(s)).toEqual({
      kind: 'createSchedule',
      ifNotExists: true,
      label: 'nightly',
      backup: {
        kind: 'backup',
        targets: { kind: 'tables', tables: [{ kind: 'table', table: { database: 'bank', name: 'accounts' } }] },
        mode: 'into',
        destination: { uris: ['s3://x'] },
        incrementalFrom: [],
        options: { revisionHistory: true, detached: true },
      },
      recurrence: { kind: 'cron', expr: '@hourly' },
      fullBackup: { kind: 'cron', expr: '@daily' },
      scheduleOptions: {
        firstRun: 'now',
        onExecutionFailure: 'pause',
        onPreviousRunning: 'skip',
        ignoreExistingBackups: true,
        updatesClusterLastBackupTimeMetric: true,
      },
    });
    // The embedded backup renders as the schedule's backup_stmt.
    expect(formatStatement(s.backup)).toBe("BACKUP TABLE bank.accounts INTO 's3://x' WITH revision_history, detached");
  });

  it('takes an identifier label, no label, NEVER and ALWAYS', () => {
    const s = one("CREATE SCHEDULE my_label FOR BACKUP INTO 's3://x' RECURRING NEVER FULL BACKUP ALWAYS", 'createSchedule');
    expect(s.label).toBe('my_label');
    expect(s.recurrence.kind).toBe('never');
    expect(s.fullBackup?.kind).toBe('always');
    expect(one("CREATE SCHEDULE FOR BACKUP INTO 's3://x' RECURRING '@daily'", 'createSchedule').label).toBeUndefined();
  });

  it('parses schedule selectors in both query forms', () => {
    const a = one("PAUSE SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'nightly'", 'controlSchedules');
    const b = one("pause schedules select id from [show schedules] where label = 'nightly'", 'controlSchedules');
    expect(withoutPositions(a)).toEqual(withoutPositions(b));
    expect(withoutPositions(a)).toEqual({
      kind: 'controlSchedules',
      action: 'pause',
      schedules: { kind: 'scheduleQuery', where: [{ kind: 'compare', column: 'label', op: '=', value: { kind: 'string', value: 'nightly' } }] },
    });
    const d = one("DROP SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE schedule_status IN ('PAUSED', 'ACTIVE') AND id != 3", 'controlSchedules');
    expect(d.action).toBe('drop');
    expect(withoutPositions(d.schedules)).toEqual({
      kind: 'scheduleQuery',
      where: [
        { kind: 'in', column: 'schedule_status', values: [{ kind: 'string', value: 'PAUSED' }, { kind: 'string', value: 'ACTIVE' }] },
        { kind: 'compare', column: 'id', op: '!=', value: { kind: 'int', value: '3' } },
      ],
    });
    expect(withoutPositions(one('RESUME SCHEDULE 589963390487363585', 'controlSchedules').schedules)).toEqual({
      kind: 'scheduleId',
      id: '589963390487363585',
    });
  });

  it('parses SHOW SCHEDULES variants', () => {
    expect(withoutPositions(parse('SHOW SCHEDULES; SHOW SCHEDULES FOR BACKUP; SHOW RUNNING SCHEDULES; SHOW PAUSED SCHEDULES; SHOW SCHEDULE 7'))).toEqual([
      { kind: 'showSchedules', backupOnly: false },
      { kind: 'showSchedules', backupOnly: true },
      { kind: 'showSchedules', status: 'running', backupOnly: false },
      { kind: 'showSchedules', status: 'paused', backupOnly: false },
      { kind: 'showSchedule', id: '7' },
    ]);
  });

  it('parses job statements', () => {
    expect(withoutPositions(one("SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'BACKUP' AND status IN ('running', 'paused')", 'showJobs'))).toEqual({
      kind: 'showJobs',
      filter: {
        kind: 'jobQuery',
        where: [
          { kind: 'compare', column: 'job_type', op: '=', value: { kind: 'string', value: 'BACKUP' } },
          { kind: 'in', column: 'status', values: [{ kind: 'string', value: 'running' }, { kind: 'string', value: 'paused' }] },
        ],
      },
    });
    expect(withoutPositions(one('SHOW JOBS FOR SCHEDULE 590204387299262465', 'showJobs').filter)).toEqual({
      kind: 'forSchedules',
      schedules: { kind: 'scheduleId', id: '590204387299262465' },
    });
    expect(withoutPositions(one('SHOW JOB WHEN COMPLETE 123', 'showJob'))).toEqual({ kind: 'showJob', id: '123', whenComplete: true });
    expect(withoutPositions(one('CANCEL JOB 123456789', 'controlJobs'))).toEqual({
      kind: 'controlJobs',
      action: 'cancel',
      jobs: { kind: 'jobId', id: '123456789' },
    });
    const q = one("PAUSE JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'running')", 'controlJobs');
    expect(q.jobs.kind).toBe('jobQuery');
    expect(formatStatement(q)).toBe("PAUSE JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'running')");
    const f = one("RESUME JOBS FOR SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'a'", 'controlJobs');
    expect(f.jobs.kind).toBe('forSchedules');
  });

  it('parses the retention schedule option as written, for CREATE and ALTER', () => {
    const c = one(
      "CREATE SCHEDULE FOR BACKUP INTO 's3://x' RECURRING '@hourly' WITH SCHEDULE OPTIONS retention = '30d', first_run = 'now'",
      'createSchedule',
    );
    expect(c.scheduleOptions).toEqual({ retention: '30d', firstRun: 'now' });
    expect(formatStatement(c)).toBe(
      "CREATE SCHEDULE FOR BACKUP INTO 's3://x' RECURRING '@hourly' WITH SCHEDULE OPTIONS first_run = 'now', retention = '30d'",
    );
    const a = one("ALTER BACKUP SCHEDULE 7 SET SCHEDULE OPTION retention = '2w'", 'alterBackupSchedule');
    expect(withoutPositions(a.commands)).toEqual([{ kind: 'setScheduleOption', options: { retention: '2w' } }]);
    expect(formatStatement(a)).toBe("ALTER BACKUP SCHEDULE 7 SET SCHEDULE OPTION retention = '2w'");
    // The value is a string: a bare number is a syntax error at the number.
    expect(parseError("ALTER BACKUP SCHEDULE 7 SET SCHEDULE OPTION retention = 30").message).toMatch(/string literal.*\(line 1, column 57\)$/);
  });

  it('parses ALTER BACKUP SCHEDULE commands', () => {
    const s = one(
      "ALTER BACKUP SCHEDULE 42 SET LABEL 'x', SET INTO ('s3://a', 's3://b'), SET WITH revision_history = false, SET RECURRING '*/5 * * * *', " +
        "SET FULL BACKUP ALWAYS, SET SCHEDULE OPTION on_previous_running = 'wait', EXECUTE FULL IMMEDIATELY",
      'alterBackupSchedule',
    );
    expect(withoutPositions(s)).toEqual({
      kind: 'alterBackupSchedule',
      id: '42',
      commands: [
        { kind: 'setLabel', label: 'x' },
        { kind: 'setInto', uris: ['s3://a', 's3://b'] },
        { kind: 'setWith', options: { revisionHistory: false } },
        { kind: 'setRecurring', recurrence: { kind: 'cron', expr: '*/5 * * * *' } },
        { kind: 'setFullBackup', fullBackup: { kind: 'always' } },
        { kind: 'setScheduleOption', options: { onPreviousRunning: 'wait' } },
        { kind: 'executeImmediately', full: true },
      ],
    });
  });
});

describe('data plane', () => {
  it('parses CREATE TABLE with types, constraints and foreign keys', () => {
    const s = one(
      'CREATE TABLE IF NOT EXISTS bank.accounts (id INT8 PRIMARY KEY, balance NUMERIC(10, 2) NOT NULL DEFAULT 0, ' +
        "name VARCHAR(20) NULL DEFAULT 'n', owner BIGINT REFERENCES users (id), ratio DOUBLE PRECISION, ok BOOLEAN, raw BYTEA, " +
        "at TIMESTAMP, at2 TIMESTAMP WITH TIME ZONE, n INTEGER DEFAULT nextval('seq'), " +
        'CONSTRAINT fk_owner FOREIGN KEY (owner) REFERENCES users (id))',
      'createTable',
    );
    expect(withoutPositions(s)).toEqual({
      kind: 'createTable',
      table: { database: 'bank', name: 'accounts' },
      ifNotExists: true,
      columns: [
        { name: 'id', type: { name: 'INT' }, notNull: false, primaryKey: true },
        { name: 'balance', type: { name: 'DECIMAL', precision: 10, scale: 2 }, notNull: true, primaryKey: false, default: { kind: 'int', value: '0' } },
        { name: 'name', type: { name: 'STRING', length: 20 }, notNull: false, primaryKey: false, default: { kind: 'string', value: 'n' } },
        { name: 'owner', type: { name: 'INT' }, notNull: false, primaryKey: false, references: { table: { name: 'users' }, column: 'id' } },
        { name: 'ratio', type: { name: 'FLOAT' }, notNull: false, primaryKey: false },
        { name: 'ok', type: { name: 'BOOL' }, notNull: false, primaryKey: false },
        { name: 'raw', type: { name: 'BYTES' }, notNull: false, primaryKey: false },
        { name: 'at', type: { name: 'TIMESTAMP' }, notNull: false, primaryKey: false },
        { name: 'at2', type: { name: 'TIMESTAMPTZ' }, notNull: false, primaryKey: false },
        { name: 'n', type: { name: 'INT' }, notNull: false, primaryKey: false, default: { kind: 'nextval', sequence: 'seq' } },
      ],
      foreignKeys: [{ name: 'fk_owner', columns: ['owner'], table: { name: 'users' }, refColumns: ['id'] }],
    });
    const pk = one('CREATE TABLE t (a INT, b STRING, PRIMARY KEY (a, b))', 'createTable');
    expect(pk.primaryKey).toEqual(['a', 'b']);
  });

  it('keeps a view query as written', () => {
    const [s, next] = parse("CREATE VIEW v AS SELECT a, b FROM t WHERE x = ';' ; SHOW TABLES");
    expect(next?.kind).toBe('showTables');
    expect(s?.kind === 'createView' && s.query).toBe("SELECT a, b FROM t WHERE x = ';'");
  });

  it('parses INSERT / UPSERT / DELETE / UPDATE', () => {
    const ins = one("UPSERT INTO t (a, b, c) VALUES (1, -2.5, 'x'), (-3, TRUE, NULL)", 'insert');
    expect(withoutPositions(ins)).toEqual({
      kind: 'insert',
      upsert: true,
      table: { name: 't' },
      columns: ['a', 'b', 'c'],
      rows: [
        [{ kind: 'int', value: '1' }, { kind: 'decimal', value: '-2.5' }, { kind: 'string', value: 'x' }],
        [{ kind: 'int', value: '-3' }, { kind: 'bool', value: true }, { kind: 'null' }],
      ],
    });
    const del = one('DELETE FROM t WHERE k BETWEEN 1 AND 10 AND j = 2', 'delete');
    expect(withoutPositions(del.where)).toEqual([
      { kind: 'compare', column: 'k', op: '>=', value: { kind: 'int', value: '1' } },
      { kind: 'compare', column: 'k', op: '<=', value: { kind: 'int', value: '10' } },
      { kind: 'compare', column: 'j', op: '=', value: { kind: 'int', value: '2' } },
    ]);
    const upd = one("UPDATE bank.accounts SET balance = 10, name = 'z' WHERE id = 3", 'update');
    expect(withoutPositions(upd.assignments)).toEqual([
      { column: 'balance', value: { kind: 'int', value: '10' } },
      { column: 'name', value: { kind: 'string', value: 'z' } },
    ]);
  });

  it('parses SELECT', () => {
    const s = one(
      "SELECT count(*), sum(balance), id FROM bank.accounts AS OF SYSTEM TIME '-5s' WHERE id >= 10 AND id < 20 ORDER BY id DESC, name LIMIT 5",
      'select',
    );
    expect(withoutPositions(s)).toEqual({
      kind: 'select',
      items: [
        { kind: 'aggregate', fn: 'count' },
        { kind: 'aggregate', fn: 'sum', arg: 'balance' },
        { kind: 'column', name: 'id' },
      ],
      from: { database: 'bank', name: 'accounts' },
      asOf: { kind: 'interval', text: '-5s' },
      where: [
        { kind: 'compare', column: 'id', op: '>=', value: { kind: 'int', value: '10' } },
        { kind: 'compare', column: 'id', op: '<', value: { kind: 'int', value: '20' } },
      ],
      orderBy: [
        { column: 'id', desc: true },
        { column: 'name', desc: false },
      ],
      limit: 5,
    });
  });

  it('parses the SHOW / SET statements of the data plane', () => {
    const sql = [
      'CREATE DATABASE IF NOT EXISTS bank',
      'DROP DATABASE IF EXISTS bank CASCADE',
      'USE bank',
      'SET DATABASE = bank',
      'SHOW DATABASES',
      'SHOW TABLES FROM bank',
      'SHOW RANGES FROM TABLE bank.accounts',
      'SHOW RANGES FROM DATABASE bank',
      'SHOW NODES',
      "SHOW FINGERPRINTS FROM DATABASE bank AS OF SYSTEM TIME '-1s'",
      'SHOW CREATE TABLE bank.accounts',
      "SET CLUSTER SETTING bulkio.backup.file_size = '64MiB'",
      'SET CLUSTER SETTING kv.rangefeed.enabled TO DEFAULT',
      'SHOW CLUSTER SETTING bulkio.backup.file_size',
      'SHOW ALL CLUSTER SETTINGS',
      'SHOW PROTECTED TIMESTAMPS',
      'CREATE SEQUENCE s',
      'DROP TABLE IF EXISTS bank.accounts',
    ].join(';\n');
    expect(withoutPositions(parse(sql))).toEqual([
      { kind: 'createDatabase', name: 'bank', ifNotExists: true },
      { kind: 'dropDatabase', name: 'bank', ifExists: true, cascade: true },
      { kind: 'useDatabase', name: 'bank' },
      { kind: 'useDatabase', name: 'bank' },
      { kind: 'showDatabases' },
      { kind: 'showTables', database: 'bank' },
      { kind: 'showRanges', table: { database: 'bank', name: 'accounts' } },
      { kind: 'showRanges', database: 'bank' },
      { kind: 'showNodes' },
      { kind: 'showFingerprints', database: 'bank', asOf: { kind: 'interval', text: '-1s' } },
      { kind: 'showCreateTable', table: { database: 'bank', name: 'accounts' } },
      { kind: 'setClusterSetting', name: 'bulkio.backup.file_size', value: { kind: 'string', value: '64MiB' } },
      { kind: 'setClusterSetting', name: 'kv.rangefeed.enabled' },
      { kind: 'showClusterSetting', name: 'bulkio.backup.file_size' },
      { kind: 'showClusterSettings', all: true },
      { kind: 'showProtectedTimestamps' },
      { kind: 'createSequence', sequence: { name: 's' }, ifNotExists: false },
      { kind: 'dropTable', name: { database: 'bank', name: 'accounts' }, ifExists: true, cascade: false },
    ]);
  });

  it('parses GRANT and REVOKE', () => {
    expect(withoutPositions(parse('GRANT SYSTEM RESTORE TO maxroach; GRANT RESTORE ON DATABASE bank TO maxroach; REVOKE SELECT, INSERT ON TABLE bank.* FROM alice'))).toEqual([
      { kind: 'grant', privileges: ['RESTORE'], on: { kind: 'system' }, roles: ['maxroach'] },
      { kind: 'grant', privileges: ['RESTORE'], on: { kind: 'databases', names: ['bank'] }, roles: ['maxroach'] },
      { kind: 'revoke', privileges: ['SELECT', 'INSERT'], on: { kind: 'tables', tables: [{ kind: 'allTables', database: 'bank' }] }, roles: ['alice'] },
    ]);
    expect(withoutPositions(parse('GRANT ALL PRIVILEGES ON bank.customers, bank.accounts TO "Bob", carol; REVOKE SYSTEM backup, restore FROM bob'))).toEqual([
      {
        kind: 'grant',
        privileges: ['ALL'],
        on: { kind: 'tables', tables: [{ kind: 'table', table: { database: 'bank', name: 'customers' } }, { kind: 'table', table: { database: 'bank', name: 'accounts' } }] },
        roles: ['Bob', 'carol'],
      },
      { kind: 'revoke', privileges: ['BACKUP', 'RESTORE'], on: { kind: 'system' }, roles: ['bob'] },
    ]);
  });

  it('parses role membership: GRANT / REVOKE without ON', () => {
    expect(withoutPositions(parse('GRANT admin TO maxroach, "Alice"; REVOKE admin FROM maxroach'))).toEqual([
      { kind: 'grantRole', roles: ['admin'], members: ['maxroach', 'Alice'] },
      { kind: 'revokeRole', roles: ['admin'], members: ['maxroach'] },
    ]);
    // A user named like a non-reserved keyword needs no quotes, as in CockroachDB.
    expect(withoutPositions(parseOne('GRANT admin TO backup'))).toEqual({ kind: 'grantRole', roles: ['admin'], members: ['backup'] });
  });

  it('parses CREATE USER, DROP USER and SHOW USERS', () => {
    expect(withoutPositions(parse("CREATE USER maxroach; CREATE USER IF NOT EXISTS MaxRoach WITH PASSWORD 'pw'; CREATE USER u PASSWORD NULL; DROP USER IF EXISTS a, b; SHOW USERS; SHOW ROLES"))).toEqual([
      { kind: 'createUser', name: 'maxroach', ifNotExists: false },
      { kind: 'createUser', name: 'maxroach', ifNotExists: true, password: 'pw' },
      { kind: 'createUser', name: 'u', ifNotExists: false, password: null },
      { kind: 'dropUser', names: ['a', 'b'], ifExists: true },
      { kind: 'showUsers' },
      { kind: 'showUsers' },
    ]);
  });

  it('parses ALTER USER ... PASSWORD, and formats it with the password redacted on request', () => {
    expect(withoutPositions(parse("ALTER USER MaxRoach WITH PASSWORD 'pw'; ALTER USER IF EXISTS u PASSWORD NULL"))).toEqual([
      { kind: 'alterUser', name: 'maxroach', ifExists: false, password: 'pw' },
      { kind: 'alterUser', name: 'u', ifExists: true, password: null },
    ]);
    expect(formatStatement(parseOne("ALTER USER u WITH PASSWORD 'hunter2'"), { redact: true })).not.toContain('hunter2');
    expect(formatStatement(parseOne('ALTER USER u WITH PASSWORD NULL'))).toBe('ALTER USER u WITH PASSWORD NULL');
    expect(parseError('ALTER USER u WITH LOGIN').message).toMatch(/^at or near "LOGIN": syntax error: expected PASSWORD/);
    // ALTER BACKUP SCHEDULE still parses beside it.
    expect(parseOne('ALTER BACKUP SCHEDULE 1 SET LABEL x').kind).toBe('alterBackupSchedule');
  });

  it('parses SHOW GRANTS and SHOW SYSTEM GRANTS', () => {
    expect(withoutPositions(parse('SHOW GRANTS; SHOW GRANTS ON DATABASE bank, movr FOR maxroach; SHOW GRANTS ON TABLE bank.* ; SHOW GRANTS ON bank.customers FOR a, b; SHOW SYSTEM GRANTS; SHOW SYSTEM GRANTS FOR maxroach'))).toEqual([
      { kind: 'showGrants' },
      { kind: 'showGrants', on: { kind: 'databases', names: ['bank', 'movr'] }, grantees: ['maxroach'] },
      { kind: 'showGrants', on: { kind: 'tables', tables: [{ kind: 'allTables', database: 'bank' }] } },
      { kind: 'showGrants', on: { kind: 'tables', tables: [{ kind: 'table', table: { database: 'bank', name: 'customers' } }] }, grantees: ['a', 'b'] },
      { kind: 'showGrants', on: { kind: 'system' } },
      { kind: 'showGrants', on: { kind: 'system' }, grantees: ['maxroach'] },
    ]);
  });

  it('refuses a reserved keyword as a user name unless quoted, as CockroachDB does', () => {
    // The docs' `GRANT SYSTEM RESTORE TO user` uses `user` as a placeholder: USER is reserved.
    const e = parseError('GRANT SYSTEM RESTORE TO user');
    expect(e.message).toBe(
      'at or near "user": syntax error: expected a user or role name ("user" is a reserved keyword: quote it as "user" or choose another name) (line 1, column 25)',
    );
    expect(e.position).toBe(25);
    expect(withoutPositions(parseOne('GRANT SYSTEM RESTORE TO "user"'))).toEqual({ kind: 'grant', privileges: ['RESTORE'], on: { kind: 'system' }, roles: ['user'] });
    expect(parseError('CREATE USER select').message).toMatch(/^at or near "select": syntax error: expected a user or role name/);
    expect(parseError('GRANT select TO maxroach').message).toMatch(/^at or near "select": syntax error: expected a role name or ON/);
    expect(parseError("CREATE USER u WITH LOGIN").message).toMatch(/^at or near "LOGIN": syntax error: expected PASSWORD/);
    expect(parseError('GRANT BACKUP ON DATABASE bank maxroach').message).toMatch(/^at or near "maxroach": syntax error: expected TO/);
    expect(parseError('SHOW GRANTS ON ROLE admin').message).toMatch(/SHOW GRANTS ON ROLE is not supported/);
  });

  it('formats users and grants so they parse back, with passwords redacted on request', () => {
    for (const sql of [
      'CREATE USER IF NOT EXISTS "Max" WITH PASSWORD NULL',
      'DROP USER "backup", u',
      'GRANT admin TO "user"',
      'REVOKE admin FROM maxroach',
      'GRANT SYSTEM RESTORE TO "user"',
      'REVOKE BACKUP, SELECT ON DATABASE bank FROM maxroach',
      'SHOW GRANTS ON TABLE bank.customers FOR maxroach',
      'SHOW SYSTEM GRANTS FOR maxroach',
      'SHOW USERS',
    ]) {
      const stmt = parseOne(sql);
      expect(formatStatement(stmt)).toBe(sql);
      expect(withoutPositions(parseOne(formatStatement(stmt)))).toEqual(withoutPositions(stmt));
    }
    const create = parseOne("CREATE USER u WITH PASSWORD 's3cret'");
    expect(formatStatement(create)).toBe("CREATE USER u WITH PASSWORD 's3cret'");
    expect(formatStatement(create, { redact: true })).toBe("CREATE USER u WITH PASSWORD 'redacted'");
  });
});

describe('round trips', () => {
  const statements = [
    "BACKUP DATABASE bank INTO ('s3://a?COCKROACH_LOCALITY=default', 's3://b?COCKROACH_LOCALITY=region%3Dw') AS OF SYSTEM TIME '-10s' WITH revision_history, encryption_passphrase = 'pw', detached, kms = ('aws:///k1', 'aws:///k2'), incremental_location = 's3://inc', EXECUTION LOCALITY = 'region=a'",
    "BACKUP TABLE \"Weird\".\"T\", \"select\", \"latest\" INTO 's3://x'",
    "RESTORE TABLE bank.customers FROM LATEST IN 's3://x' AS OF SYSTEM TIME follower_read_timestamp() WITH into_db = 'newdb', skip_missing_views = false",
    "CREATE SCHEDULE IF NOT EXISTS 'it''s' FOR BACKUP INTO 's3://x' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = '2024-01-01 00:00:00+00:00', ignore_existing_backups = false",
    "ALTER BACKUP SCHEDULE 1 SET WITH detached = true, SET SCHEDULE OPTION ignore_existing_backups = true, EXECUTE IMMEDIATELY",
    'CREATE TABLE "Order" ("from" INT PRIMARY KEY, x DECIMAL(5), y STRING DEFAULT NULL)',
    'SELECT * FROM t WHERE a IN (1, -2, 3.5) AND b != FALSE',
    'INSERT INTO t VALUES (1)',
    "SHOW JOBS SELECT * FROM [SHOW JOBS]",
    'CANCEL JOBS FOR SCHEDULE 3',
    'DROP VIEW IF EXISTS v CASCADE',
    "SHOW BACKUP SCHEMAS FROM '2024/01/01-000000.00' IN ('s3://a', 's3://b') WITH kms = 'aws:///k', incremental_location = 's3://i'",
  ];
  it.each(statements)('%s', (sql) => {
    const stmt = parseOne(sql);
    const text = formatStatement(stmt);
    expect(withoutPositions(parseOne(text))).toEqual(withoutPositions(stmt));
    expect(formatStatement(parseOne(text))).toBe(text);
  });
});

describe('syntax errors', () => {
  it('points at a misspelt keyword with line and column', () => {
    const e = parseError("RESTORE FORM LATEST IN 's3://x'");
    expect(e.message).toBe('at or near "FORM": syntax error: expected FROM (line 1, column 9)');
    expect(e.position).toBe(9);
    const e2 = parseError("RESTORE DATABASE bank FORM LATEST IN 's3://x'");
    expect(e2.message).toBe('at or near "FORM": syntax error: expected FROM (line 1, column 23)');
    expect(e2.position).toBe(23);
  });

  it('reports lines and columns across newlines and statements', () => {
    const e = parseError("SHOW JOBS;\nBACKUP INTO 's3://x'\n  AS OF SYSTEM TYME '-10s'");
    expect(e.message).toBe('at or near "TYME": syntax error: expected TIME (line 3, column 16)');
    expect(e.position).toBe(48);
  });

  it('reports the end of input', () => {
    const e = parseError('BACKUP DATABASE bank INTO');
    expect(e.message).toBe('at or near "EOF": syntax error: expected URI (line 1, column 26)');
    expect(e.position).toBe(26);
  });

  it('rejects unknown and repeated options with their position', () => {
    const e = parseError("BACKUP INTO 's3://x' WITH detached, foo");
    expect(e.message).toBe('unknown option "foo" for BACKUP (line 1, column 37)');
    expect(e.position).toBe(37);
    expect(parseError("RESTORE FROM LATEST IN 's3://x' WITH revision_history").message).toMatch(/^unknown option "revision_history" for RESTORE \(line 1, column \d+\)$/);
    expect(parseError("SHOW BACKUP FROM LATEST IN 's3://x' WITH detached").message).toMatch(/^unknown option "detached" for SHOW BACKUP \(line 1, column \d+\)$/);
    expect(parseError("CREATE SCHEDULE FOR BACKUP INTO 's3://x' RECURRING '@daily' WITH SCHEDULE OPTIONS foo = 'x'").message).toMatch(
      /^unknown option "foo" for SCHEDULE OPTIONS \(line 1, column \d+\)$/,
    );
    const dup = parseError("BACKUP INTO 's3://x' WITH detached, DETACHED");
    expect(dup.message).toBe('option "detached" specified more than once for BACKUP (line 1, column 37)');
    expect(dup.position).toBe(37);
  });

  it('rejects bad option values', () => {
    expect(parseError("BACKUP INTO 's3://x' WITH revision_history = 'maybe'").message).toBe(
      `at or near "'maybe'": syntax error: expected TRUE or FALSE (line 1, column 46)`,
    );
    expect(parseError("BACKUP INTO 's3://x' WITH encryption_passphrase").message).toBe(
      'at or near "EOF": syntax error: expected "=" (line 1, column 48)',
    );
    expect(parseError("CREATE SCHEDULE FOR BACKUP INTO 's3://x' RECURRING '@daily' WITH SCHEDULE OPTIONS on_previous_running = 'later'").message).toBe(
      `at or near "'later'": syntax error: expected one of 'start', 'skip', 'wait' (line 1, column 105)`,
    );
  });

  it('reports lexical errors', () => {
    expect(parseError("BACKUP INTO 's3://x").message).toBe(`at or near "'s3://x": syntax error: unterminated string literal (line 1, column 13)`);
    expect(parseError('SHOW JOB $1').message).toBe('at or near "$": syntax error: unexpected character (line 1, column 10)');
    expect(parseError('SELECT * FROM "t').message).toMatch(/unterminated quoted identifier/);
  });

  it('rejects unknown statements, trailing junk and misplaced clauses', () => {
    expect(parseError('FROB THE DB').message).toBe(
      'at or near "FROB": syntax error: expected a statement (BACKUP, RESTORE, SHOW, CREATE, ...) (line 1, column 1)',
    );
    expect(parseError('SHOW JOBS please').message).toBe('at or near "please": syntax error: expected end of statement (line 1, column 11)');
    expect(parseError('CANCEL SCHEDULE 1').message).toBe('at or near "SCHEDULE": syntax error: expected JOB or JOBS (line 1, column 8)');
    expect(parseError("SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE user_name = 'root'").message).toBe(
      'at or near "user_name": syntax error: expected column job_id, job_type or status (line 1, column 43)',
    );
    expect(parseError('PAUSE SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM y').message).toBe(
      'at or near "y": syntax error: expected x (line 1, column 59)',
    );
    expect(parseError("SHOW BACKUP FROM 's3://x'").message).toBe('at or near "EOF": syntax error: expected IN (line 1, column 26)');
    expect(parseError('CREATE TABLE t (a BLOB)').message).toMatch(/^at or near "BLOB": syntax error: expected a column type/);
    expect(parseError('INSERT INTO t (a, b) VALUES (1)').message).toMatch(/VALUES lists must have 2 values/);
  });
});

describe('redaction', () => {
  it('redacts secret query parameters and passwords, keeping everything else', () => {
    expect(redactUri('s3://b/p?AWS_ACCESS_KEY_ID=AKIA&AWS_SECRET_ACCESS_KEY=s3cr3t&AWS_REGION=us-east-1&AWS_SESSION_TOKEN=tok')).toBe(
      's3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1&AWS_SESSION_TOKEN=redacted',
    );
    expect(redactUri('azure://c/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=k')).toBe('azure://c/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=redacted');
    expect(redactUri('gs://b/p?AUTH=specified&CREDENTIALS=base64json')).toBe('gs://b/p?AUTH=specified&CREDENTIALS=redacted');
    expect(redactUri('postgres://u:pw@host:5432/db?sslmode=require')).toBe('postgres://u:redacted@host:5432/db?sslmode=require');
    expect(redactUri('nodelocal://1/backups')).toBe('nodelocal://1/backups');
    expect(redactUri('external://backup_s3')).toBe('external://backup_s3');
    expect(redactUri('s3://b?COCKROACH_LOCALITY=region%3Dus-west&AWS_SECRET_ACCESS_KEY=x')).toBe(
      's3://b?COCKROACH_LOCALITY=region%3Dus-west&AWS_SECRET_ACCESS_KEY=redacted',
    );
  });

  it('formatStatement({ redact: true }) redacts every URI and the passphrase', () => {
    const stmt = parseOne(
      "BACKUP INTO LATEST IN 's3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=sk' WITH encryption_passphrase = 'hunter2', " +
        "kms = 'aws:///key?AWS_SECRET_ACCESS_KEY=k2&REGION=us-east-1', incremental_location = 's3://i?AWS_SECRET_ACCESS_KEY=k3'",
    );
    const redacted = formatStatement(stmt, { redact: true });
    expect(redacted).toBe(
      "BACKUP INTO LATEST IN 's3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted' WITH encryption_passphrase = 'redacted', " +
        "kms = 'aws:///key?AWS_SECRET_ACCESS_KEY=redacted&REGION=us-east-1', incremental_location = 's3://i?AWS_SECRET_ACCESS_KEY=redacted'",
    );
    for (const secret of ['=id&', '=sk', 'hunter2', 'k2', 'k3']) expect(redacted).not.toContain(secret);
    expect(formatStatement(stmt)).toContain('hunter2');

    const sched = parseOne("CREATE SCHEDULE s FOR BACKUP INTO 's3://b?AWS_SECRET_ACCESS_KEY=sk' WITH encryption_passphrase = 'pw' RECURRING '@daily'");
    expect(formatStatement(sched, { redact: true })).toBe(
      "CREATE SCHEDULE 's' FOR BACKUP INTO 's3://b?AWS_SECRET_ACCESS_KEY=redacted' WITH encryption_passphrase = 'redacted' RECURRING '@daily'",
    );
    const restore = parseOne("RESTORE FROM LATEST IN 's3://b?AWS_SECRET_ACCESS_KEY=sk' WITH encryption_passphrase = 'pw'");
    expect(formatStatement(restore, { redact: true })).toBe(
      "RESTORE FROM LATEST IN 's3://b?AWS_SECRET_ACCESS_KEY=redacted' WITH encryption_passphrase = 'redacted'",
    );
    const conn = parseOne("CREATE EXTERNAL CONNECTION c AS 'azure://x?AZURE_ACCOUNT_KEY=k'");
    expect(formatStatement(conn, { redact: true })).toBe("CREATE EXTERNAL CONNECTION 'c' AS 'azure://x?AZURE_ACCOUNT_KEY=redacted'");
  });
});

describe('UPDATE value expressions', () => {
  it("parses the bank workload's CASE transfer and round-trips it", () => {
    const sql =
      'UPDATE bank.bank SET balance = CASE id WHEN 3 THEN balance - 25 WHEN 7 THEN balance + 25 END WHERE id IN (3, 7)';
    const stmt = parseOne(sql);
    if (stmt.kind !== 'update') throw new Error('expected update');
    const v = stmt.assignments[0]!.value;
    expect(v.kind).toBe('case');
    if (v.kind !== 'case') return;
    expect(v.operand).toBe('id');
    expect(v.whens.map((w) => w.match)).toMatchObject([{ kind: 'int', value: '3' }, { kind: 'int', value: '7' }]);
    expect(v.whens[0]!.result).toMatchObject({ kind: 'arith', op: '-', left: { kind: 'columnRef', column: 'balance' }, right: { kind: 'int', value: '25' } });
    expect(formatStatement(stmt)).toBe(
      'UPDATE bank.bank SET balance = CASE id WHEN 3 THEN balance - 25 WHEN 7 THEN balance + 25 END WHERE id IN (3, 7)',
    );
  });

  it('keeps arithmetic left-associative and negative literals apart from subtraction', () => {
    const stmt = parseOne('UPDATE t SET a = a - -1 + b WHERE k = 1');
    if (stmt.kind !== 'update') throw new Error('expected update');
    expect(stmt.assignments[0]!.value).toMatchObject({
      kind: 'arith',
      op: '+',
      left: { kind: 'arith', op: '-', right: { kind: 'int', value: '-1' } },
      right: { kind: 'columnRef', column: 'b' },
    });
  });

  it('reports a CASE without WHEN or END at its position', () => {
    expect(() => parseOne('UPDATE t SET a = CASE id END')).toThrow(/expected WHEN/);
    expect(() => parseOne('UPDATE t SET a = CASE id WHEN 1 THEN 2')).toThrow(/expected END/);
  });
});

describe('ALTER BACKUP ... ADD NEW_KMS', () => {
  it('parses the collection and old forms, formats them back, and redacts the KMS URIs', () => {
    const s = one(
      "ALTER BACKUP LATEST IN 's3://b/c?AUTH=implicit' ADD NEW_KMS = 'aws-kms:///k2?REGION=r&AWS_SECRET_ACCESS_KEY=s2' WITH OLD_KMS = ('aws-kms:///k1?REGION=r', 'aws-kms:///k0?REGION=r')",
      'alterBackupKms',
    );
    expect(s.location.subdir?.kind).toBe('latest');
    expect(s.newKms).toEqual(['aws-kms:///k2?REGION=r&AWS_SECRET_ACCESS_KEY=s2']);
    expect(s.oldKms).toEqual(['aws-kms:///k1?REGION=r', 'aws-kms:///k0?REGION=r']);
    expect(formatStatement(s, { redact: true })).toBe(
      "ALTER BACKUP LATEST IN 's3://b/c?AUTH=implicit' ADD NEW_KMS = 'aws-kms:///k2?REGION=r&AWS_SECRET_ACCESS_KEY=redacted' WITH OLD_KMS = ('aws-kms:///k1?REGION=r', 'aws-kms:///k0?REGION=r')",
    );
    const sub = one("ALTER BACKUP '2024/01/01-000000.00' IN 'nodelocal://1/c' ADD NEW_KMS = 'aws-kms:///a?REGION=r' WITH OLD_KMS = 'aws-kms:///b?REGION=r'", 'alterBackupKms');
    expect(sub.location.subdir).toMatchObject({ kind: 'path', path: '2024/01/01-000000.00' });
    expect(one("ALTER BACKUP SCHEDULE 12 SET LABEL 'x'", 'alterBackupSchedule')).toBeDefined();
    expect(parseError("ALTER BACKUP LATEST IN 'nodelocal://1/c' ADD NEW_KMS = 'aws-kms:///a?REGION=r'").message).toMatch(/WITH OLD_KMS/);
  });
});

describe('CHECK EXTERNAL CONNECTION / SHOW BACKUP CONNECTION', () => {
  it('parses both forms with TRANSFER and EXECUTION LOCALITY and formats them back redacted', () => {
    const c = one("CHECK EXTERNAL CONNECTION 's3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=sk' WITH TRANSFER = '1MiB', EXECUTION LOCALITY = 'region=us-east1'", 'checkExternalConnection');
    expect(c).toMatchObject({ form: 'check', transfer: '1MiB', executionLocality: 'region=us-east1' });
    expect(formatStatement(c, { redact: true })).toBe(
      "CHECK EXTERNAL CONNECTION 's3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted' WITH TRANSFER = '1MiB', EXECUTION LOCALITY = 'region=us-east1'",
    );
    expect(one("SHOW BACKUP CONNECTION 'gs://b/p?AUTH=implicit'", 'checkExternalConnection')).toMatchObject({ form: 'showBackup', uri: 'gs://b/p?AUTH=implicit' });
    expect(one("SHOW BACKUP FROM LATEST IN 'nodelocal://1/c'", 'showBackup')).toBeDefined();
    expect(parseError("CHECK EXTERNAL CONNECTION 'nodelocal://1/x' WITH CONCURRENTLY = 2").message).toMatch(/concurrently/i);
  });
});
