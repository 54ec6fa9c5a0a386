import { CairnError, ErrorCode } from '@cairn/errors';
import { SHOW_JOBS_COLUMNS, isTerminalStatus, showJobsRow, type Job } from '@cairn/jobs';
import {
  CREATE_SCHEDULE_COLUMNS,
  SHOW_BACKUP_SCHEDULES_COLUMNS,
  SHOW_CREATE_SCHEDULE_COLUMNS,
  SHOW_SCHEDULES_COLUMNS,
  showCreateSchedules,
  parseStoredBackup,
  applyAlter,
  applyControlSchedules,
  existingBackupsError,
  planCreateSchedule,
  selectSchedules,
  showSchedule,
  showSchedules,
  type BackupSchedule,
} from '@cairn/schedules';
import type {
  AlterBackupScheduleStatement,
  ControlJobsStatement,
  ControlSchedulesStatement,
  CreateScheduleStatement,
  JobsForSchedules,
  ShowCreateScheduleStatement,
  ShowScheduleStatement,
  ShowSchedulesStatement,
} from '@cairn/sql';
import { BackupCollection } from '../backup/backup-collection.js';
import { assertScheduleAccess, authorizeStatement, scheduleAccess } from '../privileges/privilege-statements.js';
import { requireFeature } from '../feature-flags.js';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** Schedule statements change schedules under the scheduler's lock, reach their jobs and protected timestamps, and check the BACKUP they run as their owner may. */
type ScheduleSession = SessionWith<'schedules' | 'jobs' | 'protectedTs' | 'settings' | 'storage' | 'privileges' | 'readiness' | 'catalog'>;
/** SHOW/PAUSE/RESUME/CANCEL JOBS FOR SCHEDULE(S): the schedules and their jobs. */
type SchedulesJobs = SessionWith<'schedules' | 'jobs'>;

function table<C extends string>(columns: readonly C[], rows: ReadonlyArray<{ readonly [K in C]: string | null }>): (string | null)[][] {
  return rows.map((r) => columns.map((c) => r[c]));
}

/** How many unfinished BACKUP jobs each schedule has (SHOW SCHEDULES' jobsrunning). */
export async function runningJobs(s: SessionWith<'jobs'>): Promise<(scheduleId: string) => number> {
  const counts = new Map<string, number>();
  for (const j of await s.jobs.list({ types: ['BACKUP'] })) {
    if (j.spec.scheduleId !== null && !isTerminalStatus(j.status)) counts.set(j.spec.scheduleId, (counts.get(j.spec.scheduleId) ?? 0) + 1);
  }
  return (id) => counts.get(id) ?? 0;
}

export async function createSchedule(s: ScheduleSession, stmt: CreateScheduleStatement): Promise<StatementResult> {
  requireFeature(s.settings, 'SCHEDULES');
  return s.schedules.lock.run(() => createScheduleLocked(s, stmt));
}

async function createScheduleLocked(s: ScheduleSession, stmt: CreateScheduleStatement): Promise<StatementResult> {
  const store = s.schedules.store;
  const existing = await store.list();
  const plan = planCreateSchedule(stmt, new Date(), s.schedules.ids, {
    // The scheduler runs the schedule's backups as this owner (job user_name).
    owner: s.user,
    labelExists: (label) => existing.some((x) => x.label === label),
  });
  if (plan.checkExistingBackupsIn !== null) {
    const c = await BackupCollection.open(stmt.backup.destination.uris, s.storage.storageContext());
    try {
      if (await c.hasBackups()) throw existingBackupsError(plan.checkExistingBackupsIn);
    } finally {
      await c.close();
    }
  }
  await store.createAll(plan.schedules);
  s.schedules.wake();
  return rowsResult([...CREATE_SCHEDULE_COLUMNS], table(CREATE_SCHEDULE_COLUMNS, plan.rows));
}

/** The schedules the session's user may see: all for an admin, else its own. */
async function visibleSchedules(s: ScheduleSession): Promise<BackupSchedule[]> {
  const may = await scheduleAccess(s);
  return (await s.schedules.store.list()).filter((x) => may(x.owner));
}

export async function showSchedulesStatement(s: ScheduleSession, stmt: ShowSchedulesStatement): Promise<StatementResult> {
  const rows = showSchedules(stmt, await visibleSchedules(s), await runningJobs(s));
  const columns = stmt.backupOnly ? SHOW_BACKUP_SCHEDULES_COLUMNS : SHOW_SCHEDULES_COLUMNS;
  return rowsResult([...columns], table(columns, rows));
}

/** SHOW CREATE SCHEDULE id / SHOW CREATE ALL SCHEDULES, over the schedules the user may see. */
export async function showCreateScheduleStatement(s: ScheduleSession, stmt: ShowCreateScheduleStatement): Promise<StatementResult> {
  return rowsResult([...SHOW_CREATE_SCHEDULE_COLUMNS], showCreateSchedules(stmt.id, await visibleSchedules(s)));
}

export async function showScheduleStatement(s: ScheduleSession, stmt: ShowScheduleStatement): Promise<StatementResult> {
  const row = showSchedule(stmt.id, await visibleSchedules(s), await runningJobs(s));
  return rowsResult([...SHOW_SCHEDULES_COLUMNS], table(SHOW_SCHEDULES_COLUMNS, [row]));
}

/** PAUSE / RESUME / DROP SCHEDULE(S). DROP does not cancel running jobs, as in CockroachDB. */
export async function controlSchedules(s: ScheduleSession, stmt: ControlSchedulesStatement): Promise<StatementResult> {
  requireFeature(s.settings, 'SCHEDULES');
  return s.schedules.lock.run(async () => {
    const store = s.schedules.store;
    const all = await store.list();
    await assertScheduleAccess(s, selectSchedules(stmt.schedules, all), stmt.action);
    const res = applyControlSchedules(stmt, all, Date.now());
    for (const x of res.put) await store.put(x);
    for (const id of res.deleted) await store.delete(id);
    // A dropped schedule's chained protected timestamp has no one left to move it.
    for (const id of res.deleted) await s.protectedTs.releaseScheduleChain(id);
    s.schedules.wake();
    return tagOnly(res.tag);
  });
}

export async function alterBackupSchedule(s: ScheduleSession, stmt: AlterBackupScheduleStatement): Promise<StatementResult> {
  requireFeature(s.settings, 'SCHEDULES');
  return s.schedules.lock.run(() => alterBackupScheduleLocked(s, stmt));
}

async function alterBackupScheduleLocked(s: ScheduleSession, stmt: AlterBackupScheduleStatement): Promise<StatementResult> {
  const store = s.schedules.store;
  const target = await store.get(stmt.id);
  if (!target) throw new CairnError(ErrorCode.NotFound, `schedule ${stmt.id} does not exist`);
  await assertScheduleAccess(s, [target], 'alter');
  const dependent = target.args.dependentScheduleId ? await store.get(target.args.dependentScheduleId) : undefined;
  const res = applyAlter(target, dependent, stmt.commands, { now: Date.now(), ids: s.schedules.ids, user: s.user });
  // The altered BACKUP must be one the user may run (SET INTO a nodelocal:// URI needs
  // EXTERNALIOIMPLICITACCESS as a BACKUP there does): checked before anything is stored.
  for (const x of [res.full, ...(res.incremental ? [res.incremental] : [])]) await authorizeStatement(s, parseStoredBackup(x));
  for (const x of [res.full, ...(res.incremental ? [res.incremental] : []), ...res.created]) await store.put(x);
  for (const id of res.deleted) await store.delete(id);
  for (const id of res.deleted) await s.protectedTs.releaseScheduleChain(id);
  s.schedules.wake();
  return rowsResult([...CREATE_SCHEDULE_COLUMNS], table(CREATE_SCHEDULE_COLUMNS, res.rows));
}

async function jobsOfSchedules(s: SchedulesJobs, selector: JobsForSchedules): Promise<{ schedules: BackupSchedule[]; jobs: Job[] }> {
  const schedules = selectSchedules(selector.schedules, await s.schedules.store.list());
  const ids = new Set(schedules.map((x) => x.id));
  const jobs = (await s.jobs.list()).filter((j) => j.spec.scheduleId !== null && ids.has(j.spec.scheduleId));
  return { schedules, jobs };
}

export async function showJobsForSchedules(s: SchedulesJobs, selector: JobsForSchedules): Promise<StatementResult> {
  const { jobs } = await jobsOfSchedules(s, selector);
  return rowsResult([...SHOW_JOBS_COLUMNS], jobs.map((j) => { const r = showJobsRow(j); return SHOW_JOBS_COLUMNS.map((c) => r[c]); }));
}

/** PAUSE / RESUME / CANCEL JOBS FOR SCHEDULE(S): acts on the jobs for which the action applies. */
export async function controlJobsForSchedules(s: SchedulesJobs, stmt: ControlJobsStatement, selector: JobsForSchedules): Promise<StatementResult> {
  const { jobs } = await jobsOfSchedules(s, selector);
  const eligible = jobs.filter((j) =>
    stmt.action === 'pause' ? ['pending', 'running'].includes(j.status) : stmt.action === 'resume' ? j.status === 'paused' : ['pending', 'running', 'paused'].includes(j.status),
  );
  for (const j of eligible) {
    if (stmt.action === 'pause') await s.jobs.pause(j.id);
    else if (stmt.action === 'resume') await s.jobs.resume(j.id);
    else await s.jobs.cancel(j.id);
  }
  const plural = selector.schedules.kind === 'scheduleId' ? 'SCHEDULE' : 'SCHEDULES';
  return tagOnly(`${stmt.action.toUpperCase()} JOBS FOR ${plural} ${eligible.length}`);
}
