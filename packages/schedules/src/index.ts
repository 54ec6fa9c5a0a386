/**
 * @cairn/schedules: CockroachDB's backup schedules for cairn. Pure planning and policy
 * (`planCreateSchedule`, `decideRun`, `onJobFinished`, `applyAlter`, PAUSE / RESUME / DROP,
 * SHOW SCHEDULES rows) over plain `BackupSchedule` values, and `ScheduleStore`, which keeps
 * them in the `cairn_schedules` NATS KV bucket for the coordinator leader's scheduler daemon.
 */
export {
  DEFAULT_SCHEDULE_DETAILS,
  DEFAULT_TIMEZONE,
  RECHECK_RUNNING_AFTER_MS,
  RETRY_FAILED_JOB_AFTER_MS,
  WAITING_FOR_INITIAL_BACKUP,
  type BackupSchedule,
  type ScheduleDetails,
  type ScheduleLastRun,
  type ScheduleRunOutcome,
  type ScheduleState,
  type ScheduledBackupArgs,
  type ScheduledBackupType,
} from './schedule.js';
export { cronFrequencyMs, nextCronTime, validateCron, validateTimezone } from './cron.js';
export { parseFirstRun } from './first-run.js';
export { MIN_RETENTION_MS, normalizeRetention, parseRetention } from './retention.js';
export { compareScheduleIds, parseScheduleId, scheduleIdGenerator } from './schedule-id.js';
export {
  formatStoredBackup,
  parseStoredBackup,
  redactedBackupStatement,
  scheduledBackupStatements,
  scheduledRunStatement,
  withBackupType,
} from './backup-statement.js';
export {
  existingBackupsError,
  pickFullCron,
  planCreateSchedule,
  type CreateSchedulePlan,
  type PlanCreateScheduleOptions,
} from './create-schedule.js';
export {
  decideRun,
  isDue,
  nextRunAfter,
  onJobFinished,
  recordJobStarted,
  type JobFinishedResult,
  type JobOutcome,
  type RunContext,
  type RunDecision,
  type TimeLike,
} from './scheduler-policy.js';
export { applyAlter, type AlterContext, type AlterResult } from './alter-schedule.js';
export { SHOW_CREATE_SCHEDULE_COLUMNS, createScheduleStatement, showCreateSchedules } from './show-create-schedule.js';
export {
  applyControlSchedules,
  pauseSchedule,
  planDropSchedule,
  resumeSchedule,
  selectSchedules,
  type ControlSchedulesResult,
  type DropPlan,
} from './control-schedules.js';
export {
  CREATE_SCHEDULE_COLUMNS,
  SHOW_BACKUP_SCHEDULES_COLUMNS,
  SHOW_SCHEDULES_COLUMNS,
  createScheduleRow,
  recurrenceText,
  scheduleCommandJson,
  showSchedule,
  showSchedules,
  showSchedulesRow,
  type ShowBackupSchedulesColumn,
  type CreateScheduleColumn,
  type CreateScheduleRow,
  type ShowSchedulesColumn,
  type ShowSchedulesRow,
} from './show-schedules.js';
export { decodeSchedule, encodeSchedule } from './schedule-codec.js';
export { SCHEDULES_BUCKET, ScheduleStore, type RunRecord, type ScheduleStoreOptions } from './schedule-store.js';
