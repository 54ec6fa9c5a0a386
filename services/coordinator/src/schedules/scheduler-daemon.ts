import { isTransientNatsError, reasonOf } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { isTerminalStatus, type Job, type JobRegistry } from '@cairn/jobs';
import {
  decideRun,
  onJobFinished,
  recordJobStarted,
  scheduledRunStatement,
  type BackupSchedule,
  type RunRecord,
  type ScheduleStore,
} from '@cairn/schedules';
import type { BackupStatement } from '@cairn/sql';
import { WriteLock } from '../write-lock.js';

/** One scheduled run whose job is to be created, with the id recorded for it beforehand. */
export interface ScheduledRun {
  readonly schedule: BackupSchedule;
  readonly jobId: string;
  /** The run's BACKUP (`AS OF SYSTEM TIME` the scheduled time, `detached`). */
  readonly backup: BackupStatement;
  readonly scheduledAtMs: number;
}

/**
 * Creates the jobs of scheduled runs, each under its `run.jobId`, as one batch (the
 * coordinator plans real BACKUPs; a benchmark may only create the jobs). Resolves with one
 * outcome per run, in order: undefined when its job was created, else the error it met. The
 * job store refuses a second job with an id. A transient error (NATS did not answer: a
 * retryable CairnError) makes the daemon start the run again later with the same job id, so
 * a starter must recognise a job it created before as this run's (`JobRegistry.createMany`
 * does) rather than fail it as a duplicate.
 */
export type ScheduledJobStarter = (runs: readonly ScheduledRun[]) => Promise<unknown[]>;

/** The `schedules.*` metrics the daemon feeds. */
export interface SchedulerMetrics {
  scheduleStarted(): void;
  /** A run's job ended (or could not start); `schedule` is as stored after it. */
  scheduleFinished(outcome: 'succeeded' | 'failed', schedule: BackupSchedule): void;
  scheduleRescheduled(action: 'wait' | 'skip'): void;
  /**
   * Every schedule as stored, once per election: gauges that outlive a leader (the last
   * completed backup) continue from what the schedules recorded instead of from 0.
   */
  schedulesLoaded(schedules: readonly BackupSchedule[]): void;
}

/** What the daemon logs through (a pino logger fits). */
export interface SchedulerLogger {
  info(meta: object, msg: string): void;
  warn(meta: object, msg: string): void;
}

export interface SchedulerDaemonOptions {
  /** Schedules, mirrored in memory (`ScheduleStore.open(nc, { mirror: true })`). */
  readonly store: ScheduleStore;
  readonly jobs: JobRegistry;
  readonly startJobs: ScheduledJobStarter;
  /** The longest the daemon sleeps between rounds (`jobs.scheduler.poll_interval`). */
  readonly pollIntervalMs: () => number;
  /** Whether this coordinator may run schedules now (it leads and has caught up). */
  readonly isReady: () => boolean;
  readonly log: SchedulerLogger;
  readonly metrics?: SchedulerMetrics;
  /** Called once a run's job has ended and the schedule was updated (protected timestamps, expiry). */
  readonly afterRun?: (schedule: BackupSchedule, job: Job) => Promise<void>;
  readonly clock?: () => number;
}

/** How many schedule writes are in flight at once (each is a KV put). */
const WRITE_CONCURRENCY = 1024;
/**
 * The shortest sleep between rounds: schedules due within it are taken together, which keeps
 * a round's scan of every schedule from running once per start when thousands are due.
 */
const MIN_SLEEP_MS = 20;
/**
 * A run whose start met a transient error (a job create NATS left unanswered past its retry
 * budget, on a loaded or failing-over cluster) is started again after this pause, doubling
 * up to `RETRY_START_MAX_MS`; it fails (on_execution_failure applies) only once it has been
 * retried for `RETRY_START_WINDOW_MS`, so an outage longer than that is recorded in the
 * schedule instead of being retried without a trace.
 */
const RETRY_START_MS = 1000;
const RETRY_START_MAX_MS = 30_000;
const RETRY_START_WINDOW_MS = 10 * 60_000;

/** Recorded runs to start again: their start met a transient error. */
interface RetryingRuns {
  readonly runs: ScheduledRun[];
  /** When the first attempt failed: the retry window counts from here. */
  readonly sinceMs: number;
  readonly atMs: number;
  readonly pauseMs: number;
}

/**
 * The scheduler daemon of the coordinator leader. Each round it settles the runs whose job
 * has ended (failure policy, unpausing the incremental after the first full), then starts due
 * schedules under their on_previous_running policy; it sleeps until the earliest next run, at
 * most a poll interval, and wakes early when a job of a schedule ends.
 *
 * Exactly once across leader failovers: a run's job id is allocated and saved in the schedule
 * together with the advanced next run, before the job is created. A new leader finds runs
 * whose job does not exist and creates it under that id (AS OF SYSTEM TIME the scheduled
 * time), so a run is neither lost nor doubled — the job store refuses a second job with the id.
 */
export class SchedulerDaemon {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = true;
  private recovered = false;
  private rerun = false;
  /** Non-terminal jobs started by each schedule (on_previous_running counts them). */
  private readonly activeJobs = new Map<string, Set<string>>();
  /** Jobs of schedules that ended since the last round, by job id. */
  private readonly ended = new Map<string, Job>();
  private unsubscribe: (() => void) | undefined;
  /** Run records whose schedules' own keys could not all be written yet: retried each round. */
  private unfinished: RunRecord[] = [];
  /** Runs recorded (their job ids saved) whose start met a transient error: started again later. */
  private retrying: RetryingRuns[] = [];
  /** The earliest next run of an ACTIVE schedule after the last round. */
  private nextDueMs = Number.POSITIVE_INFINITY;
  private readonly now: () => number;
  /**
   * Serializes every read-modify-write of schedules (a round, and the schedule statements), so
   * a PAUSE cannot be overwritten by a round that read the schedule before it.
   */
  readonly lock = new WriteLock();

  constructor(private readonly opts: SchedulerDaemonOptions) {
    this.now = opts.clock ?? Date.now;
  }

  get store(): ScheduleStore {
    return this.opts.store;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.opts.jobs.onTerminal((job) => {
      if (job.spec.scheduleId === null) return;
      this.ended.set(job.id, job);
      this.wake();
    });
    this.sleep(0);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Runs a round soon (a schedule changed, a job ended, EXECUTE IMMEDIATELY). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.sleep(0);
  }

  /** One round now; resolves when it is done. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.running || !this.opts.isReady()) return;
    this.running = true;
    try {
      await this.lock.run(() => this.round());
    } catch (err) {
      this.opts.log.warn({ err }, 'scheduler round failed');
    } finally {
      this.running = false;
    }
  }

  /** How many jobs of `scheduleId` are not terminal, as the daemon counts them. */
  activeJobCount(scheduleId: string): number {
    return this.activeJobs.get(scheduleId)?.size ?? 0;
  }

  private sleep(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick().finally(() => {
        if (this.stopped) return;
        const again = this.rerun;
        this.rerun = false;
        this.sleep(again ? 0 : this.untilNextDue());
      });
    }, ms);
  }

  /** Until the earliest next run of an ACTIVE schedule, at most a poll interval. */
  private untilNextDue(): number {
    const poll = this.opts.pollIntervalMs();
    if (!this.recovered) return poll;
    const retryAt = Math.min(...this.retrying.map((r) => r.atMs));
    return Math.max(MIN_SLEEP_MS, Math.min(poll, this.nextDueMs - this.now(), retryAt - this.now()));
  }

  private async round(): Promise<void> {
    if (!this.recovered) {
      await this.recover(await this.opts.store.list());
      this.recovered = true;
    }
    await this.finishRecords();
    await this.settle();
    await this.retryStarts();
    const now = this.now();
    const due: BackupSchedule[] = [];
    for (const s of await this.opts.store.all()) if (s.state === 'ACTIVE' && s.nextRunMs !== null && s.nextRunMs <= now) due.push(s);
    due.sort((a, b) => a.nextRunMs! - b.nextRunMs!);
    const runs: ScheduledRun[] = [];
    const writes: BackupSchedule[] = [];
    for (const s of due) {
      const d = decideRun(s, { now, runningJobsOfSchedule: this.activeJobCount(s.id) });
      if (d.action === 'notDue') continue;
      if (d.action === 'wait' || d.action === 'skip') {
        writes.push(d.schedule);
        this.opts.metrics?.scheduleRescheduled(d.action);
        continue;
      }
      // The job id goes into the schedule with the advanced next run, in one write: see above.
      const jobId = this.opts.jobs.allocateId();
      const schedule = recordJobStarted(d.schedule, jobId);
      this.track(s.id, jobId);
      runs.push({ schedule, jobId, backup: d.backup, scheduledAtMs: d.scheduledAtMs });
    }
    await inBatches(writes, WRITE_CONCURRENCY, (x) => this.opts.store.put(x));
    // Every run is recorded (its job id, the advanced next run) before any job is created,
    // which is all exactly-once needs, in a few large writes (`recordRuns`) rather than one
    // per schedule: a burst of 10,000 due schedules then waits for their jobs' creates alone.
    // The schedules' own keys are written after the jobs (`finishRuns`).
    const recorded: ScheduledRun[] = [];
    let record: RunRecord | undefined;
    if (runs.length > 0) {
      const res = await this.opts.store.recordRuns(runs.map((r) => r.schedule));
      record = res.record;
      runs.forEach((r, i) => {
        const err = res.outcomes[i];
        if (err === undefined) return void recorded.push(r);
        // Not recorded, so not started: the schedule is still due and the next round takes it.
        this.activeJobs.get(r.schedule.id)?.delete(r.jobId);
        this.opts.log.warn({ err, scheduleId: r.schedule.id }, 'cannot record a scheduled run; retrying next round');
      });
    }
    // All of a round's jobs in one batch: a burst of due schedules (10,000 `@daily` ones at
    // midnight) starts together rather than one creation after another.
    await this.startRuns(recorded);
    if (record) {
      this.unfinished.push(record);
      await this.finishRecords();
    }
    this.nextDueMs = Number.POSITIVE_INFINITY;
    for (const s of await this.opts.store.all()) if (s.state === 'ACTIVE' && s.nextRunMs !== null && s.nextRunMs < this.nextDueMs) this.nextDueMs = s.nextRunMs;
  }

  /**
   * On becoming leader: learns which jobs each schedule still runs, settles runs whose job
   * ended meanwhile, and creates the job of any run a dead leader recorded but never created.
   */
  private async recover(schedules: BackupSchedule[]): Promise<void> {
    this.opts.metrics?.schedulesLoaded(schedules);
    const jobs = new Map((await this.opts.jobs.list({ types: ['BACKUP'] })).map((j) => [j.id, j]));
    for (const j of jobs.values()) {
      if (j.spec.scheduleId !== null && !isTerminalStatus(j.status)) this.track(j.spec.scheduleId, j.id);
    }
    const lost: ScheduledRun[] = [];
    for (const s of schedules) {
      const run = s.lastRun;
      if (!run || run.outcome !== 'running' || run.jobId === null) continue;
      const job = jobs.get(run.jobId);
      if (job) {
        if (isTerminalStatus(job.status)) this.ended.set(job.id, job);
        continue;
      }
      this.opts.log.info({ scheduleId: s.id, jobId: run.jobId, scheduledAtMs: run.scheduledAtMs }, 'creating the job of a run the previous leader recorded');
      this.track(s.id, run.jobId);
      lost.push({ schedule: s, jobId: run.jobId, backup: scheduledRunStatement(s, run.scheduledAtMs), scheduledAtMs: run.scheduledAtMs });
    }
    // As one batch: a leader that died in a burst may have left thousands.
    await this.startRuns(lost);
  }

  /**
   * Writes the schedules of this leader's run records to their own keys and drops the
   * records; one that fails is kept for the next round (meanwhile reads see the schedules from
   * the mirror, and a next leader finishes it from the record).
   */
  private async finishRecords(): Promise<void> {
    const left: RunRecord[] = [];
    for (const record of this.unfinished) {
      await this.opts.store.finishRuns(record).catch((err: unknown) => {
        left.push(record);
        this.opts.log.warn({ err, schedules: record.scheduleIds.length }, 'cannot write the schedules of started runs; retrying next round');
      });
    }
    this.unfinished = left;
  }

  /** Applies the outcome of every run whose job ended to its schedule. */
  private async settle(): Promise<void> {
    if (this.ended.size === 0) return;
    const byId = new Map<string, BackupSchedule>();
    const get = async (id: string) => byId.get(id) ?? (await this.opts.store.get(id));
    const ended = [...this.ended.values()];
    this.ended.clear();
    // Decided one after another (a full's success unpauses its incremental), written together.
    const writes = new Map<string, BackupSchedule>();
    const settled: Array<{ schedule: BackupSchedule; job: Job }> = [];
    for (const job of ended) {
      const scheduleId = job.spec.scheduleId!;
      this.activeJobs.get(scheduleId)?.delete(job.id);
      const s = await get(scheduleId);
      // A run of a dropped schedule, or an older run (`on_previous_running = start`).
      if (!s || s.lastRun?.jobId !== job.id || s.lastRun.outcome !== 'running') continue;
      const status = job.status === 'succeeded' ? 'succeeded' : job.status === 'canceled' ? 'canceled' : 'failed';
      const dependent = s.args.unpauseOnSuccess ? await get(s.args.unpauseOnSuccess) : undefined;
      const res = onJobFinished(s, { jobId: job.id, status, error: job.error, now: this.now() }, dependent);
      for (const x of [res.schedule, ...(res.unpaused ? [res.unpaused] : [])]) {
        byId.set(x.id, x);
        writes.set(x.id, x);
      }
      this.opts.metrics?.scheduleFinished(res.metric, res.schedule);
      settled.push({ schedule: res.schedule, job });
    }
    await inBatches([...writes.values()], WRITE_CONCURRENCY, (x) => this.opts.store.put(x));
    const afterRun = this.opts.afterRun;
    if (!afterRun) return;
    for (const { schedule, job } of settled) {
      await afterRun(schedule, job).catch((err: unknown) =>
        this.opts.log.warn({ err, scheduleId: schedule.id, jobId: job.id }, 'after-run step of a schedule failed'),
      );
    }
  }

  /**
   * Starts again the runs whose start met a transient error and whose pause is over. A run
   * of a schedule dropped meanwhile is let go (as a next leader's recovery would: it looks
   * for runs in the schedules there are).
   */
  private async retryStarts(): Promise<void> {
    const now = this.now();
    const ready = this.retrying.filter((r) => r.atMs <= now);
    if (ready.length === 0) return;
    this.retrying = this.retrying.filter((r) => r.atMs > now);
    for (const r of ready) {
      const runs: ScheduledRun[] = [];
      for (const run of r.runs) {
        if (await this.opts.store.get(run.schedule.id)) runs.push(run);
        else this.activeJobs.get(run.schedule.id)?.delete(run.jobId);
      }
      await this.startRuns(runs, r);
    }
  }

  /**
   * Starts recorded runs as one batch. A run whose start met a transient error is started
   * again later under the same job id (`retryStarts`), not failed: the error says NATS did not
   * answer, not that the run cannot start, and the job may even exist already (a create that
   * landed though its answer was lost), which the next attempt recognises.
   */
  private async startRuns(runs: readonly ScheduledRun[], previous?: RetryingRuns): Promise<void> {
    if (runs.length === 0) return;
    let outcomes: unknown[];
    try {
      outcomes = await this.opts.startJobs(runs);
    } catch (err) {
      outcomes = runs.map(() => err);
    }
    const failed: Array<{ run: ScheduledRun; err: unknown }> = [];
    const again: ScheduledRun[] = [];
    let transient: unknown;
    const now = this.now();
    const sinceMs = previous?.sinceMs ?? now;
    runs.forEach((run, i) => {
      const err = outcomes[i];
      if (err === undefined) {
        this.opts.metrics?.scheduleStarted();
        this.opts.log.info({ scheduleId: run.schedule.id, label: run.schedule.label, jobId: run.jobId }, 'scheduled backup started');
      } else if (isTransientNatsError(err) && now - sinceMs < RETRY_START_WINDOW_MS) {
        again.push(run);
        transient = err;
      } else failed.push({ run, err });
    });
    if (again.length > 0) {
      const pauseMs = previous ? Math.min(RETRY_START_MAX_MS, previous.pauseMs * 2) : RETRY_START_MS;
      this.retrying.push({ runs: again, sinceMs, atMs: now + pauseMs, pauseMs });
      // One line for the batch: a burst's creates time out together.
      this.opts.log.warn(
        { runs: again.length, retryInMs: pauseMs, firstJobId: again[0]!.jobId, reason: reasonOf(transient) },
        'scheduled backups could not start yet (NATS did not answer); starting them again under the same job ids',
      );
    }
    await inBatches(failed, WRITE_CONCURRENCY, async ({ run, err }) => {
      await this.runFailedToStart(run, err).catch((writeErr: unknown) => {
        // Failing the run needs NATS too: until it answers, the run is kept to be tried again.
        this.retrying.push({ runs: [run], sinceMs, atMs: now + RETRY_START_MS, pauseMs: RETRY_START_MS });
        this.opts.log.warn({ err: writeErr, scheduleId: run.schedule.id }, 'cannot record that a scheduled backup could not start; trying again');
      });
    });
  }

  private async runFailedToStart(run: ScheduledRun, err: unknown): Promise<void> {
    const s = run.schedule;
    // Created already (an old leader raced us to it): the run exists once, which is the point.
    if (await this.jobExists(run.jobId)) return;
    // Planning failed (unreachable bucket, missing table...): the run fails like a job would.
    this.activeJobs.get(s.id)?.delete(run.jobId);
    const current = (await this.opts.store.get(s.id)) ?? s;
    const res = onJobFinished(current, { jobId: run.jobId, status: 'failed', error: err instanceof Error ? err.message : String(err), now: this.now() });
    await this.opts.store.put(res.schedule);
    this.opts.metrics?.scheduleFinished('failed', res.schedule);
    this.opts.log.warn({ err, scheduleId: s.id }, 'scheduled backup could not start');
  }

  private async jobExists(id: string): Promise<boolean> {
    try {
      await this.opts.jobs.get(id);
      return true;
    } catch (err) {
      if (err instanceof CairnError && err.code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  private track(scheduleId: string, jobId: string): void {
    const set = this.activeJobs.get(scheduleId) ?? new Set<string>();
    set.add(jobId);
    this.activeJobs.set(scheduleId, set);
  }
}

/** Runs `fn` over `items` (with each one's index), at most `limit` at a time. */
export async function inBatches<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
