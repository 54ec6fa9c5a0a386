/**
 * Managed retention end to end, with real processes: a two-region cluster whose backup
 * schedule (`retention = '1m'`) writes a locality-aware collection into two s3rver buckets.
 * After each successful full of the schedule a BACKUP EXPIRY job deletes every chain whose
 * newest backup is older than the retention: the full with its incrementals, in both
 * regions' buckets. SHOW BACKUPS then lists only what is kept, RESTORE FROM LATEST and from a
 * kept full still work, and a RESTORE of an expired full is a clear NotFound.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ErrorCode } from '@cairn/errors';
import {
  ProcessCluster,
  startNatsServer,
  startS3Server,
  waitFor,
  type NatsServerHandle,
  type S3ServerHandle,
} from '@cairn/testing';
import { col, databaseFingerprints, failure, localityAwareUris, query, queryOne, type Row, sqlUriList } from './support/backup.js';
import { listKeys } from './support/s3-objects.js';

const EAST = { locality: 'region=east,zone=east-a', tier: 'region=east', bucket: 'retention-east' } as const;
const WEST = { locality: 'region=west,zone=west-a', tier: 'region=west', bucket: 'retention-west' } as const;
/** s3rver checks the access key id only: a distinctive secret shows wherever it leaks. */
const SECRET = 'retention-e2e-Secret-91c2';
const RETENTION_MS = 60_000;

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;

function s3Uri(bucket: string, path: string): string {
  const uri = s3.uri(bucket, path);
  const param = `AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`;
  if (!uri.includes(param)) throw new Error(`unexpected s3 URI shape: ${uri}`);
  return uri.replace(param, `AWS_SECRET_ACCESS_KEY=${SECRET}`);
}

beforeAll(async () => {
  [nats, s3] = await Promise.all([startNatsServer(), startS3Server({ buckets: [EAST.bucket, WEST.bucket] })]);
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: [{ locality: EAST.locality }, { locality: WEST.locality }] });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  await client.execute('CREATE DATABASE shop');
  await client.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)');
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await s3?.stop();
  await nats?.stop();
});

let nextOrder = 0;
/** Adds `n` orders, so that each backup has something of its own. */
async function addOrders(n: number): Promise<void> {
  const values = Array.from({ length: n }, () => `(${nextOrder}, ${nextOrder++ * 10})`);
  await client.execute(`INSERT INTO shop.orders (id, total) VALUES ${values.join(', ')}`);
}

/** The jobs of a schedule of one type and status. */
async function jobsOf(scheduleId: string, type: string, status: string): Promise<Row[]> {
  return (await query(client, `SHOW JOBS FOR SCHEDULE ${scheduleId}`)).filter((j) => j['job_type'] === type && j['status'] === status);
}

/** Waits until the schedule has `count` succeeded jobs of `type`; a failed one fails the test. */
async function waitForJobs(scheduleId: string, type: string, count: number, what: string): Promise<Row[]> {
  return waitFor(
    async () => {
      const failed = await jobsOf(scheduleId, type, 'failed');
      if (failed.length > 0) throw new Error(`${type} job of schedule ${scheduleId} failed: ${failed[0]?.['error'] ?? ''}`);
      const done = await jobsOf(scheduleId, type, 'succeeded');
      return done.length >= count ? done : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 300, what },
  );
}

/** Every BACKUP EXPIRY job (the cluster has this file's schedule only), oldest first. */
async function expiryJobs(): Promise<Row[]> {
  return (await query(client, 'SHOW JOBS')).filter((j) => j['job_type'] === 'BACKUP EXPIRY');
}

/**
 * Waits for the BACKUP EXPIRY job a full started: the `count`-th, succeeded. Whether the
 * schedule's very first full starts one (with nothing to expire) does not matter here.
 */
async function waitForExpiry(count: number, what: string): Promise<Row> {
  return waitFor(
    async () => {
      const jobs = await expiryJobs();
      const failed = jobs.find((j) => j['status'] === 'failed');
      if (failed) throw new Error(`BACKUP EXPIRY job ${failed['job_id'] ?? ''} failed: ${failed['error'] ?? ''}`);
      const job = jobs[count - 1];
      return job?.['status'] === 'succeeded' ? job : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 300, what },
  );
}

/** `ALTER BACKUP SCHEDULE ... EXECUTE [FULL] IMMEDIATELY`, then its backup's success. */
async function runNow(scheduleId: string, full: boolean, count: number): Promise<void> {
  await client.execute(`ALTER BACKUP SCHEDULE ${scheduleId} EXECUTE ${full ? 'FULL ' : ''}IMMEDIATELY`);
  await waitForJobs(scheduleId, 'BACKUP', count, `backup #${count} of schedule ${scheduleId}`);
}

/** Keys of the collection in each region's bucket. */
async function keys(): Promise<{ east: string[]; west: string[] }> {
  return { east: await listKeys(s3, EAST.bucket, 'shop/'), west: await listKeys(s3, WEST.bucket, 'shop/') };
}

/** Whether a key belongs to the chain of `full` (`/2024/...`): its own dir or its incrementals'. */
const inChain = (full: string) => (key: string) => key.startsWith(`shop${full}/`) || key.startsWith(`shop/incrementals${full}/`);

describe('managed backup retention', () => {
  it('expires chains past the retention after each full, from every region, keeping what restores need', async () => {
    const destination = localityAwareUris(s3Uri(EAST.bucket, 'shop'), [{ tier: WEST.tier, uri: s3Uri(WEST.bucket, 'shop') }]);
    const dest = sqlUriList(destination);
    await addOrders(50);

    // Only the west node exports (the table is one range, which either node could claim), so
    // the data files are in the west bucket and the manifests in the default, east one. The
    // test runs each backup itself (runNow): the crons are monthly and yearly so that none
    // fires on its own meanwhile (an hourly incremental at the top of the hour once landed on
    // chain 1 during the retention wait, which then was not expired).
    const created = await query(
      client,
      `CREATE SCHEDULE retained FOR BACKUP DATABASE shop INTO ${dest} WITH EXECUTION LOCALITY = '${WEST.tier}' RECURRING '@monthly' FULL BACKUP '@yearly'
         WITH SCHEDULE OPTIONS first_run = 'now', retention = '1m'`,
    );
    const [incId, fullId] = created.map((r) => col(r, 'schedule_id'));
    if (incId === undefined || fullId === undefined) throw new Error(`expected two schedules, got ${JSON.stringify(created)}`);
    for (const id of [incId, fullId]) {
      expect(JSON.parse(col(await queryOne(client, `SHOW SCHEDULE ${id}`), 'command'))).toMatchObject({ retention: '1m' });
    }
    const tooShort = await failure(client, `ALTER BACKUP SCHEDULE ${fullId} SET SCHEDULE OPTION retention = '30s'`);
    expect(tooShort.code).toBe(ErrorCode.InvalidArgument);
    expect(tooShort.message).toContain('retention "30s" is too short: it must be at least 1m');
    const garbled = await failure(client, `ALTER BACKUP SCHEDULE ${fullId} SET SCHEDULE OPTION retention = 'a month'`);
    expect(garbled.message).toContain(`invalid retention "a month": expected a duration such as '720h'`);

    // Chain 1: the first full (first_run = 'now') and an incremental on it.
    await waitForJobs(fullId, 'BACKUP', 1, 'the first scheduled full');
    const [first] = (await query(client, `SHOW BACKUPS IN ${dest}`)).map((r) => col(r, 'path'));
    if (first === undefined) throw new Error('SHOW BACKUPS lists no full after the first one');
    await waitFor(async () => col(await queryOne(client, `SHOW SCHEDULE ${incId}`), 'schedule_status') === 'ACTIVE', {
      timeoutMs: 30_000,
      what: 'the incremental schedule to be unpaused by the first full',
    });
    await addOrders(10);
    await runNow(incId, false, 1);
    const chain1 = await keys();
    expect(chain1.east.filter(inChain(first)).some((k) => k.includes('/incrementals/'))).toBe(true);
    expect(chain1.west.filter(inChain(first)).some((k) => k.endsWith('.sst')), 'west data of chain 1').toBe(true);

    // Once chain 1 is past the retention, the next full's expiry deletes it whole.
    await sleep(RETENTION_MS + 2_000);
    await addOrders(10);
    const expiriesBefore = (await expiryJobs()).length;
    await runNow(fullId, true, 2);
    const expiry = await waitForExpiry(expiriesBefore + 1, 'the BACKUP EXPIRY job started after the second full');
    expect(col(expiry, 'description')).toMatch(/^EXPIRE BACKUPS IN \('s3:\/\/retention-east\/shop\?.*', 's3:\/\/retention-west\/shop\?.*'\) OLDER THAN '1m'$/);
    expect(col(expiry, 'description')).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(col(expiry, 'fraction_completed')).toBe('1');
    expect(col(expiry, 'running_status')).toMatch(/^deleted 1 of 1 expired backups \(\d+ files\); 1 kept$/);
    const afterFirstExpiry = (await query(client, `SHOW BACKUPS IN ${dest}`)).map((r) => col(r, 'path'));
    expect(afterFirstExpiry).toHaveLength(1);
    const second = afterFirstExpiry[0]!;
    expect(second > first).toBe(true);
    const gone = await keys();
    expect(gone.east.filter(inChain(first)), 'chain 1 in the east bucket').toEqual([]);
    expect(gone.west.filter(inChain(first)), 'chain 1 in the west bucket').toEqual([]);

    // Chain 2 gets an incremental; a third full follows at once: chain 2 is within the retention.
    await addOrders(10);
    await runNow(incId, false, 2);
    await addOrders(10);
    const ordersAtThird = nextOrder;
    await runNow(fullId, true, 3);
    const keptAll = await waitForExpiry(expiriesBefore + 2, 'the BACKUP EXPIRY job started after the third full');
    expect(col(keptAll, 'running_status')).toBe('deleted 0 of 0 expired backups (0 files); 2 kept');

    const kept = (await query(client, `SHOW BACKUPS IN ${dest}`)).map((r) => col(r, 'path'));
    expect(kept).toHaveLength(2);
    expect(kept[0]).toBe(second);
    const third = kept[1]!;
    const left = await keys();
    for (const [region, list] of Object.entries(left)) {
      expect(list.filter(inChain(first)), `chain 1 in ${region}`).toEqual([]);
      expect(list.filter(inChain(second)).some((k) => k.includes('/incrementals/')), `chain 2's incremental in ${region}`).toBe(true);
      expect(list.filter(inChain(third)).length, `chain 3 in ${region}`).toBeGreaterThan(0);
    }
    expect(left.east.filter((k) => k.startsWith('shop/metadata/latest/LATEST-')), 'LATEST files of the kept fulls').toHaveLength(2);

    // What is kept restores; what expired is not found.
    const latest = await queryOne(client, `RESTORE DATABASE shop FROM LATEST IN ${dest} WITH new_db_name = 'shop_latest'`);
    expect(col(latest, 'status')).toBe('succeeded');
    expect(Number(col(latest, 'rows'))).toBe(ordersAtThird);
    expect(await databaseFingerprints(client, 'shop_latest')).toEqual(await databaseFingerprints(client, 'shop'));
    const fromSecond = await queryOne(client, `RESTORE DATABASE shop FROM '${second}' IN ${dest} WITH new_db_name = 'shop_second'`);
    expect(col(fromSecond, 'status')).toBe('succeeded');
    expect(Number(col(fromSecond, 'rows'))).toBe(ordersAtThird - 10);
    const expired = await failure(client, `RESTORE DATABASE shop FROM '${first}' IN ${dest} WITH new_db_name = 'shop_first'`);
    expect(expired.code).toBe(ErrorCode.NotFound);
    expect(expired.message).toContain(`backup ${first} not found in s3://retention-east/shop`);
    expect(expired.message).not.toContain(SECRET);
    expect((await failure(client, `SHOW BACKUP FROM '${first}' IN ${dest}`)).code).toBe(ErrorCode.NotFound);

    // Every expiry job is listed by SHOW JOBS as a job of its own type, secrets redacted.
    const all = await expiryJobs();
    expect(all.length).toBe(expiriesBefore + 2);
    for (const j of all) {
      expect(col(j, 'status')).toBe('succeeded');
      expect(JSON.stringify(j)).not.toContain(SECRET);
    }
  });
});
