import { CairnError, ErrorCode } from '@cairn/errors';
import { isTerminalJob, JobStatus, JobType, type CairnClient, type Job, type QueryResult } from '@cairn/client';
import { parse } from '@cairn/sql';
import { JobProgress } from '../output/index.js';

/** The job type a statement waits on, for statements that run a job and wait for it. */
export function waitedJobType(sql: string): 'BACKUP' | 'RESTORE' | undefined {
  try {
    const [stmt] = parse(sql);
    if (stmt?.kind === 'backup' && !stmt.options.detached) return 'BACKUP';
    if (stmt?.kind === 'restore' && !stmt.options.detached) return 'RESTORE';
  } catch {
    // The server reports syntax errors.
  }
  return undefined;
}

/** SHOW JOBS' spelling of a status (`pause-requested`), for progress lines. */
export function statusText(status: JobStatus): string {
  return JobStatus[status]?.toLowerCase().replace(/_/g, '-') ?? 'unknown';
}

/** SHOW JOBS' spelling of a job type (`BACKUP EXPIRY`). */
export function jobTypeText(type: JobType): string {
  return JobType[type]?.replace(/_/g, ' ') ?? 'UNKNOWN';
}

const FIND_INTERVAL_MS = 300;

const jobTypeOf = (type: 'BACKUP' | 'RESTORE') => (type === 'BACKUP' ? JobType.BACKUP : JobType.RESTORE);

/** The newest job of `type` now (0 when none or unknown): jobs above it started later. */
async function newestJobId(client: CairnClient, type: 'BACKUP' | 'RESTORE'): Promise<bigint> {
  try {
    return (await client.listJobs({ jobTypes: [jobTypeOf(type)], pageSize: 1 })).jobs[0]?.jobId ?? 0n;
  } catch {
    return 0n;
  }
}

/**
 * The job a waiting BACKUP/RESTORE started: the newest job of its type, newer than the newest
 * before the statement was sent and created since then (ListJobs, page size 1), or undefined
 * once `done` settles first.
 */
async function findStartedJob(
  client: CairnClient,
  type: 'BACKUP' | 'RESTORE',
  after: { jobId: bigint; sinceMs: number },
  done: Promise<unknown>,
): Promise<Job | undefined> {
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    try {
      const [newest] = (await client.listJobs({ jobTypes: [jobTypeOf(type)], pageSize: 1 })).jobs;
      if (newest?.created && newest.jobId > after.jobId && newest.created.getTime() >= after.sinceMs) return newest;
    } catch {
      // Finding the job is best effort while the statement runs; its own answer decides.
    }
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, FIND_INTERVAL_MS))]);
  }
  return undefined;
}

/**
 * Runs a waiting BACKUP/RESTORE and shows its job's progress from WatchJob (a bar on a
 * terminal, plain lines otherwise). The statement's answer is the result; when that answer
 * is lost (the leader died, a deadline passed) while the job runs, the job is followed on
 * the next leader until it ends, and its final state makes the result the statement would
 * have returned: a running job is never given up on.
 */
export async function runWaitedJob(
  client: CairnClient,
  watcher: CairnClient,
  sql: string,
  type: 'BACKUP' | 'RESTORE',
): Promise<QueryResult> {
  // Job creation times come from the leader's clock: allow for a little skew.
  const sinceMs = Date.now() - 2000;
  const before = await newestJobId(watcher, type);
  const pending = client.execute(sql, { startsJob: true });
  const answer = pending.then(
    (r) => ({ ok: true as const, r }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const progress = new JobProgress({ label: type });
  // Set once the bar has something to show; a statement refused before its job shows only its error.
  let finished = true;
  try {
    const job = await findStartedJob(watcher, type, { jobId: before, sinceMs }, pending);
    if (!job) {
      // Refused before its job started (or done at once): only the statement's answer counts.
      const a = await answer;
      if (!a.ok) throw a.err;
      return a.r;
    }
    finished = false;
    const stop = new AbortController();
    let last: Job = job;
    const followed = (async () => {
      for await (const u of watcher.watchJob(job.jobId, { signal: stop.signal })) {
        if (!u.job) continue;
        last = u.job;
        progress.update({
          fraction: u.job.fractionCompleted,
          status: statusText(u.job.status),
          ...(u.job.bytesDone > 0n ? { bytes: Number(u.job.bytesDone) } : {}),
        });
      }
    })();
    const a = await answer;
    if (a.ok) {
      stop.abort();
      await followed.catch(() => undefined);
      progress.update({ fraction: 1, status: 'running' });
      progress.finish('succeeded');
      finished = true;
      return a.r;
    }
    const e = a.err instanceof CairnError ? a.err : undefined;
    if (e?.code !== ErrorCode.Unavailable && e?.code !== ErrorCode.Timeout && e?.code !== ErrorCode.NotLeader) {
      stop.abort();
      await followed.catch(() => undefined);
      throw a.err;
    }
    // The answer was lost, not the job: follow it to its end.
    await followed;
    if (!isTerminalJob(last)) last = await watcher.getJob(job.jobId);
    const outcome = statusText(last.status);
    progress.finish(outcome);
    finished = true;
    if (last.status !== JobStatus.SUCCEEDED) {
      throw new CairnError(ErrorCode.JobFailed, `${type} job ${last.jobId} ${outcome}${last.error ? `: ${last.error}` : ''}`);
    }
    return {
      columns: ['job_id', 'status', 'fraction_completed', 'rows', 'index_entries', 'bytes'],
      rows: [[String(last.jobId), outcome, String(last.fractionCompleted), String(last.rowsDone), '0', String(last.bytesDone)]],
      tag: '',
      database: client.database,
      jobIds: [String(last.jobId)],
    };
  } finally {
    if (!finished) progress.finish('failed');
  }
}
