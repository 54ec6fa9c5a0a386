import { redactText } from '@cairn/errors';
import type { Job } from './job.js';

/** The columns of CockroachDB's `SHOW JOBS`, in order. */
export const SHOW_JOBS_COLUMNS = [
  'job_id',
  'job_type',
  'description',
  'statement',
  'user_name',
  'status',
  'running_status',
  'created',
  'started',
  'finished',
  'modified',
  'fraction_completed',
  'error',
  'coordinator_id',
] as const;

export type ShowJobsColumn = (typeof SHOW_JOBS_COLUMNS)[number];

/** One SHOW JOBS row; keys are in column order, null prints as NULL. */
export type ShowJobsRow = { readonly [K in ShowJobsColumn]: string | null };

/**
 * A job as a SHOW JOBS row, formatted the way `cockroach sql` prints it: timestamps as
 * `2024-03-01 10:00:00.123+00:00`, an empty `statement` and `error` rather than NULL, NULL
 * for times and a running status not (yet) set.
 */
export function showJobsRow(job: Job): ShowJobsRow {
  return {
    job_id: job.id,
    job_type: job.spec.type,
    // Redacted when written too; redacted again here so a job written by an older build or a
    // message quoting a URI cannot show a secret (the one redactor, @cairn/errors).
    description: redactText(job.spec.description),
    statement: redactText(job.spec.statement),
    user_name: job.spec.userName,
    status: job.status,
    // A paused job's reason (PauseJob's) says more than what it was doing when paused.
    running_status: nullableRedacted(job.status === 'paused' && job.pauseReason ? job.pauseReason : job.progress.runningStatus),
    created: formatJobTimestamp(job.spec.createdAtMs),
    started: job.startedAtMs === null ? null : formatJobTimestamp(job.startedAtMs),
    finished: job.finishedAtMs === null ? null : formatJobTimestamp(job.finishedAtMs),
    modified: formatJobTimestamp(job.modifiedAtMs),
    fraction_completed: formatFraction(job.progress.fractionCompleted),
    error: redactText(job.error ?? ''),
    coordinator_id: job.coordinatorId,
  };
}

function nullableRedacted(text: string | null): string | null {
  return text === null ? null : redactText(text);
}

/**
 * A TIMESTAMPTZ as CockroachDB prints it in UTC: `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`, the
 * fraction (microseconds) with trailing zeros trimmed and left out when zero, as in
 * `2020-09-15 16:20:48.37873+00:00`.
 */
export function formatJobTimestamp(ms: number, micros = 0): string {
  const d = new Date(Math.floor(ms));
  const p2 = (n: number) => String(n).padStart(2, '0');
  const date = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const usec = d.getUTCMilliseconds() * 1000 + micros;
  const frac = usec === 0 ? '' : `.${String(usec).padStart(6, '0').replace(/0+$/, '')}`;
  return `${date} ${time}${frac}+00:00`;
}

function formatFraction(f: number): string {
  // CockroachDB stores FLOAT4; print the shortest form (0, 0.5, 1) rather than 0.5000000.
  return String(Math.round(f * 1e6) / 1e6);
}
