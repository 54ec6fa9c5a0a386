import { CairnError, ErrorCode } from '@cairn/errors';
import { BackupScheduleRecord } from '@cairn/proto';
import type { OnExecutionFailure, OnPreviousRunning } from '@cairn/sql';
import type { BackupSchedule, ScheduleRunOutcome, ScheduleState, ScheduledBackupType } from './schedule.js';

const STATES: readonly ScheduleState[] = ['ACTIVE', 'PAUSED'];
const TYPES: readonly ScheduledBackupType[] = ['FULL', 'INCREMENTAL'];
const ON_PREVIOUS: readonly OnPreviousRunning[] = ['start', 'skip', 'wait'];
const ON_FAILURE: readonly OnExecutionFailure[] = ['retry', 'reschedule', 'pause'];
const OUTCOMES: readonly ScheduleRunOutcome[] = ['running', 'succeeded', 'failed', 'canceled'];

const opt = <T, U>(v: T | null, f: (v: T) => U): U | undefined => (v === null ? undefined : f(v));
const orNull = <T, U>(v: T | undefined, f: (v: T) => U): U | null => (v === undefined ? null : f(v));

/** A schedule as its `cairn.v1.BackupScheduleRecord` bytes. */
export function encodeSchedule(s: BackupSchedule): Uint8Array {
  const a = s.args;
  return BackupScheduleRecord.encode({
    scheduleId: BigInt(s.id),
    label: s.label,
    owner: s.owner,
    createdAtMs: BigInt(s.createdAtMs),
    state: s.state,
    statusText: s.statusText,
    cron: opt(s.cron, String),
    nextRunMs: opt(s.nextRunMs, BigInt),
    timezone: s.timezone,
    details: { onPreviousRunning: s.details.onPreviousRunning, onExecutionFailure: s.details.onExecutionFailure },
    args: {
      backupType: a.backupType,
      backupStatement: a.backupStatement,
      dependentScheduleId: opt(a.dependentScheduleId, BigInt),
      unpauseOnSuccess: opt(a.unpauseOnSuccess, BigInt),
      chainProtectedTimestampRecords: a.chainProtectedTimestampRecords,
      protectedTimestampRecord: opt(a.chainedProtectedTimestampRecord, String),
      updatesLastBackupMetric: a.updatesLastBackupMetric,
      retention: opt(a.retention, String),
    },
    lastRun:
      s.lastRun === null
        ? undefined
        : {
            scheduledAtMs: BigInt(s.lastRun.scheduledAtMs),
            startedAtMs: BigInt(s.lastRun.startedAtMs),
            jobId: opt(s.lastRun.jobId, BigInt),
            outcome: s.lastRun.outcome,
            finishedAtMs: opt(s.lastRun.finishedAtMs, BigInt),
            error: opt(s.lastRun.error, String),
          },
    lastSuccessEndMs: opt(s.lastSuccessEndMs, BigInt),
  }).finish();
}

function oneOf<T extends string>(id: string, what: string, allowed: readonly T[], v: string): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new CairnError(ErrorCode.Corruption, `schedule ${id} has unknown ${what} "${v}"`);
  }
  return v as T;
}

/** Decodes a stored schedule; Corruption when it is not a valid record. */
export function decodeSchedule(bytes: Uint8Array): BackupSchedule {
  let r: BackupScheduleRecord;
  try {
    r = BackupScheduleRecord.decode(bytes);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, 'unreadable schedule record', { cause: err });
  }
  const id = r.scheduleId.toString();
  const d = r.details;
  const a = r.args;
  if (d === undefined || a === undefined) throw new CairnError(ErrorCode.Corruption, `schedule ${id} lacks its details`);
  const l = r.lastRun;
  return {
    id,
    label: r.label,
    owner: r.owner,
    createdAtMs: Number(r.createdAtMs),
    state: oneOf(id, 'state', STATES, r.state),
    statusText: r.statusText,
    cron: r.cron ?? null,
    nextRunMs: orNull(r.nextRunMs, Number),
    timezone: r.timezone,
    details: {
      onPreviousRunning: oneOf(id, 'on_previous_running', ON_PREVIOUS, d.onPreviousRunning),
      onExecutionFailure: oneOf(id, 'on_execution_failure', ON_FAILURE, d.onExecutionFailure),
    },
    args: {
      backupType: oneOf(id, 'backup type', TYPES, a.backupType),
      backupStatement: a.backupStatement,
      dependentScheduleId: orNull(a.dependentScheduleId, String),
      unpauseOnSuccess: orNull(a.unpauseOnSuccess, String),
      chainProtectedTimestampRecords: a.chainProtectedTimestampRecords,
      chainedProtectedTimestampRecord: a.protectedTimestampRecord ?? null,
      updatesLastBackupMetric: a.updatesLastBackupMetric,
      retention: a.retention ?? null,
    },
    lastRun:
      l === undefined
        ? null
        : {
            scheduledAtMs: Number(l.scheduledAtMs),
            startedAtMs: Number(l.startedAtMs),
            jobId: orNull(l.jobId, String),
            outcome: oneOf(id, 'run outcome', OUTCOMES, l.outcome),
            finishedAtMs: orNull(l.finishedAtMs, Number),
            error: l.error ?? null,
          },
    lastSuccessEndMs: orNull(r.lastSuccessEndMs, Number),
  };
}
