/**
 * JobService over real gRPC on a cluster of real processes: two coordinators (the calls go
 * to the standby too, which forwards them, WatchJob's stream included), three nodes, one
 * nats-server. 2,500 finished jobs are stored before the cluster starts, so ListJobs pages
 * over what a new leader loads.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BackupType, CairnClient, errorInfoOf, JobStatus, JobType, ScheduleStatus, type Job, type Schedule, type WatchJobResponse } from '@cairn/client';
import { CairnError, ErrorCode } from '@cairn/errors';
import { EMPTY_PROGRESS, JobStore, type Job as StoredJob } from '@cairn/jobs';
import { JobServiceClient, SqlServiceClient } from '@cairn/proto';
import { ProcessCluster, startNatsServer, waitFor, type ManagedProcess, type NatsServerHandle } from '@cairn/testing';
import { col, loadTable, queryOne } from './support/backup.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { lines, runCli } from './support/cli.js';

const SEEDED = 2500;
/** Of the seeded jobs, every fifth belongs to maxroach. */
const SEEDED_FOR_MAXROACH = SEEDED / 5;
/** One seeded job in this many was started by a schedule (SEEDED_SCHEDULE_ID). */
const SCHEDULED_EVERY = 100;
const SEEDED_SCHEDULE_ID = '1012345678901234567';
/** The oldest seeded job's id, as stored: above 2^53, so only an exact 64-bit path keeps it. */
let firstSeededId = '';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let leader: ManagedProcess;
let standby: ManagedProcess;
const clients: CairnClient[] = [];

function client(addresses: string[], user = 'root'): CairnClient {
  const c = new CairnClient({ addresses, user, retryForMs: 30_000 });
  clients.push(c);
  return c;
}

/** Stores `n` succeeded BACKUP jobs created an hour ago, as an earlier leader would have. */
async function seedJobs(nc: NatsConnection, n: number): Promise<void> {
  const store = await JobStore.open(nc);
  const baseMs = Date.now() - 3_600_000;
  const jobs: StoredJob[] = [];
  for (let i = 0; i < n; i++) {
    const createdAtMs = baseMs + i;
    jobs.push({
      id: String((BigInt(createdAtMs) << 15n) | BigInt(i % 32768)),
      spec: {
        type: 'BACKUP',
        description: `BACKUP DATABASE seeded${i} INTO 'nodelocal://1/seeded'`,
        statement: '',
        userName: i % 5 === 0 ? 'maxroach' : 'root',
        createdAtMs,
        scheduleId: i % SCHEDULED_EVERY === 1 ? SEEDED_SCHEDULE_ID : null,
        payload: new Uint8Array(0),
      },
      progress: { ...EMPTY_PROGRESS, fractionCompleted: 1 },
      status: 'succeeded',
      error: null,
      revertOutcome: null,
      startedAtMs: createdAtMs,
      finishedAtMs: createdAtMs + 10,
      modifiedAtMs: createdAtMs + 10,
      coordinatorId: 'seed',
      claimSessionId: null,
      retryCount: 0,
      nextRetryAtMs: null,
      lastRetryError: null,
    });
  }
  for (let i = 0; i < jobs.length; i += 200) await Promise.all(jobs.slice(i, i + 200).map((j) => store.create(j)));
  firstSeededId = jobs[0]!.id;
}

/** The raw gRPC error of a JobService call, to look at its status and trailers. */
async function rawJobError(address: string, call: (c: JobServiceClient, cb: (err: ServiceError | null) => void) => void): Promise<ServiceError> {
  const c = new JobServiceClient(address, credentials.createInsecure());
  try {
    return await new Promise<ServiceError>((resolve, reject) =>
      call(c, (err) => (err ? resolve(err) : reject(new Error('the call succeeded; an error was expected')))),
    );
  } finally {
    c.close();
  }
}

async function detachedJob(c: CairnClient, sql: string): Promise<string> {
  const r = await c.execute(sql.includes(' WITH ') ? `${sql}, detached` : `${sql} WITH detached`);
  const id = r.rows[0]?.[0];
  if (!id) throw new Error(`no job id from ${sql}: ${JSON.stringify(r)}`);
  return id;
}

async function waitForStatus(c: CairnClient, id: string, want: JobStatus, timeoutMs = 60_000): Promise<Job> {
  return waitFor(
    async () => {
      const j = await c.getJob(id);
      return j.status === want ? j : undefined;
    },
    { what: `job ${id} ${JobStatus[want]}`, timeoutMs, intervalMs: 50 },
  );
}

beforeAll(async () => {
  nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  try {
    await seedJobs(nc, SEEDED);
  } finally {
    await nc.close();
  }
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 2,
    nodes: [
      { locality: 'region=us-east1,zone=us-east1-b' },
      { locality: 'region=us-west1,zone=us-west1-a' },
      { locality: 'region=eu-west1,zone=eu-west1-c' },
    ],
  });
  leader = await leaderCoordinator(cluster);
  standby = cluster.coordinators.find((c) => c !== leader)!;
  const root = client([reportedAddress(leader, 'grpc')]);
  await waitFor(async () => (await root.execute('SHOW DATABASES').then(() => true, () => undefined)), { what: 'a ready leader', timeoutMs: 30_000 });
  await root.execute('CREATE DATABASE bank');
  await loadTable(root, 'bank.accounts', 20_000, 200);
  await root.execute('CREATE USER maxroach');
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  await nats?.stop();
});

describe('JobService', () => {
  it('WatchJob through a standby streams a backup from its current state to success, with spans and bytes', async () => {
    const viaStandby = client([reportedAddress(standby, 'grpc')]);
    const id = await detachedJob(viaStandby, "BACKUP DATABASE bank INTO 'nodelocal://1/watched'");
    const updates: WatchJobResponse[] = [];
    for await (const u of viaStandby.watchJob(id)) updates.push(u);
    expect(updates.length).toBeGreaterThan(0);
    const last = updates.at(-1)!.job!;
    expect(String(last.jobId)).toBe(id);
    expect(last.status).toBe(JobStatus.SUCCEEDED);
    expect(last.jobType).toBe(JobType.BACKUP);
    expect(last.fractionCompleted).toBe(1);
    expect(last.spansTotal).toBeGreaterThan(0);
    expect(last.spansDone).toBe(last.spansTotal);
    expect(last.bytesDone).toBeGreaterThan(20_000n * 200n);
    expect(last.rowsDone).toBeGreaterThanOrEqual(20_000n);
    expect(last.created).toBeInstanceOf(Date);
    expect(last.finished!.getTime()).toBeGreaterThanOrEqual(last.created!.getTime());
    // Only the last message is terminal; fractions never go back.
    for (const u of updates.slice(0, -1)) expect([JobStatus.SUCCEEDED, JobStatus.FAILED]).not.toContain(u.job!.status);
    const fractions = updates.map((u) => u.job!.fractionCompleted);
    expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
  });

  it('PauseJob (with a reason), ResumeJob and CancelJob on a restore, as SHOW JOBS sees them', async () => {
    const root = client([reportedAddress(standby, 'grpc'), reportedAddress(leader, 'grpc')]);
    const first = await detachedJob(root, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/watched' WITH new_db_name = 'bank_paused'");
    const paused = await root.pauseJob(first, 'maintenance window');
    expect([JobStatus.PAUSE_REQUESTED, JobStatus.PAUSED]).toContain(paused.status);
    const p = await waitForStatus(root, first, JobStatus.PAUSED);
    expect(p.pauseReason).toBe('maintenance window');
    expect(col(await queryOne(root, `SHOW JOB ${first}`), 'status')).toBe('paused');
    // Pausing again changes nothing, as PAUSE JOB on a paused job.
    expect((await root.pauseJob(first)).status).toBe(JobStatus.PAUSED);

    const resumed = await root.resumeJob(first);
    expect(resumed.status).toBe(JobStatus.RUNNING);
    expect(resumed.pauseReason).toBe('');
    const done = await waitForStatus(root, first, JobStatus.SUCCEEDED);
    expect(done.rowsDone).toBeGreaterThanOrEqual(20_000n);
    expect(col(await queryOne(root, 'SELECT count(*) FROM bank_paused.accounts'), 'count')).toBe('20000');

    const second = await detachedJob(root, "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/watched' WITH new_db_name = 'bank_canceled'");
    await root.pauseJob(second);
    await waitForStatus(root, second, JobStatus.PAUSED);
    const canceled = await root.cancelJob(second);
    expect([JobStatus.CANCEL_REQUESTED, JobStatus.REVERTING, JobStatus.CANCELED]).toContain(canceled.status);
    await waitForStatus(root, second, JobStatus.CANCELED);
    expect(col(await queryOne(root, `SHOW JOB ${second}`), 'status')).toBe('canceled');
    // A canceled restore leaves no database behind.
    const dbs = await root.execute('SHOW DATABASES');
    expect(dbs.rows.map((r) => r[0])).not.toContain('bank_canceled');
    // And it cannot be resumed: the state machine's error, through the API.
    const err = await root.resumeJob(second).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.FailedPrecondition);
  });

  it('ListJobs pages over the 2,500 stored jobs newest first, with filters, through the standby', async () => {
    const root = client([reportedAddress(standby, 'grpc')]);
    const seen: bigint[] = [];
    let pages = 0;
    let token = '';
    do {
      const page = await root.listJobs({ pageSize: 100, pageToken: token });
      expect(page.jobs.length).toBeLessThanOrEqual(100);
      seen.push(...page.jobs.map((j) => j.jobId));
      token = page.nextPageToken;
      pages++;
    } while (token !== '');
    // The seeded jobs and the three this file started, each once, newest first.
    expect(seen.length).toBe(SEEDED + 3);
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 1; i < seen.length; i++) expect(seen[i]! < seen[i - 1]!).toBe(true);
    expect(pages).toBe(Math.ceil((SEEDED + 3) / 100));
    // 64-bit ids arrive exact: the oldest seeded id, above 2^53, is the last one listed.
    expect(BigInt(firstSeededId)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
    expect(seen.at(-1)).toBe(BigInt(firstSeededId));

    const ofSchedule = [];
    for await (const j of root.allJobs({ scheduleId: BigInt(SEEDED_SCHEDULE_ID), pageSize: 10 })) ofSchedule.push(j);
    expect(ofSchedule).toHaveLength(SEEDED / SCHEDULED_EVERY);
    expect(new Set(ofSchedule.map((j) => j.scheduleId))).toEqual(new Set([BigInt(SEEDED_SCHEDULE_ID)]));

    const restores = await root.listJobs({ jobTypes: [JobType.RESTORE], pageSize: 10 });
    expect(restores.jobs.map((j) => j.jobType)).toEqual([JobType.RESTORE, JobType.RESTORE]);
    expect(restores.nextPageToken).toBe('');
    const canceled = await root.listJobs({ statuses: [JobStatus.CANCELED] });
    expect(canceled.jobs).toHaveLength(1);
    const ofMaxroach = [];
    for await (const j of root.allJobs({ userName: 'maxroach', pageSize: 1000 })) ofMaxroach.push(j);
    expect(ofMaxroach).toHaveLength(SEEDED_FOR_MAXROACH);

    // A non-admin sees only its own jobs, as in SHOW JOBS.
    const maxroach = client([reportedAddress(standby, 'grpc')], 'maxroach');
    const own = [];
    for await (const j of maxroach.allJobs({ pageSize: 77 })) own.push(j);
    expect(own).toHaveLength(SEEDED_FOR_MAXROACH);
    expect(new Set(own.map((j) => j.userName))).toEqual(new Set(['maxroach']));
    const showJobs = await maxroach.execute('SHOW JOBS');
    expect(showJobs.rows).toHaveLength(SEEDED_FOR_MAXROACH);

    const bad = await root.listJobs({ pageToken: 'not-a-token' }).then(() => undefined, (e: unknown) => e as CairnError);
    expect(bad?.code).toBe(ErrorCode.InvalidArgument);
  });

  it('errors carry google.rpc.Status with ErrorInfo; a non-admin is refused with PERMISSION_DENIED', async () => {
    const address = reportedAddress(standby, 'grpc');
    const missing = await rawJobError(address, (c, cb) => c.getJob({ user: '', jobId: 42n }, cb));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(errorInfoOf(missing)).toMatchObject({ reason: 'NOT_FOUND', domain: 'cairn', metadata: { retryable: 'false' } });

    const [rootJob] = (await client([address]).listJobs({ userName: 'root', pageSize: 1 })).jobs;
    const denied = await rawJobError(address, (c, cb) => c.pauseJob({ user: 'maxroach', jobId: rootJob!.jobId, reason: '' }, cb));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(errorInfoOf(denied)).toMatchObject({ reason: 'INSUFFICIENT_PRIVILEGE', domain: 'cairn', metadata: { sqlstate: '42501' } });
    expect(denied.details).toMatch(/user maxroach does not have privileges for job/);
    // The client rebuilds the same CairnError; someone else's job reads as no job.
    const maxroach = client([address], 'maxroach');
    const e = await maxroach.cancelJob(rootJob!.jobId).then(() => undefined, (x: unknown) => x as CairnError);
    expect(e?.code).toBe(ErrorCode.InsufficientPrivilege);
    expect((await maxroach.getJob(rootJob!.jobId).then(() => undefined, (x: unknown) => x as CairnError))?.code).toBe(ErrorCode.NotFound);
    // BACKUP needs its grant through the API's SQL as through any statement.
    const backup = await maxroach.execute("BACKUP DATABASE bank INTO 'nodelocal://1/denied' WITH detached").then(() => undefined, (x: unknown) => x as CairnError);
    expect(backup?.code).toBe(ErrorCode.InsufficientPrivilege);

    // SqlService errors carry ErrorInfo too, with CockroachDB's SQLSTATE.
    const sql = new SqlServiceClient(address, credentials.createInsecure());
    const syntax = await new Promise<ServiceError>((resolve) =>
      sql.execute({ sql: 'SELEKT 1', database: '', user: '' }, new Metadata(), (err) => resolve(err!)),
    );
    sql.close();
    expect(syntax.code).toBe(status.INVALID_ARGUMENT);
    expect(errorInfoOf(syntax)).toMatchObject({ reason: 'SYNTAX_ERROR', domain: 'cairn', metadata: { sqlstate: '42601' } });
    expect(errorInfoOf(syntax)?.metadata['position']).toMatch(/^\d+$/);
  });

  it('cairn job list|show|pause|resume are thin commands over the service', async () => {
    const host = cluster.grpcAddresses().join(',');
    const root = client(cluster.grpcAddresses());
    const id = await detachedJob(root, "BACKUP DATABASE bank INTO 'nodelocal://1/cli'");
    // Paused at once through the API (a CLI process starts too slowly to catch a small backup).
    await root.pauseJob(id, 'from the API');
    await waitForStatus(root, id, JobStatus.PAUSED);
    const shown = await runCli(['job', 'show', id, '--host', host, '--format', 'json']);
    expect(shown.code).toBe(0);
    const [row] = JSON.parse(shown.stdout) as Array<Record<string, string>>;
    expect(row).toMatchObject({ job_id: id, job_type: 'BACKUP', status: 'paused', running_status: 'from the API' });
    // Pausing a paused job is a no-op, as PAUSE JOB.
    const paused = await runCli(['job', 'pause', id, '--host', host, '--reason', 'again', '--format', 'csv']);
    expect(paused.stderr).toBe('');
    expect(paused.code).toBe(0);
    expect(lines(paused.stdout)[1]).toMatch(new RegExp(`^${id},BACKUP,.*,paused,from the API,`));
    expect((await runCli(['job', 'resume', id, '--host', host])).code).toBe(0);
    const watched = await runCli(['job', 'watch', id, '--host', host, '--format', 'csv'], { timeoutMs: 120_000 });
    expect(watched.code).toBe(0);
    expect(lines(watched.stdout)[1]).toMatch(new RegExp(`^${id},BACKUP,.*,succeeded,`));
    const listed = await runCli(['job', 'list', '--host', host, '--type', 'backup', '--limit', '3', '--format', 'csv']);
    expect(listed.code).toBe(0);
    expect(lines(listed.stdout)).toHaveLength(4);
    expect(lines(listed.stdout)[1]).toMatch(new RegExp(`^${id},`));
    const refused = await runCli(['job', 'cancel', id, '--host', host, '--user', 'maxroach']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ERROR \(INSUFFICIENT_PRIVILEGE\)/);
    // And one that cancels: a paused backup, canceled from the CLI, ends canceled.
    const other = await detachedJob(root, "BACKUP DATABASE bank INTO 'nodelocal://1/cli-cancel'");
    await root.pauseJob(other);
    await waitForStatus(root, other, JobStatus.PAUSED);
    const canceled = await runCli(['job', 'cancel', other, '--host', host, '--format', 'csv']);
    expect(canceled.stderr).toBe('');
    expect(canceled.code).toBe(0);
    await waitForStatus(root, other, JobStatus.CANCELED);
  });

  it('a WatchJob whose leader is SIGKILLed keeps following the job on the new leader until it ends', async () => {
    const addresses = [reportedAddress(leader, 'grpc'), reportedAddress(standby, 'grpc')];
    const root = client(addresses);
    const id = await detachedJob(root, "BACKUP DATABASE bank INTO 'nodelocal://1/failover'");
    await root.pauseJob(id);
    await waitForStatus(root, id, JobStatus.PAUSED);
    // The watcher's first address is the leader: its stream breaks with the leader.
    const watcher = client(addresses);
    const updates: WatchJobResponse[] = [];
    const followed = (async () => {
      for await (const u of watcher.watchJob(id)) updates.push(u);
    })();
    await waitFor(async () => (updates.length > 0 ? true : undefined), { what: 'the first WatchJob message', timeoutMs: 10_000 });
    expect(updates[0]!.job!.status).toBe(JobStatus.PAUSED);
    await leader.kill('SIGKILL');
    const next = await leaderCoordinator(cluster, 20_000);
    expect(next).toBe(standby);
    // A unary call whose first address is dead: UNAVAILABLE there, retried on the next coordinator.
    expect(String((await root.getJob(id)).jobId)).toBe(id);
    await sleep(200);
    const viaNew = client([reportedAddress(standby, 'grpc')]);
    await waitFor(async () => viaNew.resumeJob(id).then(() => true, () => undefined), { what: 'RESUME on the new leader', timeoutMs: 20_000 });
    await followed;
    const last = updates.at(-1)!.job!;
    expect(last.status).toBe(JobStatus.SUCCEEDED);
    expect(last.coordinatorId).toBe(standby.readyInfo['id']);
    // Followed from before the SIGKILL (paused) to the end on the new leader.
    expect(updates.map((u) => u.job!.status)).toContain(JobStatus.PAUSED);
  });
});

describe('ScheduleService (after the failover above: the former standby leads)', () => {
  it('creates a paired schedule from fields, lists, pauses, resumes, alters and drops it as the statements do', async () => {
    const address = reportedAddress(standby, 'grpc');
    const root = client([address]);
    const created = await root.createBackupSchedule({
      label: 'nightly',
      databases: ['bank'],
      collection: ['nodelocal://1/scheduled'],
      options: { revision_history: 'true' },
      recurring: '@hourly',
      fullBackup: '@daily',
      scheduleOptions: { on_previous_running: 'skip' },
    });
    expect(created).toHaveLength(2);
    const full = created.find((x) => x.recurrence === '@daily') as Schedule;
    const inc = created.find((x) => x.recurrence === '@hourly') as Schedule;
    expect(full.label).toBe('nightly');
    expect(inc.label).toBe('nightly');
    expect(full.command).toMatch(/BACKUP DATABASE bank INTO 'nodelocal:\/\/1\/scheduled' WITH .*revision_history/);
    expect(inc.status).toBe(ScheduleStatus.PAUSED);
    // SHOW SCHEDULES sees the same schedules: one implementation below both.
    const shown = await root.execute('SHOW SCHEDULES');
    const ids = shown.rows.map((r) => r[0]);
    expect(ids).toEqual(expect.arrayContaining([String(full.scheduleId), String(inc.scheduleId)]));

    // SHOW SCHEDULES' order (creation time, then id), one per page.
    const order = shown.rows.map((r) => r[0]).filter((id) => id === String(full.scheduleId) || id === String(inc.scheduleId));
    const first = await root.listSchedules({ label: 'nightly', pageSize: 1 });
    const second = await root.listSchedules({ label: 'nightly', pageSize: 1, pageToken: first.nextPageToken });
    expect([...first.schedules, ...second.schedules].map((x) => String(x.scheduleId))).toEqual(order);
    expect(second.nextPageToken).toBe('');
    expect((await root.listSchedules({ status: ScheduleStatus.PAUSED })).schedules.map((x) => x.scheduleId)).toEqual([inc.scheduleId]);

    expect((await root.pauseSchedule(full.scheduleId)).status).toBe(ScheduleStatus.PAUSED);
    expect(col(await queryOne(root, `SHOW SCHEDULE ${full.scheduleId}`), 'schedule_status')).toBe('PAUSED');
    const resumed = await root.resumeSchedule(full.scheduleId);
    expect(resumed.status).toBe(ScheduleStatus.ACTIVE);
    expect(resumed.nextRun).toBeInstanceOf(Date);

    const altered = await root.alterBackupSchedule({ scheduleId: full.scheduleId, label: 'renamed', scheduleOptions: { on_execution_failure: 'pause' } });
    expect(altered.map((x) => x.label).sort()).toEqual(['renamed', 'renamed']);
    expect((await root.getSchedule(inc.scheduleId)).label).toBe('renamed');

    // Schedules need the admin role, through the API as through SQL.
    const maxroach = client([address], 'maxroach');
    const refused = await maxroach
      .createBackupSchedule({ databases: ['bank'], collection: ['nodelocal://1/x'], recurring: '@daily' })
      .then(() => undefined, (e: unknown) => e as CairnError);
    expect(refused?.code).toBe(ErrorCode.InsufficientPrivilege);
    const bad = await root.createBackupSchedule({ collection: ['nodelocal://1/y'], recurring: 'not a cron' }).then(() => undefined, (e: unknown) => e as CairnError);
    expect(bad?.code).toBe(ErrorCode.InvalidArgument);

    const host = address;
    const listed = await runCli(['schedule', 'list', '--host', host, '--label', 'renamed', '--format', 'csv']);
    expect(listed.code).toBe(0);
    expect(lines(listed.stdout).slice(1).map((l) => l.split(',')[0])).toEqual(order);
    const paused = await runCli(['schedule', 'pause', String(full.scheduleId), '--host', host, '--format', 'csv']);
    expect(paused.code).toBe(0);
    expect(lines(paused.stdout)[1]).toMatch(new RegExp(`^${full.scheduleId},renamed,PAUSED,`));
    const resumedByCli = await runCli(['schedule', 'resume', String(full.scheduleId), '--host', host, '--format', 'csv']);
    expect(resumedByCli.code).toBe(0);
    expect(lines(resumedByCli.stdout)[1]).toMatch(new RegExp(`^${full.scheduleId},renamed,ACTIVE,`));
    const dropped = await runCli(['schedule', 'drop', String(inc.scheduleId), '--host', host]);
    expect(dropped.code).toBe(0);
    expect((await root.getSchedule(inc.scheduleId).then(() => undefined, (e: unknown) => e as CairnError))?.code).toBe(ErrorCode.NotFound);
    await root.dropSchedule(full.scheduleId);
    expect((await root.listSchedules()).schedules).toEqual([]);
  });
});

describe('BackupService', () => {
  it('starts a backup and an incremental, lists and shows them, restores them, as the statements do', async () => {
    const address = reportedAddress(standby, 'grpc');
    const root = client([address]);
    const coll = ['nodelocal://1/api'];
    const full = await root.startBackup({ databases: ['bank'], collection: coll, asOf: new Date(Date.now() - 1000), options: { revision_history: 'true' } });
    expect(full.jobType).toBe(JobType.BACKUP);
    expect(full.description).toMatch(/^BACKUP DATABASE bank INTO 'nodelocal:\/\/1\/api' AS OF SYSTEM TIME .* WITH .*revision_history/);
    const last = async (id: bigint) => {
      let end: Job | undefined;
      for await (const u of root.watchJob(id)) end = u.job;
      return end!;
    };
    expect((await last(full.jobId)).status).toBe(JobStatus.SUCCEEDED);
    const inc = await root.startBackup({ databases: ['bank'], collection: coll, incremental: true, options: { revision_history: 'true' } });
    expect((await last(inc.jobId)).status).toBe(JobStatus.SUCCEEDED);

    const backups = await root.listBackups(coll);
    expect(backups).toHaveLength(1);
    expect(backups[0]!.layers).toBe(2);
    expect(Math.abs(backups[0]!.endTime!.getTime() - Date.now())).toBeLessThan(120_000);
    const shown = await root.execute(`SHOW BACKUPS IN 'nodelocal://1/api'`);
    expect(shown.rows.map((r) => r[0])).toEqual([backups[0]!.subdir]);

    const objects = await root.showBackup({ collection: coll, subdir: backups[0]!.subdir, checkFiles: true });
    const accounts = objects.filter((o) => o.objectName === 'accounts');
    expect(accounts.map((o) => o.backupType)).toEqual([BackupType.FULL, BackupType.INCREMENTAL]);
    expect(accounts[0]!.rows).toBe(20_000n);
    expect(accounts[0]!.sizeBytes).toBeGreaterThan(20_000n * 200n);
    expect(accounts[1]!.startTime!.getTime()).toBe(accounts[0]!.endTime!.getTime());

    const restore = await root.startRestore({ databases: ['bank'], collection: coll, options: { new_db_name: 'bank_api' } });
    expect(restore.jobType).toBe(JobType.RESTORE);
    expect((await last(restore.jobId)).status).toBe(JobStatus.SUCCEEDED);
    expect(col(await queryOne(root, 'SELECT count(*) FROM bank_api.accounts'), 'count')).toBe('20000');

    // A locality-aware collection: one URI per locality, the default first, as BACKUP takes them.
    const local = [
      `nodelocal://1/api-local?COCKROACH_LOCALITY=${encodeURIComponent('default')}`,
      `nodelocal://2/api-local?COCKROACH_LOCALITY=${encodeURIComponent('region=us-west1')}`,
    ];
    const localFull = await root.startBackup({ tables: ['bank.accounts'], collection: local });
    expect(localFull.description).toContain('COCKROACH_LOCALITY=region%3Dus-west1');
    expect((await last(localFull.jobId)).status).toBe(JobStatus.SUCCEEDED);
    const [localBackup] = await root.listBackups(local);
    const localObjects = await root.showBackup({ collection: local, subdir: localBackup!.subdir });
    expect(localObjects.find((o) => o.objectName === 'accounts')?.rows).toBe(20_000n);
    const localRestore = await root.startRestore({ tables: ['bank.accounts'], collection: local, options: { into_db: 'bank_api' } }).then(
      () => undefined,
      (e: unknown) => e as CairnError,
    );
    // bank_api.accounts exists already: the statement's own error, through the RPC.
    expect(localRestore?.code).toBe(ErrorCode.DuplicateObject);

    // BACKUP needs its grant; an unknown option is the statement's error.
    const maxroach = client([address], 'maxroach');
    const denied = await maxroach.startBackup({ databases: ['bank'], collection: ['nodelocal://1/denied'] }).then(() => undefined, (e: unknown) => e as CairnError);
    expect(denied?.code).toBe(ErrorCode.InsufficientPrivilege);
    // So does RESTORE.
    const restoreDenied = await maxroach
      .startRestore({ databases: ['bank'], collection: coll, options: { new_db_name: 'bank_denied' } })
      .then(() => undefined, (e: unknown) => e as CairnError);
    expect(restoreDenied?.code).toBe(ErrorCode.InsufficientPrivilege);
    const bad = await root.startBackup({ collection: coll, options: { no_such_option: 'x' } }).then(() => undefined, (e: unknown) => e as CairnError);
    expect(bad?.code).toBe(ErrorCode.Syntax);
  });
});

describe('cairn sql through a leader failover', () => {
  it('a waited BACKUP follows its job with WatchJob through a leader SIGKILL and prints the statement result', async () => {
    const third = await cluster.addCoordinator();
    const current = await leaderCoordinator(cluster);
    const host = [reportedAddress(current, 'grpc'), reportedAddress(third, 'grpc')].join(',');
    const api = client([reportedAddress(third, 'grpc')]);
    // The job is paused as soon as it shows up, so the leader dies while the statement waits;
    // a small backup may end first, so up to three tries (each a different collection).
    let attempt = 0;
    let job: Job | undefined;
    let run: ReturnType<typeof runCli> | undefined;
    for (; attempt < 3 && !job; attempt++) {
      const uri = `nodelocal://1/cli-failover-${attempt}`;
      run = runCli(['sql', '--host', host, '--format', 'csv', '-e', `BACKUP DATABASE bank INTO '${uri}'`], { timeoutMs: 180_000 });
      const created = await waitFor(
        async () => (await api.listJobs({ jobTypes: [JobType.BACKUP], pageSize: 1 })).jobs.find((j) => j.description.includes(uri)),
        { what: `the job of the backup into ${uri}`, timeoutMs: 30_000, intervalMs: 10 },
      );
      const paused = await api.pauseJob(created.jobId).then(() => true, () => false);
      if (paused) job = created;
      else await run;
    }
    expect(job, 'a backup paused while its statement waited').toBeDefined();
    await waitForStatus(api, String(job!.jobId), JobStatus.PAUSED);
    await sleep(500);
    await current.kill('SIGKILL');
    expect(await leaderCoordinator(cluster, 20_000)).toBe(third);
    await waitFor(async () => api.resumeJob(job!.jobId).then(() => true, () => undefined), { what: 'RESUME on the new leader', timeoutMs: 20_000 });
    const r = await run!;
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const [header, row] = lines(r.stdout);
    expect(header).toBe('job_id,status,fraction_completed,rows,index_entries,bytes');
    expect(row).toMatch(new RegExp(`^${job!.jobId},succeeded,1,\\d+,0,\\d+$`));
    expect(Number(row!.split(',')[3])).toBeGreaterThanOrEqual(20_000);
  });
});
