import { CairnError, ErrorCode } from '@cairn/errors';
import type { ControlSchedulesStatement, Literal, Predicate, ScheduleSelector } from '@cairn/sql';
import type { BackupSchedule } from './schedule.js';
import { nextRunAfter, type TimeLike } from './scheduler-policy.js';
import { compareScheduleIds, parseScheduleId } from './schedule-id.js';
import { recurrenceText } from './show-schedules.js';

/** PAUSE SCHEDULE: no next run until resumed. Running jobs are not touched. */
export function pauseSchedule(schedule: BackupSchedule): BackupSchedule {
  return { ...schedule, state: 'PAUSED', nextRunMs: null };
}

/**
 * RESUME SCHEDULE: a PAUSED schedule becomes ACTIVE with its next run recomputed from its
 * cron (none for RECURRING NEVER); an ACTIVE one is left alone, since its next run may be a
 * first_run or EXECUTE IMMEDIATELY time.
 */
export function resumeSchedule(schedule: BackupSchedule, now: TimeLike): BackupSchedule {
  if (schedule.state !== 'PAUSED') return schedule;
  return { ...schedule, state: 'ACTIVE', nextRunMs: nextRunAfter(schedule, now) };
}

/** What DROP SCHEDULE does to one schedule and its dependent. */
export interface DropPlan {
  /** Ids to delete: the schedule, and a full's incremental. */
  readonly deleted: string[];
  /** Schedules to rewrite: a full unlinked from its dropped incremental. */
  readonly updated: BackupSchedule[];
  /** Protected timestamp records the deleted schedules held, to release. */
  readonly releaseProtectedTimestamps: string[];
}

/**
 * DROP SCHEDULE, as CockroachDB's backup OnDrop: dropping a full drops its incremental too;
 * dropping an incremental unlinks it from its full (the full's dependent and
 * unpause-on-success are cleared). Protected timestamp records of the dropped schedules are
 * released. Running jobs are not canceled.
 */
export function planDropSchedule(schedule: BackupSchedule, dependent: BackupSchedule | undefined): DropPlan {
  const deleted = [schedule.id];
  const updated: BackupSchedule[] = [];
  const release: string[] = [];
  const hold = (s: BackupSchedule) => {
    if (s.args.chainedProtectedTimestampRecord !== null) release.push(s.args.chainedProtectedTimestampRecord);
  };
  hold(schedule);
  if (dependent !== undefined && dependent.id === schedule.args.dependentScheduleId) {
    if (schedule.args.backupType === 'FULL' && dependent.args.backupType === 'INCREMENTAL') {
      deleted.push(dependent.id);
      hold(dependent);
    } else {
      updated.push({ ...dependent, args: { ...dependent.args, dependentScheduleId: null, unpauseOnSuccess: null } });
    }
  }
  return { deleted, updated, releaseProtectedTimestamps: release };
}

/** The outcome of PAUSE / RESUME / DROP SCHEDULE(S). */
export interface ControlSchedulesResult {
  /** Schedules to store. */
  readonly put: BackupSchedule[];
  /** Ids of schedules to delete. */
  readonly deleted: string[];
  readonly releaseProtectedTimestamps: string[];
  /** Schedules affected, dependents dropped with a full included (`DROP SCHEDULES 2`). */
  readonly count: number;
  /** The statement tag, e.g. `PAUSE SCHEDULES 1`. */
  readonly tag: string;
}

/**
 * Runs PAUSE | RESUME | DROP SCHEDULE(S) over the stored schedules. Ids that name no
 * schedule are skipped, not errors (as in CockroachDB).
 */
export function applyControlSchedules(
  stmt: Pick<ControlSchedulesStatement, 'action' | 'schedules'>,
  schedules: readonly BackupSchedule[],
  now: TimeLike,
): ControlSchedulesResult {
  const byId = new Map(schedules.map((s) => [s.id, s]));
  const changed = new Map<string, BackupSchedule>();
  const deleted: string[] = [];
  const release: string[] = [];
  let count = 0;
  for (const selected of selectSchedules(stmt.schedules, schedules)) {
    const s = changed.get(selected.id) ?? byId.get(selected.id);
    if (s === undefined) continue; // dropped earlier in this statement
    switch (stmt.action) {
      case 'pause':
        changed.set(s.id, pauseSchedule(s));
        break;
      case 'resume':
        changed.set(s.id, resumeSchedule(s, now));
        break;
      case 'drop': {
        const depId = s.args.dependentScheduleId;
        const dep = depId === null ? undefined : (changed.get(depId) ?? byId.get(depId));
        const plan = planDropSchedule(s, dep);
        for (const id of plan.deleted) {
          byId.delete(id);
          changed.delete(id);
          deleted.push(id);
        }
        for (const u of plan.updated) changed.set(u.id, u);
        release.push(...plan.releaseProtectedTimestamps);
        count += plan.deleted.length - 1;
        break;
      }
    }
    count++;
  }
  return {
    put: [...changed.values()],
    deleted,
    releaseProtectedTimestamps: release,
    count,
    tag: `${stmt.action.toUpperCase()} SCHEDULES ${count}`,
  };
}

/** The column values a schedule query's predicates see (SHOW SCHEDULES' text columns). */
function columnValue(s: BackupSchedule, column: string): string | null {
  switch (column) {
    case 'id':
      return s.id;
    case 'label':
      return s.label;
    case 'schedule_status':
      return s.state;
    case 'state':
      return s.statusText === '' ? null : s.statusText;
    case 'recurrence':
      return recurrenceText(s);
    case 'owner':
      return s.owner;
    default:
      throw new CairnError(ErrorCode.InvalidArgument, `column "${column}" does not exist`);
  }
}

function literalText(l: Literal): string | null {
  switch (l.kind) {
    case 'null':
      return null;
    case 'bool':
      return l.value ? 'true' : 'false';
    default:
      return l.value;
  }
}

function compare(column: string, a: string, b: string): number {
  if (column === 'id' && /^-?\d+$/.test(a) && /^-?\d+$/.test(b)) return compareScheduleIds(a, b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function matches(s: BackupSchedule, p: Predicate): boolean {
  const v = columnValue(s, p.column);
  if (v === null) return false; // SQL: comparisons with NULL are never true
  if (p.kind === 'in') return p.values.some((l) => {
    const t = literalText(l);
    return t !== null && compare(p.column, v, t) === 0;
  });
  const t = literalText(p.value);
  if (t === null) return false;
  const c = compare(p.column, v, t);
  switch (p.op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
  }
}

/**
 * The schedules a statement names: `SCHEDULE <id>` or a query over SHOW SCHEDULES
 * (`WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = '...'`), in creation order.
 */
export function selectSchedules(selector: ScheduleSelector, schedules: readonly BackupSchedule[]): BackupSchedule[] {
  const sorted = [...schedules].sort((a, b) => compareScheduleIds(a.id, b.id));
  if (selector.kind === 'scheduleId') {
    const id = parseScheduleId(selector.id);
    return sorted.filter((s) => s.id === id);
  }
  return sorted.filter((s) => selector.where.every((p) => matches(s, p)));
}
