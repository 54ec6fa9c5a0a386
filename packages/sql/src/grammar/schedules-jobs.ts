/**
 * Schedules and jobs: CREATE SCHEDULE FOR BACKUP, ALTER BACKUP SCHEDULE, PAUSE / RESUME /
 * CANCEL / DROP of jobs and schedules, SHOW JOBS / SHOW JOB, and the job and schedule
 * selectors they take (`JOB 1`, `JOBS SELECT ... FROM [SHOW JOBS] WHERE ...`, `FOR SCHEDULES ...`).
 */
import type {
  AlterScheduleCommand,
  BackupStatement,
  FullBackup,
  JobQuery,
  JobSelector,
  JobsForSchedules,
  Recurrence,
  ScheduleOptions,
  ScheduleQuery,
  ScheduleSelector,
  Statement,
} from '../ast.js';
import { backupOptions, backupTargets } from './backup-restore.js';
import { optWhere } from './expressions.js';
import { BACKUP_OPTIONS, readOneOption, readOptions, SCHEDULE_OPTIONS } from './options.js';
import type { Parser } from './parser-base.js';

const JOB_QUERY_COLUMNS = ['job_id', 'job_type', 'status'];
const SCHEDULE_QUERY_COLUMNS = ['label', 'id', 'schedule_status'];

/** After `CREATE SCHEDULE`: `[IF NOT EXISTS] [label] FOR BACKUP ... RECURRING ... [FULL BACKUP ...] [WITH SCHEDULE OPTIONS ...]`. */
export function createSchedule(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  let label: string | undefined;
  if (!p.isKw('FOR')) {
    const t = p.peek();
    label = t.kind === 'string' ? p.next().value : p.ident('schedule label or FOR');
  }
  p.expectKw('FOR');
  const backupPos = p.expectKw('BACKUP').pos;
  const targets = backupTargets(p, ['INTO']);
  p.expectKw('INTO');
  const destination = p.uriList();
  const backup: BackupStatement = {
    kind: 'backup',
    pos: backupPos,
    targets,
    mode: 'into',
    destination,
    incrementalFrom: [],
    options: backupOptions(p),
  };
  p.expectKw('RECURRING');
  const recurrence = parseRecurrence(p);
  const stmt: Statement = { kind: 'createSchedule', pos, ifNotExists, backup, recurrence, scheduleOptions: {} };
  if (label !== undefined) stmt.label = label;
  if (p.isKw('FULL')) {
    p.next();
    p.expectKw('BACKUP');
    stmt.fullBackup = parseFullBackup(p);
  }
  if (p.acceptKw('WITH')) {
    p.expectKw('SCHEDULE');
    p.expectKw('OPTIONS');
    const paren = p.acceptOp('(') !== undefined;
    stmt.scheduleOptions = readOptions<ScheduleOptions>(p, 'SCHEDULE OPTIONS', SCHEDULE_OPTIONS, {});
    if (paren) p.expectOp(')');
  }
  return stmt;
}

function parseRecurrence(p: Parser): Recurrence {
  const t = p.peek();
  if (p.acceptKw('NEVER')) return { kind: 'never', pos: t.pos };
  return { kind: 'cron', pos: t.pos, expr: p.string('a cron expression or NEVER') };
}

function parseFullBackup(p: Parser): FullBackup {
  const t = p.peek();
  if (p.acceptKw('ALWAYS')) return { kind: 'always', pos: t.pos };
  return { kind: 'cron', pos: t.pos, expr: p.string('a cron expression or ALWAYS') };
}

/** `ALTER BACKUP SCHEDULE id <command>, ...`. */
export function alterBackupSchedule(p: Parser): Statement {
  const pos = p.expectKw('ALTER').pos;
  p.expectKw('BACKUP');
  p.expectKw('SCHEDULE');
  const id = p.id('schedule id');
  const commands = p.commaList((): AlterScheduleCommand => {
    const t = p.peek();
    if (p.acceptKw('EXECUTE')) {
      const full = p.acceptKw('FULL') !== undefined;
      p.expectKw('IMMEDIATELY');
      return { kind: 'executeImmediately', pos: t.pos, full };
    }
    p.expectKw('SET', 'SET or EXECUTE');
    if (p.acceptKw('LABEL')) {
      const lt = p.peek();
      const label = lt.kind === 'string' ? p.next().value : p.ident('label');
      return { kind: 'setLabel', pos: t.pos, label };
    }
    if (p.acceptKw('INTO')) return { kind: 'setInto', pos: t.pos, uris: p.uriList().uris };
    if (p.acceptKw('WITH')) return { kind: 'setWith', pos: t.pos, options: readOneOption(p, 'BACKUP', BACKUP_OPTIONS, {}) };
    if (p.acceptKw('RECURRING')) return { kind: 'setRecurring', pos: t.pos, recurrence: parseRecurrence(p) };
    if (p.acceptKw('FULL')) {
      p.expectKw('BACKUP');
      return { kind: 'setFullBackup', pos: t.pos, fullBackup: parseFullBackup(p) };
    }
    if (p.acceptKw('SCHEDULE')) {
      p.expectKw('OPTION');
      return { kind: 'setScheduleOption', pos: t.pos, options: readOneOption(p, 'SCHEDULE OPTIONS', SCHEDULE_OPTIONS, {}) };
    }
    p.expected('LABEL, INTO, WITH, RECURRING, FULL BACKUP or SCHEDULE OPTION');
  });
  return { kind: 'alterBackupSchedule', pos, id, commands };
}

/** After `DROP SCHEDULE` / `DROP SCHEDULES`. */
export function dropSchedules(p: Parser, pos: number, many: boolean): Statement {
  return { kind: 'controlSchedules', pos, action: 'drop', schedules: many ? scheduleQuery(p) : scheduleId(p) };
}

/** `PAUSE | RESUME | CANCEL JOB id | JOBS <selector>`, `PAUSE | RESUME SCHEDULE id | SCHEDULES <query>`. */
export function control(p: Parser): Statement {
  const t = p.next();
  const action = t.value as 'pause' | 'resume' | 'cancel';
  const pos = t.pos;
  if (p.acceptKw('JOB')) {
    const idPos = p.peek().pos;
    return { kind: 'controlJobs', pos, action, jobs: { kind: 'jobId', pos: idPos, id: p.id('job id') } };
  }
  if (p.acceptKw('JOBS')) {
    const jobs: JobSelector = p.isKw('FOR') ? jobsForSchedules(p) : jobQuery(p);
    return { kind: 'controlJobs', pos, action, jobs };
  }
  if (action !== 'cancel') {
    if (p.acceptKw('SCHEDULE')) return { kind: 'controlSchedules', pos, action, schedules: scheduleId(p) };
    if (p.acceptKw('SCHEDULES')) return { kind: 'controlSchedules', pos, action, schedules: scheduleQuery(p) };
    p.expected('JOB, JOBS, SCHEDULE or SCHEDULES');
  }
  p.expected('JOB or JOBS');
}

/** After `SHOW`: `JOBS [<job query> | FOR SCHEDULE(S) ...]`. */
export function showJobs(p: Parser, pos: number): Statement {
  p.expectKw('JOBS');
  if (p.isKw('SELECT') || (p.isOp('(') && p.isKw('SELECT', 1))) {
    return { kind: 'showJobs', pos, filter: jobQuery(p) };
  }
  if (p.isKw('FOR')) return { kind: 'showJobs', pos, filter: jobsForSchedules(p) };
  return { kind: 'showJobs', pos };
}

/** After `SHOW JOB`: `[WHEN COMPLETE] id`. */
export function showJob(p: Parser, pos: number): Statement {
  let whenComplete = false;
  if (p.acceptKw('WHEN')) {
    p.expectKw('COMPLETE');
    whenComplete = true;
  }
  return { kind: 'showJob', pos, id: p.id('job id'), whenComplete };
}

/** `SELECT * | job_id FROM [SHOW JOBS] [WHERE ...]`, optionally parenthesised. */
function jobQuery(p: Parser): JobQuery {
  const pos = p.peek().pos;
  const paren = p.acceptOp('(') !== undefined;
  p.expectKw('SELECT');
  if (!p.acceptOp('*')) p.expectWord('job_id', '* or job_id');
  fromShow(p, 'JOBS');
  const where = optWhere(p, JOB_QUERY_COLUMNS);
  if (paren) p.expectOp(')');
  return { kind: 'jobQuery', pos, where };
}

/** `FOR SCHEDULE id` / `FOR SCHEDULES <schedule query>`. */
function jobsForSchedules(p: Parser): JobsForSchedules {
  const pos = p.expectKw('FOR').pos;
  if (p.acceptKw('SCHEDULE')) return { kind: 'forSchedules', pos, schedules: scheduleId(p) };
  p.expectKw('SCHEDULES', 'SCHEDULE or SCHEDULES');
  return { kind: 'forSchedules', pos, schedules: scheduleQuery(p) };
}

function scheduleId(p: Parser): ScheduleSelector {
  const pos = p.peek().pos;
  return { kind: 'scheduleId', pos, id: p.id('schedule id') };
}

/**
 * `WITH x AS (SHOW SCHEDULES) SELECT id FROM x [WHERE ...]` or
 * `SELECT id FROM [SHOW SCHEDULES] [WHERE ...]`, optionally parenthesised.
 */
function scheduleQuery(p: Parser): ScheduleQuery {
  const pos = p.peek().pos;
  const paren = p.acceptOp('(') !== undefined;
  if (p.acceptKw('WITH')) {
    const name = p.ident('name');
    p.expectKw('AS');
    p.expectOp('(');
    p.expectKw('SHOW');
    p.expectKw('SCHEDULES');
    p.expectOp(')');
    p.expectKw('SELECT');
    p.expectWord('id', 'id');
    p.expectKw('FROM');
    const fromTok = p.peek();
    if (p.ident(name) !== name) p.fail(fromTok, `expected ${name}`);
  } else {
    if (!p.isKw('SELECT')) p.expected('WITH or SELECT');
    p.next();
    p.expectWord('id', 'id');
    fromShow(p, 'SCHEDULES');
  }
  const where = optWhere(p, SCHEDULE_QUERY_COLUMNS);
  if (paren) p.expectOp(')');
  return { kind: 'scheduleQuery', pos, where };
}

/** `FROM [SHOW <what>]`. */
function fromShow(p: Parser, what: string): void {
  p.expectKw('FROM');
  p.expectOp('[');
  p.expectKw('SHOW');
  p.expectKw(what);
  p.expectOp(']');
}
