/**
 * What a full-cluster backup holds and who may take one, end to end: two 3-node clusters of
 * real processes, each on its own nats-server, backing up to one s3rver and to a directory
 * both reach (`file://`).
 *
 * - Storage privileges as CockroachDB checks them: a non-admin with only SELECT cannot BACKUP
 *   to `external://conn-foo` without USAGE on it, nor to `nodelocal://` without
 *   EXTERNALIOIMPLICITACCESS, nor CREATE EXTERNAL CONNECTION without EXTERNALCONNECTION;
 *   GRANT / REVOKE / SHOW GRANTS ON EXTERNAL CONNECTION 'conn-foo'.
 * - Schedules: a user with the BACKUP privilege creates one; its owner pauses, resumes, alters
 *   it; another user sees none of it and is refused; SHOW SCHEDULES [FOR BACKUP] and SHOW
 *   CREATE SCHEDULE print it as CockroachDB does.
 * - One redactor: a secret in a storage URI shows in no SHOW JOBS, SHOW SCHEDULES, SHOW
 *   EXTERNAL CONNECTIONS row, error or process log.
 * - Zone configurations: a table whose gc.ttlseconds is 1 is collected while its neighbours
 *   (their database's TTL) are not.
 * - A cluster backup restored onto the empty second cluster, which then has the same users,
 *   role members, grants, schedules (paused), settings, external connections and zone
 *   configurations, and the schema but not the rows of a table excluded from backups.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, startS3Server, waitFor, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';
import { col, countRows, failure, query, queryOne, wallClockTimestamp } from './support/backup.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
/** s3rver takes any secret; this one is found wherever it leaks. */
const SECRET = 'cairn-e2e-Contents-Secret-52ab';
const BUCKET = 'contents';

let natsA: NatsServerHandle;
let natsB: NatsServerHandle;
let s3: S3ServerHandle;
let clusterA: ProcessCluster;
let clusterB: ProcessCluster;
/** A directory both clusters' processes reach: the cluster backup goes there. */
let shared: string;
const clients: CairnClient[] = [];

function clientOf(cluster: ProcessCluster, user = 'root'): CairnClient {
  const c = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000, user });
  clients.push(c);
  return c;
}

let rootA: CairnClient;
let rootB: CairnClient;
let maxroach: CairnClient;
let sel: CairnClient;

/** An s3rver URI with the distinctive secret in it. */
function s3Uri(path: string): string {
  const uri = s3.uri(BUCKET, path);
  return uri.replace(`AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`, `AWS_SECRET_ACCESS_KEY=${SECRET}`);
}

/** The statement fails with INSUFFICIENT_PRIVILEGE; returns its message. */
async function refused(client: CairnClient, statement: string): Promise<string> {
  const err = await failure(client, statement);
  expect(err.code, `${statement}: ${err.message}`).toBe('INSUFFICIENT_PRIVILEGE');
  return err.message;
}

beforeAll(async () => {
  [natsA, natsB, s3] = await Promise.all([startNatsServer(), startNatsServer(), startS3Server({ buckets: [BUCKET] })]);
  [clusterA, clusterB] = await Promise.all([
    ProcessCluster.start({ nats: natsA.url, coordinators: 1, nodes: LOCALITIES.map((locality) => ({ locality })) }),
    ProcessCluster.start({ nats: natsB.url, coordinators: 1, nodes: LOCALITIES.map((locality) => ({ locality })) }),
  ]);
  shared = await mkdtemp(join(tmpdir(), 'cairn-contents-'));
  rootA = clientOf(clusterA);
  rootB = clientOf(clusterB);
  for (const statement of [
    `SET CLUSTER SETTING kv.gc.interval = '200ms'`,
    `SET CLUSTER SETTING bulkio.backup.file_size = '8MiB'`,
    'CREATE DATABASE bank',
    'CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance INT)',
    `INSERT INTO bank.accounts VALUES ${Array.from({ length: 40 }, (_, i) => `(${i}, ${i * 10})`).join(', ')}`,
    'CREATE TABLE bank.secrets (id INT PRIMARY KEY, token STRING)',
    `INSERT INTO bank.secrets VALUES ${Array.from({ length: 10 }, (_, i) => `(${i}, 'token ${i}')`).join(', ')}`,
    'ALTER TABLE bank.secrets SET (exclude_data_from_backup = true)',
    'CREATE TABLE bank.churn (id INT PRIMARY KEY, v INT)',
    'INSERT INTO bank.churn VALUES (1, 0)',
    'ALTER DATABASE bank CONFIGURE ZONE USING gc.ttlseconds = 7200',
    'ALTER TABLE bank.accounts CONFIGURE ZONE USING gc.ttlseconds = 600',
    'ALTER TABLE bank.churn CONFIGURE ZONE USING gc.ttlseconds = 1',
    'CREATE USER maxroach',
    'CREATE USER sel',
    'CREATE USER carl',
    'GRANT admin TO carl',
    'GRANT SELECT ON TABLE bank.accounts TO maxroach, sel',
    'GRANT BACKUP ON DATABASE bank TO maxroach',
    'GRANT SYSTEM RESTORE TO maxroach',
    `CREATE EXTERNAL CONNECTION 'conn-foo' AS 'file://${shared}/conn'`,
    `GRANT USAGE ON EXTERNAL CONNECTION 'conn-foo' TO maxroach`,
    `CREATE EXTERNAL CONNECTION 'conn-s3' AS '${s3Uri('via-connection')}'`,
  ]) {
    await rootA.execute(statement);
  }
  maxroach = clientOf(clusterA, 'maxroach');
  sel = clientOf(clusterA, 'sel');
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([clusterA?.stop(), clusterB?.stop()]);
  await Promise.all([natsA?.stop(), natsB?.stop(), s3?.stop()]);
});

describe('storage privileges (CockroachDB cloudprivilege)', () => {
  it('a non-admin with only SELECT needs USAGE for external://, EXTERNALIOIMPLICITACCESS for nodelocal://', async () => {
    const jobsBefore = (await query(rootA, 'SHOW JOBS')).length;
    expect(await refused(sel, `BACKUP TABLE bank.accounts INTO 'external://conn-foo/sel'`)).toBe(
      'user sel does not have USAGE privilege on external_connection conn-foo',
    );
    expect(await refused(sel, `BACKUP TABLE bank.accounts INTO 'nodelocal://1/sel'`)).toBe(
      'only users with the admin role or the EXTERNALIOIMPLICITACCESS system privilege are allowed to access the specified nodelocal URI',
    );
    expect(await refused(sel, `CREATE EXTERNAL CONNECTION 'mine' AS '${s3Uri('mine')}'`)).toBe(
      'only users with the EXTERNALCONNECTION system privilege are allowed to CREATE EXTERNAL CONNECTION',
    );
    expect(await refused(sel, `DROP EXTERNAL CONNECTION 'conn-foo'`)).toBe('user sel does not have DROP privilege on external_connection conn-foo');
    expect((await query(rootA, 'SHOW JOBS')).length).toBe(jobsBefore);

    // USAGE on the connection is what it takes (SELECT it has): the backup runs, as sel.
    await rootA.execute(`GRANT USAGE ON EXTERNAL CONNECTION 'conn-foo' TO sel`);
    const backup = await queryOne(sel, `BACKUP TABLE bank.accounts INTO 'external://conn-foo/sel'`);
    expect(col(backup, 'status')).toBe('succeeded');
    expect(col(await queryOne(rootA, `SHOW JOB ${col(backup, 'job_id')}`), 'user_name')).toBe('sel');

    const grants = await rootA.execute(`SHOW GRANTS ON EXTERNAL CONNECTION 'conn-foo'`);
    expect(grants.columns).toEqual(['connection_name', 'grantee', 'privilege_type', 'is_grantable']);
    expect(grants.rows).toEqual([
      ['conn-foo', 'admin', 'ALL', 'true'],
      ['conn-foo', 'maxroach', 'USAGE', 'false'],
      ['conn-foo', 'root', 'ALL', 'true'],
      ['conn-foo', 'sel', 'USAGE', 'false'],
    ]);
    expect((await sel.execute(`SHOW GRANTS ON EXTERNAL CONNECTION 'conn-foo' FOR sel`)).rows).toEqual([['conn-foo', 'sel', 'USAGE', 'false']]);
    await rootA.execute(`REVOKE USAGE ON EXTERNAL CONNECTION 'conn-foo' FROM sel`);
    expect(await refused(sel, `BACKUP TABLE bank.accounts INTO 'external://conn-foo/sel2'`)).toMatch(/does not have USAGE privilege/);
    expect((await failure(rootA, `GRANT USAGE ON EXTERNAL CONNECTION 'nope' TO sel`)).message).toBe('external connection with name nope does not exist');
    expect((await failure(rootA, `GRANT USAGE ON DATABASE bank TO sel`)).message).toBe('invalid privilege type USAGE for database');
    // SHOW EXTERNAL CONNECTION names one (CockroachDB's columns); an unknown name is an error.
    const one = await rootA.execute(`SHOW EXTERNAL CONNECTION 'conn-foo'`);
    expect(one.columns).toEqual(['connection_name', 'connection_uri', 'connection_type']);
    expect(one.rows).toEqual([['conn-foo', `file://${shared}/conn`, 'STORAGE']]);
    expect((await failure(rootA, `SHOW EXTERNAL CONNECTION 'nope'`)).message).toBe('external connection with name nope does not exist');
  });
});

describe('schedules: created with the BACKUP privilege, controlled by their owner', () => {
  let incId: string;
  let fullId: string;

  it('a user who may run the BACKUP may schedule it; others are refused', async () => {
    expect(await refused(sel, `CREATE SCHEDULE nope FOR BACKUP DATABASE bank INTO 'external://conn-foo/nope' RECURRING '@hourly'`)).toBe(
      'user sel does not have BACKUP privilege on database bank',
    );
    const created = await query(
      maxroach,
      `CREATE SCHEDULE maxsched FOR BACKUP DATABASE bank INTO 'external://conn-foo/sched' RECURRING '@hourly' WITH SCHEDULE OPTIONS first_run = '2099-01-01 00:00:00'`,
    );
    expect(created.map((r) => [r['label'], r['schedule']])).toEqual([
      ['maxsched', '@hourly'],
      ['maxsched', '@daily'],
    ]);
    [incId, fullId] = created.map((r) => col(r, 'schedule_id')) as [string, string];
    expect(col(await queryOne(rootA, `SHOW SCHEDULE ${fullId}`), 'owner')).toBe('maxroach');
  });

  it('its owner pauses, resumes and alters it; another user sees none of it and is refused', async () => {
    expect((await maxroach.execute(`PAUSE SCHEDULE ${fullId}`)).tag).toBe('PAUSE SCHEDULES 1');
    expect(col(await queryOne(maxroach, `SHOW SCHEDULE ${fullId}`), 'schedule_status')).toBe('PAUSED');
    expect((await maxroach.execute(`RESUME SCHEDULE ${fullId}`)).tag).toBe('RESUME SCHEDULES 1');
    await maxroach.execute(`ALTER BACKUP SCHEDULE ${fullId} SET LABEL 'maxsched2'`);
    // What the owner alters it into must be a BACKUP the owner may run.
    expect(await refused(maxroach, `ALTER BACKUP SCHEDULE ${fullId} SET INTO 'nodelocal://1/elsewhere'`)).toBe(
      'only users with the admin role or the EXTERNALIOIMPLICITACCESS system privilege are allowed to access the specified nodelocal URI',
    );
    expect((await query(maxroach, 'SHOW SCHEDULES')).map((r) => r['label'])).toEqual(['maxsched2', 'maxsched2']);

    expect(await query(sel, 'SHOW SCHEDULES')).toEqual([]);
    expect(await query(sel, 'SHOW CREATE ALL SCHEDULES')).toEqual([]);
    for (const [statement, action] of [
      [`PAUSE SCHEDULE ${fullId}`, 'pause'],
      [`RESUME SCHEDULE ${incId}`, 'resume'],
      [`DROP SCHEDULE ${fullId}`, 'drop'],
    ] as const) {
      expect(await refused(sel, statement)).toMatch(new RegExp(`^user sel must be a member of the admin role or the owner of schedule \\d+ to ${action} it$`));
    }
    expect(await refused(sel, `ALTER BACKUP SCHEDULE ${fullId} SET LABEL 'mine'`)).toBe(
      `user sel must be a member of the admin role or the owner of schedule ${fullId} to alter it`,
    );
    // An admin sees and controls every schedule.
    const carl = clientOf(clusterA, 'carl');
    expect((await query(carl, 'SHOW SCHEDULES')).map((r) => r['id'])).toEqual(expect.arrayContaining([incId, fullId]));
  });

  it('SHOW SCHEDULES [FOR BACKUP] and SHOW CREATE SCHEDULE print it as CockroachDB does', async () => {
    const forBackup = await rootA.execute('SHOW SCHEDULES FOR BACKUP');
    expect(forBackup.columns).toEqual([
      'id',
      'label',
      'schedule_status',
      'next_run',
      'state',
      'recurrence',
      'jobsrunning',
      'owner',
      'created',
      'command',
      'backup_type',
      'on_previous_running',
      'on_execution_failure',
    ]);
    const rows = await query(rootA, 'SHOW SCHEDULES FOR BACKUP');
    const mine = rows.filter((r) => r['label'] === 'maxsched2').map((r) => [r['command'], r['backup_type'], r['on_previous_running'], r['on_execution_failure']]);
    expect(mine).toEqual([
      ["BACKUP DATABASE bank INTO LATEST IN 'external://conn-foo/sched' WITH OPTIONS (detached)", 'INCREMENTAL', 'WAIT', 'RETRY_SCHED'],
      ["BACKUP DATABASE bank INTO 'external://conn-foo/sched' WITH OPTIONS (detached)", 'FULL', 'WAIT', 'RETRY_SCHED'],
    ]);
    const plain = await queryOne(rootA, `SHOW SCHEDULE ${fullId}`);
    expect(JSON.parse(col(plain, 'command'))).toMatchObject({
      backup_statement: "BACKUP DATABASE bank INTO 'external://conn-foo/sched' WITH OPTIONS (detached)",
      backup_type: 'FULL',
    });
    const create = await rootA.execute(`SHOW CREATE SCHEDULE ${incId}`);
    expect(create.columns).toEqual(['schedule_id', 'create_statement']);
    expect(create.rows).toEqual([
      [
        incId,
        "CREATE SCHEDULE 'maxsched2' FOR BACKUP DATABASE bank INTO 'external://conn-foo/sched' WITH OPTIONS (detached) RECURRING '@hourly' " +
          "FULL BACKUP '@daily' WITH SCHEDULE OPTIONS on_execution_failure = 'reschedule', on_previous_running = 'wait'",
      ],
    ]);
    const all = await query(rootA, 'SHOW CREATE ALL SCHEDULES');
    expect(all.map((r) => r['schedule_id'])).toEqual(expect.arrayContaining([incId, fullId]));
  });
});

describe('one redactor for every output', () => {
  it('shows a storage secret in no row, error or log', async () => {
    // A real job and a schedule with the secret in their URIs, and an error quoting one.
    const job = await queryOne(rootA, `BACKUP TABLE bank.accounts INTO '${s3Uri('direct')}'`);
    expect(col(job, 'status')).toBe('succeeded');
    expect(col(await queryOne(rootA, `BACKUP TABLE bank.accounts INTO 'external://conn-s3'`), 'status')).toBe('succeeded');
    await rootA.execute(`CREATE SCHEDULE s3sched FOR BACKUP TABLE bank.accounts INTO '${s3Uri('sched')}' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = '2099-01-01 00:00:00'`);
    const badParam = await failure(rootA, `BACKUP TABLE bank.accounts INTO '${s3Uri('bad')}&AWS_ACCESS_KEY_ID=twice'`);
    expect(badParam.code).toBe('INVALID_ARGUMENT');
    expect(badParam.message).toContain('AWS_SECRET_ACCESS_KEY=redacted');

    const outputs: Array<[string, string]> = [
      ['SHOW JOBS', JSON.stringify(await query(rootA, 'SHOW JOBS'))],
      ['SHOW SCHEDULES', JSON.stringify(await query(rootA, 'SHOW SCHEDULES'))],
      ['SHOW SCHEDULES FOR BACKUP', JSON.stringify(await query(rootA, 'SHOW SCHEDULES FOR BACKUP'))],
      ['SHOW CREATE ALL SCHEDULES', JSON.stringify(await query(rootA, 'SHOW CREATE ALL SCHEDULES'))],
      ['SHOW EXTERNAL CONNECTIONS', JSON.stringify(await query(rootA, 'SHOW EXTERNAL CONNECTIONS'))],
      ['error', badParam.message],
      ...clusterA.all().map((p): [string, string] => [`${p.name} output`, p.logs()]),
    ];
    for (const [what, text] of outputs) expect(text, what).not.toContain(SECRET);
    expect(outputs[4]![1]).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(outputs[0]![1]).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    // The stored schedule still holds the secret: its backups must reach the bucket.
    await rootA.execute(`DROP SCHEDULE ${col((await query(rootA, 'SHOW SCHEDULES')).find((r) => r['label'] === 's3sched')!, 'id')}`);
  });
});

describe('zone configurations', () => {
  it('a table with gc.ttlseconds = 1 is collected by its own TTL; its neighbours keep their history', async () => {
    expect(await query(rootA, 'SHOW ZONE CONFIGURATION FROM TABLE bank.churn')).toEqual([
      { target: 'TABLE bank.churn', raw_config_sql: 'ALTER TABLE bank.churn CONFIGURE ZONE USING gc.ttlseconds = 1' },
    ]);
    expect(await query(rootA, 'SHOW ZONE CONFIGURATION FROM TABLE bank.secrets')).toEqual([
      { target: 'DATABASE bank', raw_config_sql: 'ALTER DATABASE bank CONFIGURE ZONE USING gc.ttlseconds = 7200' },
    ]);
    const before = wallClockTimestamp();
    let v = 0;
    const err = await waitFor(
      async () => {
        // Writes move the cluster's time, and with it each node's GC threshold.
        await rootA.execute(`UPDATE bank.churn SET v = ${++v} WHERE id = 1`);
        return rootA.execute(`SELECT count(*) FROM bank.churn AS OF SYSTEM TIME '${before}'`).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      },
      { what: 'bank.churn collected below its 1 s TTL', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(err.message).toMatch(/GC threshold/);
    // The setting (4 h) and bank's 600 s keep the rest readable at that time.
    expect((await rootA.execute(`SELECT count(*) FROM bank.accounts AS OF SYSTEM TIME '${before}'`)).rows).toEqual([['40']]);
  });
});

describe('a full-cluster backup restored onto an empty cluster', () => {
  it('brings the users, grants, schedules, settings, external connections and zone configurations', async () => {
    const collection = `file://${shared}/cluster`;
    expect(col(await queryOne(rootA, `BACKUP INTO '${collection}'`), 'status')).toBe('succeeded');
    const restored = await queryOne(rootB, `RESTORE FROM LATEST IN '${collection}'`);
    expect(col(restored, 'status')).toBe('succeeded');

    const same = async (sql: string) => expect(await query(rootB, sql), sql).toEqual(await query(rootA, sql));
    await same('SHOW USERS');
    await same('SHOW SYSTEM GRANTS');
    await same('SHOW GRANTS ON DATABASE bank');
    await same('SHOW GRANTS ON TABLE bank.*');
    await same(`SHOW GRANTS ON EXTERNAL CONNECTION 'conn-foo', 'conn-s3'`);
    await same('SHOW EXTERNAL CONNECTIONS');
    await same('SHOW CLUSTER SETTING bulkio.backup.file_size');
    await same('SHOW CLUSTER SETTING kv.gc.interval');
    for (const t of ['accounts', 'secrets', 'churn']) await same(`SHOW ZONE CONFIGURATION FROM TABLE bank.${t}`);
    await same('SHOW CREATE ALL SCHEDULES');

    // Schedules come back with their ids, owners, cadence and statements, paused: the old
    // cluster may still write the same collection.
    const key = (r: Record<string, string | null>) => [r['id'], r['label'], r['owner'], r['recurrence'], r['command']];
    const schedulesA = await query(rootA, 'SHOW SCHEDULES');
    const schedulesB = await query(rootB, 'SHOW SCHEDULES');
    expect(schedulesB.map(key)).toEqual(schedulesA.map(key));
    expect(schedulesB.length).toBeGreaterThan(0);
    for (const s of schedulesB) {
      expect(s['schedule_status']).toBe('PAUSED');
      expect(s['next_run']).toBeNull();
      expect(s['state']).toMatch(/^paused by a cluster restore/);
    }

    // Data: accounts whole; secrets' schema without its rows (exclude_data_from_backup).
    expect(await countRows(rootB, 'bank.accounts')).toBe(40);
    expect(await countRows(rootB, 'bank.secrets')).toBe(0);
    expect(await countRows(rootA, 'bank.secrets')).toBe(10);

    // The grants act on the restored objects: maxroach reads and backs up there as here.
    const maxroachB = clientOf(clusterB, 'maxroach');
    expect(await countRows(maxroachB, 'bank.accounts')).toBe(40);
    expect(col(await queryOne(maxroachB, `BACKUP DATABASE bank INTO 'external://conn-foo/from-b'`), 'status')).toBe('succeeded');
    // The restored connection points where it did: the backup is in the shared directory.
    expect(await readdir(join(shared, 'conn', 'from-b'))).toContain('metadata');
    const selB = clientOf(clusterB, 'sel');
    expect(await refused(selB, `BACKUP TABLE bank.accounts INTO 'external://conn-foo/sel-b'`)).toMatch(/does not have USAGE privilege/);
  });
});
