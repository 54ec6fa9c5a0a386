import { CairnError, ErrorCode } from '@cairn/errors';
import { checkBackupStatement, redactUri, type CreateScheduleStatement } from '@cairn/sql';
import { formatStoredBackup, noIncrementals, scheduledBackupStatements } from './backup-statement.js';
import { cronFrequencyMs, nextCronTime, validateCron, validateTimezone } from './cron.js';
import { parseFirstRun } from './first-run.js';
import { checkRetentionLocation, normalizeRetention } from './retention.js';
import {
  DEFAULT_SCHEDULE_DETAILS,
  DEFAULT_TIMEZONE,
  WAITING_FOR_INITIAL_BACKUP,
  type BackupSchedule,
  type ScheduleDetails,
} from './schedule.js';
import { createScheduleRow, type CreateScheduleRow } from './show-schedules.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Everything CREATE SCHEDULE needs besides the statement. */
export interface PlanCreateScheduleOptions {
  /** The user creating the schedules. */
  readonly owner: string;
  /** Time zone the crons are evaluated in (default UTC). */
  readonly timezone?: string;
  /** Whether a schedule with this label exists, for IF NOT EXISTS. */
  readonly labelExists?: (label: string) => boolean;
  /**
   * `schedules.backup.gc_protection.enabled` (default true): whether a full + incremental pair
   * chains a protected timestamp record across its backups.
   */
  readonly chainProtectedTimestamps?: boolean;
}

/** What CREATE SCHEDULE FOR BACKUP decided. */
export interface CreateSchedulePlan {
  /**
   * The schedules to store, the incremental (if any) first, as CockroachDB creates and reports
   * them. Empty when IF NOT EXISTS found the label.
   */
  readonly schedules: BackupSchedule[];
  /** The statement's result rows (backup_stmt redacted), one per schedule. */
  readonly rows: CreateScheduleRow[];
  /** A notice for the client, e.g. `schedule "x" already exists, skipping`. */
  readonly notice: string | null;
  /**
   * The collection to check for existing backups before storing the schedules (refuse with
   * `existingBackupsError` when it holds one); null with `ignore_existing_backups` or when
   * nothing is created.
   */
  readonly checkExistingBackupsIn: string | null;
}

/** Where the full's cadence came from. */
type FullCadenceChoice = 'given' | 'always' | 'picked';

/**
 * CockroachDB's default full cadence for an incremental one: incrementals every hour or
 * more often → full `@daily`; up to daily → full `@weekly`; rarer → no incrementals at all
 * (null: a full-only schedule on the given cron).
 */
export function pickFullCron(incrementalFrequencyMs: number): string | null {
  if (incrementalFrequencyMs <= HOUR_MS) return '@daily';
  if (incrementalFrequencyMs <= DAY_MS) return '@weekly';
  return null;
}

/**
 * Plans CREATE SCHEDULE FOR BACKUP exactly as CockroachDB does:
 * - `RECURRING c` alone: incrementals on `c` plus fulls on a picked cadence (`pickFullCron`),
 *   or a single full-only schedule on `c` when incrementals would be rarer than daily; the
 *   full then runs at once (unless first_run says otherwise), since incrementals need it;
 * - `RECURRING c FULL BACKUP ALWAYS`: one full-only schedule on `c`;
 * - `RECURRING c FULL BACKUP f`: incrementals on `c`, fulls on `f`; incrementals rarer than
 *   fulls are an error;
 * - `RECURRING NEVER`: no incrementals; a full-only schedule that runs at first_run (if
 *   given) and then only when executed by hand (CockroachDB requires a cron; cairn keeps the
 *   grammar's one-off form).
 * A pair shares the label (default `BACKUP <unix seconds>`) and the retention option, and
 * names each other; the incremental starts PAUSED ("Waiting for initial backup to complete")
 * and always waits for its previous run, and the full unpauses it on its first success.
 * Throws InvalidArgument for a bad cron, time zone, first_run, retention or backup.
 */
export function planCreateSchedule(
  stmt: CreateScheduleStatement,
  now: Date,
  ids: () => string,
  opts: PlanCreateScheduleOptions,
): CreateSchedulePlan {
  const nowMs = now.getTime();
  if (stmt.ifNotExists && stmt.label !== undefined && opts.labelExists?.(stmt.label) === true) {
    return { schedules: [], rows: [], notice: `schedule "${stmt.label}" already exists, skipping`, checkExistingBackupsIn: null };
  }
  const tz = validateTimezone(opts.timezone ?? DEFAULT_TIMEZONE);

  let incCron: string | null = stmt.recurrence.kind === 'cron' ? stmt.recurrence.expr : null;
  let fullCron: string | null;
  let choice: FullCadenceChoice;
  if (stmt.fullBackup === undefined) {
    fullCron = null;
    choice = 'picked';
  } else if (stmt.fullBackup.kind === 'always') {
    fullCron = incCron;
    incCron = null;
    choice = 'always';
  } else {
    fullCron = stmt.fullBackup.expr;
    choice = 'given';
  }
  if (incCron !== null) validateCron(incCron, tz);
  if (fullCron !== null) validateCron(fullCron, tz);

  if (incCron !== null && fullCron !== null && cronFrequencyMs(incCron, nowMs, tz) > cronFrequencyMs(fullCron, nowMs, tz)) {
    throw new CairnError(ErrorCode.InvalidArgument, 'incremental backups must occur more often than full backups');
  }
  if (choice === 'picked' && incCron !== null) {
    fullCron = pickFullCron(cronFrequencyMs(incCron, nowMs, tz));
    if (fullCron === null) {
      fullCron = incCron;
      incCron = null;
    }
  }

  checkBackupStatement(stmt.backup);
  const { full: fullStmt, incremental: incStmt } = scheduledBackupStatements(stmt.backup);
  const label = stmt.label ?? `BACKUP ${Math.floor(nowMs / 1000)}`;
  const so = stmt.scheduleOptions;
  const firstRunMs = so.firstRun === undefined ? null : parseFirstRun(so.firstRun, nowMs);
  const details: ScheduleDetails = {
    onPreviousRunning: so.onPreviousRunning ?? DEFAULT_SCHEDULE_DETAILS.onPreviousRunning,
    onExecutionFailure: so.onExecutionFailure ?? DEFAULT_SCHEDULE_DETAILS.onExecutionFailure,
  };
  const chain = incCron !== null && (opts.chainProtectedTimestamps ?? true);
  const updatesLastBackupMetric = so.updatesClusterLastBackupTimeMetric ?? false;
  const retention = so.retention === undefined ? null : normalizeRetention(so.retention);
  checkRetentionLocation(retention, stmt.backup.options.incrementalLocation);
  if (incCron === null && stmt.backup.options.incrementalLocation !== undefined) throw noIncrementals();

  const base = { label, owner: opts.owner, createdAtMs: nowMs, timezone: tz, lastRun: null, lastSuccessEndMs: null };
  // The incremental is created first, so it has the smaller id (as in CockroachDB).
  const incId = incCron === null ? null : ids();
  const fullId = ids();

  let fullNextRun: number | null;
  if (firstRunMs !== null) fullNextRun = firstRunMs;
  else if (choice === 'picked' && fullCron !== null) fullNextRun = nowMs;
  else fullNextRun = fullCron === null ? null : nextCronTime(fullCron, nowMs, tz);

  const full: BackupSchedule = {
    ...base,
    id: fullId,
    state: 'ACTIVE',
    statusText: '',
    cron: fullCron,
    nextRunMs: fullNextRun,
    details,
    args: {
      backupType: 'FULL',
      backupStatement: formatStoredBackup(fullStmt),
      dependentScheduleId: incId,
      unpauseOnSuccess: incId,
      chainProtectedTimestampRecords: chain,
      chainedProtectedTimestampRecord: null,
      updatesLastBackupMetric,
      retention,
    },
  };
  const schedules: BackupSchedule[] = [];
  if (incId !== null && incCron !== null) {
    schedules.push({
      ...base,
      id: incId,
      state: 'PAUSED',
      statusText: WAITING_FOR_INITIAL_BACKUP,
      cron: incCron,
      nextRunMs: null,
      // Concurrent incrementals would all start from the same previous layer: always wait.
      details: { ...details, onPreviousRunning: 'wait' },
      args: {
        backupType: 'INCREMENTAL',
        backupStatement: formatStoredBackup(incStmt),
        dependentScheduleId: fullId,
        unpauseOnSuccess: null,
        chainProtectedTimestampRecords: chain,
        chainedProtectedTimestampRecord: null,
        updatesLastBackupMetric,
        retention,
      },
    });
  }
  schedules.push(full);
  return {
    schedules,
    rows: schedules.map(createScheduleRow),
    notice: null,
    checkExistingBackupsIn: so.ignoreExistingBackups === true ? null : collectionUri(stmt.backup.destination.uris),
  };
}

/** The collection's default URI: the one tagged COCKROACH_LOCALITY=default, or the only one. */
function collectionUri(uris: readonly string[]): string {
  const tagged = uris.find((u) => /[?&]COCKROACH_LOCALITY=default(&|$)/i.test(u));
  return tagged ?? uris[0] ?? '';
}

/** CockroachDB's refusal to schedule into a collection that already holds a backup (URI redacted). */
export function existingBackupsError(collection: string): CairnError {
  return new CairnError(
    ErrorCode.FailedPrecondition,
    `backups already created in ${redactUri(collection)}; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option`,
  );
}

