/**
 * Users, privileges and their checks for BACKUP and RESTORE (seed 001, "Required
 * Privileges"), on a real cluster: two coordinators, three nodes, one nats-server, backups on
 * nodelocal storage. As in CockroachDB's insecure mode, the client names its user (`user`
 * option of the client, `cairn sql --user`); every statement is checked against it.
 *
 * - A user without privileges is refused BACKUP DATABASE, RESTORE and reads with CockroachDB's
 *   INSUFFICIENT_PRIVILEGE errors (also through the CLI), and no job is created.
 * - The seed's two GRANT statements run (its placeholder `user` replaced by a real name:
 *   USER is a reserved keyword, refused unquoted as in CockroachDB); the user can then
 *   RESTORE a database (system RESTORE) and a table (RESTORE on the database); BACKUP needs
 *   BACKUP on the database and a table backup SELECT on the table. SHOW GRANTS and SHOW
 *   SYSTEM GRANTS list the grants; REVOKE takes them away.
 * - SHOW JOBS shows a non-admin only their own jobs (also through a standby coordinator,
 *   which forwards the user); someone else's job cannot be paused.
 * - Grants survive a SIGKILL of the leader coordinator; grants on a dropped database go
 *   with it; admin membership lifts every check; a schedule is owned by its creator and its
 *   jobs run as that user; DROP USER waits until no grant or schedule depends on the user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { col, countRows, databaseFingerprints, failure, query, queryOne, waitForJobStatus } from './support/backup.js';
import { lines, sql } from './support/cli.js';
import { at } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
const USER = 'maxroach';
const COLLECTION = 'nodelocal://1/bank';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let root: CairnClient;
let maxroach: CairnClient;
const clients: CairnClient[] = [];
/** bank's fingerprints when the collection's backup was taken. */
let bankFingerprints: Array<[string, string]>;
/** The job of root's BACKUP of bank. */
let rootJobId: string;
/** Jobs maxroach started. */
const maxroachJobIds: string[] = [];

function clientAs(user: string, addresses = cluster.grpcAddresses()): CairnClient {
  const c = new CairnClient({ addresses, retryForMs: 60_000, user });
  clients.push(c);
  return c;
}

/** The statement fails with INSUFFICIENT_PRIVILEGE; returns its message. */
async function refused(client: CairnClient, statement: string): Promise<string> {
  const err = await failure(client, statement);
  expect(err.code, `${statement}: ${err.message}`).toBe('INSUFFICIENT_PRIVILEGE');
  return err.message;
}

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: LOCALITIES.map((locality) => ({ locality })) });
  root = clientAs('root');
  await root.execute('CREATE DATABASE bank');
  await root.execute('CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING)');
  await root.execute('CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance INT)');
  await root.execute(`INSERT INTO bank.customers VALUES ${Array.from({ length: 20 }, (_, i) => `(${i}, 'customer ${i}')`).join(', ')}`);
  await root.execute(`INSERT INTO bank.accounts VALUES ${Array.from({ length: 30 }, (_, i) => `(${i}, ${i * 100})`).join(', ')}`);
  bankFingerprints = await databaseFingerprints(root, 'bank');
  rootJobId = col(await queryOne(root, `BACKUP DATABASE bank INTO '${COLLECTION}'`), 'job_id');
  expect((await root.execute(`CREATE USER ${USER}`)).tag).toBe('CREATE ROLE');
  maxroach = clientAs(USER);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  await nats?.stop();
});

describe('privileges for BACKUP and RESTORE', () => {
  it('refuses a user without privileges with clear errors and starts no job', async () => {
    const jobsBefore = (await query(root, 'SHOW JOBS')).length;
    expect(await refused(maxroach, `BACKUP DATABASE bank INTO 'nodelocal://1/mine'`)).toBe('user maxroach does not have BACKUP privilege on database bank');
    expect(await refused(maxroach, `RESTORE DATABASE bank FROM LATEST IN '${COLLECTION}' WITH new_db_name = 'bank2'`)).toBe(
      'only users with the admin role or the RESTORE system privilege are allowed to restore databases: user maxroach does not have RESTORE system privilege',
    );
    expect(await refused(maxroach, `RESTORE TABLE bank.accounts FROM LATEST IN '${COLLECTION}'`)).toBe(
      'user maxroach does not have RESTORE privilege on database bank',
    );
    expect(await refused(maxroach, `BACKUP INTO 'nodelocal://1/cluster'`)).toBe(
      'only users with the admin role or the BACKUP system privilege are allowed to perform full cluster backups: user maxroach does not have BACKUP system privilege',
    );
    expect(await refused(maxroach, `RESTORE FROM LATEST IN '${COLLECTION}'`)).toMatch(/^only users with the admin role or the RESTORE system privilege are allowed to perform a cluster restore/);
    expect(await refused(maxroach, 'SELECT count(*) FROM bank.customers')).toBe('user maxroach does not have SELECT privilege on relation customers');
    expect(await refused(maxroach, 'CREATE TABLE bank.mine (id INT PRIMARY KEY)')).toBe('only users with the admin role are allowed to run CREATE TABLE');
    expect(await refused(maxroach, 'GRANT SYSTEM RESTORE TO maxroach')).toBe('only users with the admin role are allowed to run GRANT');
    expect(await refused(maxroach, `SHOW BACKUPS IN '${COLLECTION}'`)).toMatch(/^only users with the admin role or a BACKUP or RESTORE privilege/);
    // A user nobody created cannot run anything.
    expect(await refused(clientAs('ghost'), 'SHOW DATABASES')).toBe('role/user "ghost" does not exist');
    expect((await query(root, 'SHOW JOBS')).length).toBe(jobsBefore);
    expect(await countRows(root, 'bank.customers')).toBe(20);
  });

  it('cairn sql --user runs statements as that user and prints the refusal on one line', async () => {
    const host = at(cluster.grpcAddresses(), 0, 'coordinator address');
    const run = await sql(host, `BACKUP DATABASE bank INTO 'nodelocal://1/cli'`, ['--user', USER]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual(['ERROR (INSUFFICIENT_PRIVILEGE): user maxroach does not have BACKUP privilege on database bank']);
    const shown = await sql(host, 'SHOW DATABASES', ['-u', 'MaxRoach', '--format', 'csv']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('bank');
  });

  it("runs the seed's GRANT statements; the user then restores a database and a table", async () => {
    // The seed's text verbatim: `user` is its placeholder, and a reserved keyword.
    const verbatim = await failure(root, 'GRANT SYSTEM RESTORE TO user;');
    expect(verbatim.code).toBe('SYNTAX_ERROR');
    expect(verbatim.message).toMatch(/^at or near "user": syntax error: expected a user or role name \("user" is a reserved keyword/);
    // The seed's statements with the placeholder replaced by the user's name.
    expect((await root.execute(`GRANT SYSTEM RESTORE TO ${USER};`)).tag).toBe('GRANT');
    expect((await root.execute(`GRANT RESTORE ON DATABASE bank TO ${USER};`)).tag).toBe('GRANT');

    expect((await root.execute('SHOW SYSTEM GRANTS')).rows).toEqual([[USER, 'RESTORE', 'false']]);
    const dbGrants = await root.execute('SHOW GRANTS ON DATABASE bank');
    expect(dbGrants.columns).toEqual(['database_name', 'grantee', 'privilege_type', 'is_grantable']);
    expect(dbGrants.rows).toEqual([
      ['bank', 'admin', 'ALL', 'true'],
      ['bank', USER, 'RESTORE', 'false'],
      ['bank', 'root', 'ALL', 'true'],
    ]);
    // Anyone may look at grants; FOR narrows them to a user.
    expect((await maxroach.execute(`SHOW GRANTS ON DATABASE bank FOR ${USER}`)).rows).toEqual([['bank', USER, 'RESTORE', 'false']]);

    // The collection is nodelocal, the cluster's own storage: a non-admin needs
    // EXTERNALIOIMPLICITACCESS to read or write there (CockroachDB's cloudprivilege check).
    expect(await refused(maxroach, `RESTORE DATABASE bank FROM LATEST IN '${COLLECTION}' WITH new_db_name = 'bank_restored'`)).toBe(
      'only users with the admin role or the EXTERNALIOIMPLICITACCESS system privilege are allowed to access the specified nodelocal URI',
    );
    await root.execute(`GRANT SYSTEM EXTERNALIOIMPLICITACCESS TO ${USER}`);

    // Database restore: the RESTORE system privilege.
    const restored = await queryOne(maxroach, `RESTORE DATABASE bank FROM LATEST IN '${COLLECTION}' WITH new_db_name = 'bank_restored'`);
    expect(col(restored, 'status')).toBe('succeeded');
    maxroachJobIds.push(col(restored, 'job_id'));
    expect(await databaseFingerprints(root, 'bank_restored')).toEqual(bankFingerprints);

    // Table restore: RESTORE on the database the table goes into.
    await root.execute('DROP TABLE bank.accounts');
    const table = await queryOne(maxroach, `RESTORE TABLE bank.accounts FROM LATEST IN '${COLLECTION}'`);
    expect(col(table, 'status')).toBe('succeeded');
    maxroachJobIds.push(col(table, 'job_id'));
    expect(await databaseFingerprints(root, 'bank')).toEqual(bankFingerprints);

    // The jobs belong to the user who ran the statements.
    const jobs = await query(root, "SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'RESTORE'");
    expect(jobs.filter((j) => maxroachJobIds.includes(col(j, 'job_id'))).map((j) => j['user_name'])).toEqual([USER, USER]);
  });

  it('BACKUP DATABASE needs BACKUP on the database, a table backup SELECT on the table', async () => {
    expect(await refused(maxroach, `BACKUP DATABASE bank INTO 'nodelocal://1/mine'`)).toBe('user maxroach does not have BACKUP privilege on database bank');
    await root.execute(`GRANT BACKUP ON DATABASE bank TO ${USER}`);
    const backup = await queryOne(maxroach, `BACKUP DATABASE bank INTO 'nodelocal://1/mine'`);
    expect(col(backup, 'status')).toBe('succeeded');
    maxroachJobIds.push(col(backup, 'job_id'));

    expect(await refused(maxroach, `BACKUP TABLE bank.customers INTO 'nodelocal://1/customers'`)).toBe(
      'user maxroach does not have SELECT privilege on relation customers',
    );
    await root.execute(`GRANT SELECT ON TABLE bank.customers TO ${USER}`);
    const tableBackup = await queryOne(maxroach, `BACKUP TABLE bank.customers INTO 'nodelocal://1/customers'`);
    expect(col(tableBackup, 'status')).toBe('succeeded');
    maxroachJobIds.push(col(tableBackup, 'job_id'));
    expect(await countRows(maxroach, 'bank.customers')).toBe(20);

    const tableGrants = await root.execute(`SHOW GRANTS ON TABLE bank.customers FOR ${USER}`);
    expect(tableGrants.columns).toEqual(['database_name', 'schema_name', 'table_name', 'grantee', 'privilege_type', 'is_grantable']);
    expect(tableGrants.rows).toEqual([['bank', 'public', 'customers', USER, 'SELECT', 'false']]);
    const all = await root.execute(`SHOW GRANTS FOR ${USER}`);
    expect(all.columns).toEqual(['database_name', 'schema_name', 'object_name', 'object_type', 'grantee', 'privilege_type', 'is_grantable']);
    expect(all.rows).toEqual([
      ['bank', null, null, 'database', USER, 'BACKUP', 'false'],
      ['bank', null, null, 'database', USER, 'RESTORE', 'false'],
      ['bank', 'public', 'customers', 'table', USER, 'SELECT', 'false'],
    ]);
  });

  it('SHOW JOBS lists only the user\'s own jobs, also through a standby; others\' jobs are out of reach', async () => {
    const own = await query(maxroach, 'SHOW JOBS');
    expect(own.map((j) => col(j, 'job_id')).sort()).toEqual([...maxroachJobIds].sort());
    expect(new Set(own.map((j) => j['user_name']))).toEqual(new Set([USER]));
    // root (an admin) sees every job, maxroach's included.
    const everything = (await query(root, 'SHOW JOBS')).map((j) => col(j, 'job_id'));
    expect(everything).toEqual(expect.arrayContaining([rootJobId, ...maxroachJobIds]));

    expect(await refused(maxroach, `PAUSE JOB ${rootJobId}`)).toBe(`user maxroach does not have privileges for job ${rootJobId}`);
    expect((await maxroach.execute(`SHOW JOB ${rootJobId}`)).rows).toEqual([]);
    expect((await maxroach.execute(`SHOW JOB ${maxroachJobIds[0]!}`)).rows).toHaveLength(1);

    // A standby forwards the statement to the leader with its user.
    const leader = await leaderCoordinator(cluster);
    const standby = cluster.coordinators.find((c) => c !== leader);
    if (standby === undefined) throw new Error('no standby coordinator');
    const viaStandby = clientAs(USER, [reportedAddress(standby, 'grpc')]);
    expect((await query(viaStandby, 'SHOW JOBS')).map((j) => col(j, 'job_id')).sort()).toEqual([...maxroachJobIds].sort());
    expect(await refused(viaStandby, `PAUSE JOB ${rootJobId}`)).toBe(`user maxroach does not have privileges for job ${rootJobId}`);
  });

  it('keeps users and grants across a SIGKILL of the leader coordinator', async () => {
    const leader = await leaderCoordinator(cluster);
    await leader.kill();
    // The survivor takes the lease; the grants come from the replicated metadata.
    expect((await maxroach.execute(`SHOW BACKUPS IN '${COLLECTION}'`)).rows).toHaveLength(1);
    expect(await countRows(maxroach, 'bank.customers')).toBe(20);
    expect((await root.execute(`SHOW SYSTEM GRANTS FOR ${USER}`)).rows).toEqual([
      [USER, 'EXTERNALIOIMPLICITACCESS', 'false'],
      [USER, 'RESTORE', 'false'],
    ]);
    expect((await root.execute('SHOW USERS')).rows).toEqual([
      ['admin', '{}', '{}'],
      [USER, '{}', '{}'],
      ['root', '{}', '{admin}'],
    ]);
  });

  it('REVOKE takes the privileges away', async () => {
    expect((await root.execute(`REVOKE SYSTEM RESTORE FROM ${USER}`)).tag).toBe('REVOKE');
    await root.execute(`REVOKE BACKUP, RESTORE ON DATABASE bank FROM ${USER}`);
    expect((await root.execute('SHOW SYSTEM GRANTS')).rows).toEqual([[USER, 'EXTERNALIOIMPLICITACCESS', 'false']]);
    expect((await root.execute(`SHOW GRANTS ON DATABASE bank FOR ${USER}`)).rows).toEqual([]);
    expect(await refused(maxroach, `RESTORE DATABASE bank FROM LATEST IN '${COLLECTION}' WITH new_db_name = 'bank3'`)).toMatch(
      /user maxroach does not have RESTORE system privilege$/,
    );
    expect(await refused(maxroach, `BACKUP DATABASE bank INTO 'nodelocal://1/mine'`)).toBe('user maxroach does not have BACKUP privilege on database bank');
    // SELECT on the table was not revoked.
    expect(await countRows(maxroach, 'bank.customers')).toBe(20);
  });

  it('admin membership lifts the checks; schedules run as their owner; DROP USER waits for what depends on it', async () => {
    await root.execute(`GRANT admin TO ${USER}`);
    expect((await root.execute('SHOW USERS')).rows).toContainEqual([USER, '{}', '{admin}']);
    await maxroach.execute('CREATE DATABASE scratch');
    expect((await query(maxroach, 'SHOW JOBS')).map((j) => col(j, 'job_id'))).toContain(rootJobId);

    // A schedule belongs to its creator, and the scheduler starts its backups as that user.
    const created = await queryOne(
      maxroach,
      `CREATE SCHEDULE mine FOR BACKUP DATABASE bank INTO 'nodelocal://1/scheduled' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'`,
    );
    const scheduleId = col(created, 'schedule_id');
    expect(col(await queryOne(root, `SHOW SCHEDULE ${scheduleId}`), 'owner')).toBe(USER);
    const scheduled = await waitFor(async () => (await query(root, `SHOW JOBS FOR SCHEDULE ${scheduleId}`))[0], {
      what: `a job of schedule ${scheduleId}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(scheduled['user_name']).toBe(USER);
    await waitForJobStatus(root, col(scheduled, 'job_id'), ['succeeded']);
    await root.execute(`REVOKE admin FROM ${USER}`);
    expect((await query(maxroach, 'SHOW JOBS')).map((j) => col(j, 'job_id'))).toContain(col(scheduled, 'job_id'));
    // Its owner may pause it without the admin role (CockroachDB 22.2+); see cluster-contents.test.ts.
    expect((await maxroach.execute(`PAUSE SCHEDULE ${scheduleId}`)).tag).toMatch(/^PAUSE SCHEDULES? 1$/);
    expect(await refused(maxroach, 'CREATE DATABASE scratch2')).toBe('only users with the admin role are allowed to run CREATE DATABASE');

    await root.execute(`GRANT BACKUP ON DATABASE scratch TO ${USER}`);
    expect((await root.execute(`SHOW GRANTS ON DATABASE scratch FOR ${USER}`)).rows).toEqual([['scratch', USER, 'BACKUP', 'false']]);
    await root.execute('DROP DATABASE scratch');
    await root.execute('CREATE DATABASE scratch');
    expect((await root.execute(`SHOW GRANTS ON DATABASE scratch FOR ${USER}`)).rows).toEqual([]);

    const password = await failure(root, "CREATE USER carl WITH PASSWORD 'secret'");
    expect(password.code).toBe('FEATURE_NOT_SUPPORTED');
    expect(password.message).toBe('setting or updating a password is not supported in insecure mode');
    expect((await failure(root, `GRANT SYSTEM RESTORE TO carl`)).message).toBe('role/user "carl" does not exist');
    expect((await failure(root, `GRANT INSERT ON DATABASE bank TO ${USER}`)).message).toBe('invalid privilege type INSERT for database');

    const busy = await failure(root, `DROP USER ${USER}`);
    expect(busy.code).toBe('FAILED_PRECONDITION');
    expect(busy.message).toBe(
      `role maxroach cannot be dropped because some objects depend on it: system privileges, privileges for table bank.customers, owner of schedule ${scheduleId}`,
    );
    await root.execute(`REVOKE ALL ON TABLE bank.customers FROM ${USER}`);
    await root.execute(`REVOKE SYSTEM EXTERNALIOIMPLICITACCESS FROM ${USER}`);
    await root.execute(`DROP SCHEDULE ${scheduleId}`);
    expect((await root.execute(`DROP USER ${USER}`)).tag).toBe('DROP ROLE');
    expect(await refused(maxroach, 'SHOW DATABASES')).toBe('role/user "maxroach" does not exist');
  });
});
