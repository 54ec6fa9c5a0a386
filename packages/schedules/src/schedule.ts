import type { OnExecutionFailure, OnPreviousRunning } from '@cairn/sql';

/**
 * Whether the scheduler may start a schedule's runs:
 * - `ACTIVE`: runs at `nextRun` (a one-off or RECURRING NEVER schedule may be ACTIVE with no
 *   next run: it runs again only on ALTER ... EXECUTE IMMEDIATELY);
 * - `PAUSED`: never runs; `nextRun` is null until RESUME (or a successful full unpauses it).
 */
export type ScheduleState = 'ACTIVE' | 'PAUSED';

/** FULL takes a new full backup into the collection; INCREMENTAL appends to its LATEST. */
export type ScheduledBackupType = 'FULL' | 'INCREMENTAL';

/** How a schedule's last job ended, or `running` while it has not. */
export type ScheduleRunOutcome = 'running' | 'succeeded' | 'failed' | 'canceled';

/** The scheduler's policies for a schedule (CockroachDB's ScheduleDetails). */
export interface ScheduleDetails {
  /** What to do when the schedule is due while its previous job still runs (default `wait`). */
  readonly onPreviousRunning: OnPreviousRunning;
  /** What to do when its job fails (default `reschedule`). */
  readonly onExecutionFailure: OnExecutionFailure;
}

/** The backup executor's arguments (CockroachDB's ScheduledBackupExecutionArgs). */
export interface ScheduledBackupArgs {
  readonly backupType: ScheduledBackupType;
  /**
   * The BACKUP statement in canonical form, `WITH detached`, credentials included: it is what
   * runs. Never show it: render it with `redactedBackupStatement`.
   */
  readonly backupStatement: string;
  /** The paired schedule: a full's incremental, an incremental's full; null when unpaired. */
  readonly dependentScheduleId: string | null;
  /** On a full: the incremental to unpause after the full's next success (then cleared). */
  readonly unpauseOnSuccess: string | null;
  /** Whether the pair chains one protected timestamp record across its backups. */
  readonly chainProtectedTimestampRecords: boolean;
  /** On an incremental: the chained protected timestamp record it holds, if any. */
  readonly chainedProtectedTimestampRecord: string | null;
  /** `updates_cluster_last_backup_time_metric`. */
  readonly updatesLastBackupMetric: boolean;
  /**
   * The `retention` option, normalized (`'720h'`, `'30d'`; see `parseRetention`): after each
   * successful full, chains whose newest backup is older than this are deleted. Null: kept
   * forever. A full and its incremental carry the same value.
   */
  readonly retention: string | null;
}

/** The schedule's most recent run. */
export interface ScheduleLastRun {
  /** When the run was due: the backup's AS OF SYSTEM TIME. */
  readonly scheduledAtMs: number;
  readonly startedAtMs: number;
  /** The job started for it, once known. */
  readonly jobId: string | null;
  readonly outcome: ScheduleRunOutcome;
  readonly finishedAtMs: number | null;
  readonly error: string | null;
}

/**
 * A backup schedule, as CockroachDB keeps it in system.scheduled_jobs. Plain data: every
 * operation in this package returns a new value rather than mutating one.
 */
export interface BackupSchedule {
  /** CockroachDB-style INT8 unique id, as decimal text. */
  readonly id: string;
  /** Shared by a full and its incremental; not unique (IF NOT EXISTS checks it). */
  readonly label: string;
  readonly owner: string;
  readonly createdAtMs: number;
  readonly state: ScheduleState;
  /**
   * The last status or error, e.g. "Waiting for initial backup to complete", "delayed due to
   * 1 already running"; empty when there is nothing to say. SHOW SCHEDULES' `state` column.
   */
  readonly statusText: string;
  /** The cron expression as written ('@daily', '0 0 * * 1'), or null for RECURRING NEVER. */
  readonly cron: string | null;
  /** When the schedule next runs (ms); null while paused and for a one-off that has run. */
  readonly nextRunMs: number | null;
  /** IANA time zone the cron is evaluated in. */
  readonly timezone: string;
  readonly details: ScheduleDetails;
  readonly args: ScheduledBackupArgs;
  readonly lastRun: ScheduleLastRun | null;
  /**
   * The end time (the AS OF SYSTEM TIME, ms) of the newest successful backup this schedule
   * ran; null before the first. Outlives `lastRun`, which the next run replaces: it is what
   * a new leader seeds `schedules.BACKUP.last-completed-time` from.
   */
  readonly lastSuccessEndMs: number | null;
}

/** Scheduler policies when none are given (CockroachDB's defaults). */
export const DEFAULT_SCHEDULE_DETAILS: ScheduleDetails = { onPreviousRunning: 'wait', onExecutionFailure: 'reschedule' };

/** The status of an incremental schedule until its full's first success. */
export const WAITING_FOR_INITIAL_BACKUP = 'Waiting for initial backup to complete';

/** Time zone of a cron when none is given. */
export const DEFAULT_TIMEZONE = 'UTC';

/** How long `wait` delays a due schedule, and `retry` a failed one (CockroachDB: 1 minute). */
export const RECHECK_RUNNING_AFTER_MS = 60_000;
export const RETRY_FAILED_JOB_AFTER_MS = 60_000;
