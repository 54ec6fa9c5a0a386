import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { parseOne } from '@cairn/sql';
import {
  authorize,
  canAccessJob,
  canAccessSchedule,
  checkSessionUser,
  requirementFor,
  scheduleAccessError,
  statementName,
  type ObjectDirectory,
} from './privilege-checks.js';
import { EMPTY_PRIVILEGE_STATE, createUser, grant, setAdminMembership, type PrivilegeState } from './privilege-model.js';

/** bank (104) with customers (105) and accounts (106); movr (110) with rides (111). */
const DATABASES: Record<string, number> = { bank: 104, movr: 110 };
const TABLES: Record<string, number> = { 'bank.customers': 105, 'bank.accounts': 106, 'movr.rides': 111 };
const DIR: ObjectDirectory = {
  databaseId: (n) => DATABASES[n],
  tableId: (db, t) => TABLES[`${db}.${t}`],
  tableIds: (db) => Object.entries(TABLES).flatMap(([name, id]) => (name.startsWith(`${db}.`) ? [id] : [])),
};
const BANK = { kind: 'database', id: 104 } as const;

const USERS = createUser(createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 0), 'boss', 0);
/** A URI with explicit credentials: it needs no privilege of its own. */
const S3 = 's3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s';

/** The error `sql`, run by `user` in database `db`, gets (undefined when it is allowed). */
function refusal(state: PrivilegeState, sql: string, user = 'maxroach', db = ''): CairnError | undefined {
  try {
    authorize(state, user, requirementFor(parseOne(sql), db), DIR);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.InsufficientPrivilege);
    return err as CairnError;
  }
}

const allowed = (state: PrivilegeState, sql: string, user = 'maxroach', db = '') => refusal(state, sql, user, db) === undefined;

describe('BACKUP privileges (the seed\'s table)', () => {
  it('full cluster backup: admin role membership (or the BACKUP system privilege)', () => {
    expect(refusal(USERS, `BACKUP INTO '${S3}'`)?.message).toBe(
      'only users with the admin role or the BACKUP system privilege are allowed to perform full cluster backups: user maxroach does not have BACKUP system privilege',
    );
    expect(allowed(setAdminMembership(USERS, ['admin'], ['maxroach'], true), "BACKUP INTO 'nodelocal://1/b'")).toBe(true);
    expect(allowed(grant(USERS, [{ kind: 'system' }], ['BACKUP'], ['maxroach']), `BACKUP INTO '${S3}'`)).toBe(true);
    expect(allowed(USERS, "BACKUP INTO 'nodelocal://1/b'", 'root')).toBe(true);
  });

  it('database backup: BACKUP privilege on each database', () => {
    const sql = `BACKUP DATABASE bank, movr INTO '${S3}'`;
    expect(refusal(USERS, sql)?.message).toBe('user maxroach does not have BACKUP privilege on database bank');
    const onBank = grant(USERS, [BANK], ['BACKUP'], ['maxroach']);
    expect(refusal(onBank, sql)?.message).toBe('user maxroach does not have BACKUP privilege on database movr');
    expect(allowed(grant(onBank, [{ kind: 'database', id: 110 }], ['ALL'], ['maxroach']), sql)).toBe(true);
    // Another user's grant, or RESTORE, or a grant on a table is not BACKUP on the database.
    expect(allowed(grant(USERS, [BANK], ['BACKUP'], ['boss']), "BACKUP DATABASE bank INTO 'x'")).toBe(false);
    expect(allowed(grant(USERS, [BANK], ['RESTORE'], ['maxroach']), "BACKUP DATABASE bank INTO 'x'")).toBe(false);
    // A database that does not exist holds no grant: refused, without revealing whether it exists.
    expect(refusal(USERS, "BACKUP DATABASE nope INTO 'x'")?.message).toBe('user maxroach does not have BACKUP privilege on database nope');
  });

  it('table backup: SELECT on each table, from the table or its database', () => {
    const sql = "BACKUP TABLE bank.customers, accounts INTO 'x'";
    expect(refusal(USERS, sql, 'maxroach', 'bank')?.message).toBe('user maxroach does not have SELECT privilege on relation customers');
    const onCustomers = grant(USERS, [{ kind: 'table', id: 105 }], ['SELECT'], ['maxroach']);
    expect(refusal(onCustomers, sql, 'maxroach', 'bank')?.message).toBe('user maxroach does not have SELECT privilege on relation accounts');
    expect(allowed(grant(onCustomers, [{ kind: 'table', id: 106 }], ['ALL'], ['maxroach']), sql, 'maxroach', 'bank')).toBe(true);
    expect(allowed(grant(USERS, [BANK], ['SELECT'], ['maxroach']), sql, 'maxroach', 'bank')).toBe(true);
    expect(allowed(grant(USERS, [BANK], ['ALL'], ['maxroach']), "BACKUP TABLE bank.* INTO 'x'")).toBe(true);
    expect(refusal(onCustomers, "BACKUP TABLE bank.* INTO 'x'")?.message).toBe(
      'user maxroach does not have SELECT privilege on every relation of database bank',
    );
  });
});

describe('schedule options that need the admin role', () => {
  it('updates_cluster_last_backup_time_metric: CREATE SCHEDULE and ALTER ... SET SCHEDULE OPTION need the admin role', () => {
    const sys = grant(USERS, [{ kind: 'system' }], ['BACKUP'], ['maxroach']);
    const create = `CREATE SCHEDULE s FOR BACKUP INTO '${S3}' RECURRING '@daily'`;
    expect(allowed(sys, create)).toBe(true);
    const message = 'only users with the admin role are allowed to updates_cluster_last_backup_time_metric';
    expect(refusal(sys, `${create} WITH SCHEDULE OPTIONS updates_cluster_last_backup_time_metric = '1'`)?.message).toBe(message);
    expect(refusal(sys, 'ALTER BACKUP SCHEDULE 1 SET SCHEDULE OPTION updates_cluster_last_backup_time_metric = true')?.message).toBe(message);
    const admin = setAdminMembership(USERS, ['admin'], ['maxroach'], true);
    expect(allowed(admin, `${create} WITH SCHEDULE OPTIONS updates_cluster_last_backup_time_metric = '1'`)).toBe(true);
  });
});

describe('RESTORE privileges (the seed\'s table)', () => {
  const restoreSystem = grant(USERS, [{ kind: 'system' }], ['RESTORE'], ['maxroach']);

  it('full cluster restore: admin role or the RESTORE system privilege', () => {
    expect(refusal(USERS, "RESTORE FROM LATEST IN 'x'")?.message).toBe(
      'only users with the admin role or the RESTORE system privilege are allowed to perform a cluster restore: user maxroach does not have RESTORE system privilege',
    );
    expect(allowed(restoreSystem, "RESTORE FROM LATEST IN 'x'")).toBe(true);
  });

  it('database restore: the RESTORE system privilege (RESTORE on a database is not enough)', () => {
    const sql = "RESTORE DATABASE bank FROM LATEST IN 'x' WITH new_db_name = 'bank2'";
    expect(refusal(grant(USERS, [BANK], ['ALL'], ['maxroach']), sql)?.message).toBe(
      'only users with the admin role or the RESTORE system privilege are allowed to restore databases: user maxroach does not have RESTORE system privilege',
    );
    expect(allowed(restoreSystem, sql)).toBe(true);
  });

  it('table restore: RESTORE on the database restored into', () => {
    const sql = "RESTORE TABLE bank.customers FROM LATEST IN 'x'";
    expect(refusal(USERS, sql)?.message).toBe('user maxroach does not have RESTORE privilege on database bank');
    expect(allowed(grant(USERS, [BANK], ['RESTORE'], ['maxroach']), sql)).toBe(true);
    // into_db names the database that needs the privilege.
    const into = "RESTORE TABLE bank.customers FROM LATEST IN 'x' WITH into_db = 'movr'";
    expect(refusal(grant(USERS, [BANK], ['RESTORE'], ['maxroach']), into)?.message).toBe('user maxroach does not have RESTORE privilege on database movr');
    // The system privilege alone does not cover a table restore, as in CockroachDB.
    expect(allowed(restoreSystem, sql)).toBe(false);
    // A target database that does not exist is the restore's own error, not a privilege one.
    expect(allowed(USERS, "RESTORE TABLE gone.t FROM LATEST IN 'x'")).toBe(true);
  });

  it('SHOW BACKUP needs a BACKUP or RESTORE privilege somewhere', () => {
    expect(refusal(USERS, "SHOW BACKUPS IN 'x'")?.message).toBe(
      'only users with the admin role or a BACKUP or RESTORE privilege are allowed to run SHOW BACKUPS',
    );
    expect(allowed(grant(USERS, [BANK], ['RESTORE'], ['maxroach']), "SHOW BACKUP FROM LATEST IN 'x'")).toBe(true);
    expect(allowed(grant(USERS, [BANK], ['SELECT'], ['maxroach']), "SHOW BACKUP FROM LATEST IN 'x'")).toBe(false);
  });
});

describe('storage and external connections (CockroachDB\'s cloudprivilege)', () => {
  const canBackUpBank = grant(USERS, [BANK], ['SELECT'], ['maxroach']);

  it('a URI using the cluster\'s own access needs EXTERNALIOIMPLICITACCESS', () => {
    for (const [uri, provider] of [
      ['nodelocal://1/b', 'nodelocal'],
      ['file:///tmp/b', 'file'],
      ['s3://b/p?AUTH=implicit', 's3'],
      ['gs://b/p?AUTH=implicit', 'gs'],
    ] as const) {
      const sql = `BACKUP TABLE bank.customers INTO '${uri}'`;
      expect(refusal(canBackUpBank, sql)?.message, uri).toBe(
        `only users with the admin role or the EXTERNALIOIMPLICITACCESS system privilege are allowed to access the specified ${provider} URI`,
      );
      expect(allowed(grant(canBackUpBank, [{ kind: 'system' }], ['EXTERNALIOIMPLICITACCESS'], ['maxroach']), sql), uri).toBe(true);
    }
    expect(allowed(canBackUpBank, `BACKUP TABLE bank.customers INTO '${S3}'`)).toBe(true);
    // Every URI a statement names is checked: restore sources, SHOW BACKUP's.
    const restorer = grant(USERS, [BANK], ['RESTORE'], ['maxroach']);
    expect(refusal(restorer, "RESTORE TABLE bank.customers FROM LATEST IN 'nodelocal://1/b'")?.message).toContain('EXTERNALIOIMPLICITACCESS');
    expect(refusal(restorer, "SHOW BACKUP FROM LATEST IN 'nodelocal://1/b'")?.message).toContain('EXTERNALIOIMPLICITACCESS');
    expect(refusal(restorer, `SHOW BACKUP FROM LATEST IN '${S3}' WITH incremental_location = 'nodelocal://2/inc'`)?.message).toContain('EXTERNALIOIMPLICITACCESS');
    expect(refusal(restorer, `RESTORE TABLE bank.customers FROM LATEST IN '${S3}' WITH incremental_location = 'external://inc'`)?.message).toBe(
      'user maxroach does not have USAGE privilege on external_connection inc',
    );
  });

  it('external://name needs USAGE on the connection', () => {
    const sql = "BACKUP TABLE bank.customers INTO 'external://conn-foo'";
    expect(refusal(canBackUpBank, sql)?.message).toBe('user maxroach does not have USAGE privilege on external_connection conn-foo');
    const usage = grant(canBackUpBank, [{ kind: 'externalConnection', name: 'conn-foo' }], ['USAGE'], ['maxroach']);
    expect(allowed(usage, sql)).toBe(true);
    expect(allowed(usage, "BACKUP TABLE bank.customers INTO 'external://other'")).toBe(false);
    // USAGE does not lift the check on the targets.
    expect(refusal(grant(USERS, [{ kind: 'externalConnection', name: 'conn-foo' }], ['USAGE'], ['maxroach']), sql)?.message).toBe(
      'user maxroach does not have SELECT privilege on relation customers',
    );
  });

  it('CREATE EXTERNAL CONNECTION needs the EXTERNALCONNECTION system privilege; DROP needs DROP on it', () => {
    const create = `CREATE EXTERNAL CONNECTION 'conn-foo' AS '${S3}'`;
    expect(refusal(USERS, create)?.message).toBe('only users with the EXTERNALCONNECTION system privilege are allowed to CREATE EXTERNAL CONNECTION');
    const creator = grant(USERS, [{ kind: 'system' }], ['EXTERNALCONNECTION'], ['maxroach']);
    expect(allowed(creator, create)).toBe(true);
    // A connection to nodelocal also needs implicit access.
    expect(refusal(creator, "CREATE EXTERNAL CONNECTION c AS 'nodelocal://1/x'")?.message).toContain('EXTERNALIOIMPLICITACCESS');
    expect(refusal(USERS, "DROP EXTERNAL CONNECTION 'conn-foo'")?.message).toBe('user maxroach does not have DROP privilege on external_connection conn-foo');
    expect(allowed(grant(USERS, [{ kind: 'externalConnection', name: 'conn-foo' }], ['ALL'], ['maxroach']), "DROP EXTERNAL CONNECTION 'conn-foo'")).toBe(true);
  });

  it('CREATE SCHEDULE FOR BACKUP needs what its BACKUP needs; schedule control is checked against owners', () => {
    const sql = `CREATE SCHEDULE s FOR BACKUP DATABASE bank INTO '${S3}' RECURRING '@daily'`;
    expect(refusal(USERS, sql)?.message).toBe('user maxroach does not have BACKUP privilege on database bank');
    expect(allowed(grant(USERS, [BANK], ['BACKUP'], ['maxroach']), sql)).toBe(true);
    for (const control of ['PAUSE SCHEDULE 1', 'RESUME SCHEDULE 1', 'DROP SCHEDULE 1', "ALTER BACKUP SCHEDULE 1 SET LABEL 'x'", 'SHOW SCHEDULES']) {
      expect(allowed(USERS, control), control).toBe(true);
    }
    expect(canAccessSchedule(USERS, 'maxroach', 'maxroach')).toBe(true);
    expect(canAccessSchedule(USERS, 'maxroach', 'boss')).toBe(false);
    expect(canAccessSchedule(setAdminMembership(USERS, ['admin'], ['maxroach'], true), 'maxroach', 'boss')).toBe(true);
    expect(scheduleAccessError('maxroach', '42', 'pause').message).toBe(
      'user maxroach must be a member of the admin role or the owner of schedule 42 to pause it',
    );
  });
});

describe('other statements', () => {
  it('reads need SELECT; DDL, DML, users, grants and schedules need the admin role', () => {
    expect(refusal(USERS, 'SELECT * FROM bank.customers')?.message).toBe('user maxroach does not have SELECT privilege on relation customers');
    expect(allowed(grant(USERS, [BANK], ['SELECT'], ['maxroach']), 'SELECT count(*) FROM customers', 'maxroach', 'bank')).toBe(true);
    expect(allowed(grant(USERS, [BANK], ['SELECT'], ['maxroach']), 'SHOW FINGERPRINTS FROM DATABASE bank')).toBe(true);
    for (const [sql, name] of [
      ['CREATE TABLE bank.t (id INT PRIMARY KEY)', 'CREATE TABLE'],
      ["INSERT INTO bank.customers VALUES (1, 'x')", 'INSERT'],
      ['DROP DATABASE bank', 'DROP DATABASE'],
      ['CREATE USER eve', 'CREATE USER'],
      ['GRANT SYSTEM RESTORE TO maxroach', 'GRANT'],
      ['GRANT admin TO maxroach', 'GRANT'],
      ['SET CLUSTER SETTING kv.range.max_bytes = 1', 'SET CLUSTER SETTING'],
      ['CANCEL JOBS FOR SCHEDULE 1', 'CANCEL JOB'],
    ] as const) {
      expect(refusal(grant(USERS, [BANK], ['ALL'], ['maxroach']), sql)?.message).toBe(`only users with the admin role are allowed to run ${name}`);
    }
    expect(statementName(parseOne('SHOW PROTECTED TIMESTAMPS'))).toBe('SHOW PROTECTED TIMESTAMPS');
  });

  it('lets anyone look at the catalog, grants and their own jobs', () => {
    for (const sql of ['SHOW DATABASES', 'SHOW TABLES FROM bank', 'SHOW GRANTS ON DATABASE bank', 'SHOW SYSTEM GRANTS', 'SHOW JOBS', 'SHOW JOB 1', 'PAUSE JOB 1', 'USE bank']) {
      expect(allowed(USERS, sql), sql).toBe(true);
    }
    expect(canAccessJob(USERS, 'maxroach', 'maxroach')).toBe(true);
    expect(canAccessJob(USERS, 'maxroach', 'root')).toBe(false);
    expect(canAccessJob(USERS, 'maxroach', 'boss')).toBe(false);
    expect(canAccessJob(setAdminMembership(USERS, ['admin'], ['maxroach'], true), 'maxroach', 'boss')).toBe(true);
    expect(canAccessJob(USERS, 'root', 'maxroach')).toBe(true);
  });

  it('runs statements only as root or an existing user', () => {
    expect(() => checkSessionUser(USERS, 'maxroach')).not.toThrow();
    expect(() => checkSessionUser(EMPTY_PRIVILEGE_STATE, 'root')).not.toThrow();
    for (const [user, message] of [
      ['ghost', 'role/user "ghost" does not exist'],
      ['admin', 'admin is a role, not a user: it cannot run statements'],
    ] as const) {
      try {
        checkSessionUser(USERS, user);
        throw new Error(`expected ${user} to be refused`);
      } catch (err) {
        expect((err as CairnError).code).toBe(ErrorCode.InsufficientPrivilege);
        expect((err as CairnError).message).toBe(message);
      }
    }
  });
});
