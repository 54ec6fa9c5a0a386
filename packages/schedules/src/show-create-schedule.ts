import { CairnError, ErrorCode } from '@cairn/errors';
import { formatStatement, type CreateScheduleStatement, type CronRecurrence } from '@cairn/sql';
import { parseStoredBackup } from './backup-statement.js';
import { DEFAULT_TIMEZONE, type BackupSchedule } from './schedule.js';
import { compareScheduleIds, parseScheduleId } from './schedule-id.js';

/** The columns of CockroachDB's SHOW CREATE SCHEDULE / SHOW CREATE ALL SCHEDULES. */
export const SHOW_CREATE_SCHEDULE_COLUMNS = ['schedule_id', 'create_statement'] as const;

function cron(schedule: BackupSchedule, pos: number): CronRecurrence | undefined {
  if (schedule.cron === null) return undefined;
  const expr = schedule.timezone === DEFAULT_TIMEZONE ? schedule.cron : `CRON_TZ=${schedule.timezone} ${schedule.cron}`;
  return { kind: 'cron', pos, expr };
}

/**
 * The CREATE SCHEDULE statement that makes `schedule` (with its pair: a full's incremental or
 * an incremental's full), secrets redacted, as CockroachDB's SHOW CREATE SCHEDULE gives it:
 * the full's targets and collection, the backup options in `WITH OPTIONS (...)`, the
 * incremental's cadence as RECURRING and the full's as FULL BACKUP (ALWAYS when unpaired),
 * and the scheduler's policies as schedule options.
 */
export function createScheduleStatement(schedule: BackupSchedule, all: readonly BackupSchedule[]): string {
  const pair = schedule.args.dependentScheduleId === null ? undefined : all.find((x) => x.id === schedule.args.dependentScheduleId);
  const full = schedule.args.backupType === 'FULL' ? schedule : (pair ?? schedule);
  const incremental = schedule.args.backupType === 'INCREMENTAL' ? schedule : pair;
  const backup = parseStoredBackup(full);
  const pos = backup.pos;
  const fullCron = cron(full, pos);
  const incCron = incremental === undefined || incremental === full ? undefined : cron(incremental, pos);
  const stmt: CreateScheduleStatement = {
    kind: 'createSchedule',
    pos,
    ifNotExists: false,
    label: full.label,
    backup: { ...backup, asOf: undefined, options: { ...backup.options } },
    recurrence: incCron ?? fullCron ?? { kind: 'never', pos },
    ...(incCron !== undefined && fullCron !== undefined ? { fullBackup: fullCron } : { fullBackup: { kind: 'always', pos } }),
    scheduleOptions: {
      onExecutionFailure: full.details.onExecutionFailure,
      onPreviousRunning: full.details.onPreviousRunning,
      ...(full.args.retention === null ? {} : { retention: full.args.retention }),
    },
  };
  if (stmt.backup.asOf === undefined) delete stmt.backup.asOf;
  return formatStatement(stmt, { redact: true, parenthesizedBackupOptions: true });
}

/** SHOW CREATE SCHEDULE id (`id` given) or SHOW CREATE ALL SCHEDULES, sorted by id. */
export function showCreateSchedules(id: string | undefined, schedules: readonly BackupSchedule[]): Array<[string, string]> {
  let chosen: readonly BackupSchedule[] = schedules;
  if (id !== undefined) {
    const wanted = parseScheduleId(id);
    const s = schedules.find((x) => x.id === wanted);
    if (s === undefined) throw new CairnError(ErrorCode.NotFound, `schedule with ID ${wanted} does not exist`);
    chosen = [s];
  }
  return [...chosen].sort((a, b) => compareScheduleIds(a.id, b.id)).map((s) => [s.id, createScheduleStatement(s, schedules)]);
}
