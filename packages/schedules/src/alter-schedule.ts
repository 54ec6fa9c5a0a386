import { CairnError, ErrorCode } from '@cairn/errors';
import { checkBackupStatement, type AlterScheduleCommand, type BackupOptions, type BackupStatement, type FullBackup, type Recurrence, type ScheduleOptions } from '@cairn/sql';
import { formatStoredBackup, noIncrementals, parseStoredBackup, withBackupType } from './backup-statement.js';
import { cronFrequencyMs, validateCron } from './cron.js';
import { checkRetentionLocation, normalizeRetention } from './retention.js';
import { WAITING_FOR_INITIAL_BACKUP, type BackupSchedule } from './schedule.js';
import { nextRunAfter, type TimeLike } from './scheduler-policy.js';
import { createScheduleRow, type CreateScheduleRow } from './show-schedules.js';

/** What ALTER BACKUP SCHEDULE needs besides the schedules and commands. */
export interface AlterContext {
  readonly now: TimeLike;
  /** Ids for a schedule the statement creates (SET FULL BACKUP on a full-only schedule). */
  readonly ids: () => string;
  /** The user running the statement: owner of a schedule it creates. */
  readonly user?: string;
}

/** The outcome of ALTER BACKUP SCHEDULE: what to store and what to return. */
export interface AlterResult {
  readonly full: BackupSchedule;
  readonly incremental: BackupSchedule | null;
  /** Schedules to create with `kv.create` (a new incremental, also in `incremental`); put the others. */
  readonly created: BackupSchedule[];
  /** Ids of schedules to delete (the incremental, on SET FULL BACKUP ALWAYS). */
  readonly deleted: string[];
  /** Protected timestamp records the deleted schedules held, to release. */
  readonly releaseProtectedTimestamps: string[];
  /** Result rows, the incremental first, as CREATE SCHEDULE returns them. */
  readonly rows: CreateScheduleRow[];
}

interface AlterSpec {
  label?: string;
  into?: string[];
  recurrence?: Recurrence;
  fullBackup?: FullBackup;
  backupOptions: BackupOptions;
  scheduleOptions: ScheduleOptions;
  executeNow?: { full: boolean };
}

function invalid(message: string, position?: number): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, message, position === undefined ? {} : { position });
}

/** Folds the commands into one spec, with CockroachDB's once-only rules. */
function makeSpec(commands: readonly AlterScheduleCommand[]): AlterSpec {
  const spec: AlterSpec = { backupOptions: {}, scheduleOptions: {} };
  const seen = new Set<string>();
  const once = (name: string, pos: number) => {
    if (seen.has(name)) throw invalid(`can specify ${name} at most once`, pos);
    seen.add(name);
  };
  for (const c of commands) {
    switch (c.kind) {
      case 'setLabel':
        once('SET LABEL', c.pos);
        spec.label = c.label;
        break;
      case 'setInto':
        once('SET INTO', c.pos);
        spec.into = [...c.uris];
        break;
      case 'setRecurring':
        once('SET RECURRING', c.pos);
        spec.recurrence = c.recurrence;
        break;
      case 'setFullBackup':
        once('SET FULL BACKUP', c.pos);
        spec.fullBackup = c.fullBackup;
        break;
      case 'setWith':
        if (c.options.detached !== undefined) {
          throw invalid('DETACHED is required for scheduled backups and cannot be altered', c.pos);
        }
        mergeOnce(spec.backupOptions, c.options, c.pos, backupOptionName);
        break;
      case 'setScheduleOption':
        if (c.options.firstRun !== undefined) throw invalid('invalid option "first_run"', c.pos);
        if (c.options.ignoreExistingBackups !== undefined) throw invalid('invalid option "ignore_existing_backups"', c.pos);
        mergeOnce(spec.scheduleOptions, c.options, c.pos, scheduleOptionName);
        break;
      case 'executeImmediately':
        once('EXECUTE IMMEDIATELY', c.pos);
        spec.executeNow = { full: c.full };
        break;
    }
  }
  return spec;
}

function mergeOnce<T extends object>(into: T, from: T, pos: number, name: (key: string) => string): void {
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    if ((into as Record<string, unknown>)[k] !== undefined) throw invalid(`${name(k)} option specified multiple times`, pos);
    (into as Record<string, unknown>)[k] = v;
  }
}

const backupOptionName = (k: string): string =>
  ({
    revisionHistory: 'revision_history',
    encryptionPassphrase: 'encryption_passphrase',
    kms: 'kms',
    incrementalLocation: 'incremental_location',
    executionLocality: 'EXECUTION LOCALITY',
  })[k] ?? k;

const scheduleOptionName = (k: string): string =>
  ({
    onExecutionFailure: 'on_execution_failure',
    onPreviousRunning: 'on_previous_running',
    updatesClusterLastBackupTimeMetric: 'updates_cluster_last_backup_time_metric',
  })[k] ?? k;

/** SET WITH: string options set to '' are unset, as in CockroachDB. */
function applyBackupOptions(opts: BackupOptions, set: BackupOptions): BackupOptions {
  const out: BackupOptions = { ...opts };
  if (set.revisionHistory !== undefined) out.revisionHistory = set.revisionHistory;
  if (set.encryptionPassphrase !== undefined) {
    if (set.encryptionPassphrase === '') delete out.encryptionPassphrase;
    else out.encryptionPassphrase = set.encryptionPassphrase;
  }
  if (set.executionLocality !== undefined) {
    if (set.executionLocality === '') delete out.executionLocality;
    else out.executionLocality = set.executionLocality;
  }
  if (set.kms !== undefined) {
    if (set.kms.every((u) => u === '')) delete out.kms;
    else out.kms = [...set.kms];
  }
  if (set.incrementalLocation !== undefined) {
    if (set.incrementalLocation.every((u) => u === '')) delete out.incrementalLocation;
    else out.incrementalLocation = [...set.incrementalLocation];
  }
  return out;
}

/** A mutable working copy of one schedule and its parsed statement. */
interface Working {
  schedule: BackupSchedule;
  stmt: BackupStatement;
}

/**
 * Sets a schedule's cron; an ACTIVE schedule's next run follows the new cron, a PAUSED one
 * stays paused (CockroachDB keeps the pause state).
 */
function setCron(w: Working, cron: string | null, nowMs: number): void {
  const s = { ...w.schedule, cron };
  w.schedule = s.state === 'PAUSED' ? s : { ...s, nextRunMs: nextRunAfter(s, nowMs) };
}

/**
 * Applies ALTER BACKUP SCHEDULE to a schedule and its dependent (the other of the pair, when
 * there is one), as CockroachDB does, in its order: SET FULL BACKUP, SET RECURRING, the
 * frequency check, SET LABEL, SET INTO, SET WITH, SET SCHEDULE OPTION, EXECUTE IMMEDIATELY.
 * - SET LABEL / SET INTO / SET WITH / SET SCHEDULE OPTION change both schedules of a pair
 *   (`retention = ''` removes the retention);
 * - SET RECURRING sets the incremental's cron (the full's when there is no incremental);
 * - SET FULL BACKUP 'c' sets the full's cron, first creating a paused incremental on the
 *   full's old cron when there was none; SET FULL BACKUP ALWAYS moves the incremental's cron
 *   to the full and deletes the incremental;
 * - SET INTO pauses the incremental until the full's next success, and runs the full now if
 *   the incremental was running;
 * - EXECUTE IMMEDIATELY runs the incremental now (the full with FULL, or when there is no
 *   incremental); a paused schedule is refused.
 * Throws InvalidArgument / FailedPrecondition on CockroachDB's errors.
 */
export function applyAlter(
  target: BackupSchedule,
  dependent: BackupSchedule | undefined,
  commands: readonly AlterScheduleCommand[],
  ctx: AlterContext,
): AlterResult {
  const nowMs = typeof ctx.now === 'number' ? ctx.now : ctx.now.getTime();
  const spec = makeSpec(commands);
  if (target.args.dependentScheduleId !== null && (dependent === undefined || dependent.id !== target.args.dependentScheduleId)) {
    throw new CairnError(ErrorCode.NotFound, `schedule with ID ${target.args.dependentScheduleId} does not exist`);
  }
  const isFull = target.args.backupType === 'FULL';
  const fullSchedule = isFull ? target : dependent;
  const incSchedule = isFull ? dependent : target;
  if (fullSchedule === undefined) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      `incremental backup schedule ${target.id} has no corresponding full backup schedule; drop schedule ${target.id} and recreate`,
    );
  }
  const full: Working = { schedule: fullSchedule, stmt: parseStoredBackup(fullSchedule) };
  let inc: Working | null = incSchedule === undefined ? null : { schedule: incSchedule, stmt: parseStoredBackup(incSchedule) };
  const created: BackupSchedule[] = [];
  const deleted: string[] = [];
  const releaseProtectedTimestamps: string[] = [];
  const tz = full.schedule.timezone;

  // SET FULL BACKUP
  if (spec.fullBackup !== undefined) {
    if (spec.fullBackup.kind === 'always') {
      if (inc !== null) {
        full.schedule = {
          ...full.schedule,
          cron: inc.schedule.cron,
          args: { ...full.schedule.args, dependentScheduleId: null, unpauseOnSuccess: null, chainProtectedTimestampRecords: false },
        };
        deleted.push(inc.schedule.id);
        if (inc.schedule.args.chainedProtectedTimestampRecord !== null) {
          releaseProtectedTimestamps.push(inc.schedule.args.chainedProtectedTimestampRecord);
        }
        inc = null;
      }
    } else {
      const fullCron = validateCron(spec.fullBackup.expr, tz);
      if (inc === null) {
        if (full.schedule.cron === null) {
          throw invalid('a RECURRING NEVER schedule cannot take incremental backups; SET RECURRING first', spec.fullBackup.pos);
        }
        const id = ctx.ids();
        const stmt = withBackupType(full.stmt, 'INCREMENTAL');
        inc = {
          stmt,
          schedule: {
            ...full.schedule,
            id,
            owner: ctx.user ?? full.schedule.owner,
            createdAtMs: nowMs,
            state: 'PAUSED',
            statusText: WAITING_FOR_INITIAL_BACKUP,
            nextRunMs: null,
            details: { ...full.schedule.details, onPreviousRunning: 'wait' },
            lastRun: null,
            lastSuccessEndMs: null,
            args: {
              ...full.schedule.args,
              backupType: 'INCREMENTAL',
              backupStatement: formatStoredBackup(stmt),
              dependentScheduleId: full.schedule.id,
              unpauseOnSuccess: null,
              chainedProtectedTimestampRecord: null,
            },
          },
        };
        full.schedule = { ...full.schedule, args: { ...full.schedule.args, dependentScheduleId: id, unpauseOnSuccess: id } };
        created.push(inc.schedule);
      }
      setCron(full, fullCron, nowMs);
    }
  }

  // SET RECURRING
  if (spec.recurrence !== undefined) {
    const w = inc ?? full;
    if (spec.recurrence.kind === 'never') {
      if (inc !== null) throw invalid('an incremental backup schedule needs a cron; use SET FULL BACKUP ALWAYS to drop incrementals', spec.recurrence.pos);
      setCron(w, null, nowMs);
    } else {
      setCron(w, validateCron(spec.recurrence.expr, tz), nowMs);
    }
  }

  // Incrementals must not be rarer than fulls.
  if (inc !== null && inc.schedule.cron !== null && full.schedule.cron !== null) {
    if (cronFrequencyMs(inc.schedule.cron, nowMs, tz) > cronFrequencyMs(full.schedule.cron, nowMs, tz)) {
      throw invalid('incremental backups must occur more often than full backups');
    }
  }

  const both = (f: (w: Working) => void) => {
    f(full);
    if (inc !== null) f(inc);
  };

  if (spec.label !== undefined) {
    const label = spec.label;
    both((w) => (w.schedule = { ...w.schedule, label }));
  }

  if (spec.into !== undefined) {
    const uris = spec.into;
    both((w) => (w.stmt = { ...w.stmt, destination: { ...w.stmt.destination, uris: [...uris] } }));
    if (inc !== null) {
      // A new collection has no full backup yet: incrementals wait for the next full.
      const wasPaused = inc.schedule.state === 'PAUSED';
      inc.schedule = { ...inc.schedule, state: 'PAUSED', nextRunMs: null, statusText: WAITING_FOR_INITIAL_BACKUP };
      full.schedule = { ...full.schedule, args: { ...full.schedule.args, unpauseOnSuccess: inc.schedule.id } };
      if (!wasPaused && full.schedule.state === 'ACTIVE') full.schedule = { ...full.schedule, nextRunMs: nowMs };
    }
  }

  if (Object.keys(spec.backupOptions).length > 0) {
    // incremental_location is the incremental's alone: a full backup never goes there.
    const { incrementalLocation, ...forBoth } = spec.backupOptions;
    both((w) => (w.stmt = { ...w.stmt, options: applyBackupOptions(w.stmt.options, forBoth) }));
    if (incrementalLocation !== undefined) {
      if (inc === null) throw noIncrementals();
      inc.stmt = { ...inc.stmt, options: applyBackupOptions(inc.stmt.options, { incrementalLocation }) };
    }
  }

  const so = spec.scheduleOptions;
  if (so.onExecutionFailure !== undefined) {
    const onExecutionFailure = so.onExecutionFailure;
    both((w) => (w.schedule = { ...w.schedule, details: { ...w.schedule.details, onExecutionFailure } }));
  }
  if (so.onPreviousRunning !== undefined) {
    full.schedule = { ...full.schedule, details: { ...full.schedule.details, onPreviousRunning: so.onPreviousRunning } };
    // The incremental always waits (see planCreateSchedule).
  }
  if (so.updatesClusterLastBackupTimeMetric !== undefined) {
    const updatesLastBackupMetric = so.updatesClusterLastBackupTimeMetric;
    both((w) => (w.schedule = { ...w.schedule, args: { ...w.schedule.args, updatesLastBackupMetric } }));
  }
  if (so.retention !== undefined) {
    // '' unsets it, as SET WITH does for string options: backups are then kept forever.
    const retention = so.retention.trim() === '' ? null : normalizeRetention(so.retention);
    both((w) => (w.schedule = { ...w.schedule, args: { ...w.schedule.args, retention } }));
  }

  if (spec.executeNow !== undefined) {
    const w = inc !== null && !spec.executeNow.full ? inc : full;
    if (w.schedule.state === 'PAUSED') throw new CairnError(ErrorCode.FailedPrecondition, 'cannot execute a paused schedule; use RESUME SCHEDULE instead');
    w.schedule = { ...w.schedule, nextRunMs: nowMs };
  }

  // The altered statements pass BACKUP's checks, as the statements CREATE SCHEDULE stores do:
  // SET WITH kms on a schedule with a passphrase must not store both.
  both((w) => checkBackupStatement(w.stmt));
  both((w) => checkRetentionLocation(w.schedule.args.retention, w.stmt.options.incrementalLocation));
  both((w) => (w.schedule = { ...w.schedule, args: { ...w.schedule.args, backupStatement: formatStoredBackup(w.stmt) } }));
  const incOut = inc?.schedule ?? null;
  const createdOut = created.length > 0 && incOut !== null ? [incOut] : [];
  return {
    full: full.schedule,
    incremental: incOut,
    created: createdOut,
    deleted,
    releaseProtectedTimestamps,
    rows: [...(incOut === null ? [] : [createScheduleRow(incOut)]), createScheduleRow(full.schedule)],
  };
}
