import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job, JobFilter, JobId } from '@cairn/jobs';
import { assertJobAccess, jobAccess } from '../privileges/privilege-statements.js';
import type { SessionWith } from '../statements/session.js';

/** Listing and controlling jobs as the session's user may. */
type JobControlSession = SessionWith<'jobs' | 'privileges'>;

/**
 * What SHOW JOBS / SHOW JOB / PAUSE|RESUME|CANCEL JOB and JobService's RPCs do, below both:
 * the statement formats rows from these jobs, the RPC proto messages, and neither decides on
 * its own which jobs a user sees or may control (a non-admin: only its own, as CockroachDB).
 */
export type JobAction = 'pause' | 'resume' | 'cancel';

/** Page sizes: ListJobs' default and the most one call returns. */
export const DEFAULT_JOB_PAGE_SIZE = 100;
export const MAX_JOB_PAGE_SIZE = 1000;

/** Every job the session's user may see that matches `filter`, oldest first (SHOW JOBS). */
export async function visibleJobs(s: JobControlSession, filter: JobFilter = {}): Promise<Job[]> {
  const visible = await jobAccess(s);
  return (await s.jobs.list(filter)).filter(visible);
}

/**
 * One page of the jobs the user may see, newest first. `pageToken` is the previous page's
 * `nextPageToken` (the last job id it held): later jobs never shift a listing in progress.
 */
export async function listJobPage(
  s: JobControlSession,
  filter: JobFilter,
  page: { pageSize?: number; pageToken?: string },
): Promise<{ jobs: Job[]; nextPageToken: string }> {
  const pageSize = page.pageSize === undefined || page.pageSize === 0 ? DEFAULT_JOB_PAGE_SIZE : page.pageSize;
  if (pageSize < 0 || pageSize > MAX_JOB_PAGE_SIZE) {
    throw new CairnError(ErrorCode.InvalidArgument, `page_size must be between 1 and ${MAX_JOB_PAGE_SIZE}, got ${pageSize}`);
  }
  const before = page.pageToken ? decodePageToken(page.pageToken) : undefined;
  const accept = await jobAccess(s);
  const { jobs, next } = s.jobs.listPage({ filter, accept, pageSize, ...(before ? { before } : {}) });
  return { jobs, nextPageToken: next === undefined ? '' : encodePageToken(next) };
}

/**
 * The job, or undefined when the user may not see it: as CockroachDB's SHOW JOB (SHOW JOBS
 * filtered by id), someone else's job looks like no job. A missing job is NotFound.
 */
export async function findVisibleJob(s: JobControlSession, id: JobId): Promise<Job | undefined> {
  const job = await s.jobs.get(id);
  return (await jobAccess(s))(job) ? job : undefined;
}

/** GetJob / WatchJob: the visible job or NotFound, the same answer for missing and hidden. */
export async function requireVisibleJob(s: JobControlSession, id: JobId): Promise<Job> {
  const job = await findVisibleJob(s, id);
  if (!job) throw new CairnError(ErrorCode.NotFound, `job with ID ${id} does not exist`);
  return job;
}

/** PAUSE|RESUME|CANCEL JOB id: refused (INSUFFICIENT_PRIVILEGE) for someone else's job. */
export async function controlJob(s: JobControlSession, id: JobId, action: JobAction, reason?: string): Promise<Job> {
  await assertJobAccess(s, await s.jobs.get(id));
  return actOnJob(s, id, action, reason);
}

/** Applies `action` to a job whose access the caller has already checked (a filtered listing). */
export function actOnJob(s: JobControlSession, id: JobId, action: JobAction, reason?: string): Promise<Job> {
  switch (action) {
    case 'pause':
      return s.jobs.pause(id, reason);
    case 'resume':
      return s.jobs.resume(id);
    case 'cancel':
      return s.jobs.cancel(id);
  }
}

/**
 * Page tokens are opaque to clients (base64url of a versioned text), so the listing's
 * continuation can change without changing the API.
 */
function encodePageToken(lastId: JobId): string {
  return Buffer.from(`v1:${lastId}`).toString('base64url');
}

function decodePageToken(token: string): JobId {
  const text = Buffer.from(token, 'base64url').toString();
  const m = /^v1:(\d{1,20})$/.exec(text);
  if (!m) throw new CairnError(ErrorCode.InvalidArgument, 'invalid page_token: pass the next_page_token of a previous ListJobs answer');
  return m[1]!;
}
