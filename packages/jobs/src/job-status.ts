/**
 * A job's status, as `SHOW JOBS` prints it (CockroachDB's job states):
 *
 * - `pending`: created, its resumer has not started yet.
 * - `running`: the resumer is working (or waiting out a retry backoff).
 * - `paused`: stopped on request; keeps its progress and checkpoint until resumed.
 * - `pause-requested`: a pause was asked for; the resumer is being stopped.
 * - `cancel-requested`: a cancel was asked for; the resumer is being stopped before reverting.
 * - `reverting`: undoing partial work (`onFailOrCancel`) after a failure or a cancel.
 * - `succeeded`: finished its work (terminal).
 * - `failed`: failed with a permanent error and reverted cleanly (terminal).
 * - `canceled`: canceled and reverted cleanly (terminal).
 * - `revert-failed`: reverting itself failed with a permanent error; needs an operator (terminal).
 */
export type JobStatus =
  | 'pending'
  | 'running'
  | 'paused'
  | 'pause-requested'
  | 'cancel-requested'
  | 'reverting'
  | 'succeeded'
  | 'failed'
  | 'canceled'
  | 'revert-failed';

/** Every status, in the order listed above. */
export const JOB_STATUSES: readonly JobStatus[] = [
  'pending',
  'running',
  'paused',
  'pause-requested',
  'cancel-requested',
  'reverting',
  'succeeded',
  'failed',
  'canceled',
  'revert-failed',
];

/** Statuses a job never leaves; such jobs are purged after the retention period. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'revert-failed'];

/** Statuses the leader's registry adopts and drives to completion (everything but paused and terminal). */
export const ADOPTABLE_STATUSES: readonly JobStatus[] = [
  'pending',
  'running',
  'pause-requested',
  'cancel-requested',
  'reverting',
];

export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isJobStatus(s: string): s is JobStatus {
  return (JOB_STATUSES as readonly string[]).includes(s);
}
