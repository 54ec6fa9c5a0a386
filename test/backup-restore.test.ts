/**
 * BACKUP and RESTORE end to end, with real processes: a 3-node cluster in three regions on
 * one nats-server, backing up to one s3rver that has a bucket per region.
 *
 * - A locality-aware full backup and two incrementals with revision history are taken while
 *   the bank workload runs; restores to timestamps between them must equal the source as of
 *   those timestamps, and each node's files must sit in its own region's bucket.
 * - EXECUTION LOCALITY restricts the export to the matching node; a filter nothing matches
 *   is refused up front. SHOW BACKUP ... WITH check_files finds a data file missing from any
 *   region's bucket.
 * - Secrets in storage URIs never show in SHOW JOBS, SHOW EXTERNAL CONNECTIONS or errors.
 * - Every backup / restore / jobs example statement of the seed pages runs against
 *   `external://backup_s3` (the full-cluster restores on empty clusters of their own), and so
 *   do seed 001's GRANT statements (for a real user: the seed's `user` is a placeholder; what
 *   the grants allow is tested in privileges.test.ts).
 * - The pre-collection form: BACKUP TO ... INCREMENTAL FROM (004) writes an incremental to a
 *   location of its own, and RESTORE FROM 'full', 'inc', ... restores the chain across them.
 *
 * Faults (SIGKILLed node and coordinator, pause, cancel, corrupted files) are in
 * backup-restore-faults.test.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { initBank, runBank } from '@cairn/cli';
import {
  ProcessCluster,
  startNatsServer,
  startS3Server,
  waitFor,
  type NatsServerHandle,
  type S3ServerHandle,
} from '@cairn/testing';
import {
  col,
  countRows,
  databaseFingerprints,
  failure,
  localityAwareUris,
  query,
  queryOne,
  rangeCount,
  rowsOf,
  type Row,
  showJob,
  sqlUriList,
  waitForJobStatus,
  wallClockTimestamp,
  writerNodeId,
} from './support/backup.js';
import { sql } from './support/cli.js';
import { at, nodeIdOf } from './support/cluster.js';
import { deleteObject, listKeys } from './support/s3-objects.js';

const ROWS = 3_000;
const TOTAL = BigInt(ROWS * 1_000);
const CUSTOMERS = 50;
const ACCOUNTS = 100;

/** Nodes in this order, each with the bucket its region's backup files go to. */
const REGIONS = [
  { locality: 'region=us-east1,zone=us-east1-b', tier: 'region=us-east1', bucket: 'backups-us-east1' },
  { locality: 'region=us-west1,zone=us-west1-a', tier: 'region=us-west1', bucket: 'backups-us-west1' },
  { locality: 'region=eu-west1,zone=eu-west1-c', tier: 'region=eu-west1', bucket: 'backups-eu-west1' },
] as const;
const SEEDS_BUCKET = 'backups-seeds';

/**
 * The secret key in every S3 URI of this file. s3rver authenticates V4 requests by access key
 * id only, so any secret works; a distinctive one is found wherever it leaks.
 */
const SECRET = 'cairn-e2e-Secret-7d41c9f0';

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
/** Node ids in REGIONS order. */
let nodeIds: number[];
/** Stops what single tests started (the empty clusters), run in afterAll. */
const stopLater: Array<() => Promise<void>> = [];
/** The bank's fingerprints while the seed examples run (set by the 001 test). */
let expectedBank: Array<[string, string]> = [];
/** An empty cluster the 001 test started for the 004 test's full-cluster restore. */
let spareEmptyCluster: CairnClient | undefined;
/** When the last test wrote anything (the seed examples back up as of 10 s ago). */
let quietSince = 0;

/** `s3://bucket/path?...` with this file's distinctive secret. */
function s3Uri(bucket: string, path: string): string {
  const uri = s3.uri(bucket, path);
  const param = `AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`;
  if (!uri.includes(param)) throw new Error(`unexpected s3 URI shape: ${uri}`);
  return uri.replace(param, `AWS_SECRET_ACCESS_KEY=${SECRET}`);
}

/** The three-region destination: default in us-east1's bucket, one URI per other region. */
function regionalDestination(path: string): string[] {
  return localityAwareUris(
    s3Uri(REGIONS[0].bucket, path),
    REGIONS.slice(1).map((r) => ({ tier: r.tier, uri: s3Uri(r.bucket, path) })),
  );
}

/** Keys under `prefix` in each region's bucket, in REGIONS order. */
async function keysByRegion(prefix: string): Promise<string[][]> {
  return Promise.all(REGIONS.map((r) => listKeys(s3, r.bucket, prefix)));
}

/** A cluster with no databases yet (one coordinator, one node) on a nats-server of its own. */
async function startEmptyCluster(): Promise<CairnClient> {
  const ownNats = await startNatsServer();
  stopLater.push(() => ownNats.stop());
  const empty = await ProcessCluster.start({ nats: ownNats.url, coordinators: 1, nodes: [{ locality: 'region=us-east1,zone=us-east1-b' }] });
  stopLater.push(() => empty.stop());
  const c = new CairnClient({ addresses: empty.grpcAddresses(), retryForMs: 30_000 });
  stopLater.push(async () => c.close());
  return c;
}

const isDataFile = (k: string) => /\/data\/\d+\.sst$/.test(k);
const isPartFile = (k: string) => /\/BACKUP_PART_[^/]+$/.test(k);
/** The layer directory (full or incremental) an object of a backup belongs to. */
const layerDirOf = (k: string) => k.replace(/\/(data\/[^/]+|BACKUP_PART_[^/]+)$/, '');

beforeAll(async () => {
  [nats, s3] = await Promise.all([
    startNatsServer(),
    startS3Server({ buckets: [...REGIONS.map((r) => r.bucket), SEEDS_BUCKET] }),
  ]);
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: REGIONS.map((r) => ({ locality: r.locality })) });
  nodeIds = cluster.nodes.map(nodeIdOf);
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  // Small ranges, so the bank table splits into several ranges and every node gets backup work.
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64KiB'`);
  const load = await initBank(client, { rows: ROWS, payloadBytes: 1_000 });
  expect(load.rows).toBe(ROWS);
  await client.execute('CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING)');
  await client.execute('CREATE TABLE bank.accounts (id INT PRIMARY KEY, customer_id INT REFERENCES bank.customers (id), balance INT)');
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => `(${i}, 'customer-${i}')`);
  await client.execute(`INSERT INTO bank.customers (id, name) VALUES ${customers.join(', ')}`);
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `(${i}, ${i % CUSTOMERS}, ${i * 10})`);
  await client.execute(`INSERT INTO bank.accounts (id, customer_id, balance) VALUES ${accounts.join(', ')}`);
  quietSince = Date.now();
});

afterEach(() => {
  quietSince = Date.now();
});

afterAll(async () => {
  for (const stop of stopLater.splice(0).reverse()) await stop();
  client?.close();
  await cluster?.stop();
  await s3?.stop();
  await nats?.stop();
});

describe('BACKUP and RESTORE across three regions', () => {
  it('restores a locality-aware, revision-history chain taken under load to points in time between its layers', async () => {
    // Splits happen every 10 s on the leader; wait for enough ranges that all nodes export.
    const ranges = await waitFor(async () => {
      const n = await rangeCount(client, ['bank.bank']);
      return n >= 8 ? n : undefined;
    }, { what: 'bank.bank split into at least 8 ranges', timeoutMs: 60_000, intervalMs: 1_000 });
    await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64MiB'`);

    const dest = sqlUriList(regionalDestination('pitr'));
    let transfers = 0;
    const stop = new AbortController();
    const workload = runBank(client, { durationMs: 120_000, concurrency: 4, signal: stop.signal, onTick: (t) => (transfers = t) });
    try {
      await waitFor(async () => transfers >= 20, { what: 'bank transfers running', timeoutMs: 10_000 });
      const transfersAtFull = transfers;
      const full = await queryOne(client, `BACKUP DATABASE bank INTO ${dest} WITH revision_history`);
      expect(col(full, 'status')).toBe('succeeded');
      expect(col(full, 'fraction_completed')).toBe('1');
      expect(Number(col(full, 'rows'))).toBe(ROWS + CUSTOMERS + ACCOUNTS);
      expect(Number(col(full, 'bytes'))).toBeGreaterThan(ROWS * 1_000);

      await sleep(1_500);
      const ts1 = wallClockTimestamp();
      await sleep(1_500);
      const inc1 = await queryOne(client, `BACKUP DATABASE bank INTO LATEST IN ${dest} WITH revision_history`);
      expect(col(inc1, 'status')).toBe('succeeded');
      await sleep(1_500);
      const ts2 = wallClockTimestamp();
      await sleep(1_500);
      const inc2 = await queryOne(client, `BACKUP DATABASE bank INTO LATEST IN ${dest} WITH revision_history`);
      expect(col(inc2, 'status')).toBe('succeeded');
      expect(transfers - transfersAtFull, 'transfers committed while the backups ran').toBeGreaterThan(20);

      stop.abort();
      const run = await workload;
      console.log(`pitr: ${ranges} ranges; ${run.transfers} transfers, ${run.errors} errors during the backups`);

      // The chain: one full and two incrementals, each starting where the previous ended.
      const layers = (await query(client, `SHOW BACKUP FROM LATEST IN ${dest}`)).filter((r) => r['object_name'] === 'bank' && r['object_type'] === 'table');
      expect(layers.map((r) => r['backup_type'])).toEqual(['full', 'incremental', 'incremental']);
      expect(layers[0]?.['start_time']).toBeNull();
      expect(layers[1]?.['start_time']).toBe(layers[0]?.['end_time']);
      expect(layers[2]?.['start_time']).toBe(layers[1]?.['end_time']);
      expect(Number(col(at(layers, 0), 'rows'))).toBe(ROWS);

      // Restores as of each timestamp equal the live database as of that timestamp.
      const fingerprintsAt: Array<Array<[string, string]>> = [];
      for (const [i, ts] of [ts1, ts2].entries()) {
        const name = `bank_at_ts${i + 1}`;
        const r = await queryOne(client, `RESTORE DATABASE bank FROM LATEST IN ${dest} AS OF SYSTEM TIME '${ts}' WITH new_db_name = '${name}'`);
        expect(col(r, 'status')).toBe('succeeded');
        expect(Number(col(r, 'rows'))).toBe(ROWS + CUSTOMERS + ACCOUNTS);
        // Cut where the backup's files start before the rows came in (the table is far below
        // kv.range.max_bytes, so no size-based split made these): as many ranges as bank had.
        expect(await rangeCount(client, [`${name}.bank`]), `ranges of ${name}.bank`).toBeGreaterThanOrEqual(ranges);
        const source = await databaseFingerprints(client, 'bank', ts);
        expect(source.map(([t]) => t)).toEqual(['accounts', 'bank', 'customers']);
        expect(await databaseFingerprints(client, name), `${name} vs bank as of ${ts}`).toEqual(source);
        expect(BigInt(col(await queryOne(client, `SELECT sum(balance) FROM ${name}.bank`), 'sum'))).toBe(TOTAL);
        expect(await countRows(client, `${name}.bank`)).toBe(ROWS);
        fingerprintsAt.push(source);
      }
      // The bank moved between the two timestamps, and after them: each restore is its own point.
      expect(fingerprintsAt[0]).not.toEqual(fingerprintsAt[1]);
      expect(await databaseFingerprints(client, 'bank')).not.toEqual(fingerprintsAt[1]);

      // Files: manifests, checksums and LATEST only in the default (us-east1) bucket; every
      // data file in the bucket of the region of the node that wrote it, every node having
      // written some; in each other region's bucket a BACKUP_PART descriptor for each layer it
      // has files of.
      const [east, west, eu] = await keysByRegion('pitr/');
      const manifests = east!.filter((k) => k.endsWith('/BACKUP_MANIFEST'));
      expect(manifests).toHaveLength(3);
      expect(manifests.filter((k) => k.includes('/incrementals/'))).toHaveLength(2);
      expect(east!.filter((k) => k.endsWith('/BACKUP_MANIFEST-CHECKSUM'))).toHaveLength(3);
      expect(east!.filter((k) => k.startsWith('pitr/metadata/latest/LATEST-'))).toHaveLength(1);
      expect(east!.filter(isPartFile)).toEqual([]);
      const [fullPath] = (await query(client, `SHOW BACKUPS IN ${dest}`)).map((r) => col(r, 'path'));
      expect(fullPath).toMatch(/^\/\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2}$/);
      expect(manifests).toContain(`pitr${fullPath}/BACKUP_MANIFEST`);
      const layerDirs = manifests.map((k) => k.slice(0, -'/BACKUP_MANIFEST'.length)).sort();
      [east!, west!, eu!].forEach((keys, i) => {
        const region = at(REGIONS, i).tier;
        const data = keys.filter(isDataFile);
        expect(data.length, `data files in the ${region} bucket`).toBeGreaterThan(0);
        for (const k of data) {
          expect(layerDirs, `layer of ${k}`).toContain(layerDirOf(k));
          expect(writerNodeId(k), `writer of ${k} in the ${region} bucket`).toBe(at(nodeIds, i));
        }
        if (i === 0) return;
        expect(keys.filter((k) => !isDataFile(k) && !isPartFile(k)), `metadata in the ${region} bucket`).toEqual([]);
        for (const layer of layerDirs) {
          const parts = keys.filter((k) => isPartFile(k) && layerDirOf(k) === layer);
          const hasData = data.some((k) => layerDirOf(k) === layer);
          expect(parts.length, `BACKUP_PART files of ${layer} in the ${region} bucket`).toBe(hasData ? 1 : 0);
          for (const p of parts) expect(p).toMatch(new RegExp(`/BACKUP_PART_\\d+_${region}$`));
        }
      });
    } finally {
      stop.abort();
      await workload.catch(() => undefined);
    }
  });

  it("EXECUTION LOCALITY = 'region=us-west1' has only the us-west1 node export", async () => {
    const ts = wallClockTimestamp();
    const dest = sqlUriList(regionalDestination('exec-west'));
    const r = await queryOne(client, `BACKUP DATABASE bank INTO ${dest} AS OF SYSTEM TIME '${ts}' WITH EXECUTION LOCALITY = 'region=us-west1'`);
    expect(col(r, 'status')).toBe('succeeded');
    expect(Number(col(r, 'rows'))).toBe(ROWS + CUSTOMERS + ACCOUNTS);
    expect(col(await showJob(client, col(r, 'job_id')), 'description')).toContain("EXECUTION LOCALITY = 'region=us-west1'");

    const [east, west, eu] = await keysByRegion('exec-west/');
    expect(east!.filter(isDataFile)).toEqual([]);
    expect(eu).toEqual([]);
    const westData = west!.filter(isDataFile);
    expect(westData.length).toBeGreaterThan(1);
    expect(new Set(westData.map(writerNodeId))).toEqual(new Set([at(nodeIds, 1)]));
    expect(west!.filter((k) => !isDataFile(k)).map((k) => k.replace(/^.*\//, ''))).toEqual(['BACKUP_PART_1_region=us-west1']);
    expect(east!.filter((k) => k.endsWith('/BACKUP_MANIFEST'))).toHaveLength(1);

    await client.execute(`RESTORE DATABASE bank FROM LATEST IN ${dest} WITH new_db_name = 'bank_west'`);
    expect(await databaseFingerprints(client, 'bank_west')).toEqual(await databaseFingerprints(client, 'bank', ts));
  });

  it("SHOW BACKUP ... WITH check_files finds a data file missing from any region's bucket", async () => {
    const check = (path: string) => `SHOW BACKUP FROM LATEST IN ${sqlUriList(regionalDestination(path))} WITH check_files`;
    for (const path of ['pitr', 'exec-west']) expect((await query(client, check(path))).length).toBeGreaterThan(0);

    // A file of the default (us-east1) bucket.
    const eastFile = at((await listKeys(s3, REGIONS[0].bucket, 'pitr/')).filter(isDataFile), 0);
    await deleteObject(s3, REGIONS[0].bucket, eastFile);
    const eastErr = await failure(client, check('pitr'));
    expect(eastErr.code).toBe('NOT_FOUND');
    expect(eastErr.message).toContain(eastFile.slice(eastFile.lastIndexOf('/data/') + 1));

    // A file of the us-west1 bucket: the exec-west backup keeps all its data there.
    const westFile = at((await listKeys(s3, REGIONS[1].bucket, 'exec-west/')).filter(isDataFile), 0);
    await deleteObject(s3, REGIONS[1].bucket, westFile);
    const westErr = await failure(client, check('exec-west'));
    expect(westErr.code).toBe('NOT_FOUND');
    expect(westErr.message).toContain(westFile.slice(westFile.lastIndexOf('/data/') + 1));
  });

  it('refuses at once an EXECUTION LOCALITY that no node matches, starting no job and writing nothing', async () => {
    const jobsBefore = (await query(client, 'SHOW JOBS')).length;
    const dest = sqlUriList(regionalDestination('exec-none'));
    for (const filter of ['region=mars', 'region=us-west1,zone=us-east1-b']) {
      const started = performance.now();
      const err = await failure(client, `BACKUP DATABASE bank INTO ${dest} WITH EXECUTION LOCALITY = '${filter}'`);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(err.code).toBe('FAILED_PRECONDITION');
      expect(err.message).toBe(`no instances found matching locality filter ${filter}`);
    }
    expect((await query(client, 'SHOW JOBS')).length).toBe(jobsBefore);
    expect((await keysByRegion('exec-none/')).flat()).toEqual([]);
  });

  it('never shows the secret key of a storage URI, in SHOW JOBS, connections, errors or logs', async () => {
    await client.execute(`CREATE EXTERNAL CONNECTION secret_conn AS '${s3Uri(REGIONS[0].bucket, 'secrets')}'`);
    const conns = await query(client, 'SHOW EXTERNAL CONNECTIONS');
    const conn = conns.find((c) => c['connection_name'] === 'secret_conn');
    expect(col(conn ?? {}, 'connection_uri')).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(JSON.stringify(conns)).not.toContain(SECRET);

    // A job that fails on a node with an error naming its storage URI: the eu-west1 node does
    // all the work and its region's bucket does not exist.
    const broken = sqlUriList(
      localityAwareUris(s3Uri(REGIONS[0].bucket, 'secrets'), [{ tier: 'region=eu-west1', uri: s3Uri('no-such-bucket', 'secrets') }]),
    );
    const jobErr = await failure(client, `BACKUP DATABASE bank INTO ${broken} WITH EXECUTION LOCALITY = 'region=eu-west1'`);
    expect(jobErr.message).toMatch(/^job \d+ failed: node \d+: bucket "no-such-bucket" does not exist \(s3:\/\/no-such-bucket\//);
    expect(jobErr.message).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(jobErr.message).not.toContain(SECRET);

    // Errors raised while planning, before any job exists.
    const planning = [
      await failure(client, `SHOW BACKUPS IN '${s3Uri('no-such-bucket', 'x')}'`),
      await failure(client, `RESTORE DATABASE bank FROM LATEST IN '${s3Uri(REGIONS[0].bucket, 'nothing-here')}'`),
      await failure(client, `BACKUP DATABASE bank INTO LATEST IN '${s3Uri(REGIONS[0].bucket, 'nothing-here')}'`),
      await failure(client, `SHOW BACKUP FROM LATEST IN 'external://secret_conn'`),
    ];
    for (const e of planning) {
      expect(e.message).not.toContain(SECRET);
      expect(e.message.length).toBeGreaterThan(0);
    }
    expect(planning[1]!.message).toContain('no backups found in s3://backups-us-east1/nothing-here?');
    expect(planning[1]!.message).toContain('AWS_SECRET_ACCESS_KEY=redacted');

    const jobs = await query(client, 'SHOW JOBS');
    expect(jobs.length).toBeGreaterThanOrEqual(6);
    for (const j of jobs) {
      for (const c of ['description', 'statement', 'error'] as const) expect(j[c] ?? '', `${c} of job ${String(j['job_id'])}`).not.toContain(SECRET);
      expect(col(j, 'description')).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    }
    const failed = jobs.filter((j) => j['status'] === 'failed');
    expect(failed).toHaveLength(1);
    expect(col(at(failed, 0), 'error')).toContain('AWS_SECRET_ACCESS_KEY=redacted');

    // What the CLI prints, for rows and for an error, and what every process logged.
    const host = at(cluster.grpcAddresses(), 0);
    const shown = await sql(host, 'SHOW JOBS');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(shown.stdout).not.toContain(SECRET);
    const cliErr = await sql(host, `BACKUP DATABASE bank INTO ${broken} WITH EXECUTION LOCALITY = 'region=eu-west1'`);
    expect(cliErr.code).not.toBe(0);
    expect(cliErr.stderr).toContain('does not exist');
    expect(cliErr.stderr).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(cliErr.stdout + cliErr.stderr).not.toContain(SECRET);
    const logsDir = join(cluster.dataDir, 'logs');
    const logs = await readdir(logsDir);
    expect(logs.length).toBe(4);
    for (const f of logs) expect(await readFile(join(logsDir, f), 'utf8'), `log ${f}`).not.toContain(SECRET);
  });

  it("runs seed 001's backup, restore and job statements against external://backup_s3", async () => {
    await client.execute(`CREATE EXTERNAL CONNECTION backup_s3 AS '${s3Uri(SEEDS_BUCKET, 'collection')}'`);
    // Two empty clusters for the full-cluster restores (this test's and the next one's).
    const emptyClusters = Promise.all([startEmptyCluster(), startEmptyCluster()]);
    // The examples back up as of 10 s ago: let that be after every earlier test's writes.
    const quietFor = Date.now() - quietSince;
    if (quietFor < 11_000) await sleep(11_000 - quietFor);
    expectedBank = await databaseFingerprints(client, 'bank');
    const expected = expectedBank;
    expect(expected.map(([t]) => t)).toEqual(['accounts', 'bank', 'customers']);
    const fpOf = (table: string) => expected.find(([t]) => t === table)!;

    /** Each seed backup's job id and the description SHOW JOBS must give it. */
    const descriptions = new Map<string, string>();
    const backup = async (statement: string, description = statement): Promise<Row> => {
      const r = await client.execute(statement);
      expect(r.columns).toEqual(['job_id', 'status', 'fraction_completed', 'rows', 'index_entries', 'bytes']);
      const row = rowsOf(r)[0]!;
      expect(row['status'], statement).toBe('succeeded');
      descriptions.set(col(row, 'job_id'), description);
      return row;
    };
    const restore = async (statement: string, rows: number): Promise<void> => {
      const row = await queryOne(client, statement);
      expect(row['status'], statement).toBe('succeeded');
      expect(Number(col(row, 'rows')), `rows of ${statement}`).toBe(rows);
    };

    // "Choose backup scope" and "Create incremental backups".
    const clusterFull = await backup(`BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'`);
    // bank and the databases restored by the earlier tests, each a copy of bank.
    const clusterRows = 4 * (ROWS + CUSTOMERS + ACCOUNTS);
    expect(Number(col(clusterFull, 'rows'))).toBe(clusterRows);
    const dbFull = await backup(`BACKUP DATABASE bank INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'`);
    expect(Number(col(dbFull, 'rows'))).toBe(ROWS + CUSTOMERS + ACCOUNTS);
    const tablesFull = await backup(
      `BACKUP bank.customers, bank.accounts INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'`,
      // Shown as CockroachDB shows it, with the TABLE keyword.
      `BACKUP TABLE bank.customers, bank.accounts INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'`,
    );
    expect(Number(col(tablesFull, 'rows'))).toBe(CUSTOMERS + ACCOUNTS);
    const tablesOnly = await query(client, `SHOW BACKUP FROM LATEST IN 'external://backup_s3'`);
    expect(tablesOnly.filter((r) => r['object_type'] === 'table').map((r) => r['object_name']).sort()).toEqual(['accounts', 'customers']);
    expect(new Set(tablesOnly.map((r) => r['is_full_cluster']))).toEqual(new Set(['false']));
    expect(Number(col(await backup(`BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'`), 'rows'))).toBe(clusterRows);
    expect(Number(col(await backup(`BACKUP INTO LATEST IN 'external://backup_s3' AS OF SYSTEM TIME '-10s'`), 'rows'))).toBe(0);

    // "Identify backup location".
    const paths = (await query(client, `SHOW BACKUPS IN 'external://backup_s3'`)).map((r) => col(r, 'path'));
    expect(paths).toHaveLength(4);
    expect([...paths].sort()).toEqual(paths);
    for (const p of paths) expect(p).toMatch(/^\/\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2}$/);
    const latest = await query(client, `SHOW BACKUP FROM LATEST IN 'external://backup_s3'`);
    const bankLayers = latest.filter((r) => r['database_name'] === 'bank' && r['object_name'] === 'bank');
    expect(bankLayers.map((r) => [r['backup_type'], r['rows'], r['is_full_cluster']])).toEqual([
      ['full', String(ROWS), 'true'],
      ['incremental', '0', 'true'],
    ]);
    expect(bankLayers[1]?.['start_time']).toBe(bankLayers[0]?.['end_time']);

    // "Monitor backup jobs".
    const backupJobs = await query(client, `SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'BACKUP'`);
    expect(new Set(backupJobs.map((j) => j['job_type']))).toEqual(new Set(['BACKUP']));
    expect(backupJobs.length).toBeGreaterThan(descriptions.size); // the earlier tests' backups too
    const byId = new Map(backupJobs.map((j) => [col(j, 'job_id'), j]));
    for (const [id, description] of descriptions) {
      expect(byId.get(id)?.['status'], `job ${id}`).toBe('succeeded');
      expect(byId.get(id)?.['description']).toBe(description);
    }
    const one = await showJob(client, col(clusterFull, 'job_id'));
    expect([one['job_type'], one['status'], one['fraction_completed']]).toEqual(['BACKUP', 'succeeded', '1']);
    const noJob = await failure(client, 'SHOW JOB 123456789');
    expect([noJob.code, noJob.message]).toEqual(['NOT_FOUND', 'job with ID 123456789 does not exist']);

    // PAUSE / RESUME / CANCEL JOB on real jobs (in a second collection under the connection).
    const paused = col(await queryOne(client, `BACKUP INTO 'external://backup_s3/control' WITH detached`), 'job_id');
    expect((await client.execute(`PAUSE JOB ${paused}`)).tag).toBe('PAUSE JOB');
    expect(col(await waitForJobStatus(client, paused, ['paused', 'succeeded', 'failed']), 'status')).toBe('paused');
    expect((await client.execute(`RESUME JOB ${paused}`)).tag).toBe('RESUME JOB');
    expect(col(await queryOne(client, `SHOW JOB WHEN COMPLETE ${paused}`), 'status')).toBe('succeeded');
    const canceled = col(await queryOne(client, `BACKUP INTO 'external://backup_s3/control' WITH detached`), 'job_id');
    expect((await client.execute(`CANCEL JOB ${canceled}`)).tag).toBe('CANCEL JOB');
    expect(col(await queryOne(client, `SHOW JOB WHEN COMPLETE ${canceled}`), 'status')).toBe('canceled');
    expect(await query(client, `SHOW BACKUPS IN 'external://backup_s3/control'`)).toHaveLength(1);

    // "Restore cluster, database, or tables". A full-cluster restore needs an empty cluster.
    const notEmpty = await failure(client, `RESTORE FROM LATEST IN 'external://backup_s3'`);
    expect(notEmpty.code).toBe('FAILED_PRECONDITION');
    expect(notEmpty.message).toMatch(/^full cluster restore can only be run on a cluster with no tables or databases but found \d+ descriptors/);
    const [empty, spare] = await emptyClusters;
    spareEmptyCluster = spare;
    await empty.execute(`CREATE EXTERNAL CONNECTION backup_s3 AS '${s3Uri(SEEDS_BUCKET, 'collection')}'`);
    const fresh = await queryOne(empty, `RESTORE FROM LATEST IN 'external://backup_s3'`);
    expect([fresh['status'], fresh['rows']]).toEqual(['succeeded', String(clusterRows)]);
    const freshDbs = (await query(empty, 'SHOW DATABASES')).map((r) => Object.values(r)[0]);
    expect(freshDbs).toEqual(expect.arrayContaining(['bank', 'bank_at_ts1', 'bank_at_ts2', 'bank_west']));
    expect(await databaseFingerprints(empty, 'bank')).toEqual(expected);
    expect(await databaseFingerprints(empty, 'bank_west')).toEqual(await databaseFingerprints(client, 'bank_west'));

    await client.execute('DROP DATABASE bank CASCADE');
    await restore(`RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'`, ROWS + CUSTOMERS + ACCOUNTS);
    expect(await databaseFingerprints(client, 'bank')).toEqual(expected);
    await restore(`RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'
  WITH new_db_name = 'bank_restored'`, ROWS + CUSTOMERS + ACCOUNTS);
    expect(await databaseFingerprints(client, 'bank_restored')).toEqual(expected);

    await client.execute('DROP TABLE bank.accounts');
    await client.execute('DROP TABLE bank.customers');
    await restore(`RESTORE bank.customers, bank.accounts FROM LATEST IN 'external://backup_s3'`, CUSTOMERS + ACCOUNTS);
    expect(await databaseFingerprints(client, 'bank')).toEqual(expected);
    const accountsDdl = col(await queryOne(client, 'SHOW CREATE TABLE bank.accounts'), 'create_statement');
    expect(accountsDdl).toContain('FOREIGN KEY (customer_id) REFERENCES customers(id)');

    await client.execute('CREATE DATABASE newdb');
    await restore(`RESTORE bank.customers FROM LATEST IN 'external://backup_s3'
  WITH into_db = 'newdb'`, CUSTOMERS);
    expect(await databaseFingerprints(client, 'newdb')).toEqual([fpOf('customers')]);

    // "Restore with options".
    await client.execute('DROP DATABASE bank CASCADE');
    const detached = await client.execute(`RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'
  WITH DETACHED`);
    expect(detached.columns).toEqual(['job_id']);
    const restoreJob = await queryOne(client, `SHOW JOB WHEN COMPLETE ${at(detached.rows, 0)[0]}`);
    expect([restoreJob['job_type'], restoreJob['status']]).toEqual(['RESTORE', 'succeeded']);
    expect(await databaseFingerprints(client, 'bank')).toEqual(expected);

    // The seed's literal time predates every backup in the collection.
    const tooEarly = await failure(client, `RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'
  AS OF SYSTEM TIME '2024-03-01 10:00:00'`);
    expect(tooEarly.code).toBe('INVALID_ARGUMENT');
    expect(tooEarly.message).toMatch(/^invalid RESTORE timestamp: /);

    await client.execute('DROP TABLE bank.accounts');
    const missingFk = await failure(client, `RESTORE bank.accounts FROM LATEST IN 'external://backup_s3'`);
    expect(missingFk.code).toBe('FAILED_PRECONDITION');
    expect(missingFk.message).toContain('cannot restore table "accounts" without referenced table');
    await restore(`RESTORE bank.accounts FROM LATEST IN 'external://backup_s3'
  WITH skip_missing_foreign_keys`, ACCOUNTS);
    expect(col(await queryOne(client, 'SHOW CREATE TABLE bank.accounts'), 'create_statement')).not.toContain('FOREIGN KEY');
    expect(await databaseFingerprints(client, 'bank')).toEqual(expected);

    // "Backup Validation".
    for (const statement of [
      `RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'
  WITH schema_only`,
      `RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'
  WITH schema_only, verify_backup_table_data`,
    ]) {
      await client.execute('DROP DATABASE bank CASCADE');
      expect(col(await queryOne(client, statement), 'status')).toBe('succeeded');
      for (const t of ['bank', 'customers', 'accounts']) expect(await countRows(client, `bank.${t}`), `${statement}: bank.${t}`).toBe(0);
    }

    // Leave bank as it was for the next test.
    await client.execute('DROP DATABASE bank CASCADE');
    await restore(`RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3'`, ROWS + CUSTOMERS + ACCOUNTS);
    expect(await databaseFingerprints(client, 'bank')).toEqual(expected);
  });

  it("runs seed 004's pre-collection statements: BACKUP TO, RESTORE ... FROM '<location>'", async () => {
    const expected = expectedBank;
    const fpOf = (table: string) => expected.find(([t]) => t === table)!;
    const location = 'external://backup_s3/legacy';

    // "Full backups": a cluster backup to a location that has none yet is a full backup.
    const full = await queryOne(client, `BACKUP TO '${location}'`);
    expect(full['status']).toBe('succeeded');
    expect(Number(col(full, 'rows'))).toBeGreaterThanOrEqual(4 * (ROWS + CUSTOMERS + ACCOUNTS));
    // "Incremental backups": the same statement again appends an incremental to it.
    await client.execute(`INSERT INTO bank.customers (id, name) VALUES (${CUSTOMERS}, 'added-after-the-full')`);
    const incremental = await queryOne(client, `BACKUP TO '${location}'`);
    expect([incremental['status'], incremental['rows']]).toEqual(['succeeded', '1']);
    expect(await query(client, `SHOW BACKUPS IN '${location}'`)).toHaveLength(1);
    const layers = (await query(client, `SHOW BACKUP '${location}'`)).filter((r) => r['database_name'] === 'bank' && r['object_name'] === 'customers');
    expect(layers.map((r) => [r['backup_type'], r['rows']])).toEqual([
      ['full', String(CUSTOMERS)],
      ['incremental', '1'],
    ]);
    const withCustomer = await databaseFingerprints(client, 'bank');
    expect(withCustomer).not.toEqual(expected);

    // RESTORE TABLE bank.customers FROM '<backup_location>': the newest chain, incremental included.
    await client.execute('DROP TABLE bank.accounts');
    await client.execute('DROP TABLE bank.customers');
    expect(col(await queryOne(client, `RESTORE TABLE bank.customers FROM '${location}'`), 'rows')).toBe(String(CUSTOMERS + 1));
    expect(await countRows(client, 'bank.customers')).toBe(CUSTOMERS + 1);
    expect(await databaseFingerprints(client, 'bank')).toEqual([fpOf('bank'), withCustomer.find(([t]) => t === 'customers')!]);

    // RESTORE DATABASE bank FROM '<backup_location>'.
    await client.execute('DROP DATABASE bank CASCADE');
    expect(col(await queryOne(client, `RESTORE DATABASE bank FROM '${location}'`), 'rows')).toBe(String(ROWS + CUSTOMERS + 1 + ACCOUNTS));
    expect(await databaseFingerprints(client, 'bank')).toEqual(withCustomer);

    // RESTORE FROM '<backup_location>': a full-cluster restore, so into an empty cluster.
    const empty = spareEmptyCluster;
    if (!empty) throw new Error('the previous test did not start the spare empty cluster');
    await empty.execute(`CREATE EXTERNAL CONNECTION backup_s3 AS '${s3Uri(SEEDS_BUCKET, 'collection')}'`);
    expect(col(await queryOne(empty, `RESTORE FROM '${location}'`), 'status')).toBe('succeeded');
    expect(await databaseFingerprints(empty, 'bank')).toEqual(withCustomer);
    expect(await databaseFingerprints(empty, 'bank_at_ts1')).toEqual(await databaseFingerprints(client, 'bank_at_ts1'));
  });

  it('runs the seed schedule statements: schedules take backups and are paused, resumed and dropped', async () => {
    // A fresh collection: CREATE SCHEDULE refuses one that already holds backups.
    await client.execute(`CREATE EXTERNAL CONNECTION schedules_s3 AS '${s3Uri(SEEDS_BUCKET, 'schedules')}'`);
    const daily = await query(
      client,
      `CREATE SCHEDULE daily_backup
  FOR BACKUP INTO 'external://schedules_s3'
  RECURRING '@daily'
  FULL BACKUP ALWAYS
  WITH SCHEDULE OPTIONS first_run = 'now'`,
    );
    expect(daily).toHaveLength(1);
    expect(col(daily[0]!, 'label')).toBe('daily_backup');
    expect(col(daily[0]!, 'status')).toBe('ACTIVE');
    expect(col(daily[0]!, 'backup_stmt')).toContain("INTO 'external://schedules_s3' WITH detached");
    const dailyId = col(daily[0]!, 'schedule_id');
    // first_run = 'now': the scheduler starts a full backup within a poll interval or two.
    const job = await waitFor(
      async () => {
        const jobs = await query(client, `SHOW JOBS FOR SCHEDULE ${dailyId}`);
        return jobs.find((j) => col(j, 'status') === 'succeeded');
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the scheduled full backup to succeed' },
    );
    expect(col(job, 'description')).toContain('AS OF SYSTEM TIME');
    expect((await query(client, `SHOW BACKUPS IN 'external://schedules_s3'`)).length).toBe(1);

    // The same collection again: refused without ignore_existing_backups.
    const refused = await failure(client, `CREATE SCHEDULE again FOR BACKUP INTO 'external://schedules_s3' RECURRING '@daily' FULL BACKUP ALWAYS`);
    expect(refused.message).toContain('ignore_existing_backups');

    await client.execute(`CREATE EXTERNAL CONNECTION schedules2_s3 AS '${s3Uri(SEEDS_BUCKET, 'schedules2')}'`);
    const paired = await query(
      client,
      `CREATE SCHEDULE hourly_incremental
  FOR BACKUP INTO 'external://schedules2_s3'
  RECURRING '@hourly'
  WITH SCHEDULE OPTIONS first_run = 'now'`,
    );
    // An hourly incremental gets a daily full: two schedules with the same label.
    expect(paired.map((r) => col(r, 'schedule'))).toEqual(['@hourly', '@daily']);
    expect(paired.map((r) => col(r, 'label'))).toEqual(['hourly_incremental', 'hourly_incremental']);

    const shown = await query(client, 'SHOW SCHEDULES');
    expect(shown.map((r) => col(r, 'label')).sort()).toEqual(['daily_backup', 'hourly_incremental', 'hourly_incremental']);
    await client.execute(`PAUSE SCHEDULE ${dailyId}`);
    expect(col(await queryOne(client, `SHOW SCHEDULE ${dailyId}`), 'schedule_status')).toBe('PAUSED');
    await client.execute(`RESUME SCHEDULE ${dailyId}`);
    expect(col(await queryOne(client, `SHOW SCHEDULE ${dailyId}`), 'schedule_status')).toBe('ACTIVE');
    const dropped = await client.execute(
      "DROP SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'hourly_incremental'",
    );
    expect(dropped.tag).toBe('DROP SCHEDULES 2');
    await client.execute(`DROP SCHEDULE ${dailyId}`);
    expect(await query(client, 'SHOW SCHEDULES')).toHaveLength(0);
  });

  it('restores the schema as of the restore time inside a revision_history window', async () => {
    const uri = s3Uri(SEEDS_BUCKET, 'schema-history');
    await client.execute('CREATE DATABASE shop');
    await client.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)');
    await client.execute('INSERT INTO shop.orders VALUES (1, 10), (2, 20)');
    await client.execute(`BACKUP DATABASE shop INTO '${uri}' WITH revision_history`);
    await sleep(300);
    const beforeItems = String(BigInt(Date.now()) * 1_000_000n);
    await sleep(300);
    await client.execute('CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING)');
    await client.execute("INSERT INTO shop.items VALUES (1, 'a')");
    await client.execute('DROP TABLE shop.orders');
    await client.execute(`BACKUP DATABASE shop INTO LATEST IN '${uri}' WITH revision_history`);

    await client.execute(`RESTORE DATABASE shop FROM LATEST IN '${uri}' AS OF SYSTEM TIME '${beforeItems}' WITH new_db_name = 'shop_then'`);
    expect((await query(client, 'SHOW TABLES FROM shop_then')).map((r) => col(r, 'table_name'))).toEqual(['orders']);
    expect((await query(client, 'SELECT * FROM shop_then.orders')).map((r) => col(r, 'total'))).toEqual(['10', '20']);

    await client.execute(`RESTORE DATABASE shop FROM LATEST IN '${uri}' WITH new_db_name = 'shop_now'`);
    expect((await query(client, 'SHOW TABLES FROM shop_now')).map((r) => col(r, 'table_name'))).toEqual(['items']);
  });

  it('runs BACKUP TO ... INCREMENTAL FROM (004) and restores the chain from one location per layer', async () => {
    const gs = (path: string) => s3Uri(SEEDS_BUCKET, `acme-co-backup/${path}`);
    const weekly = gs('database-bank-2017-03-27-weekly');
    const nightly = gs('database-bank-2017-03-28-nightly');
    const target = gs('db/bank/2017-03-29-nightly');
    const transfer = (amount: number) =>
      client.execute(`UPDATE bank.bank SET balance = CASE id WHEN 1 THEN balance - ${amount} WHEN 2 THEN balance + ${amount} END WHERE id IN (1, 2)`);

    expect(col(await queryOne(client, `BACKUP DATABASE bank TO '${weekly}' WITH revision_history`), 'status')).toBe('succeeded');
    await transfer(7);
    await sleep(300);
    const between = wallClockTimestamp();
    await sleep(300);
    await transfer(11);
    expect(col(await queryOne(client, `BACKUP DATABASE bank TO '${nightly}' INCREMENTAL FROM '${weekly}' WITH revision_history`), 'status')).toBe(
      'succeeded',
    );
    await transfer(13);
    // The seed backs up as of 10 s ago: that must be after the nightly's end.
    await sleep(11_000);
    const seed = `BACKUP DATABASE bank
TO '${target}'
AS OF SYSTEM TIME '-10s'
INCREMENTAL FROM '${weekly}', '${nightly}' WITH revision_history`;
    expect(col(await queryOne(client, seed), 'status')).toBe('succeeded');

    // The target holds one incremental layer, continuing the nightly.
    const [layerRow] = (await query(client, `SHOW BACKUP '${target}'`)).filter((r) => r['object_name'] === 'bank' && r['object_type'] === 'table');
    expect(col(layerRow!, 'backup_type')).toBe('incremental');
    const [nightlyRow] = (await query(client, `SHOW BACKUP '${nightly}'`)).filter((r) => r['object_name'] === 'bank' && r['object_type'] === 'table');
    expect(col(layerRow!, 'start_time')).toBe(col(nightlyRow!, 'end_time'));
    const endTime = col(layerRow!, 'end_time');

    // Restoring from the three locations gives the source as of the target's end; a time
    // inside the revision-history window gives the source as of then.
    const all = `'${weekly}', '${nightly}', '${target}'`;
    expect(col(await queryOne(client, `RESTORE DATABASE bank FROM ${all} WITH new_db_name = 'bank_inc_from'`), 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'bank_inc_from')).toEqual(await databaseFingerprints(client, 'bank', endTime));
    // ...which includes the transfer made after the nightly: the target's layer was used.
    expect(await databaseFingerprints(client, 'bank_inc_from')).not.toEqual(await databaseFingerprints(client, 'bank', col(nightlyRow!, 'end_time')));
    await client.execute(`RESTORE DATABASE bank FROM ${all} AS OF SYSTEM TIME '${between}' WITH new_db_name = 'bank_inc_between'`);
    expect(await databaseFingerprints(client, 'bank_inc_between')).toEqual(await databaseFingerprints(client, 'bank', between));
    expect(BigInt(col(await queryOne(client, 'SELECT sum(balance) FROM bank_inc_between.bank'), 'sum'))).toBe(TOTAL);

    // Clear errors: an incremental alone, a gap in the chain, a destination already used.
    expect((await failure(client, `RESTORE DATABASE bank FROM '${target}' WITH new_db_name = 'x1'`)).message).toContain('is an incremental backup');
    expect((await failure(client, `RESTORE DATABASE bank FROM '${weekly}', '${target}' WITH new_db_name = 'x2'`)).message).toContain(
      'backups do not form a chain',
    );
    expect((await failure(client, `RESTORE DATABASE bank FROM '${nightly}', '${weekly}' WITH new_db_name = 'x3'`)).message).toContain('is an incremental backup');
    const again = await failure(client, seed);
    expect(again.code).toBe('DUPLICATE_OBJECT');
    expect(again.message).toContain('already contains a backup');
    expect(again.message).not.toContain(SECRET);
    await client.execute('DROP DATABASE bank_inc_from CASCADE');
    await client.execute('DROP DATABASE bank_inc_between CASCADE');
  });

  it("runs seed 001's GRANT statements, its placeholder user replaced by a real one", async () => {
    // The seed's `user` is a placeholder and a reserved keyword: CockroachDB (and cairn) refuse
    // it unquoted, so the statements run for a user named maxroach.
    expect((await failure(client, 'GRANT SYSTEM RESTORE TO user;')).code).toBe('SYNTAX_ERROR');
    await client.execute('CREATE USER maxroach');
    for (const statement of ['GRANT SYSTEM RESTORE TO maxroach;', 'GRANT RESTORE ON DATABASE bank TO maxroach;']) {
      expect((await client.execute(statement)).tag, statement).toBe('GRANT');
    }
    expect((await client.execute('SHOW SYSTEM GRANTS FOR maxroach')).rows).toEqual([['maxroach', 'RESTORE', 'false']]);
    expect((await client.execute('SHOW GRANTS ON DATABASE bank FOR maxroach')).rows).toEqual([['bank', 'maxroach', 'RESTORE', 'false']]);
  });
});
