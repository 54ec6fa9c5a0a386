import { randomUUID } from 'node:crypto';
import type { KV, NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { JobRegistry, JobStore, type Job } from '@cairn/jobs';
import { planCreateSchedule, scheduleIdGenerator, ScheduleStore, type BackupSchedule } from '@cairn/schedules';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { Registry } from 'prom-client';
import { CoordinatorMetrics } from '../coordinator-metrics.js';
import { SchedulerDaemon, type ScheduledJobStarter, type SchedulerMetrics } from './scheduler-daemon.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'scheduler-daemon-test');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const quiet = { info() {}, warn() {} };

/** Buckets of their own: one "cluster" whose leaders come and go. */
function buckets() {
  const tag = randomUUID().slice(0, 8);
  return { schedules: `schedules_${tag}`, jobs: `jobs_${tag}` };
}

/** A coordinator's scheduler: a registry whose BACKUP jobs end as `outcome` says, and the daemon. */
async function leader(
  b: ReturnType<typeof buckets>,
  startJob?: (jobs: JobRegistry) => ScheduledJobStarter,
  outcome: () => Promise<void> = async () => undefined,
  sink?: SchedulerMetrics,
  /** The jobs store to use instead of the plain one (to inject NATS faults into job creation). */
  jobStore: (kv: KV) => JobStore = (kv) => new JobStore(kv, nc, b.jobs),
) {
  const store = await ScheduleStore.open(nc, { bucket: b.schedules, mirror: true });
  const jobs = new JobRegistry({ store: jobStore((await JobStore.open(nc, { bucket: b.jobs })).kv), coordinatorId: randomUUID().slice(0, 6), sweepIntervalMs: 0, initialBackoffMs: 10 });
  jobs.registerResumer('BACKUP', () => ({ resume: outcome, onFailOrCancel: async () => undefined }));
  await jobs.start();
  // The description carries the scheduled time, which a real run uses as AS OF SYSTEM TIME.
  const create: ScheduledJobStarter = async (runs) => {
    const created = await jobs.createMany(
      runs.map(({ schedule, jobId, scheduledAtMs }) => ({ id: jobId, type: 'BACKUP', description: String(scheduledAtMs), userName: 'root', scheduleId: schedule.id })),
    );
    return created.map((r) => (r instanceof Error ? r : undefined));
  };
  const metrics = { started: 0, succeeded: 0, failed: 0, wait: 0, skip: 0 };
  const daemon = new SchedulerDaemon({
    store,
    jobs,
    startJobs: startJob ? startJob(jobs) : create,
    pollIntervalMs: () => 200,
    isReady: () => true,
    log: quiet,
    metrics: sink ?? {
      scheduleStarted: () => metrics.started++,
      scheduleFinished: (o) => metrics[o]++,
      scheduleRescheduled: (a) => metrics[a]++,
      schedulesLoaded: () => undefined,
    },
  });
  return { store, jobs, daemon, metrics };
}

/**
 * One generator for the file, as a leader has one: two generators hand out the same id within a
 * millisecond (a millisecond and a counter of their own), and the second create is refused.
 */
const scheduleIds = scheduleIdGenerator();

async function createSchedule(store: ScheduleStore, sql: string): Promise<BackupSchedule[]> {
  const plan = planCreateSchedule(parseOne(sql) as CreateScheduleStatement, new Date(), scheduleIds, { owner: 'root' });
  await store.createAll(plan.schedules);
  return plan.schedules;
}

const jobsOf = async (jobs: JobRegistry, scheduleId: string): Promise<Job[]> => (await jobs.list()).filter((j) => j.spec.scheduleId === scheduleId);

describe('SchedulerDaemon', () => {
  it('starts a due schedule once, records the job and its outcome, and moves next_run to the next cron time', async () => {
    const b = buckets();
    const l = await leader(b);
    const [s] = await createSchedule(l.store, "CREATE SCHEDULE once FOR BACKUP INTO 'nodelocal://1/a' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'");
    l.daemon.start();
    const after = await waitFor(async () => {
      const x = await l.store.get(s!.id);
      return x?.lastRun?.outcome === 'succeeded' ? x : undefined;
    }, { what: 'the run to succeed' });
    l.daemon.stop();
    await l.jobs.stop();
    const jobs = await jobsOf(l.jobs, s!.id);
    expect(jobs.map((j) => j.id)).toEqual([after.lastRun!.jobId]);
    expect(after.nextRunMs).toBeGreaterThan(Date.now() + 60_000);
    expect(l.metrics).toMatchObject({ started: 1, succeeded: 1, failed: 0 });
    // The round's run record is gone once the schedule's own key holds the run.
    const left: string[] = [];
    for await (const k of await l.store.kv.keys('runs.>')) left.push(k);
    expect(left).toEqual([]);
    expect((await ScheduleStore.open(nc, { bucket: b.schedules }).then((r) => r.get(s!.id)))?.lastRun?.jobId).toBe(after.lastRun!.jobId);
  });

  it('creates, under the recorded id, the job of a run whose leader died before creating it, exactly once', async () => {
    const b = buckets();
    // The first leader records the run, then freezes (and is gone) before the job exists.
    let recorded: string | undefined;
    const dying = await leader(b, () => (runs) => {
      recorded = runs[0]?.jobId;
      return new Promise<unknown[]>(() => undefined);
    });
    const [s] = await createSchedule(dying.store, "CREATE SCHEDULE lost FOR BACKUP INTO 'nodelocal://1/b' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'");
    void dying.daemon.tick();
    await waitFor(async () => recorded !== undefined, { what: 'the first leader to record the run' });
    dying.daemon.stop();
    await dying.jobs.stop();
    const stored = await dying.store.get(s!.id);
    expect(stored?.lastRun).toMatchObject({ outcome: 'running', jobId: recorded });
    expect(await jobsOf(dying.jobs, s!.id)).toHaveLength(0);
    // Recorded in the round's run record only: the schedule's own key still has no run.
    expect((await ScheduleStore.open(nc, { bucket: b.schedules }).then((r) => r.get(s!.id)))?.lastRun).toBeNull();

    // The next leader finds the run without its job and creates it, once, as of the scheduled time.
    const next = await leader(b);
    next.daemon.start();
    const done = await waitFor(async () => {
      const x = await next.store.get(s!.id);
      return x?.lastRun?.outcome === 'succeeded' ? x : undefined;
    }, { what: 'the recovered run to succeed' });
    // A third leader finds nothing to recover: still one job.
    const third = await leader(b);
    await third.daemon.tick();
    next.daemon.stop();
    await next.jobs.stop();
    await third.jobs.stop();
    const jobs = await jobsOf(next.jobs, s!.id);
    expect(jobs.map((j) => j.id)).toEqual([recorded]);
    expect(done.lastRun?.scheduledAtMs).toBe(stored!.lastRun!.scheduledAtMs);
    expect(jobs[0]!.spec.description).toBe(String(stored!.lastRun!.scheduledAtMs));
  });

  it('starts again, under the same job id, a run whose job create NATS left unanswered; a create that landed is recognised, not doubled', async () => {
    const b = buckets();
    // What a batch of job creates meets when NATS leaves one unanswered past retryNats'
    // budget (a loaded R3 cluster in a burst): the retryable error the store returns for it.
    // Of the first batch, one job's create is lost; another's lands and only its answer is lost.
    const calls = new Map<string, number>();
    let lost: string | undefined;
    let landed: string | undefined;
    const unanswered = (id: string) => new CairnError(ErrorCode.Unavailable, `cannot create job ${id}: NATS did not answer for 30 s (TIMEOUT)`, { retryable: true });
    class FaultyStore extends JobStore {
      override async createMany(jobs: readonly Job[], o: Parameters<JobStore['createMany']>[1] = {}): ReturnType<JobStore['createMany']> {
        for (const j of jobs) calls.set(j.id, (calls.get(j.id) ?? 0) + 1);
        if (lost !== undefined || jobs.length < 2) return super.createMany(jobs, o);
        [lost, landed] = [jobs[0]!.id, jobs[1]!.id];
        const [rest, landing] = await Promise.all([super.createMany(jobs.slice(2), o), super.createMany([jobs[1]!])]);
        expect(landing[0]).not.toBeInstanceOf(Error);
        return [unanswered(lost), unanswered(landed), ...rest];
      }
    }
    const faulty = (kv: KV) => new FaultyStore(kv, nc, b.jobs);
    const l = await leader(b, undefined, undefined, undefined, faulty);
    const schedules = [
      ...(await createSchedule(l.store, "CREATE SCHEDULE t1 FOR BACKUP INTO 'nodelocal://1/t1' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause'")),
      ...(await createSchedule(l.store, "CREATE SCHEDULE t2 FOR BACKUP INTO 'nodelocal://1/t2' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause'")),
    ];
    l.daemon.start();
    const done = await waitFor(
      async () => {
        const xs = await Promise.all(schedules.map((s) => l.store.get(s.id)));
        return xs.every((x) => x?.lastRun?.outcome === 'succeeded') ? xs : undefined;
      },
      { what: 'both runs to succeed', timeoutMs: 15_000 },
    );
    l.daemon.stop();
    await l.jobs.stop();
    expect(lost).toBeDefined();
    expect(landed).toBeDefined();
    // Each create was tried again, under the recorded id; the schedules never failed or paused.
    for (const id of [lost!, landed!]) expect(calls.get(id)).toBe(2);
    expect(l.metrics).toMatchObject({ started: 2, succeeded: 2, failed: 0 });
    for (const [i, s] of schedules.entries()) {
      expect(done[i]!.state).toBe('ACTIVE');
      const jobs = await jobsOf(l.jobs, s.id);
      expect(jobs.map((j) => j.id)).toEqual([done[i]!.lastRun!.jobId]);
      expect(jobs[0]!.status).toBe('succeeded');
    }
  });

  it('moves schedules_BACKUP_last_completed_time only for updates_cluster_last_backup_time_metric, and a new leader continues it', async () => {
    const gauge = async (m: Registry) => (await m.getSingleMetric('schedules_BACKUP_last_completed_time')!.get()).values[0]!.value;
    const b = buckets();
    const firstRegistry = new Registry();
    const first = await leader(b, undefined, undefined, new CoordinatorMetrics(firstRegistry));
    const [plain] = await createSchedule(first.store, "CREATE SCHEDULE plain FOR BACKUP INTO 'nodelocal://1/m1' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'");
    first.daemon.start();
    const plainDone = await waitFor(async () => {
      const x = await first.store.get(plain!.id);
      return x?.lastRun?.outcome === 'succeeded' ? x : undefined;
    }, { what: 'the plain schedule to succeed' });
    // A schedule without the option leaves the gauge alone (CockroachDB's rule).
    expect(plainDone.lastSuccessEndMs).toBe(plainDone.lastRun!.scheduledAtMs);
    expect(await gauge(firstRegistry)).toBe(0);

    const [tracked] = await createSchedule(
      first.store,
      "CREATE SCHEDULE tracked FOR BACKUP INTO 'nodelocal://1/m2' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', updates_cluster_last_backup_time_metric",
    );
    first.daemon.wake();
    const trackedDone = await waitFor(async () => {
      const x = await first.store.get(tracked!.id);
      return x?.lastRun?.outcome === 'succeeded' ? x : undefined;
    }, { what: 'the tracked schedule to succeed' });
    // The backup's end time: it ran AS OF SYSTEM TIME its scheduled time.
    const endSec = Math.floor(trackedDone.lastRun!.scheduledAtMs / 1000);
    expect(await gauge(firstRegistry)).toBe(endSec);
    first.daemon.stop();
    await first.jobs.stop();

    // The next leader's gauge starts where the schedules left it, not at 0.
    const nextRegistry = new Registry();
    const nextMetrics = new CoordinatorMetrics(nextRegistry);
    const next = await leader(b, undefined, undefined, nextMetrics);
    expect(await gauge(nextRegistry)).toBe(0);
    await next.daemon.tick();
    expect(await gauge(nextRegistry)).toBe(endSec);
    await next.jobs.stop();
  });

  it('applies on_previous_running: skip and wait count and reschedule while a job still runs', async () => {
    const b = buckets();
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const l = await leader(b, undefined, () => blocked);
    const [skip] = await createSchedule(
      l.store,
      "CREATE SCHEDULE sk FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', on_previous_running = 'skip'",
    );
    const [wait] = await createSchedule(
      l.store,
      "CREATE SCHEDULE wt FOR BACKUP INTO 'nodelocal://1/d' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', on_previous_running = 'wait'",
    );
    await l.daemon.tick();
    expect(l.metrics.started).toBe(2);
    // Due again while the first jobs run (as ALTER ... EXECUTE IMMEDIATELY makes them).
    for (const s of [skip!, wait!]) await l.store.put({ ...(await l.store.get(s.id))!, nextRunMs: Date.now() - 1 });
    const before = Date.now();
    await l.daemon.tick();
    expect(l.metrics).toMatchObject({ started: 2, skip: 1, wait: 1 });
    const skipped = (await l.store.get(skip!.id))!;
    const waited = (await l.store.get(wait!.id))!;
    expect(skipped.statusText).toBe('rescheduled due to 1 already running');
    expect(skipped.nextRunMs).toBeGreaterThan(before + 60_000);
    expect(waited.statusText).toBe('delayed due to 1 already running');
    expect(waited.nextRunMs! - before).toBeGreaterThanOrEqual(59_000);
    expect(waited.nextRunMs! - before).toBeLessThanOrEqual(61_000);
    release();
    l.daemon.start();
    await waitFor(async () => (await l.store.get(wait!.id))?.lastRun?.outcome === 'succeeded', { what: 'the first run to settle' });
    l.daemon.stop();
    await l.jobs.stop();
  });

  it('pauses a schedule whose job fails under on_execution_failure = pause', async () => {
    const b = buckets();
    const l = await leader(b, undefined, async () => {
      throw new Error('bucket unreachable');
    });
    const [s] = await createSchedule(
      l.store,
      "CREATE SCHEDULE p FOR BACKUP INTO 'nodelocal://1/e' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause'",
    );
    l.daemon.start();
    const paused = await waitFor(async () => {
      const x = await l.store.get(s!.id);
      return x?.state === 'PAUSED' ? x : undefined;
    }, { what: 'the schedule to pause' });
    l.daemon.stop();
    await l.jobs.stop();
    expect(paused.nextRunMs).toBeNull();
    expect(paused.statusText).toContain('bucket unreachable');
    expect(l.metrics.failed).toBe(1);
  });
});
