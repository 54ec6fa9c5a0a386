import type { BackupStatement } from '@cairn/sql';
import { scheduledRunStatement } from './backup-statement.js';
import { nextCronTime } from './cron.js';
import { RECHECK_RUNNING_AFTER_MS, RETRY_FAILED_JOB_AFTER_MS, type BackupSchedule } from './schedule.js';

/** A time as ms since the epoch or a Date. */
export type TimeLike = number | Date;

const ms = (t: TimeLike): number => (typeof t === 'number' ? t : t.getTime());

/**
 * When the schedule's cron next fires strictly after `now` (ms), or null for a schedule
 * without a cron (RECURRING NEVER). Ignores the pause state: RESUME uses it too.
 */
export function nextRunAfter(schedule: Pick<BackupSchedule, 'cron' | 'timezone'>, now: TimeLike): number | null {
  return schedule.cron === null ? null : nextCronTime(schedule.cron, ms(now), schedule.timezone);
}

/** Whether the scheduler should take the schedule now: ACTIVE with a next run at or before `now`. */
export function isDue(schedule: BackupSchedule, now: TimeLike): boolean {
  return schedule.state === 'ACTIVE' && schedule.nextRunMs !== null && schedule.nextRunMs <= ms(now);
}

/** What the scheduler learned about a due schedule. */
export interface RunContext {
  readonly now: TimeLike;
  /** How many jobs this schedule started are still not terminal. */
  readonly runningJobsOfSchedule: number;
}

/**
 * The scheduler's decision for one schedule (each carries the schedule to store):
 * - `start`: start a backup job now running `backup` (AS OF SYSTEM TIME the scheduled time);
 *   `next_run` already advanced to the next cron time, status cleared;
 * - `wait`: a previous job still runs and the policy is `wait`: retry in a minute (metric
 *   `schedules.round.reschedule-wait`);
 * - `skip`: a previous job still runs and the policy is `skip`: the next cron time instead
 *   (metric `schedules.round.reschedule-skip`);
 * - `notDue`: paused, or not yet due (e.g. paused by a user after it was listed): leave it.
 */
export type RunDecision =
  | { readonly action: 'start'; readonly schedule: BackupSchedule; readonly scheduledAtMs: number; readonly backup: BackupStatement }
  | { readonly action: 'wait'; readonly schedule: BackupSchedule; readonly metric: 'reschedule-wait' }
  | { readonly action: 'skip'; readonly schedule: BackupSchedule; readonly metric: 'reschedule-skip' }
  | { readonly action: 'notDue'; readonly schedule: BackupSchedule };

/**
 * CockroachDB's `processSchedule`: decides what to do with a due schedule. The next run is
 * moved before the job starts, so a scheduler that dies between storing the schedule and
 * creating the job misses one run rather than running it twice. `on_previous_running=start`
 * starts regardless of running jobs.
 */
export function decideRun(schedule: BackupSchedule, ctx: RunContext): RunDecision {
  const now = ms(ctx.now);
  if (!isDue(schedule, now) || schedule.nextRunMs === null) return { action: 'notDue', schedule };
  const n = ctx.runningJobsOfSchedule;
  if (n > 0) {
    switch (schedule.details.onPreviousRunning) {
      case 'wait':
        return {
          action: 'wait',
          metric: 'reschedule-wait',
          schedule: { ...schedule, nextRunMs: now + RECHECK_RUNNING_AFTER_MS, statusText: `delayed due to ${n} already running` },
        };
      case 'skip':
        return {
          action: 'skip',
          metric: 'reschedule-skip',
          schedule: { ...schedule, nextRunMs: nextRunAfter(schedule, now), statusText: `rescheduled due to ${n} already running` },
        };
      case 'start':
        break;
    }
  }
  const scheduledAtMs = schedule.nextRunMs;
  const next: BackupSchedule = {
    ...schedule,
    statusText: '',
    // A one-off schedule clears its next run: it has run.
    nextRunMs: nextRunAfter(schedule, now),
    lastRun: { scheduledAtMs, startedAtMs: now, jobId: null, outcome: 'running', finishedAtMs: null, error: null },
  };
  return { action: 'start', schedule: next, scheduledAtMs, backup: scheduledRunStatement(schedule, scheduledAtMs) };
}

/** Records the job a `start` decision created. */
export function recordJobStarted(schedule: BackupSchedule, jobId: string): BackupSchedule {
  return schedule.lastRun === null ? schedule : { ...schedule, lastRun: { ...schedule.lastRun, jobId } };
}

/** How a job started by a schedule ended. */
export interface JobOutcome {
  readonly jobId: string;
  readonly status: 'succeeded' | 'failed' | 'canceled';
  /** The job's error, if it has one. */
  readonly error?: string | null;
  readonly now: TimeLike;
}

/** The schedules to store after a job ended, and which `schedules.BACKUP.*` counter to bump. */
export interface JobFinishedResult {
  readonly schedule: BackupSchedule;
  /** The dependent incremental, when this success unpaused it. */
  readonly unpaused: BackupSchedule | null;
  readonly metric: 'succeeded' | 'failed';
}

/**
 * CockroachDB's NotifyJobTermination for backup schedules. On success, a full whose
 * `unpauseOnSuccess` names `dependent` unpauses it (status cleared, next run from its cron)
 * and forgets `unpauseOnSuccess`. On failure or cancellation, `on_execution_failure` applies:
 * - `retry`: run again in a minute (status `retrying: ...`);
 * - `reschedule`: keep the next cron time set when the job started (status `reschedule: ...`);
 * - `pause`: PAUSED with no next run (status `schedule paused: ...`).
 * A schedule a user paused while its job ran stays paused (CockroachDB's retry would resume it).
 */
export function onJobFinished(schedule: BackupSchedule, outcome: JobOutcome, dependent?: BackupSchedule): JobFinishedResult {
  const now = ms(outcome.now);
  const prev = schedule.lastRun;
  const lastRun = {
    scheduledAtMs: prev?.scheduledAtMs ?? now,
    startedAtMs: prev?.startedAtMs ?? now,
    jobId: outcome.jobId,
    outcome: outcome.status,
    finishedAtMs: now,
    error: outcome.status === 'succeeded' ? null : (outcome.error ?? null),
  };
  if (outcome.status === 'succeeded') {
    // The backup ran AS OF SYSTEM TIME its scheduled time: that is its end time. With
    // on_previous_running = start an older run may end after a newer one; keep the newest.
    const lastSuccessEndMs = Math.max(schedule.lastSuccessEndMs ?? 0, lastRun.scheduledAtMs);
    const target = schedule.args.unpauseOnSuccess;
    if (target === null || dependent === undefined || dependent.id !== target) {
      return { schedule: { ...schedule, lastRun, lastSuccessEndMs }, unpaused: null, metric: 'succeeded' };
    }
    const unpaused: BackupSchedule = { ...dependent, state: 'ACTIVE', statusText: '', nextRunMs: nextRunAfter(dependent, now) };
    return {
      schedule: { ...schedule, lastRun, lastSuccessEndMs, args: { ...schedule.args, unpauseOnSuccess: null } },
      unpaused,
      metric: 'succeeded',
    };
  }

  const reason =
    outcome.error !== undefined && outcome.error !== null && outcome.error !== ''
      ? outcome.error
      : `backup job ${outcome.jobId} scheduled by ${schedule.id} failed with state ${outcome.status}`;
  const message = `backup job ${outcome.jobId} failed with err=${reason}`;
  const paused = schedule.state === 'PAUSED';
  let next: BackupSchedule;
  switch (schedule.details.onExecutionFailure) {
    case 'retry':
      next = { ...schedule, statusText: `retrying: ${message}`, nextRunMs: paused ? null : now + RETRY_FAILED_JOB_AFTER_MS };
      break;
    case 'pause':
      next = { ...schedule, state: 'PAUSED', nextRunMs: null, statusText: `schedule paused: ${message}` };
      break;
    case 'reschedule': {
      const nextRunMs = paused ? null : (schedule.nextRunMs ?? nextRunAfter(schedule, now));
      next = { ...schedule, statusText: `reschedule: ${message}`, nextRunMs };
      break;
    }
  }
  return { schedule: { ...next, lastRun }, unpaused: null, metric: 'failed' };
}
