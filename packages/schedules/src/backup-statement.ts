import { CairnError, ErrorCode } from '@cairn/errors';
import { formatJobTimestamp } from '@cairn/jobs';
import { formatStatement, parseOne, type BackupStatement } from '@cairn/sql';
import type { BackupSchedule, ScheduledBackupType } from './schedule.js';

/**
 * The statements a schedule runs, made from the BACKUP in CREATE SCHEDULE: the full writes a
 * new backup `INTO '<collection>'`, the incremental appends `INTO LATEST IN '<collection>'`;
 * both `WITH detached` and every other option carried over. `incremental_location` only
 * applies to the incremental (as in CockroachDB). Throws InvalidArgument for a backup a
 * schedule cannot run (an explicit subdirectory, AS OF SYSTEM TIME, INCREMENTAL FROM, TO).
 */
export function scheduledBackupStatements(backup: BackupStatement): { full: BackupStatement; incremental: BackupStatement } {
  if (backup.mode !== 'into') {
    throw new CairnError(ErrorCode.InvalidArgument, 'scheduled backups must use BACKUP ... INTO a collection', {
      position: backup.pos,
    });
  }
  if (backup.destination.subdir !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'a scheduled backup names its collection only (no LATEST or subdirectory)', {
      position: backup.destination.pos,
    });
  }
  if (backup.asOf !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'AS OF SYSTEM TIME is set by the scheduler and cannot be given', {
      position: backup.asOf.pos,
    });
  }
  if (backup.incrementalFrom.length > 0) {
    throw new CairnError(ErrorCode.InvalidArgument, 'INCREMENTAL FROM cannot be scheduled', { position: backup.pos });
  }
  refuseUndetached(backup.options);
  const { incrementalLocation, ...rest } = backup.options;
  const full: BackupStatement = {
    ...backup,
    destination: { pos: backup.destination.pos, uris: [...backup.destination.uris] },
    options: { ...rest, detached: true },
  };
  const incremental: BackupStatement = {
    ...backup,
    destination: { pos: backup.destination.pos, subdir: { kind: 'latest', pos: backup.destination.pos }, uris: [...backup.destination.uris] },
    options: { ...rest, ...(incrementalLocation === undefined ? {} : { incrementalLocation }), detached: true },
  };
  return { full, incremental };
}

/** The same statement turned into the other backup type (a full's statement for a new incremental). */
export function withBackupType(stmt: BackupStatement, type: ScheduledBackupType): BackupStatement {
  const { subdir: _subdir, ...destination } = stmt.destination;
  return {
    ...stmt,
    destination: type === 'FULL' ? destination : { ...destination, subdir: { kind: 'latest', pos: destination.pos } },
  };
}

/** Parses a schedule's stored backup statement; a schedule whose text is not a BACKUP is corrupt. */
export function parseStoredBackup(schedule: Pick<BackupSchedule, 'id' | 'args'>): BackupStatement {
  let stmt;
  try {
    stmt = parseOne(schedule.args.backupStatement);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, `schedule ${schedule.id} has an unreadable backup statement`, { cause: err });
  }
  if (stmt.kind !== 'backup') {
    throw new CairnError(ErrorCode.Corruption, `schedule ${schedule.id} holds a ${stmt.kind} statement, not a BACKUP`);
  }
  return stmt;
}

/** The canonical text a schedule stores (secrets included). */
export function formatStoredBackup(stmt: BackupStatement): string {
  return formatStatement(stmt);
}

/**
 * A schedule's backup statement with every secret replaced by `redacted`: the only form shown.
 * `cockroachForm` prints the options as CockroachDB's SHOW SCHEDULES does (`WITH OPTIONS
 * (detached)`); CREATE SCHEDULE's result keeps the seed's `WITH detached`.
 */
export function redactedBackupStatement(schedule: Pick<BackupSchedule, 'id' | 'args'>, cockroachForm = false): string {
  return formatStatement(parseStoredBackup(schedule), { redact: true, parenthesizedBackupOptions: cockroachForm });
}

/**
 * The BACKUP a run of the schedule executes: the stored statement, detached, `AS OF SYSTEM
 * TIME` the time the run was due (so a delayed run still backs up the scheduled moment).
 */
export function scheduledRunStatement(schedule: Pick<BackupSchedule, 'id' | 'args'>, scheduledAtMs: number): BackupStatement {
  const stmt = parseStoredBackup(schedule);
  return {
    ...stmt,
    asOf: { kind: 'timestamp', pos: stmt.pos, text: formatJobTimestamp(scheduledAtMs) },
    options: { ...stmt.options, detached: true },
  };
}

/**
 * Scheduled backups always run detached: `detached = false` would be ignored, so it is
 * refused (ALTER BACKUP SCHEDULE ... SET WITH detached is refused with CockroachDB's error).
 */
function refuseUndetached(options: { detached?: boolean }): void {
  if (options.detached === false) throw new CairnError(ErrorCode.InvalidArgument, 'DETACHED is required for scheduled backups: remove detached = false');
}

/** incremental_location on a schedule that takes only full backups would do nothing. */
export function noIncrementals(): CairnError {
  return new CairnError(
    ErrorCode.InvalidArgument,
    'incremental_location applies to the incremental backups of a schedule, and this schedule takes full backups only',
  );
}
