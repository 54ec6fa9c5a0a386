import { CairnError, ErrorCode } from '@cairn/errors';
import { SHOW_JOBS_COLUMNS, showJobsRow, type Job } from '@cairn/jobs';
import type { ControlJobsStatement, JobQuery, Predicate, ShowJobStatement, ShowJobsStatement } from '@cairn/sql';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';
import { controlJobsForSchedules, showJobsForSchedules } from './schedule-statements.js';
import { actOnJob, controlJob, findVisibleJob, visibleJobs } from '../jobs/job-control.js';

/** SHOW/PAUSE/RESUME/CANCEL JOB reach the job registry, as the user may. */
type JobSession = SessionWith<'jobs' | 'privileges' | 'schedules'>;

function toRows(jobs: Job[]): (string | null)[][] {
  return jobs.map((j) => {
    const row = showJobsRow(j);
    return SHOW_JOBS_COLUMNS.map((c) => row[c]);
  });
}

/** Keeps jobs matching every predicate on job_id, job_type or status (= and IN). */
function matches(job: Job, where: readonly Predicate[]): boolean {
  return where.every((p) => {
    const field = p.column === 'job_id' ? job.id : p.column === 'job_type' ? job.spec.type : p.column === 'status' ? job.status : undefined;
    if (field === undefined) throw new CairnError(ErrorCode.InvalidArgument, `cannot filter jobs on "${p.column}"`, { position: p.pos });
    const values = (p.kind === 'in' ? p.values : [p.value]).map((v) => (v.kind === 'null' ? '' : String(v.value)));
    if (p.kind === 'compare' && p.op !== '=' && p.op !== '!=') {
      throw new CairnError(ErrorCode.InvalidArgument, `jobs can be filtered with = , != and IN only`, { position: p.pos });
    }
    const hit = values.some((v) => v.toLowerCase() === field.toLowerCase());
    return p.kind === 'compare' && p.op === '!=' ? !hit : hit;
  });
}

/** The jobs the session's user may see (a non-admin: their own) that match `query`. */
async function selectJobs(s: JobSession, query: JobQuery | undefined): Promise<Job[]> {
  const all = await visibleJobs(s);
  return query ? all.filter((j) => matches(j, query.where)) : all;
}

export async function showJobs(s: JobSession, stmt: ShowJobsStatement): Promise<StatementResult> {
  if (stmt.filter?.kind === 'forSchedules') return showJobsForSchedules(s, stmt.filter);
  return rowsResult([...SHOW_JOBS_COLUMNS], toRows(await selectJobs(s, stmt.filter)));
}

export async function showJob(s: JobSession, stmt: ShowJobStatement): Promise<StatementResult> {
  // As CockroachDB's SHOW JOB (SHOW JOBS filtered by id): someone else's job shows no row.
  let job = await findVisibleJob(s, stmt.id);
  if (!job) return rowsResult([...SHOW_JOBS_COLUMNS], []);
  if (stmt.whenComplete) job = await s.jobs.waitForTerminal(stmt.id);
  return rowsResult([...SHOW_JOBS_COLUMNS], toRows([job]));
}

export async function controlJobs(s: JobSession, stmt: ControlJobsStatement): Promise<StatementResult> {
  const verb = stmt.action.toUpperCase();
  switch (stmt.jobs.kind) {
    case 'jobId':
      await controlJob(s, stmt.jobs.id, stmt.action);
      return tagOnly(`${verb} JOB`);
    case 'jobQuery': {
      const jobs = await selectJobs(s, stmt.jobs);
      for (const j of jobs) await actOnJob(s, j.id, stmt.action);
      return tagOnly(`${verb} JOBS ${jobs.length}`);
    }
    case 'forSchedules':
      return controlJobsForSchedules(s, stmt, stmt.jobs);
  }
}

