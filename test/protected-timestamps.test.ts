/**
 * MVCC GC and protected timestamps on a real cluster (two coordinators, three nodes, one
 * nats-server), with `gc.ttlseconds = 1` and `kv.gc.interval = 200ms`:
 *
 * - Overwritten revisions older than the TTL are collected on every replica; a read below
 *   the GC threshold fails with CockroachDB's "batch timestamp ... must be at or after replica
 *   GC threshold ..." while current data stays.
 * - A PAUSED backup keeps its protected timestamp record (SHOW PROTECTED TIMESTAMPS, the
 *   jobs_backup_protected_* gauges): GC stops exactly at the time it reads, the leader is
 *   SIGKILLed, RESUME on the new leader succeeds long after the TTL, the restore matches, and
 *   the record is gone once the job is.
 * - An incremental whose chain ended before the GC threshold (no schedule protecting it) is
 *   refused with the clear error; a new full backup works.
 *
 * Nodes measure the TTL on the cluster's time line (the last applied write's timestamp), so
 * the tests write a tick row to move time forward.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { CairnError } from '@cairn/errors';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { col, databaseFingerprints, failure, loadTable, query, queryOne, showJob, waitForJobStatus, wallClockTimestamp } from './support/backup.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { scrapeMetric } from './support/metrics.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
const GC_ERROR = /^batch timestamp (\d+)\.0{10} must be at or after replica GC threshold (\d+)\.0{10}/;

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
let ticks = 0;

/** A write: moves the cluster's time (and so every node's GC threshold) forward. */
async function tick(): Promise<void> {
  await client.execute(`INSERT INTO gcclock.ticks VALUES (${++ticks})`);
}

/**
 * Writes ticks until a read of `table` at `asOf` is refused below the GC threshold (each
 * node collects every 200 ms) and returns the error.
 */
async function waitUntilCollected(table: string, asOf: string): Promise<CairnError> {
  return waitFor(
    async () => {
      await tick();
      const err = await client.execute(`SELECT count(*) FROM ${table} AS OF SYSTEM TIME '${asOf}'`).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (err !== undefined && !(err instanceof CairnError && err.code === 'FAILED_PRECONDITION')) throw err;
      return err;
    },
    { what: `a read of ${table} at ${asOf} refused below the GC threshold`, timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** Sum of a counter over every node's /metrics. */
async function nodeCounterSum(name: string): Promise<number> {
  const values = await Promise.all(
    cluster.nodes.map((n) => {
      const address = cluster.metricsAddresses.get(n.name);
      if (address === undefined) throw new Error(`no metrics address for ${n.name}`);
      return scrapeMetric(address, name);
    }),
  );
  return values.reduce<number>((sum, v) => sum + (v ?? 0), 0);
}

/** A metric of the current leader (standbys report the protected timestamp gauges as 0). */
const leaderMetric = async (name: string) => scrapeMetric(reportedAddress(await leaderCoordinator(cluster), 'metrics'), name);

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: LOCALITIES.map((locality) => ({ locality })) });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  await client.execute('CREATE DATABASE gcclock');
  await client.execute('CREATE TABLE gcclock.ticks (n INT PRIMARY KEY)');
  await client.execute(`SET CLUSTER SETTING kv.gc.interval = '200ms'`);
  await client.execute('SET CLUSTER SETTING gc.ttlseconds = 1');
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await nats?.stop();
});

describe('MVCC GC and protected timestamps', () => {
  it('collects revisions overwritten more than gc.ttlseconds ago and refuses reads below the threshold', async () => {
    await client.execute('CREATE DATABASE overwrites');
    await client.execute('CREATE TABLE overwrites.kv (id INT PRIMARY KEY, v INT NOT NULL)');
    await client.execute(`INSERT INTO overwrites.kv VALUES ${Array.from({ length: 100 }, (_, i) => `(${i}, 0)`).join(', ')}`);
    await sleep(5);
    const beforeUpdate = wallClockTimestamp();
    expect(col(await queryOne(client, `SELECT count(*) FROM overwrites.kv AS OF SYSTEM TIME '${beforeUpdate}' WHERE v = 0`), 'count')).toBe('100');
    const removedBefore = await nodeCounterSum('cairn_node_gc_removed_revisions_total');
    await client.execute('UPDATE overwrites.kv SET v = 1');

    const err = await waitUntilCollected('overwrites.kv', beforeUpdate);
    const [, readTs, threshold] = GC_ERROR.exec(err.message) ?? [];
    expect(err.message, err.message).toMatch(GC_ERROR);
    expect(`${readTs}.0000000000`).toBe(beforeUpdate);
    expect(BigInt(threshold ?? 0)).toBeGreaterThan(BigInt(readTs ?? 0));

    // The latest values are untouched, and every replica (3 of each range) dropped the 100
    // overwritten revisions.
    expect(col(await queryOne(client, 'SELECT count(*) FROM overwrites.kv WHERE v = 1'), 'count')).toBe('100');
    await waitFor(async () => (await nodeCounterSum('cairn_node_gc_removed_revisions_total')) - removedBefore >= 300, {
      what: 'cairn_node_gc_removed_revisions_total up by 3 x 100',
      // The other two replicas GC on their own loops, which a loaded machine delays as much
      // as it delays the first (waitUntilCollected allows that one 30 s).
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  });

  it('keeps what a paused backup reads until it is resumed and done, then releases it', async () => {
    await client.execute('CREATE DATABASE paused');
    await loadTable(client, 'paused.accounts', 2_000, 1_000);
    const source = await databaseFingerprints(client, 'paused');

    // PAUSE lands while the 2 MB export runs; should the job win the race, try again.
    let jobId = '';
    let ts = '';
    let collection = '';
    for (let attempt = 1; attempt <= 3 && jobId === ''; attempt++) {
      ts = wallClockTimestamp();
      collection = `nodelocal://1/paused-${attempt}`;
      const id = col(await queryOne(client, `BACKUP DATABASE paused INTO '${collection}' AS OF SYSTEM TIME '${ts}' WITH detached`), 'job_id');
      await client.execute(`PAUSE JOB ${id}`);
      const job = await waitForJobStatus(client, id, ['paused', 'succeeded']);
      if (col(job, 'status') === 'paused') jobId = id;
    }
    expect(jobId, 'a backup job paused before finishing').not.toBe('');
    expect(await databaseFingerprints(client, 'paused', ts)).toEqual(source);

    const records = await query(client, 'SHOW PROTECTED TIMESTAMPS');
    const mine = records.filter((r) => r['owner_id'] === jobId);
    expect(mine).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        ts,
        meta_type: 'jobs',
        owner_id: jobId,
        // The table's span and the descriptors.
        num_spans: '2',
        target: 'spans',
        created: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/),
      },
    ]);
    expect(await leaderMetric('jobs_backup_protected_records')).toBe(1);
    expect(await leaderMetric('jobs_backup_protected_age_seconds')).toBeGreaterThan(0);

    // Overwrite every row (in batches that fit a log entry), then let GC run far past the TTL:
    // it stops exactly at the backup's time.
    for (let from = 0; from < 2_000; from += 250) {
      await client.execute(`UPDATE paused.accounts SET balance = balance + 1 WHERE id >= ${from} AND id < ${from + 250}`);
    }
    const justBefore = `${BigInt(ts.split('.')[0]!) - 1n}.0000000000`;
    const err = await waitUntilCollected('paused.accounts', justBefore);
    expect(err.message).toBe(`batch timestamp ${justBefore} must be at or after replica GC threshold ${ts}`);
    for (let i = 0; i < 10; i++) await tick();
    await sleep(1_500);
    expect(await databaseFingerprints(client, 'paused', ts)).toEqual(source);
    expect(col(await showJob(client, jobId), 'status')).toBe('paused');

    // The record is the cluster's, not the leader's: the new leader resumes and releases it.
    const oldLeader = await leaderCoordinator(cluster);
    await oldLeader.kill();
    expect(oldLeader.exitStatus?.signal).toBe('SIGKILL');
    expect((await query(client, 'SHOW PROTECTED TIMESTAMPS')).filter((r) => r['owner_id'] === jobId)).toHaveLength(1);
    await client.execute(`RESUME JOB ${jobId}`);
    const done = await queryOne(client, `SHOW JOB WHEN COMPLETE ${jobId}`);
    expect(col(done, 'status')).toBe('succeeded');
    expect((await query(client, 'SHOW PROTECTED TIMESTAMPS')).filter((r) => r['owner_id'] === jobId)).toEqual([]);
    expect(await leaderMetric('jobs_backup_protected_records')).toBe(0);

    const restored = await queryOne(client, `RESTORE DATABASE paused FROM LATEST IN '${collection}' WITH new_db_name = 'paused_restored'`);
    expect(col(restored, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'paused_restored')).toEqual(source);

    // Released: the backup's time is collected like any other now.
    const after = await waitUntilCollected('paused.accounts', ts);
    expect(after.message).toMatch(GC_ERROR);
  });

  it('refuses an incremental whose chain ended below the GC threshold, naming the table', async () => {
    await client.execute('CREATE DATABASE chain');
    await client.execute('CREATE TABLE chain.items (id INT PRIMARY KEY, v INT NOT NULL)');
    await client.execute(`INSERT INTO chain.items VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, 0)`).join(', ')}`);
    const collection = 'nodelocal://1/chain';
    const fullTs = wallClockTimestamp();
    const full = await queryOne(client, `BACKUP DATABASE chain INTO '${collection}' AS OF SYSTEM TIME '${fullTs}'`);
    expect(col(full, 'status')).toBe('succeeded');
    // A finished job holds no record, and nothing (no schedule) chains one to the next backup.
    expect((await query(client, 'SHOW PROTECTED TIMESTAMPS')).filter((r) => r['owner_id'] === col(full, 'job_id'))).toEqual([]);

    await client.execute('UPDATE chain.items SET v = 1');
    await waitUntilCollected('chain.items', fullTs);

    const jobsBefore = (await query(client, 'SHOW JOBS')).length;
    const err = await failure(client, `BACKUP DATABASE chain INTO LATEST IN '${collection}'`);
    expect(err.code).toBe('FAILED_PRECONDITION');
    const escapedTs = fullTs.replace('.', '\\.');
    expect(err.message).toMatch(
      new RegExp(
        `^batch timestamp ${escapedTs} must be at or after replica GC threshold \\d+\\.0{10} \\(table chain\\.items\\): ` +
          'the revisions since the previous backup were garbage-collected \\(gc\\.ttlseconds\\); take a new full backup$',
      ),
    );
    // Refused at planning: no job was started.
    expect((await query(client, 'SHOW JOBS')).length).toBe(jobsBefore);

    // What the error says to do works.
    expect(col(await queryOne(client, `BACKUP DATABASE chain INTO '${collection}'`), 'status')).toBe('succeeded');
    expect(await query(client, `SHOW BACKUPS IN '${collection}'`)).toHaveLength(2);
  });
});
