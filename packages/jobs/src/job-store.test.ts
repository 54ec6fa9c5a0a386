import { randomUUID } from 'node:crypto';
import { connectNats, ensureKv } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJsonPayload, decodeJsonPayload, type Job } from './job.js';
import { initialState } from './job-codec.js';
import { JobStore } from './job-store.js';
import { transition } from './state-machine.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'jobs-store-test');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2024, 2, 1, 10, 0, 0);
let nextId = 1000n;

function newJob(patch: Partial<Job> = {}, spec: Partial<Job['spec']> = {}): Job {
  nextId++;
  const jobSpec: Job['spec'] = {
    type: 'BACKUP',
    description: 'BACKUP INTO nodelocal://1/x',
    statement: '',
    userName: 'root',
    createdAtMs: T0,
    scheduleId: null,
    payload: encodeJsonPayload({ targets: ['db1'] }),
    ...spec,
  };
  return { id: nextId.toString(), spec: jobSpec, ...initialState(jobSpec, { coordinatorId: 'coordinator-1', claimSessionId: 's1' }), ...patch };
}

const openStore = () => JobStore.open(nc, { bucket: `jobs_${randomUUID().slice(0, 8)}` });

describe('JobStore', () => {
  it('round-trips a job through its spec and state keys', async () => {
    const store = await openStore();
    const job = newJob(
      {
        status: 'running',
        startedAtMs: T0 + 5,
        progress: { fractionCompleted: 0.25, runningStatus: 'exporting', checkpoint: new Uint8Array([1, 2, 3]), highWater: 99n },
        nextRetryAtMs: T0 + 30_000,
        retryCount: 2,
        lastRetryError: 'node 3 gone',
      },
      { scheduleId: '590204387299262465', statement: 'BACKUP ...' },
    );
    await store.create(job);
    const got = await store.get(job.id);
    expect(got).toEqual(job);
    expect(decodeJsonPayload<{ targets: string[] }>(got!.spec)).toEqual({ targets: ['db1'] });
    const keys: string[] = [];
    for await (const k of await store.kv.keys()) keys.push(k);
    expect(keys.sort()).toEqual([`${job.id}.spec`, `${job.id}.state`]);
    expect(await store.get('424242')).toBeUndefined();
  });

  it('refuses a duplicate id', async () => {
    const store = await openStore();
    const job = newJob();
    await store.create(job);
    await expect(store.create(job)).rejects.toMatchObject({ code: ErrorCode.DuplicateObject });
  });

  it('progress updates rewrite only the state key and fence on the revision', async () => {
    const store = await openStore();
    const job = newJob();
    const { revision } = await store.create(job);
    const specRev = (await store.kv.get(`${job.id}.spec`))!.revision;
    const running = transition(job, { type: 'started' }, T0 + 1);
    const rev2 = await store.updateState(running, revision);
    const progressed = transition(running, { type: 'progressed', fraction: 0.5 }, T0 + 2);
    await store.updateState(progressed, rev2);
    expect((await store.kv.get(`${job.id}.spec`))!.revision).toBe(specRev);
    expect((await store.get(job.id))!.progress.fractionCompleted).toBe(0.5);
    // A writer holding a stale revision (a deposed leader) loses.
    const err = await store.updateState(transition(running, { type: 'request-pause' }, T0 + 3), rev2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect(err).toMatchObject({ code: ErrorCode.NotLeader, retryable: true });
  });

  it('stores a new pending job as its spec alone and creates its state key on the first change', async () => {
    const store = await openStore();
    const job = newJob();
    const stored = await store.create(job);
    expect(stored.revision).toBe(0);
    const keys = async () => {
      const out: string[] = [];
      for await (const k of await store.kv.keys()) out.push(k);
      return out.sort();
    };
    expect(await keys()).toEqual([`${job.id}.spec`]);
    // Read back whole, its creator's claim included, from every read path.
    expect(await store.get(job.id)).toEqual(job);
    expect(await store.getWithRevision(job.id)).toEqual({ job, revision: 0 });
    expect(await store.listWithRevisions()).toEqual([{ job, revision: 0 }]);
    const watched = store.watch(job.id);
    expect((await watched.next()).value).toEqual(job);

    const running = transition(job, { type: 'started' }, T0 + 1);
    const rev = await store.updateState(running, 0);
    expect(rev).toBeGreaterThan(0);
    expect(await keys()).toEqual([`${job.id}.spec`, `${job.id}.state`]);
    expect((await watched.next()).value).toEqual(running);
    await watched.return(undefined);
    expect(await store.getWithRevision(job.id)).toEqual({ job: running, revision: rev });
    // A deposed leader that still holds the job as created loses to the one that wrote first.
    const late = await store.updateState(transition(job, { type: 'request-cancel' }, T0 + 2), 0).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: ErrorCode.NotLeader, retryable: true });
  });

  it('createMany stores each job once and reports each as it is stored', async () => {
    const store = await openStore();
    const jobs = Array.from({ length: 50 }, () => newJob());
    await store.create(jobs[7]!);
    const seen: string[] = [];
    const results = await store.createMany(jobs, { window: 8, onStored: (s) => seen.push(s.job.id) });
    expect(results[7]).toMatchObject({ code: ErrorCode.DuplicateObject });
    expect(seen.sort()).toEqual(jobs.filter((_, i) => i !== 7).map((j) => j.id).sort());
    expect((await store.list()).map((j) => j.id)).toEqual(jobs.map((j) => j.id));
  });

  it('lists with filters, oldest first', async () => {
    const store = await openStore();
    const a = newJob({ status: 'succeeded' }, { scheduleId: '77' });
    const b = newJob({ status: 'running' }, { type: 'RESTORE', userName: 'alice', createdAtMs: T0 + 10 });
    const c = newJob({ status: 'paused' }, { scheduleId: '77', createdAtMs: T0 + 20 });
    for (const j of [c, a, b]) await store.create(j);
    const ids = (js: Job[]) => js.map((j) => j.id);
    expect(ids(await store.list())).toEqual([a.id, b.id, c.id]);
    expect(ids(await store.list({ types: ['RESTORE'] }))).toEqual([b.id]);
    expect(ids(await store.list({ statuses: ['succeeded', 'paused'] }))).toEqual([a.id, c.id]);
    expect(ids(await store.list({ scheduleId: '77' }))).toEqual([a.id, c.id]);
    expect(ids(await store.list({ userName: 'alice' }))).toEqual([b.id]);
    expect(ids(await store.list({ createdSinceMs: T0 + 10 }))).toEqual([b.id, c.id]);
    expect(ids(await store.list({ limit: 2 }))).toEqual([b.id, c.id]);
    expect(ids(await store.list({ types: ['EXPIRE'] }))).toEqual([]);
  });

  it('sweeps terminal jobs older than the retention, keeping the rest', async () => {
    const store = await openStore();
    const now = T0 + 30 * DAY;
    const old = newJob({ status: 'succeeded', finishedAtMs: now - 15 * DAY });
    const oldFailed = newJob({ status: 'failed', finishedAtMs: now - 20 * DAY, error: 'x' });
    const recent = newJob({ status: 'canceled', finishedAtMs: now - 13 * DAY });
    const oldButRunning = newJob({ status: 'running' }, { createdAtMs: now - 25 * DAY });
    // Stored as its spec alone: pending, however old, so never swept.
    const oldButPending = newJob({}, { createdAtMs: now - 25 * DAY });
    for (const j of [old, oldFailed, recent, oldButRunning, oldButPending]) await store.create(j);
    expect((await store.sweep(now)).sort()).toEqual([old.id, oldFailed.id].sort());
    expect((await store.list()).map((j) => j.id)).toEqual([recent.id, oldButRunning.id, oldButPending.id]);
    expect(await store.get(old.id)).toBeUndefined();
    expect(await store.sweep(now, 12 * DAY)).toEqual([recent.id]);
    // A sweep that purged a spec and stopped before its state: the next one purges the state.
    await store.kv.purge(`${oldButRunning.id}.spec`);
    expect(await store.sweep(now)).toEqual([oldButRunning.id]);
    const left: string[] = [];
    for await (const k of await store.kv.keys()) left.push(k);
    expect(left).toEqual([`${oldButPending.id}.spec`]);
  });

  it('waitForTerminal follows the state key', async () => {
    const store = await openStore();
    const job = newJob();
    const { revision } = await store.create(job);
    const waiting = store.waitForTerminal(job.id);
    const running = transition(job, { type: 'started' }, T0 + 1);
    const rev = await store.updateState(running, revision);
    await store.updateState(transition(running, { type: 'succeeded' }, T0 + 2), rev);
    expect(await waiting).toMatchObject({ id: job.id, status: 'succeeded', finishedAtMs: T0 + 2 });
    // Already terminal: resolves at once.
    expect((await store.waitForTerminal(job.id)).status).toBe('succeeded');
    await expect(store.waitForTerminal('31337')).rejects.toMatchObject({ code: ErrorCode.NotFound });
    const other = newJob();
    await store.create(other);
    const ac = new AbortController();
    const p = store.waitForTerminal(other.id, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.Canceled });
  });
});

/*
 * A new leader loads every job while it must keep renewing its lease on the same NATS
 * connection. The load must leave the event loop (and that connection) to the renewals:
 * counted here in event-loop turns and in writes answered while the load is still going,
 * never in milliseconds.
 */
describe('loading every job on election', () => {
  const JOBS = 6_000;

  it(`loads ${JOBS} jobs while writes on the same connection (lease renewals) are answered and timers run`, async () => {
    const store = await openStore();
    const stored = Array.from({ length: JOBS }, () => newJob({ status: 'succeeded', finishedAtMs: T0 + 1 }));
    for (let i = 0; i < JOBS; i += 256) await Promise.all(stored.slice(i, i + 256).map((j) => store.create(j)));
    const lease = await ensureKv(nc, `lease_${randomUUID().slice(0, 8)}`, { replicas: 1 });

    let loading = true;
    const load = store.listWithRevisions().finally(() => (loading = false));
    // Macrotask turns while loading: what a lease tick (a timer) needs to run at all.
    let turns = 0;
    const turn = () => {
      turns++;
      if (loading) setImmediate(turn);
    };
    setImmediate(turn);
    // Renewals: one write after the other for as long as the load goes on.
    let renewedWhileLoading = 0;
    let revision = await lease.put('leader', new TextEncoder().encode('0'));
    while (loading) {
      revision = await lease.update('leader', new TextEncoder().encode(String(revision)), revision);
      if (loading) renewedWhileLoading++;
    }
    const jobs = await load;

    expect(jobs.map((j) => j.job.id)).toEqual(stored.map((j) => j.id));
    // Decoding yields every 2,000 entries (12,000 here) and the bucket arrives in many reads.
    expect(turns).toBeGreaterThanOrEqual(6);
    expect(renewedWhileLoading).toBeGreaterThanOrEqual(1);
  });
});
