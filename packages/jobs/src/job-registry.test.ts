import { randomUUID } from 'node:crypto';
import { connectNats } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import type { NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_PROGRESS, type Job, type JobId } from './job.js';
import { initialState } from './job-codec.js';
import { jobIdTimestampMs } from './job-id.js';
import type { JobStatus } from './job-status.js';
import { JobRegistry, type JobContext, type JobMetricEvent, type JobRegistryOptions, type Resumer } from './job-registry.js';
import { JobStore } from './job-store.js';
import { showJobsRow } from './show-jobs.js';
import type { JobEvent } from './state-machine.js';

let server: NatsServerHandle;
let nc: NatsConnection;
const registries: JobRegistry[] = [];
const connections: NatsConnection[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'jobs-registry-test');
});
afterEach(async () => {
  await Promise.allSettled(registries.splice(0).map((r) => r.stop()));
  await Promise.allSettled(connections.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const DAY = 24 * 60 * 60 * 1000;

interface Harness {
  registry: JobRegistry;
  store: JobStore;
  bucket: string;
  events: Array<[JobMetricEvent, JobId]>;
  transitions: Array<{ id: JobId; from: JobStatus; to: JobStatus; event: JobEvent; at: number }>;
  /** Statuses the job went through after creation, in order, without repeats. */
  statuses(id: JobId): JobStatus[];
}

async function harness(
  options: Partial<JobRegistryOptions> & { bucket?: string; conn?: NatsConnection } = {},
): Promise<Harness> {
  const bucket = options.bucket ?? `jobs_${randomUUID().slice(0, 8)}`;
  const store = await JobStore.open(options.conn ?? nc, { bucket });
  const events: Harness['events'] = [];
  const transitions: Harness['transitions'] = [];
  const registry = new JobRegistry({
    coordinatorId: 'coordinator-1',
    initialBackoffMs: 40,
    progressIntervalMs: 50,
    stopGraceMs: 1000,
    ...options,
    store,
    onEvent: (kind, job) => events.push([kind, job.id]),
    knobs: {
      afterTransition: (before, after, event) =>
        transitions.push({ id: after.id, from: before.status, to: after.status, event, at: Date.now() }),
    },
  });
  registries.push(registry);
  const statuses = (id: JobId) =>
    transitions.filter((t) => t.id === id && t.from !== t.to).map((t) => t.to);
  return { registry, store, bucket, events, transitions, statuses };
}

const backup = { type: 'BACKUP', description: "BACKUP INTO 'nodelocal://1/b'", userName: 'root' } as const;
const enc = (n: number) => new TextEncoder().encode(String(n));
const dec = (b: Uint8Array | null) => (b === null ? 0 : Number(new TextDecoder().decode(b)));

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

const untilAborted = (ctx: JobContext) => delay(1e9, ctx.signal);

/** A resumer counting in checkpointed steps of `stepMs` up to `steps`, from its checkpoint. */
function stepper(steps: number, stepMs: number, log: { starts: number[]; aborts: unknown[]; reverts: number }): Resumer {
  return {
    async resume(ctx) {
      let i = dec(ctx.checkpoint);
      log.starts.push(i);
      while (i < steps) {
        try {
          await delay(stepMs, ctx.signal);
        } catch (err) {
          log.aborts.push(err);
          throw err;
        }
        i++;
        await ctx.setProgress(i / steps, `step ${i}`, enc(i));
      }
    },
    async onFailOrCancel() {
      log.reverts++;
    },
  };
}

async function statusOf(store: JobStore, id: JobId): Promise<Job> {
  const j = await store.get(id);
  if (!j) throw new Error(`job ${id} missing`);
  return j;
}

describe('JobRegistry: resumers', () => {
  it('runs a job that succeeds', async () => {
    const h = await harness();
    let seen: Job | undefined;
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        seen = ctx.job;
        await ctx.setProgress(0.5, 'exporting spans', enc(7));
        expect(dec(ctx.checkpoint)).toBe(7);
      },
      async onFailOrCancel() {
        throw new Error('not expected');
      },
    }));
    await h.registry.start();
    const created = await h.registry.create({ ...backup, statement: 'BACKUP INTO ...', scheduleId: '42' });
    expect(created).toMatchObject({ status: 'pending', coordinatorId: 'coordinator-1' });
    const done = await h.registry.waitForTerminal(created.id);
    expect(done).toMatchObject({ status: 'succeeded', error: null, coordinatorId: 'coordinator-1', claimSessionId: null });
    expect(done.progress).toMatchObject({ fractionCompleted: 1, runningStatus: 'exporting spans' });
    expect(dec(done.progress.checkpoint)).toBe(7);
    expect(done.startedAtMs).not.toBeNull();
    expect(done.finishedAtMs).not.toBeNull();
    expect(done.spec).toMatchObject({ type: 'BACKUP', userName: 'root', scheduleId: '42', statement: 'BACKUP INTO ...' });
    expect(seen?.status).toBe('running');
    expect(h.statuses(created.id)).toEqual(['running', 'succeeded']);
    await expect.poll(() => h.events).toEqual([['resume_completed', created.id]]);
    expect(showJobsRow(done)).toMatchObject({ job_id: created.id, status: 'succeeded', fraction_completed: '1', error: '' });
    expect(await h.registry.get(created.id)).toEqual(done);
  });

  it('writes the progress a run reports last with `succeeded`, not as a write of its own', async () => {
    const h = await harness({ progressIntervalMs: 60_000 });
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        await ctx.setProgress(0.99, 'writing manifest', enc(3));
        await ctx.setProgress(1, null);
      },
      async onFailOrCancel() {},
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    const done = await h.registry.waitForTerminal(id);
    expect(done.progress).toMatchObject({ fractionCompleted: 1, runningStatus: null });
    expect(dec(done.progress.checkpoint)).toBe(3);
    // One write for the checkpoint, then `succeeded` carrying the rest.
    const events = h.transitions.filter((t) => t.id === id && t.event.type !== 'adopted').map((t) => t.event.type);
    expect(events).toEqual(['started', 'progressed', 'succeeded']);
  });

  it('runs afterSuccess once `succeeded` is stored, and a failing one leaves the job succeeded', async () => {
    const h = await harness();
    const storedWhenCleaned: JobStatus[] = [];
    let fail = false;
    h.registry.registerResumer('BACKUP', (job) => ({
      async resume() {},
      async onFailOrCancel() {},
      async afterSuccess() {
        storedWhenCleaned.push((await statusOf(h.store, job.id)).status);
        if (fail) throw new CairnError(ErrorCode.Unavailable, 'NATS did not answer', { retryable: true });
      },
    }));
    h.registry.registerResumer('RESTORE', () => ({
      async resume() {
        throw new CairnError(ErrorCode.Corruption, 'bad file');
      },
      async onFailOrCancel() {},
      async afterSuccess() {
        throw new Error('a failed job is not cleaned up as a success');
      },
    }));
    await h.registry.start();
    const first = await h.registry.create(backup);
    expect(await h.registry.waitForTerminal(first.id)).toMatchObject({ status: 'succeeded' });
    await expect.poll(() => storedWhenCleaned).toEqual(['succeeded']);
    fail = true;
    const second = await h.registry.create(backup);
    await expect.poll(() => storedWhenCleaned).toEqual(['succeeded', 'succeeded']);
    const failed = await h.registry.create({ ...backup, type: 'RESTORE' });
    expect(await h.registry.waitForTerminal(failed.id)).toMatchObject({ status: 'failed' });
    // The failed cleanup changed nothing: no retry, no other status.
    expect(h.statuses(second.id)).toEqual(['running', 'succeeded']);
    expect(await statusOf(h.store, second.id)).toMatchObject({ status: 'succeeded', error: null });
    expect(storedWhenCleaned).toHaveLength(2);
  });

  it('reverts a job that fails permanently: reverting → failed, onFailOrCancel once', async () => {
    const h = await harness();
    const reverts: Job[] = [];
    h.registry.registerResumer('BACKUP', () => ({
      async resume() {
        throw new CairnError(ErrorCode.Corruption, 'checksum mismatch in BACKUP_MANIFEST');
      },
      async onFailOrCancel(ctx) {
        reverts.push(ctx.job);
      },
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    const done = await h.registry.waitForTerminal(id);
    expect(done).toMatchObject({ status: 'failed', error: 'checksum mismatch in BACKUP_MANIFEST' });
    expect(reverts).toHaveLength(1);
    expect(reverts[0]).toMatchObject({ status: 'reverting', revertOutcome: 'failed' });
    expect(h.statuses(id)).toEqual(['running', 'reverting', 'failed']);
    await expect.poll(() => h.events).toEqual([
      ['resume_failed', id],
      ['fail_or_cancel_completed', id],
    ]);
  });

  it('ends revert-failed when onFailOrCancel fails permanently', async () => {
    const h = await harness();
    h.registry.registerResumer('RESTORE', () => ({
      async resume() {
        throw new Error('plain errors are permanent');
      },
      async onFailOrCancel() {
        throw new Error('cannot drop offline descriptors');
      },
    }));
    await h.registry.start();
    const { id } = await h.registry.create({ ...backup, type: 'RESTORE' });
    const done = await h.registry.waitForTerminal(id);
    expect(done).toMatchObject({
      status: 'revert-failed',
      error: 'plain errors are permanent; revert failed: cannot drop offline descriptors',
    });
    expect(h.statuses(id)).toEqual(['running', 'reverting', 'revert-failed']);
    await expect.poll(() => h.events.map((e) => e[0])).toEqual(['resume_failed', 'fail_or_cancel_failed']);
  });

  /** The delay each retry asked for; a frozen clock makes it exact (the waits themselves are real). */
  const retryDelays = (h: Harness, id: JobId) =>
    h.transitions.flatMap((t) => (t.id === id && t.event.type === 'retry' ? [t.event.nextRetryAtMs - clockNow] : []));
  const clockNow = Date.UTC(2024, 2, 1);

  it('retries retryable errors with doubling backoff, then succeeds', async () => {
    const h = await harness({ initialBackoffMs: 60, clock: () => clockNow });
    const attempts: number[] = [];
    h.registry.registerResumer('BACKUP', () => ({
      async resume() {
        attempts.push(performance.now());
        if (attempts.length <= 2) {
          throw new CairnError(ErrorCode.Unavailable, `node ${attempts.length} unreachable`, { retryable: true });
        }
      },
      async onFailOrCancel() {
        throw new Error('not expected');
      },
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    const done = await h.registry.waitForTerminal(id);
    expect(done).toMatchObject({ status: 'succeeded', retryCount: 2, lastRetryError: null, error: null });
    expect(attempts).toHaveLength(3);
    expect(retryDelays(h, id)).toEqual([60, 120]);
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(58);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(118);
    expect(h.statuses(id)).toEqual(['running', 'succeeded']); // never left running
    await expect.poll(() => h.events.map((e) => e[0])).toEqual(['resume_retry_error', 'resume_retry_error', 'resume_completed']);
  });

  it('resets the retry count when progress advances', async () => {
    const h = await harness({ initialBackoffMs: 30, clock: () => clockNow });
    let attempt = 0;
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        attempt++;
        if (attempt <= 3) {
          await ctx.setProgress(attempt / 10);
          throw new CairnError(ErrorCode.Timeout, 'export timed out', { retryable: true });
        }
      },
      async onFailOrCancel() {},
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    expect(await h.registry.waitForTerminal(id)).toMatchObject({ status: 'succeeded', retryCount: 1 });
    // Each retry follows fresh progress, so each is a first retry again: the backoff never grows.
    expect(retryDelays(h, id)).toEqual([30, 30, 30]);
  });

  it('throttles fraction-only progress but persists every checkpoint', async () => {
    const h = await harness({ progressIntervalMs: 10_000 });
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        for (let i = 1; i <= 20; i++) await ctx.setProgress(i / 100, `row ${i}`);
        for (let i = 1; i <= 3; i++) await ctx.setProgress(0.5 + i / 10, undefined, enc(i));
      },
      async onFailOrCancel() {},
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    await h.registry.waitForTerminal(id);
    const writes = h.transitions.filter((t) => t.event.type === 'progressed').map((t) => t.event);
    // The first fraction is written at once; the other 19 are coalesced into the first checkpoint write.
    expect(writes).toHaveLength(4);
    expect(writes[1]).toMatchObject({ fraction: 0.6, runningStatus: 'row 20' });
    expect(writes.slice(1).map((e) => (e.type === 'progressed' ? dec(e.checkpoint ?? null) : -1))).toEqual([1, 2, 3]);
  });
});

describe('JobRegistry: createMany', () => {
  it('stores a batch under one creation time, starts none before all are stored, and fails a taken id alone', async () => {
    const h = await harness();
    let storedWhenFirstStarted: number | undefined;
    const ids = Array.from({ length: 50 }, () => h.registry.allocateId());
    h.registry.registerResumer('BACKUP', () => ({
      async resume() {
        if (storedWhenFirstStarted === undefined) {
          storedWhenFirstStarted = 0;
          for (const id of ids) if (await h.store.get(id)) storedWhenFirstStarted++;
        }
      },
      async onFailOrCancel() {},
    }));
    await h.registry.start();
    // One id is taken already: its creation fails, the others' do not.
    const taken = await h.registry.create({ ...backup, id: ids[7]! });
    await h.registry.waitForTerminal(taken.id);
    storedWhenFirstStarted = undefined;
    // Each job is listed from the moment it is reported stored, before the batch returns.
    const listedWhenStored: boolean[] = [];
    const results = await h.registry.createMany(
      [...ids.map((id) => ({ ...backup, id, scheduleId: '42' })), { type: 'NO_SUCH_TYPE' as never, description: 'x', userName: 'root' }],
      { onStored: (job) => listedWhenStored.push(h.registry.listPage({ pageSize: 100 }).jobs.some((j) => j.id === job.id && j.status === 'pending')) },
    );
    expect(listedWhenStored).toEqual(ids.filter((id) => id !== taken.id).map(() => true));
    expect(results).toHaveLength(51);
    const created = results.filter((r): r is Job => !(r instanceof Error));
    expect(created.map((j) => j.id)).toEqual(ids.filter((id) => id !== taken.id));
    expect(results[7]).toBeInstanceOf(CairnError);
    expect((results[7] as CairnError).code).toBe(ErrorCode.DuplicateObject);
    expect((results[50] as CairnError).code).toBe(ErrorCode.InvalidArgument);
    expect(new Set(created.map((j) => j.spec.createdAtMs)).size).toBe(1);
    const done = await Promise.all(created.map((j) => h.registry.waitForTerminal(j.id)));
    expect(done.every((j) => j.status === 'succeeded')).toBe(true);
    // The first job ran only once every job of the batch was in the store.
    expect(storedWhenFirstStarted).toBe(ids.length);
  });

  it('recognises a job already stored under a given id for the same type and schedule as this creation, and runs it once', async () => {
    // A previous attempt's create landed though its answer was lost (the scheduler starts the
    // run again under the recorded id): the job is there, pending, unknown to this registry.
    const h = await harness();
    let runs = 0;
    h.registry.registerResumer('BACKUP', () => ({ resume: async () => void runs++, onFailOrCancel: async () => undefined }));
    await h.registry.start();
    const [id, other] = [h.registry.allocateId(), h.registry.allocateId()];
    const stored = (jobId: string, scheduleId: string): Job => {
      const spec = { ...backup, statement: '', createdAtMs: 1, scheduleId, payload: new Uint8Array(0) };
      return { id: jobId, spec, ...initialState(spec, { coordinatorId: 'coordinator-1', claimSessionId: 'an-earlier-attempt' }) };
    };
    await h.store.create(stored(id, '42'));
    await h.store.create(stored(other, '43'));
    const results = await h.registry.createMany([
      { ...backup, id, scheduleId: '42' },
      // The same id for another schedule is not this creation.
      { ...backup, id: other, scheduleId: '44' },
    ]);
    expect((results[0] as Job).id).toBe(id);
    expect((results[0] as Job).spec.createdAtMs).toBe(1);
    expect((results[1] as CairnError).code).toBe(ErrorCode.DuplicateObject);
    expect((await h.registry.waitForTerminal(id)).status).toBe('succeeded');
    // Once more (as a retried start after a lost answer): the same job, not run again.
    const again = await h.registry.createMany([{ ...backup, id, scheduleId: '42' }]);
    expect((again[0] as Job).id).toBe(id);
    expect(runs).toBe(1);
    expect((await h.registry.list()).filter((j) => j.id === id)).toHaveLength(1);
  });
});

describe('JobRegistry: pause, resume, cancel', () => {
  it('pauses a running job (aborting its resumer) and resumes it from its checkpoint', async () => {
    const h = await harness();
    const log = { starts: [] as number[], aborts: [] as unknown[], reverts: 0 };
    h.registry.registerResumer('BACKUP', () => stepper(10, 25, log));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    await waitFor(async () => dec((await statusOf(h.store, id)).progress.checkpoint) >= 3, { intervalMs: 10 });
    expect((await h.registry.pause(id)).status).toBe('pause-requested');
    const paused = await waitFor(async () => {
      const j = await statusOf(h.store, id);
      return j.status === 'paused' && j;
    });
    expect(log.aborts).toHaveLength(1);
    expect(log.aborts[0]).toMatchObject({ code: ErrorCode.Canceled });
    expect(h.registry.counts().get('BACKUP')).toEqual({ running: 0, paused: 1 });
    const checkpoint = dec(paused.progress.checkpoint);
    expect(checkpoint).toBeGreaterThanOrEqual(3);
    // Pausing a paused job is a no-op; nothing runs while paused.
    expect((await h.registry.pause(id)).status).toBe('paused');
    await new Promise((r) => setTimeout(r, 100));
    expect(log.starts).toEqual([0]);

    expect((await h.registry.resume(id)).status).toBe('running');
    const done = await h.registry.waitForTerminal(id);
    expect(done.status).toBe('succeeded');
    expect(log.starts).toEqual([0, checkpoint]);
    expect(h.statuses(id)).toEqual(['running', 'pause-requested', 'paused', 'running', 'succeeded']);
    expect(log.reverts).toBe(0);
    await expect(h.registry.resume(id)).rejects.toThrow('job with status succeeded cannot be requested to be resumed');
    await expect(h.registry.pause(id)).rejects.toThrow('job with status succeeded cannot be requested to be paused');
  });

  it('cancels a running job: cancel-requested → reverting → canceled, onFailOrCancel called', async () => {
    const h = await harness();
    const reverts: Job[] = [];
    const aborts: unknown[] = [];
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        await ctx.setProgress(0.1, 'waiting');
        await untilAborted(ctx).catch((err: unknown) => {
          aborts.push(err);
          throw err;
        });
      },
      async onFailOrCancel(ctx) {
        reverts.push(ctx.job);
      },
    }));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    await waitFor(async () => (await statusOf(h.store, id)).progress.runningStatus === 'waiting', { intervalMs: 10 });
    expect(h.registry.counts().get('BACKUP')).toEqual({ running: 1, paused: 0 });
    expect((await h.registry.cancel(id)).status).toBe('cancel-requested');
    const done = await h.registry.waitForTerminal(id);
    expect(done).toMatchObject({ status: 'canceled', error: null });
    expect(aborts).toHaveLength(1);
    expect(reverts).toHaveLength(1);
    expect(reverts[0]).toMatchObject({ status: 'reverting', revertOutcome: 'canceled' });
    expect(h.statuses(id)).toEqual(['running', 'cancel-requested', 'reverting', 'canceled']);
    await expect.poll(() => h.events).toEqual([['fail_or_cancel_completed', id]]);
    await expect(h.registry.cancel(id)).rejects.toThrow('job with status canceled cannot be requested to be canceled');
  });

  it('cancels a paused job', async () => {
    const h = await harness();
    const log = { starts: [] as number[], aborts: [] as unknown[], reverts: 0 };
    h.registry.registerResumer('BACKUP', () => stepper(100, 20, log));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    await waitFor(async () => (await statusOf(h.store, id)).progress.checkpoint !== null, { intervalMs: 10 });
    await h.registry.pause(id);
    await waitFor(async () => (await statusOf(h.store, id)).status === 'paused');
    expect((await h.registry.cancel(id)).status).toBe('cancel-requested');
    expect((await h.registry.waitForTerminal(id)).status).toBe('canceled');
    expect(log.reverts).toBe(1);
    expect(log.starts).toHaveLength(1);
    expect(h.statuses(id)).toEqual(['running', 'pause-requested', 'paused', 'cancel-requested', 'reverting', 'canceled']);
  });

  it('refuses requests it cannot honour', async () => {
    const h = await harness();
    await expect(h.registry.create(backup)).rejects.toMatchObject({ code: ErrorCode.NotLeader, retryable: true });
    await h.registry.start();
    await expect(h.registry.create({ ...backup, type: 'COMPACT' })).rejects.toThrow('no resumer registered for job type COMPACT');
    await expect(h.registry.pause('12345')).rejects.toMatchObject({ code: ErrorCode.NotFound });
    await expect(h.registry.get('12345')).rejects.toThrow('job with ID 12345 does not exist');
  });
});

describe('JobRegistry: leadership', () => {
  it('a new leader adopts a job whose coordinator died and resumes it from the last checkpoint', async () => {
    const bucket = `jobs_${randomUUID().slice(0, 8)}`;
    const ncA = await connectNats(server.url, 'coordinator-1');
    connections.push(ncA);
    const a = await harness({ bucket, conn: ncA, coordinatorId: 'coordinator-1', stopGraceMs: 300 });
    const log = { starts: [] as number[], aborts: [] as unknown[], reverts: 0 };
    const starters: string[] = [];
    const factory = (who: string) => () => {
      starters.push(who);
      return stepper(8, 30, log);
    };
    a.registry.registerResumer('BACKUP', factory('coordinator-1'));
    await a.registry.start();
    const { id } = await a.registry.create(backup);
    const observer = await JobStore.open(nc, { bucket });
    await waitFor(async () => dec((await statusOf(observer, id)).progress.checkpoint) >= 3, { intervalMs: 10 });

    // Coordinator 1 dies: its connection goes away mid-job; the job stays "running" in the store.
    await ncA.close();
    const orphan = await statusOf(observer, id);
    expect(orphan).toMatchObject({ status: 'running', coordinatorId: 'coordinator-1' });
    const lastCheckpoint = dec(orphan.progress.checkpoint);

    const ncB = await connectNats(server.url, 'coordinator-2');
    connections.push(ncB);
    const b = await harness({ bucket, conn: ncB, coordinatorId: 'coordinator-2' });
    b.registry.registerResumer('BACKUP', factory('coordinator-2'));
    await b.registry.start();
    const done = await b.registry.waitForTerminal(id);
    expect(done).toMatchObject({ status: 'succeeded', coordinatorId: 'coordinator-2' });
    expect(starters).toEqual(['coordinator-1', 'coordinator-2']);
    expect(log.starts).toEqual([0, lastCheckpoint]);
    expect(b.transitions.find((t) => t.id === id)?.event).toMatchObject({ type: 'adopted', coordinatorId: 'coordinator-2' });
    expect(b.statuses(id)).toEqual(['succeeded']);
  });

  it('stop() aborts resumers without changing job state; start() picks them up again', async () => {
    const h = await harness();
    const log = { starts: [] as number[], aborts: [] as unknown[], reverts: 0 };
    h.registry.registerResumer('BACKUP', () => stepper(6, 25, log));
    await h.registry.start();
    const { id } = await h.registry.create(backup);
    await waitFor(async () => dec((await statusOf(h.store, id)).progress.checkpoint) >= 2, { intervalMs: 10 });
    await h.registry.stop();
    expect(log.aborts).toHaveLength(1);
    expect(log.aborts[0]).toMatchObject({ code: ErrorCode.NotLeader });
    const left = await statusOf(h.store, id);
    expect(left.status).toBe('running');
    await new Promise((r) => setTimeout(r, 100));
    expect(await statusOf(h.store, id)).toEqual(left); // nothing written after stop
    await expect(h.registry.pause(id)).rejects.toMatchObject({ code: ErrorCode.NotLeader });

    await h.registry.start();
    expect((await h.registry.waitForTerminal(id)).status).toBe('succeeded');
    expect(log.starts).toEqual([0, dec(left.progress.checkpoint)]);
    expect(log.reverts).toBe(0);
  });

  it('adopts every non-terminal status and drives each to where it belongs', async () => {
    const bucket = `jobs_${randomUUID().slice(0, 8)}`;
    const store = await JobStore.open(nc, { bucket });
    const base = (id: string, status: JobStatus, patch: Partial<Job> = {}): Job => ({
      id,
      spec: { ...backup, statement: '', createdAtMs: 1000, scheduleId: null, payload: new Uint8Array(0) },
      progress: EMPTY_PROGRESS,
      status,
      error: null,
      revertOutcome: null,
      startedAtMs: status === 'pending' ? null : 1000,
      finishedAtMs: null,
      modifiedAtMs: 1000,
      coordinatorId: 'coordinator-0',
      claimSessionId: 'dead-session',
      retryCount: 0,
      nextRetryAtMs: null,
      lastRetryError: null,
      ...patch,
    });
    const jobs = [
      base('101', 'pending'),
      base('102', 'running'),
      base('103', 'pause-requested'),
      base('104', 'cancel-requested'),
      base('105', 'reverting', { revertOutcome: 'failed', error: 'disk full' }),
      base('106', 'paused', { claimSessionId: null }),
      base('107', 'succeeded', { finishedAtMs: 2000 }),
    ];
    for (const j of jobs) await store.create(j);
    const h = await harness({ bucket, coordinatorId: 'coordinator-9' });
    const resumed: string[] = [];
    const reverted: string[] = [];
    h.registry.registerResumer('BACKUP', (job) => ({
      async resume() {
        resumed.push(job.id);
      },
      async onFailOrCancel() {
        reverted.push(job.id);
      },
    }));
    await h.registry.start();
    await waitFor(async () => {
      const all = await h.registry.list({ statuses: ['pending', 'running', 'pause-requested', 'cancel-requested', 'reverting'] });
      return all.length === 0;
    });
    const byId = new Map((await h.registry.list()).map((j) => [j.id, j]));
    expect([...byId].map(([id, j]) => [id, j.status])).toEqual([
      ['101', 'succeeded'],
      ['102', 'succeeded'],
      ['103', 'paused'],
      ['104', 'canceled'],
      ['105', 'failed'],
      ['106', 'paused'],
      ['107', 'succeeded'],
    ]);
    expect(resumed.sort()).toEqual(['101', '102']);
    expect(reverted.sort()).toEqual(['104', '105']);
    expect(byId.get('101')?.coordinatorId).toBe('coordinator-9');
    expect(byId.get('106')?.coordinatorId).toBe('coordinator-0'); // paused jobs are left alone
    expect(byId.get('105')?.error).toBe('disk full');
  });
});

describe('JobRegistry: listing and retention', () => {
  it('lists with filters and waits for terminal states', async () => {
    const h = await harness();
    h.registry.registerResumer('BACKUP', () => ({ resume: async () => {}, onFailOrCancel: async () => {} }));
    h.registry.registerResumer('RESTORE', () => ({
      resume: async () => {
        throw new Error('no backup found');
      },
      onFailOrCancel: async () => {},
    }));
    await h.registry.start();
    const b1 = await h.registry.create({ ...backup, scheduleId: '9' });
    const r1 = await h.registry.create({ ...backup, type: 'RESTORE' });
    const b2 = await h.registry.create(backup);
    const done = await Promise.all([b1, r1, b2].map((j) => h.registry.waitForTerminal(j.id)));
    expect(done.map((j) => j.status)).toEqual(['succeeded', 'failed', 'succeeded']);
    const ids = (js: Job[]) => js.map((j) => j.id);
    expect(ids(await h.registry.list())).toEqual([b1.id, r1.id, b2.id]);
    expect(ids(await h.registry.list({ types: ['BACKUP'] }))).toEqual([b1.id, b2.id]);
    expect(ids(await h.registry.list({ statuses: ['failed'] }))).toEqual([r1.id]);
    expect(ids(await h.registry.list({ scheduleId: '9' }))).toEqual([b1.id]);
    expect(ids(await h.registry.list({ types: ['BACKUP'], limit: 1 }))).toEqual([b2.id]);
  });

  it('purges terminal jobs past the retention on a sweep (injected clock)', async () => {
    let now = Date.UTC(2024, 2, 1, 10, 0, 0, 123);
    const h = await harness({ clock: () => now });
    h.registry.registerResumer('BACKUP', () => ({
      async resume(ctx) {
        if (ctx.job.spec.description === 'forever') await untilAborted(ctx);
      },
      onFailOrCancel: async () => {},
    }));
    await h.registry.start();
    const old = await h.registry.create(backup);
    const done = await h.registry.waitForTerminal(old.id);
    expect(done).toMatchObject({ finishedAtMs: now, modifiedAtMs: now, spec: { createdAtMs: now } });
    expect(jobIdTimestampMs(old.id)).toBe(now);
    expect(showJobsRow(done).created).toBe('2024-03-01 10:00:00.123+00:00');
    const longRunning = await h.registry.create({ ...backup, description: 'forever' });

    now += 13 * DAY;
    const recent = await h.registry.create(backup);
    await h.registry.waitForTerminal(recent.id);
    expect(await h.registry.purgeExpired()).toEqual([]);

    now += 2 * DAY; // old finished 15 days ago, recent 2 days ago
    expect(await h.registry.purgeExpired()).toEqual([old.id]);
    await expect(h.registry.get(old.id)).rejects.toMatchObject({ code: ErrorCode.NotFound });
    expect((await h.registry.list()).map((j) => j.id)).toEqual([longRunning.id, recent.id]);
    expect((await h.registry.get(longRunning.id)).status).toBe('running');
  });
});
