import { CairnError, ErrorCode, redactText } from '@cairn/errors';
import { formatJobTimestamp } from '@cairn/jobs';
import type { ShowSchedulesStatement } from '@cairn/sql';
import { redactedBackupStatement } from './backup-statement.js';
import type { BackupSchedule } from './schedule.js';
import { compareScheduleIds, parseScheduleId } from './schedule-id.js';

/** The columns CREATE SCHEDULE FOR BACKUP and ALTER BACKUP SCHEDULE return, in order. */
export const CREATE_SCHEDULE_COLUMNS = ['schedule_id', 'label', 'status', 'first_run', 'schedule', 'backup_stmt'] as const;
export type CreateScheduleColumn = (typeof CREATE_SCHEDULE_COLUMNS)[number];
/** One CREATE SCHEDULE result row; null prints as NULL. */
export type CreateScheduleRow = { readonly [K in CreateScheduleColumn]: string | null };

/** The columns of CockroachDB's SHOW SCHEDULES, in order. */
export const SHOW_SCHEDULES_COLUMNS = [
  'id',
  'label',
  'schedule_status',
  'next_run',
  'state',
  'recurrence',
  'jobsrunning',
  'owner',
  'created',
  'command',
] as const;
/**
 * `SHOW SCHEDULES FOR BACKUP` (CockroachDB 22.2+): the same columns with `command` the backup
 * statement itself, then the backup type and the scheduler's two policies.
 */
export const SHOW_BACKUP_SCHEDULES_COLUMNS = [...SHOW_SCHEDULES_COLUMNS, 'backup_type', 'on_previous_running', 'on_execution_failure'] as const;
export type ShowSchedulesColumn = (typeof SHOW_SCHEDULES_COLUMNS)[number];
export type ShowBackupSchedulesColumn = (typeof SHOW_BACKUP_SCHEDULES_COLUMNS)[number];
/** One SHOW SCHEDULES row (with FOR BACKUP's columns too); null prints as NULL. */
export type ShowSchedulesRow = { readonly [K in ShowBackupSchedulesColumn]: string | null };

/** CockroachDB's names of the policies (its ScheduleDetails enums, as SHOW SCHEDULES prints them). */
const WAIT_BEHAVIOR = { wait: 'WAIT', start: 'NO_WAIT', skip: 'SKIP' } as const;
const ERROR_BEHAVIOR = { reschedule: 'RETRY_SCHED', retry: 'RETRY_SOON', pause: 'PAUSE_SCHED' } as const;

/** A schedule's recurrence as shown: its cron as written, or NEVER. */
export function recurrenceText(schedule: Pick<BackupSchedule, 'cron'>): string {
  return schedule.cron ?? 'NEVER';
}

/**
 * A schedule as a CREATE SCHEDULE / ALTER BACKUP SCHEDULE row, as CockroachDB emits it:
 * status `ACTIVE`, or `PAUSED` followed by the status text (`PAUSED: Waiting for initial
 * backup to complete`) with a NULL first_run; `backup_stmt` redacted.
 */
export function createScheduleRow(schedule: BackupSchedule): CreateScheduleRow {
  const paused = schedule.state === 'PAUSED';
  return {
    schedule_id: schedule.id,
    label: schedule.label,
    status: paused ? (schedule.statusText === '' ? 'PAUSED' : `PAUSED: ${redactText(schedule.statusText)}`) : 'ACTIVE',
    first_run: paused || schedule.nextRunMs === null ? null : formatJobTimestamp(schedule.nextRunMs),
    schedule: recurrenceText(schedule),
    backup_stmt: redactedBackupStatement(schedule),
  };
}

/**
 * The executor arguments as SHOW SCHEDULES' `command` JSON (CockroachDB shows the protobuf
 * arguments as JSON with original field names and defaults left out), with the backup
 * statement redacted.
 */
export function scheduleCommandJson(schedule: BackupSchedule): string {
  const a = schedule.args;
  const out: Record<string, string | boolean> = {
    backup_statement: redactedBackupStatement(schedule, true),
    backup_type: a.backupType,
  };
  if (a.chainProtectedTimestampRecords) out['chain_protected_timestamp_records'] = true;
  if (a.dependentScheduleId !== null) out['dependent_schedule_id'] = a.dependentScheduleId;
  if (a.unpauseOnSuccess !== null) out['unpause_on_success'] = a.unpauseOnSuccess;
  if (a.chainedProtectedTimestampRecord !== null) out['protected_timestamp_record'] = a.chainedProtectedTimestampRecord;
  if (a.updatesLastBackupMetric) out['updates_last_backup_metric'] = true;
  if (a.retention !== null) out['retention'] = a.retention;
  return JSON.stringify(out);
}

/**
 * A schedule as a SHOW SCHEDULES row; `jobsRunning` counts its jobs that are running now.
 * `command` is the executor arguments' JSON, or with `forBackup` the backup statement.
 */
export function showSchedulesRow(schedule: BackupSchedule, jobsRunning: number, forBackup = false): ShowSchedulesRow {
  return {
    id: schedule.id,
    label: schedule.label,
    schedule_status: schedule.state,
    next_run: schedule.nextRunMs === null ? null : formatJobTimestamp(schedule.nextRunMs),
    // A status may quote a failed job's error: the one redactor sees it first.
    state: schedule.statusText === '' ? null : redactText(schedule.statusText),
    recurrence: recurrenceText(schedule),
    jobsrunning: String(jobsRunning),
    owner: schedule.owner,
    created: formatJobTimestamp(schedule.createdAtMs),
    command: forBackup ? redactedBackupStatement(schedule, true) : scheduleCommandJson(schedule),
    backup_type: schedule.args.backupType,
    on_previous_running: WAIT_BEHAVIOR[schedule.details.onPreviousRunning],
    on_execution_failure: ERROR_BEHAVIOR[schedule.details.onExecutionFailure],
  };
}

/**
 * SHOW [RUNNING | PAUSED] SCHEDULES [FOR BACKUP]: rows sorted by creation time. RUNNING means
 * ACTIVE (CockroachDB: next_run IS NOT NULL) and PAUSED means PAUSED. Every cairn schedule is
 * a backup schedule, so FOR BACKUP filters nothing.
 */
export function showSchedules(
  stmt: Pick<ShowSchedulesStatement, 'status'> & { backupOnly?: boolean },
  schedules: readonly BackupSchedule[],
  jobsRunning: (scheduleId: string) => number = () => 0,
): ShowSchedulesRow[] {
  return schedules
    .filter((s) => stmt.status === undefined || (stmt.status === 'running' ? s.state === 'ACTIVE' : s.state === 'PAUSED'))
    .slice()
    .sort((a, b) => a.createdAtMs - b.createdAtMs || compareScheduleIds(a.id, b.id))
    .map((s) => showSchedulesRow(s, jobsRunning(s.id), stmt.backupOnly === true));
}

/** SHOW SCHEDULE <id>: its single row; NotFound when there is no such schedule. */
export function showSchedule(
  id: string,
  schedules: readonly BackupSchedule[],
  jobsRunning: (scheduleId: string) => number = () => 0,
): ShowSchedulesRow {
  const wanted = parseScheduleId(id);
  const s = schedules.find((x) => x.id === wanted);
  if (s === undefined) throw new CairnError(ErrorCode.NotFound, `schedule with ID ${wanted} does not exist`);
  return showSchedulesRow(s, jobsRunning(s.id));
}
