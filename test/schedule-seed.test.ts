/**
 * Every statement of seed 000 ("Manage a Backup Schedule"), read from test/fixtures/seed-statements.json (checked against the seed page when CAIRN_SEEDS_DIR names their directory) and run in
 * its order on a real cluster (one coordinator, one node, s3rver). Only what the page leaves
 * to the reader is substituted: the bucket URI and its credentials, the schedule ids, and the
 * backup subdirectory and time of the final RESTORE. The page's label-based statements name
 * schedules `schedule_database` and `test_schedule`, which the test creates first with the
 * page's own CREATE SCHEDULE. The RESTORE is a full-cluster restore, so it runs on a second,
 * empty cluster, which must then hold the scheduled backup's data. Seed 004's full-backup-only
 * schedule (`core_schedule_label`) runs the same way.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, startS3Server, waitFor, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';
import { col, databaseFingerprints, query, queryOne, type Row } from './support/backup.js';

// The seed pages themselves are not part of the repo: where they are at hand
// (CAIRN_SEEDS_DIR=<dir of the .txt pages>), the fixture is also checked against them.
const SEEDS_DIR = process.env['CAIRN_SEEDS_DIR'] ?? '';
const SEED_URI = 's3://test/backups/test_schedule_1?AWS_ACCESS_KEY_ID={KEY ID}&AWS_SECRET_ACCESS_KEY={SECRET ACCESS KEY}';
const LOCALITY = 'region=us-east1,zone=us-east1-b';

let nats: NatsServerHandle;
let emptyNats: NatsServerHandle;
let s3: S3ServerHandle;
let cluster: ProcessCluster;
let empty: ProcessCluster;
let client: CairnClient;
let emptyClient: CairnClient;

/**
 * The statements this file runs, kept in the repo (test/fixtures/seed-statements.json) so a
 * clone without the seed pages beside it runs them too. Where the pages are there, the
 * fixture must equal a fresh extraction from them.
 */
interface SeedFixture {
  seed000Statements: string[];
  seed004CoreSchedule: string;
}
const FIXTURE = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/seed-statements.json', import.meta.url)), 'utf8')) as SeedFixture;
const seedsPresent = SEEDS_DIR !== '' && existsSync(SEEDS_DIR);

function seedStatements(): string[] {
  if (seedsPresent) expect(extractSeed000(), 'test/fixtures/seed-statements.json vs seed 000').toEqual(FIXTURE.seed000Statements);
  return FIXTURE.seed000Statements;
}

function seed004CoreSchedule(): string {
  if (seedsPresent) {
    const files = readdirSync(SEEDS_DIR).filter((f) => f.startsWith('004_'));
    const m = /> (CREATE SCHEDULE core_schedule_label[^;]*;)/.exec(readFileSync(join(SEEDS_DIR, files[0]!), 'utf8'));
    expect(m?.[1], 'test/fixtures/seed-statements.json vs seed 004').toBe(FIXTURE.seed004CoreSchedule);
  }
  return FIXTURE.seed004CoreSchedule;
}

/** The page's statements, in order: `> ` lines continued up to a `;`. */
function extractSeed000(): string[] {
  const files = readdirSync(SEEDS_DIR).filter((f) => f.startsWith('000_'));
  if (files.length !== 1) throw new Error(`expected one seed 000_* in ${SEEDS_DIR}, found ${files.length}`);
  const lines = readFileSync(join(SEEDS_DIR, files[0]!), 'utf8').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^>\s?(.*)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const collected = [m[1]!];
    while (!collected[collected.length - 1]!.trimEnd().endsWith(';') && i + 1 < lines.length) collected.push(lines[++i] ?? '');
    out.push(collected.join('\n'));
  }
  return out;
}

beforeAll(async () => {
  [nats, emptyNats, s3] = await Promise.all([startNatsServer(), startNatsServer(), startS3Server({ buckets: ['test'] })]);
  [cluster, empty] = await Promise.all([
    ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: [{ locality: LOCALITY }] }),
    ProcessCluster.start({ nats: emptyNats.url, coordinators: 1, nodes: [{ locality: LOCALITY }] }),
  ]);
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  emptyClient = new CairnClient({ addresses: empty.grpcAddresses(), retryForMs: 60_000 });
}, 120_000);

afterAll(async () => {
  client?.close();
  emptyClient?.close();
  await Promise.all([cluster?.stop(), empty?.stop()]);
  await Promise.all([s3?.stop(), nats?.stop(), emptyNats?.stop()]);
});

describe('seed 000: Manage a Backup Schedule', () => {
  it('runs every statement of the page, in order, and restores the scheduled backup onto an empty cluster', async () => {
    const statements = seedStatements();
    expect(statements.map((s) => s.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'CREATE SCHEDULE',
      'SHOW SCHEDULES',
      'PAUSE SCHEDULE',
      'PAUSE SCHEDULES',
      'RESUME SCHEDULE',
      'RESUME SCHEDULES',
      'DROP SCHEDULE',
      'DROP SCHEDULES',
      'SHOW JOBS',
      'SHOW JOBS',
      'PAUSE JOBS',
      'PAUSE JOBS',
      'RESUME JOBS',
      'RESUME JOBS',
      'CANCEL JOBS',
      'CANCEL JOBS',
      'RESTORE FROM',
    ]);
    const uri = s3.uri('test', 'backups/test_schedule_1');
    const [create] = statements;
    const withUri = (sql: string, collection = uri) => sql.replaceAll(SEED_URI, collection);

    await client.execute('CREATE DATABASE shop');
    await client.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)');
    await client.execute(`INSERT INTO shop.orders (id, total) VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, ${i * 3})`).join(', ')}`);

    // The schedules the page's label-based statements name, from the page's own CREATE.
    const labelled = async (label: string): Promise<Row[]> =>
      query(client, withUri(create!.replace('schedule_label', label), s3.uri('test', `backups/${label}`)));
    const database = await labelled('schedule_database');
    const testSchedule = await labelled('test_schedule');
    expect(database.map((r) => r['label'])).toEqual(['schedule_database', 'schedule_database']);

    // CREATE SCHEDULE schedule_label ...: a daily incremental and a weekly full, paired.
    const created = await query(client, withUri(create!));
    expect(created.map((r) => [r['label'], r['schedule']])).toEqual([
      ['schedule_label', '@daily'],
      ['schedule_label', '@weekly'],
    ]);
    for (const r of created) {
      expect(col(r, 'backup_stmt')).toContain('WITH revision_history, detached');
      expect(col(r, 'backup_stmt')).not.toContain(s3.secretAccessKey);
    }
    const labelFull = col(created[1]!, 'schedule_id');
    // The full runs now (first_run = 'now'); the RESTORE at the end reads it.
    const fullJob = await waitFor(
      async () => (await query(client, `SHOW JOBS FOR SCHEDULE ${labelFull}`)).find((j) => j['status'] === 'succeeded'),
      { what: "schedule_label's first full", timeoutMs: 60_000, intervalMs: 250 },
    );
    const expectedFingerprints = await databaseFingerprints(client, 'shop');

    const run = async (i: number, replace: (sql: string) => string = (s) => s) => client.execute(replace(statements[i]!));
    const ids = (sql: string, seedId: string, id: string) => sql.replaceAll(seedId, id);

    // SHOW SCHEDULES FOR BACKUP
    const shown = await query(client, statements[1]!);
    expect(shown.map((r) => r['label']).sort()).toEqual(
      ['schedule_database', 'schedule_database', 'schedule_label', 'schedule_label', 'test_schedule', 'test_schedule'],
    );
    // PAUSE / RESUME a schedule by id, then by label.
    expect((await run(2, (s) => ids(s, '589963390487363585', labelFull))).tag).toBe('PAUSE SCHEDULES 1');
    expect(col(await queryOne(client, `SHOW SCHEDULE ${labelFull}`), 'schedule_status')).toBe('PAUSED');
    expect((await run(3)).tag).toBe('PAUSE SCHEDULES 2');
    expect((await run(4, (s) => ids(s, '589963390487363585', labelFull))).tag).toBe('RESUME SCHEDULES 1');
    expect(col(await queryOne(client, `SHOW SCHEDULE ${labelFull}`), 'schedule_status')).toBe('ACTIVE');
    expect((await run(5)).tag).toBe('RESUME SCHEDULES 2');
    // DROP SCHEDULE of a full drops its incremental too; then by label.
    expect((await run(6, (s) => ids(s, '589963390487363585', labelFull))).tag).toBe('DROP SCHEDULES 2');
    expect((await run(7)).tag).toBe('DROP SCHEDULES 2');
    expect((await query(client, 'SHOW SCHEDULES')).map((r) => r['label'])).toEqual(['test_schedule', 'test_schedule']);

    // Jobs of test_schedule: its full started at once (first_run = 'now').
    const testFull = col(testSchedule[1]!, 'schedule_id');
    const forId = (s: string) => ids(s, '590204387299262465', testFull);
    await waitFor(async () => (await query(client, `SHOW JOBS FOR SCHEDULE ${testFull}`)).length > 0, { what: "test_schedule's first job" });
    const jobs = await query(client, forId(statements[8]!));
    expect(jobs.length).toBeGreaterThanOrEqual(1);
    expect(jobs.every((j) => j['job_type'] === 'BACKUP')).toBe(true);
    expect((await query(client, statements[9]!)).length).toBeGreaterThanOrEqual(jobs.length);
    // PAUSE / RESUME / CANCEL JOBS FOR SCHEDULE(S): the tag counts the jobs the action applied to.
    for (const [i, tag] of [
      [10, 'PAUSE JOBS FOR SCHEDULE'],
      [11, 'PAUSE JOBS FOR SCHEDULES'],
      [12, 'RESUME JOBS FOR SCHEDULE'],
      [13, 'RESUME JOBS FOR SCHEDULES'],
      [14, 'CANCEL JOBS FOR SCHEDULE'],
      [15, 'CANCEL JOBS FOR SCHEDULES'],
    ] as const) {
      expect((await run(i, forId)).tag).toMatch(new RegExp(`^${tag} \\d+$`));
    }

    // RESTORE FROM '<subdir>' IN '<collection>' AS OF SYSTEM TIME '<time>': schedule_label's
    // full (revision_history), as of its end, onto the empty cluster.
    const [subdir] = (await query(client, `SHOW BACKUPS IN '${uri}'`)).map((r) => col(r, 'path'));
    const endTime = col(
      (await query(client, `SHOW BACKUP FROM '${subdir!}' IN '${uri}'`)).find((r) => r['object_name'] === 'orders')!,
      'end_time',
    );
    expect(col(fullJob, 'description')).toContain('AS OF SYSTEM TIME');
    const restore = statements[16]!.replace("'2020/08/19-035600.00'", `'${subdir!.replace(/^\//, '')}'`)
      .replace("'2020-08-19 03:50:00+00:00'", `'${endTime}'`)
      .replaceAll(SEED_URI, uri);
    // The first statement on a fresh cluster waits until its leader is ready (retryably).
    const restored = await queryOne(emptyClient, restore);
    expect(col(restored, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(emptyClient, 'shop')).toEqual(expectedFingerprints);
  }, 240_000);

  it("runs seed 004's full-backup-only schedule: one schedule, a full cluster backup at once", async () => {
    const statement = seed004CoreSchedule();
    const seedUri = 's3://test/schedule-test-core?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=x';
    expect(statement).toContain(seedUri);
    const uri = s3.uri('test', 'schedule-test-core');
    const created = await query(client, statement.replace(seedUri, uri));
    // FULL BACKUP ALWAYS: a full-only schedule, no incremental partner.
    expect(created.map((r) => [r['label'], r['status'], r['schedule']])).toEqual([['core_schedule_label', 'ACTIVE', '@daily']]);
    expect(col(created[0]!, 'backup_stmt')).toMatch(/^BACKUP INTO 's3:\/\/test\/schedule-test-core\?.*AWS_SECRET_ACCESS_KEY=redacted.*' WITH detached$/);
    const id = col(created[0]!, 'schedule_id');
    await waitFor(async () => (await query(client, `SHOW JOBS FOR SCHEDULE ${id}`)).some((j) => j['status'] === 'succeeded'), {
      what: 'the core schedule\'s first full backup',
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const backups = await query(client, `SHOW BACKUPS IN '${uri}'`);
    expect(backups).toHaveLength(1);
    const layers = await query(client, `SHOW BACKUP FROM LATEST IN '${uri}'`);
    expect(layers.find((r) => r['object_name'] === 'orders')).toMatchObject({ backup_type: 'full', is_full_cluster: 'true' });
  }, 120_000);
});
