/**
 * BACKUP and RESTORE under faults, with real processes: two coordinators and three nodes on
 * one nats-server, backing up six tables (~18 MB, split into 1 MiB ranges, so a backup is
 * dozens of work items) to a file:// dir, a nodelocal dir and an s3rver bucket.
 *
 * - A node SIGKILLed while it writes a data file: its work item is redelivered after the
 *   15 s ack wait, the job succeeds, and the manifest has every span exactly once.
 * - The coordinator leader SIGKILLed mid-backup: the standby adopts the job and finishes it.
 * - PAUSE then RESUME completes the backup; CANCEL ends it canceled with LATEST unmoved.
 * - A flipped byte in a data file fails RESTORE with a checksum mismatch naming the file; a
 *   tampered BACKUP_MANIFEST fails SHOW BACKUP and RESTORE with "checksum mismatch for".
 */
import { existsSync, watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import {
  ProcessCluster,
  startNatsServer,
  startS3Server,
  tempDir,
  waitFor,
  type NatsServerHandle,
  type S3ServerHandle,
} from '@cairn/testing';
import {
  backupRowsByTable,
  col,
  databaseFingerprints,
  failure,
  flipByte,
  loadTable,
  query,
  queryOne,
  rangeCount,
  showJob,
  waitForJobStatus,
  wallClockTimestamp,
  inFlightDataFiles,
  inFlightWriterNodeId,
} from './support/backup.js';
import { at, nodeIdOf, showNodes } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { getObject, listKeys, putObject } from './support/s3-objects.js';

const TABLES = ['t0', 't1', 't2', 't3', 't4', 't5'];
const ROWS_PER_TABLE = 3_000;
const PAYLOAD_BYTES = 1_000;
const BUCKET = 'faults';
const LOCALITIES = [
  'region=us-east1,zone=us-east1-b',
  'region=us-west1,zone=us-west1-a',
  'region=eu-west1,zone=eu-west1-c',
];

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
const clients: CairnClient[] = [];

/** Every table of the `faults` database with its row count, as SHOW BACKUP reports them. */
const fullRowCounts = () => new Map(TABLES.map((t) => [`faults.${t}`, BigInt(ROWS_PER_TABLE)]));

/**
 * Restores the `faults` backup LATEST in `collection` as `name` and checks it equals the
 * source as of the backup's time, table by table.
 */
async function expectRestoredAsOf(c: CairnClient, collection: string, name: string, asOf: string): Promise<void> {
  const r = await queryOne(c, `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH new_db_name = '${name}'`);
  expect(col(r, 'status')).toBe('succeeded');
  expect(Number(col(r, 'rows'))).toBe(TABLES.length * ROWS_PER_TABLE);
  const source = await databaseFingerprints(c, 'faults', asOf);
  expect(source.map(([t]) => t)).toEqual(TABLES);
  expect(await databaseFingerprints(c, name), `${name} vs faults as of ${asOf}`).toEqual(source);
}

beforeAll(async () => {
  [nats, s3] = await Promise.all([startNatsServer(), startS3Server({ buckets: [BUCKET] })]);
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: LOCALITIES.map((locality) => ({ locality })) });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  clients.push(client);
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '1MiB'`);
  await client.execute('CREATE DATABASE faults');
  await Promise.all(TABLES.map((t) => loadTable(client, `faults.${t}`, ROWS_PER_TABLE, PAYLOAD_BYTES)));
  // Each 3 MB table splits in two every 10 s; two rounds give the backups enough work items.
  const tables = TABLES.map((t) => `faults.${t}`);
  await waitFor(async () => (await rangeCount(client, tables)) >= 4 * TABLES.length, {
    what: 'the faults tables split into 4 ranges each',
    timeoutMs: 60_000,
    intervalMs: 1_000,
  });
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64MiB'`);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  await s3?.stop();
  await nats?.stop();
});

describe('BACKUP and RESTORE under faults', () => {
  it('finishes a backup whose node was SIGKILLed mid-file, with every span once', async () => {
    const dir = await tempDir('cairn-backup-node-kill');
    const collection = `file://${dir}`;
    const victim = at(cluster.nodes, 1, 'node');
    const victimId = nodeIdOf(victim);
    const ts = wallClockTimestamp();
    const id = col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}' AS OF SYSTEM TIME '${ts}' WITH detached`), 'job_id');

    // Kill the victim while a data file of its own is half written. A file of a 1 MiB range
    // lives a few milliseconds (the writer sends it to storage in 512 KiB chunks), less than
    // polling for it takes, so: find the layer's data dir by polling, then kill the victim
    // the moment it creates its next temp file there (inotify), while it exports into it.
    const first = await waitFor(async () => (await inFlightDataFiles(dir))[0], {
      what: 'a data file in flight',
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    const dataDir = join(dir, dirname(first));
    const writing = await new Promise<string>((resolve, reject) => {
      const watcher = watch(dataDir, (_event, name) => {
        // A rename away from the temp name reports it too: only a file still there will do.
        if (name === null || inFlightWriterNodeId(`data/${name}`) !== victimId || !existsSync(join(dataDir, name))) return;
        void victim.kill();
        watcher.close();
        clearTimeout(timer);
        resolve(name);
      });
      const timer = setTimeout(() => {
        watcher.close();
        reject(new Error(`node ${victimId} created no data file in ${dataDir} within 20 s`));
      }, 20_000);
    });
    await victim.kill();
    const killedAt = performance.now();
    expect(victim.exitStatus?.signal).toBe('SIGKILL');
    expect(col(await showJob(client, id), 'status')).toBe('running');

    const done = await queryOne(client, `SHOW JOB WHEN COMPLETE ${id}`);
    const afterKillMs = performance.now() - killedAt;
    console.log(`node kill: node ${victimId} killed as it created ${writing}; job done ${Math.round(afterKillMs)} ms after the SIGKILL`);
    expect(col(done, 'status')).toBe('succeeded');
    // Another node took the victim's item over (after the 15 s ack wait), well within a minute.
    expect(afterKillMs).toBeLessThan(45_000);
    // The victim's half-written file is left behind, unlisted; it stayed down, so others
    // exported its span, and the manifest has every span exactly once.
    expect((await inFlightDataFiles(dir)).filter((p) => inFlightWriterNodeId(p) === victimId).length).toBeGreaterThan(0);
    expect(await backupRowsByTable(client, `SHOW BACKUP FROM LATEST IN '${collection}'`)).toEqual(fullRowCounts());
    await expectRestoredAsOf(client, collection, 'after_node_kill', ts);

    await victim.restart();
    expect(nodeIdOf(victim)).toBe(victimId);
    await waitFor(async () => (await showNodes(client)).every((n) => n['is_live'] === 'true'), {
      what: 'every node live again',
      timeoutMs: 30_000,
    });
  });

  it('has the standby coordinator adopt and finish a backup whose leader was SIGKILLed', async () => {
    const leader = await leaderCoordinator(cluster);
    const standby = at(cluster.coordinators.filter((c) => c !== leader), 0, 'standby');
    const viaStandby = new CairnClient({ addresses: [reportedAddress(standby, 'grpc')], retryForMs: 60_000 });
    clients.push(viaStandby);
    const collection = s3.uri(BUCKET, 'leader-kill');
    const ts = wallClockTimestamp();
    const id = col(await queryOne(viaStandby, `BACKUP DATABASE faults INTO '${collection}' AS OF SYSTEM TIME '${ts}' WITH detached`), 'job_id');
    const before = await showJob(viaStandby, id);
    expect(['pending', 'running']).toContain(col(before, 'status'));
    expect(col(before, 'coordinator_id')).toBe(leader.name);
    await leader.kill();
    expect(leader.exitStatus?.signal).toBe('SIGKILL');

    const done = await queryOne(viaStandby, `SHOW JOB WHEN COMPLETE ${id}`);
    expect(col(done, 'status')).toBe('succeeded');
    expect(col(done, 'coordinator_id')).toBe(standby.name);
    expect(standby.logs()).toMatch(new RegExp(`"jobId":"${id}"[^\\n]*"msg":"adopting job"`));
    expect(await backupRowsByTable(viaStandby, `SHOW BACKUP FROM LATEST IN '${collection}'`)).toEqual(fullRowCounts());
    await expectRestoredAsOf(viaStandby, collection, 'after_leader_kill', ts);

    await leader.restart();
  });

  it('completes a paused backup once resumed, writing nothing visible while paused', async () => {
    const collection = s3.uri(BUCKET, 'pause');
    const ts = wallClockTimestamp();
    const id = col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}' AS OF SYSTEM TIME '${ts}' WITH detached`), 'job_id');
    expect((await client.execute(`PAUSE JOB ${id}`)).tag).toBe('PAUSE JOB');
    const paused = await waitForJobStatus(client, id, ['paused', 'succeeded', 'failed']);
    expect(col(paused, 'status')).toBe('paused');
    expect(Number(col(paused, 'fraction_completed'))).toBeLessThan(1);

    // It stays paused: no manifest, no LATEST, nothing to restore from.
    await sleep(2_000);
    expect(col(await showJob(client, id), 'status')).toBe('paused');
    expect(await query(client, `SHOW BACKUPS IN '${collection}'`)).toEqual([]);
    const nothing = await failure(client, `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH new_db_name = 'nothing'`);
    expect(nothing.code).toBe('NOT_FOUND');
    expect((await listKeys(s3, BUCKET, 'pause/')).filter((k) => k.endsWith('BACKUP_MANIFEST') || k.includes('/LATEST'))).toEqual([]);
    // PAUSE of a paused job changes nothing.
    expect((await client.execute(`PAUSE JOB ${id}`)).tag).toBe('PAUSE JOB');
    expect(col(await showJob(client, id), 'status')).toBe('paused');

    expect((await client.execute(`RESUME JOB ${id}`)).tag).toBe('RESUME JOB');
    const done = await queryOne(client, `SHOW JOB WHEN COMPLETE ${id}`);
    expect([done['status'], done['fraction_completed']]).toEqual(['succeeded', '1']);
    expect(await query(client, `SHOW BACKUPS IN '${collection}'`)).toHaveLength(1);
    expect(await backupRowsByTable(client, `SHOW BACKUP FROM LATEST IN '${collection}'`)).toEqual(fullRowCounts());
    await expectRestoredAsOf(client, collection, 'after_pause', ts);

    const resumeDone = await failure(client, `RESUME JOB ${id}`);
    expect([resumeDone.code, resumeDone.message]).toEqual(['FAILED_PRECONDITION', 'job with status succeeded cannot be requested to be resumed']);
  });

  it('ends a canceled backup canceled, leaving LATEST on the previous backup', async () => {
    const collection = s3.uri(BUCKET, 'cancel');
    const ts = wallClockTimestamp();
    expect(col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}' AS OF SYSTEM TIME '${ts}'`), 'status')).toBe('succeeded');
    const before = await databaseFingerprints(client, 'faults', ts);
    await client.execute(`UPSERT INTO faults.t0 (id, balance, payload) VALUES (0, -1, 'changed after the first backup')`);
    expect(await databaseFingerprints(client, 'faults')).not.toEqual(before);

    const id = col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}' WITH detached`), 'job_id');
    expect((await client.execute(`CANCEL JOB ${id}`)).tag).toBe('CANCEL JOB');
    const done = await queryOne(client, `SHOW JOB WHEN COMPLETE ${id}`);
    expect(col(done, 'status')).toBe('canceled');
    expect(Number(col(done, 'fraction_completed'))).toBeLessThan(1);
    const twice = await failure(client, `CANCEL JOB ${id}`);
    expect([twice.code, twice.message]).toEqual(['FAILED_PRECONDITION', 'job with status canceled cannot be requested to be canceled']);

    // Still one full backup, one manifest and one LATEST file; restoring LATEST gives the first.
    expect(await query(client, `SHOW BACKUPS IN '${collection}'`)).toHaveLength(1);
    const keys = await listKeys(s3, BUCKET, 'cancel/');
    expect(keys.filter((k) => k.endsWith('/BACKUP_MANIFEST'))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('cancel/metadata/latest/'))).toHaveLength(1);
    const r = await queryOne(client, `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH new_db_name = 'after_cancel'`);
    expect(col(r, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'after_cancel')).toEqual(before);
  });

  it('fails RESTORE on a flipped byte in a data file, naming the file, and drops what it created', async () => {
    const collection = s3.uri(BUCKET, 'corrupt');
    const ts = wallClockTimestamp();
    expect(col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}' AS OF SYSTEM TIME '${ts}'`), 'status')).toBe('succeeded');
    const dataFiles = (await listKeys(s3, BUCKET, 'corrupt/')).filter((k) => /\/data\/\d+\.sst$/.test(k));
    expect(dataFiles.length).toBeGreaterThan(1);
    const victim = at(dataFiles, 0);
    const original = await getObject(s3, BUCKET, victim);
    await putObject(s3, BUCKET, victim, flipByte(original, Math.floor(original.length / 2)));
    const fileName = victim.slice(victim.lastIndexOf('/data/') + 1);

    const err = await failure(client, `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH new_db_name = 'from_corrupt'`);
    expect(err.message).toContain('checksum mismatch');
    expect(err.message).toContain(fileName);
    const job = (await query(client, `SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'RESTORE'`)).at(-1);
    expect(job?.['status']).toBe('failed');
    expect(job?.['error']).toContain('checksum mismatch');
    expect(job?.['error']).toContain(fileName);
    // The OFFLINE database the failed restore created is gone again.
    const dbs = (await query(client, 'SHOW DATABASES')).map((row) => Object.values(row)[0]);
    expect(dbs).toContain('faults');
    expect(dbs).not.toContain('from_corrupt');

    // With the byte put back, the same restore succeeds.
    await putObject(s3, BUCKET, victim, original);
    await expectRestoredAsOf(client, collection, 'from_corrupt', ts);
  });

  it('finds a flipped byte with RESTORE ... WITH schema_only, verify_backup_table_data', async () => {
    const collection = s3.uri(BUCKET, 'verify');
    expect(col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}'`), 'status')).toBe('succeeded');
    const validate = (name: string) =>
      `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH schema_only, verify_backup_table_data, new_db_name = '${name}'`;
    // On an intact backup the validation passes and restores the schema alone.
    expect(col(await queryOne(client, validate('verified')), 'status')).toBe('succeeded');
    expect(Number(col(await queryOne(client, 'SELECT count(*) FROM verified.t0'), 'count'))).toBe(0);

    const dataFiles = (await listKeys(s3, BUCKET, 'verify/')).filter((k) => /\/data\/\d+\.sst$/.test(k));
    const victim = at(dataFiles, dataFiles.length - 1);
    const original = await getObject(s3, BUCKET, victim);
    await putObject(s3, BUCKET, victim, flipByte(original, Math.floor(original.length / 2)));
    // verify_backup_table_data reads every row and checks every checksum (as CockroachDB's
    // does), so the damage that a schema-only restore alone would not see fails it.
    const err = await failure(client, validate('verify_corrupt'));
    expect(err.message).toContain('checksum mismatch');
    expect(err.message).toContain(victim.slice(victim.lastIndexOf('/data/') + 1));
  });

  it('fails SHOW BACKUP, RESTORE and an incremental on a tampered BACKUP_MANIFEST', async () => {
    const node = at(cluster.nodes, 2, 'node');
    const nodeId = nodeIdOf(node);
    const collection = `nodelocal://${nodeId}/tampered`;
    expect(col(await queryOne(client, `BACKUP DATABASE faults INTO '${collection}'`), 'status')).toBe('succeeded');
    const [full] = (await query(client, `SHOW BACKUPS IN '${collection}'`)).map((r) => col(r, 'path'));
    // nodelocal://<id>/ is that node's <store>/extern dir.
    const manifest = join(cluster.dataDir, node.name, 'extern', 'tampered', ...full!.split('/').filter((s) => s !== ''), 'BACKUP_MANIFEST');
    const bytes = await readFile(manifest);
    await writeFile(manifest, flipByte(bytes, Math.floor(bytes.length / 2)));

    const expected = `checksum mismatch for ${full!.replace(/^\//, '')}/BACKUP_MANIFEST`;
    for (const statement of [
      `SHOW BACKUP FROM LATEST IN '${collection}'`,
      `RESTORE DATABASE faults FROM LATEST IN '${collection}' WITH new_db_name = 'from_tampered'`,
      `BACKUP DATABASE faults INTO LATEST IN '${collection}'`,
    ]) {
      const err = await failure(client, statement);
      expect(err.code, statement).toBe('DATA_CORRUPTION');
      expect(err.message, statement).toContain(expected);
    }
    // Listing needs no manifest contents: the backup is still there to be repaired.
    expect((await query(client, `SHOW BACKUPS IN '${collection}'`)).map((r) => r['path'])).toEqual([full]);
    expect((await query(client, 'SHOW DATABASES')).map((row) => Object.values(row)[0])).not.toContain('from_tampered');
  });
});
