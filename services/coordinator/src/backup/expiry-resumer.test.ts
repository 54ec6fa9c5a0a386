/**
 * BACKUP EXPIRY jobs in process, on real parts: a nats-server for the job registry and the
 * nodelocal proxy, s3rver, and local directories. A locality-aware collection keeps its
 * default part in a local dir, `region=west` in an s3rver bucket and `region=east` in node
 * 4's extern dir reached over NATS, so every storage's prefix delete is exercised.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  ENCRYPTION_INFO,
  LEGACY_LATEST_FILE,
  checkpointFileName,
  checksumFileName,
  fullBackupSubdir,
  incrementalSubdir,
  latestFileName,
  partFileName,
} from '@cairn/backup-format';
import { LocalDirStorage, openStorage, type ExternalStorage, type StorageContext } from '@cairn/cloud';
import { RemoteNodelocalStorage, connectNats, serveNodelocal } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { JobRegistry, JobStore, type Job, type JobLogger } from '@cairn/jobs';
import { BackupManifest } from '@cairn/proto';
import { planCreateSchedule, type BackupSchedule } from '@cairn/schedules';
import { parseOne, quoteString, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsServer, startS3Server, tempDir, waitFor, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';
import type { NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackupCollection } from './backup-collection.js';
import { BACKUP_EXPIRY_JOB_TYPE, startExpiryJob } from './expiry-planner.js';
import { ExpiryResumer, decodeExpiryCheckpoint, type ExpiryResumerKnobs } from './expiry-resumer.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The expiry's "now": every backup below is dated relative to it. */
const NOW = Date.UTC(2024, 2, 10, 12);
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const SECRET = 'expiry-Secret-5e1f';

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let nc: NatsConnection;
let externDir: string;
let storageContext: StorageContext;
const cleanups: Array<() => Promise<void>> = [];
const QUIET: JobLogger = { debug() {}, info() {}, warn() {}, error() {} };

beforeAll(async () => {
  [nats, s3] = await Promise.all([startNatsServer(), startS3Server({ buckets: ['west'] })]);
  nc = await connectNats(nats.url, 'expiry-test');
  externDir = await tempDir('expiry-extern');
  serveNodelocal(nc, 4, new LocalDirStorage(externDir));
  storageContext = { remoteNodelocal: (nodeId, base) => new RemoteNodelocalStorage(nc, nodeId, base) };
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await nc?.close();
  await s3?.stop();
  await nats?.stop();
});

/** A locality-aware collection, and a direct view of each locality's files. */
interface Fixture {
  uris: string[];
  collection: BackupCollection;
  /** Keyed default / west / east; east is node 4's extern dir read from disk. */
  views: Record<'default' | 'west' | 'east', ExternalStorage>;
  eastRoot: string;
}

async function fixture(): Promise<Fixture> {
  const name = `c-${randomUUID().slice(0, 8)}`;
  const dir = await tempDir('expiry-default');
  const westUri = s3.uri('west', name).replace(`AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`, `AWS_SECRET_ACCESS_KEY=${SECRET}`);
  const uris = [
    `file://${dir}/${name}?COCKROACH_LOCALITY=default`,
    `${westUri}&COCKROACH_LOCALITY=region%3Dwest`,
    `nodelocal://4/${name}?COCKROACH_LOCALITY=region%3Deast`,
  ];
  const collection = await BackupCollection.open(uris, storageContext);
  const west = await openStorage(westUri);
  const eastRoot = join(externDir, name);
  cleanups.push(async () => {
    await collection.close();
    await west.close();
  });
  return { uris, collection, views: { default: new LocalDirStorage(join(dir, name)), west, east: new LocalDirStorage(eastRoot) }, eastRoot };
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Writes a chain as a backup job leaves it: per layer data, a progress checkpoint and the
 * manifest in the default part, data and a BACKUP_PART descriptor in each other locality;
 * ENCRYPTION-INFO in the full; a LATEST file for the full. Returns the full's subdir.
 */
async function writeChain(f: Fixture, fullEndMs: number, incrementalEndsMs: number[] = []): Promise<string> {
  const full = fullBackupSubdir(new Date(fullEndMs));
  const layers = [{ path: full.slice(1), start: 0, end: fullEndMs }];
  let prev = fullEndMs;
  for (const end of incrementalEndsMs) {
    layers.push({ path: incrementalSubdir(full, new Date(prev), new Date(end)), start: prev, end });
    prev = end;
  }
  await f.collection.storage.writeFile(`${full.slice(1)}/${ENCRYPTION_INFO}`, bytes('info'));
  for (const l of layers) {
    const uris = f.collection.layerUris(l.path);
    for (const [locality, uri] of Object.entries(uris)) {
      const storage = await openStorage(uri, storageContext);
      try {
        await storage.writeFile(`data/${locality === 'default' ? 1 : 2}.sst`, bytes(`${l.path} ${locality}`));
        if (locality !== 'default') await storage.writeFile(partFileName(1, locality), bytes('part'));
      } finally {
        await storage.close();
      }
    }
    const checkpoint = `${l.path}/${checkpointFileName(ns(l.end))}`;
    await f.collection.storage.writeFile(checkpoint, bytes('cp'));
    await f.collection.storage.writeFile(checksumFileName(checkpoint), bytes('sum'));
    await f.collection.writeManifest(
      l.path,
      BackupManifest.fromPartial({ startTime: ns(l.start), endTime: ns(l.end), backupId: randomUUID(), formatVersion: 1 }),
    );
  }
  await f.collection.writeLatest(full, ns(fullEndMs));
  return full;
}

async function listing(s: ExternalStorage): Promise<string[]> {
  const out: string[] = [];
  for await (const p of s.list('')) out.push(p);
  return out;
}

async function listings(f: Fixture): Promise<Record<'default' | 'west' | 'east', string[]>> {
  return { default: await listing(f.views.default), west: await listing(f.views.west), east: await listing(f.views.east) };
}

/** What is left once the chains of `fulls` are gone: nothing under their dirs, no LATEST naming them. */
function without(files: string[], fulls: string[], latestNames: string[]): string[] {
  return files.filter(
    (p) =>
      !latestNames.includes(p) &&
      !fulls.some((full) => p.startsWith(`${full.slice(1)}/`) || p.startsWith(`incrementals/${full.slice(1)}/`)),
  );
}

async function registry(bucket: string, knobs: ExpiryResumerKnobs = {}, coordinatorId = 'coordinator-1'): Promise<JobRegistry> {
  const store = await JobStore.open(nc, { bucket });
  const r = new JobRegistry({ store, coordinatorId, initialBackoffMs: 50, progressIntervalMs: 20, sweepIntervalMs: 0, stopGraceMs: 2_000 });
  r.registerResumer(BACKUP_EXPIRY_JOB_TYPE, (job) => new ExpiryResumer(job, storageContext, QUIET, { now: () => NOW, ...knobs }));
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

/** The full-only schedule a `retention` option makes, backing up into `uris`. */
function schedule(uris: string[], retention: string | undefined): BackupSchedule {
  const options = retention === undefined ? '' : ` WITH SCHEDULE OPTIONS retention = ${quoteString(retention)}`;
  const sql = `CREATE SCHEDULE s FOR BACKUP INTO (${uris.map(quoteString).join(', ')}) RECURRING '@daily' FULL BACKUP ALWAYS${options}`;
  let id = 7n;
  const [s] = planCreateSchedule(parseOne(sql) as CreateScheduleStatement, new Date(NOW), () => String(id++), { owner: 'alice' }).schedules;
  if (s === undefined) throw new Error('no schedule planned');
  return s;
}

async function started(r: JobRegistry, s: BackupSchedule): Promise<Job> {
  const job = await startExpiryJob({ jobs: r }, s);
  if (job === undefined) throw new Error('no expiry job started');
  return job;
}

/** Four chains against a 7-day retention (cutoff 2024-03-03 12:00): A and C expire, B and D stay. */
async function fourChains(f: Fixture) {
  const a = await writeChain(f, Date.UTC(2024, 2, 1), [Date.UTC(2024, 2, 1, 6), Date.UTC(2024, 2, 2)]);
  const c = await writeChain(f, Date.UTC(2024, 2, 2, 12));
  // B's full is older than the cutoff, but an incremental on it is not: B stays whole.
  const b = await writeChain(f, Date.UTC(2024, 2, 3), [Date.UTC(2024, 2, 8)]);
  const d = await writeChain(f, NOW - DAY);
  // The pre-collection root LATEST, still naming A.
  await f.collection.storage.writeFile(LEGACY_LATEST_FILE, bytes(a));
  // The LATEST files naming A and C (named after their fulls' end times) go with them.
  const latestNames = [latestFileName(ns(Date.UTC(2024, 2, 1))), latestFileName(ns(Date.UTC(2024, 2, 2, 12))), LEGACY_LATEST_FILE];
  return { a, b, c, d, latestNames };
}

describe('BACKUP EXPIRY job', () => {
  it('deletes the expired chains from every locality and keeps LATEST, the newest and chains with recent incrementals', async () => {
    const f = await fixture();
    const { a, b, c, d, latestNames } = await fourChains(f);
    const before = await listings(f);
    expect(await f.collection.fullSubdirs()).toEqual([a, c, b, d]);
    expect(before.west.filter((p) => p.startsWith(`incrementals${a}/`))).toHaveLength(4);

    const r = await registry(`jobs_${randomUUID().slice(0, 8)}`);
    const job = await started(r, schedule(f.uris, '7d'));
    expect(job.spec).toMatchObject({ type: 'BACKUP EXPIRY', userName: 'alice', scheduleId: '7', statement: '' });
    expect(job.spec.description).toMatch(/^EXPIRE BACKUPS IN \('file:\/\/.*', 's3:\/\/west\/.*AWS_SECRET_ACCESS_KEY=redacted.*', 'nodelocal:\/\/4\/.*'\) OLDER THAN '7d'$/);
    expect(job.spec.description).not.toContain(SECRET);

    const done = await r.waitForTerminal(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.progress.fractionCompleted).toBe(1);
    const after = await listings(f);
    for (const locality of ['default', 'west', 'east'] as const) {
      expect(after[locality], `${locality} files`).toEqual(without(before[locality], [a, c], latestNames));
      expect(after[locality].some((p) => p.startsWith(`${b.slice(1)}/`) && p.includes('data/')), `${locality} keeps B's data`).toBe(true);
    }
    const cp = decodeExpiryCheckpoint(done.progress.checkpoint ?? new Uint8Array());
    expect(cp).toMatchObject({ expire: [a, c], done: [a, c], deleted: 2, kept: 2, decidedAtMs: NOW, cutoff: String(ns(NOW - 7 * DAY)) });
    const removed = (['default', 'west', 'east'] as const).reduce((n, l) => n + before[l].length - after[l].length, 0);
    // Everything removed but the 6 manifests and checksums, which are counted as layers.
    expect(cp.files).toBe(removed - 8);
    expect(done.progress.runningStatus).toBe(`deleted 2 of 2 expired backups (${cp.files} files); 2 kept`);
    // Node 4's dir holds no empty directories of the expired chains.
    expect(existsSync(join(f.eastRoot, a.slice(1)))).toBe(false);
    expect(existsSync(join(f.eastRoot, 'incrementals', a.slice(1)))).toBe(false);
    expect(existsSync(join(f.eastRoot, b.slice(1)))).toBe(true);

    // SHOW BACKUPS lists the kept fulls only; LATEST is unchanged; an expired one is not found.
    expect(await f.collection.fullSubdirs()).toEqual([b, d]);
    expect(await f.collection.latestFull()).toBe(d);
    expect((await f.collection.chain(b)).map((l) => l.manifest.startTime === 0n)).toEqual([true, false]);
    const gone = await f.collection.chain(a).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(CairnError);
    expect(gone).toMatchObject({ code: ErrorCode.NotFound, message: expect.stringMatching(new RegExp(`^backup ${a} not found in file://`)) });

    // A second run finds nothing more to expire.
    const again = await r.waitForTerminal((await started(r, schedule(f.uris, '7d'))).id);
    expect(again.status).toBe('succeeded');
    expect(decodeExpiryCheckpoint(again.progress.checkpoint ?? new Uint8Array())).toMatchObject({ expire: [], deleted: 0, kept: 2 });
    expect(await listings(f)).toEqual(after);
  });

  it('an adopted job finishes the deletion its first coordinator began', async () => {
    const f = await fixture();
    const { a, b, c, d, latestNames } = await fourChains(f);
    const before = await listings(f);
    const bucket = `jobs_${randomUUID().slice(0, 8)}`;
    let entered: (() => void) | undefined;
    const inKnob = new Promise<void>((resolve) => (entered = resolve));
    // Coordinator 1 deletes A, then loses leadership before its checkpoint says so.
    const first = await registry(bucket, {
      afterChainDeleted: async (full, signal) => {
        if (full !== a) return;
        entered?.();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      },
    });
    const job = await started(first, schedule(f.uris, '7d'));
    await inKnob;
    await first.stop();
    const store = await JobStore.open(nc, { bucket });
    const orphan = await store.get(job.id);
    expect(orphan?.status).toBe('running');
    expect(decodeExpiryCheckpoint(orphan?.progress.checkpoint ?? new Uint8Array())).toMatchObject({ expire: [a, c], done: [] });
    expect(await f.collection.fullSubdirs()).toEqual([c, b, d]);

    const second = await registry(bucket, {}, 'coordinator-2');
    const done = await second.waitForTerminal(job.id);
    expect(done).toMatchObject({ status: 'succeeded', coordinatorId: 'coordinator-2' });
    expect(decodeExpiryCheckpoint(done.progress.checkpoint ?? new Uint8Array())).toMatchObject({ done: [a, c], deleted: 2 });
    const after = await listings(f);
    for (const locality of ['default', 'west', 'east'] as const) {
      expect(after[locality], `${locality} files`).toEqual(without(before[locality], [a, c], latestNames));
    }
    expect(await f.collection.fullSubdirs()).toEqual([b, d]);
  });

  it('retries a failed deletion from its checkpoint', async () => {
    const f = await fixture();
    const { a, c, latestNames } = await fourChains(f);
    const before = await listings(f);
    let failures = 0;
    const r = await registry(`jobs_${randomUUID().slice(0, 8)}`, {
      afterChainDeleted: async (full) => {
        if (full === c && failures++ === 0) throw new CairnError(ErrorCode.Unavailable, 'storage went away', { retryable: true });
      },
    });
    const done = await r.waitForTerminal((await started(r, schedule(f.uris, '7d'))).id);
    expect(done.status).toBe('succeeded');
    // C was deleted, the run failed before its checkpoint, and the retry deleted it again (a no-op).
    expect(failures).toBe(2);
    expect(decodeExpiryCheckpoint(done.progress.checkpoint ?? new Uint8Array())).toMatchObject({ done: [a, c], deleted: 2 });
    expect((await listings(f)).default).toEqual(without(before.default, [a, c], latestNames));
  });

  it('goes on past a chain the storage refuses to delete (a write-once file, as under Object Lock), then fails naming it', async (t) => {
    const f = await fixture();
    const { a, b, c, d } = await fourChains(f);
    // The immutable attribute makes the file undeletable even by root: the local analogue of
    // an S3 object under Object Lock retention (no S3 server here implements Object Lock).
    const locked = join((f.views.default as LocalDirStorage).root, a.slice(1), BACKUP_MANIFEST);
    if (spawnSync('chattr', ['+i', locked]).status !== 0) t.skip('chattr +i is not permitted here');
    cleanups.push(async () => void spawnSync('chattr', ['-i', locked]));
    const r = await registry(`jobs_${randomUUID().slice(0, 8)}`);
    const done = await r.waitForTerminal((await started(r, schedule(f.uris, '7d'))).id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(new RegExp(`^backup expiry could not delete 1 of 2 expired backups in file://[^ ]+: ${a} \\(permission denied to delete "${a.slice(1)}/BACKUP_MANIFEST"`));
    expect(done.error).toContain('on a bucket with Object Lock, files cannot be deleted before their retention date');
    expect(done.error).not.toContain(SECRET);
    const cp = decodeExpiryCheckpoint(done.progress.checkpoint ?? new Uint8Array());
    expect(cp).toMatchObject({ done: [a, c], deleted: 1, notDeleted: [{ fullSubdir: a }] });
    expect(done.progress.runningStatus).toMatch(/^deleted 1 of 2 expired backups \(\d+ files\); 2 kept; 1 could not be deleted$/);
    // C went; A is whole and still restorable.
    expect(await f.collection.fullSubdirs()).toEqual([a, b, d]);
    expect((await f.collection.chain(a)).length).toBe(3);
  });

  it('starts only for a schedule with a retention, one at a time', async () => {
    const f = await fixture();
    await writeChain(f, NOW - 30 * DAY);
    await writeChain(f, NOW - DAY);
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const r = await registry(`jobs_${randomUUID().slice(0, 8)}`, { afterChainDeleted: () => held });
    expect(await startExpiryJob({ jobs: r }, schedule(f.uris, undefined))).toBeUndefined();
    const s = schedule(f.uris, '2w');
    const job = await started(r, s);
    await waitFor(async () => (await r.get(job.id)).status === 'running', { what: 'expiry job running' });
    expect(await startExpiryJob({ jobs: r }, s)).toBeUndefined();
    release?.();
    expect((await r.waitForTerminal(job.id)).status).toBe('succeeded');
    expect((await f.collection.fullSubdirs()).length).toBe(1);
    const next = await started(r, s);
    expect(next.id).not.toBe(job.id);
    expect((await r.waitForTerminal(next.id)).status).toBe('succeeded');
  });
});

describe('BackupCollection.deleteChain', () => {
  it('finishes a chain an interrupted deletion left half done, and a repeat deletes nothing', async () => {
    const f = await fixture();
    const a = await writeChain(f, Date.UTC(2024, 2, 1), [Date.UTC(2024, 2, 2)]);
    const b = await writeChain(f, Date.UTC(2024, 2, 5));
    const before = await listings(f);
    // As a crash leaves it: the full's manifest and one data file gone, the rest still there.
    await f.collection.storage.delete(`${a.slice(1)}/${BACKUP_MANIFEST}`);
    await f.views.west.delete(`${a.slice(1)}/data/2.sst`);
    expect(await f.collection.fullSubdirs()).toEqual([b]);
    const summary = await f.collection.chainSummary(a);
    expect(summary).toMatchObject({ fullSubdir: a, incrementals: 1, newestEndTime: ns(Date.UTC(2024, 2, 2)) });

    const first = await f.collection.deleteChain(a, storageContext);
    expect(first.layers).toBe(1);
    const after = await listings(f);
    for (const locality of ['default', 'west', 'east'] as const) {
      expect(after[locality]).toEqual(without(before[locality], [a], [latestFileName(ns(Date.UTC(2024, 2, 1)))]));
    }
    expect(await f.collection.deleteChain(a, storageContext)).toEqual({ layers: 0, files: 0 });
    expect(await f.collection.latestFull()).toBe(b);
  });

  it('SHOW BACKUPS leaves out a full without its manifest checksum, which no restore could read', async () => {
    const f = await fixture();
    const a = await writeChain(f, Date.UTC(2024, 2, 1));
    const b = await writeChain(f, Date.UTC(2024, 2, 2));
    await f.collection.storage.delete(`${a.slice(1)}/${BACKUP_MANIFEST_CHECKSUM}`);
    expect(await f.collection.fullSubdirs()).toEqual([b]);
    expect((await f.collection.chainSummaries()).map((c) => c.fullSubdir)).toEqual([a, b]);
  });
});
