import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job, JobProgress, SpanProgress } from './job.js';
import { isTerminalStatus, type JobStatus } from './job-status.js';

/** A resumer's progress report: each field given replaces the stored one. */
export interface ProgressUpdate {
  readonly fraction?: number;
  readonly runningStatus?: string | null;
  readonly checkpoint?: Uint8Array | null;
  readonly highWater?: bigint | null;
  readonly spans?: SpanProgress | null;
}

/**
 * Everything that can happen to a job. `request-*` come from users (PAUSE / RESUME / CANCEL
 * JOB); the others are reported by the registry as it drives the job's resumer.
 */
export type JobEvent =
  | { readonly type: 'request-pause'; readonly reason?: string }
  | { readonly type: 'request-resume' }
  | { readonly type: 'request-cancel' }
  /** A registry session took over the job (creation or adoption); the status does not change. */
  | { readonly type: 'adopted'; readonly coordinatorId: string; readonly sessionId: string }
  | { readonly type: 'started' }
  | ({ readonly type: 'progressed' } & ProgressUpdate)
  /** The resumer finished; `progress`: what it reported last and was not yet written. */
  | { readonly type: 'succeeded'; readonly progress?: ProgressUpdate }
  /** The resumer failed permanently: revert. */
  | { readonly type: 'failed'; readonly error: string }
  /** The resumer (or the revert) failed with a retryable error: run it again at `nextRetryAtMs`. */
  | { readonly type: 'retry'; readonly error: string; readonly nextRetryAtMs: number }
  | { readonly type: 'paused' }
  /** The canceled job's resumer has stopped: revert. */
  | { readonly type: 'cancel-started' }
  /** `onFailOrCancel` finished: the job ends failed or canceled. */
  | { readonly type: 'reverted' }
  | { readonly type: 'revert-failed'; readonly error: string };

export type JobEventType = JobEvent['type'];

function refuse(status: JobStatus, what: 'paused' | 'resumed' | 'canceled'): CairnError {
  return new CairnError(ErrorCode.FailedPrecondition, `job with status ${status} cannot be requested to be ${what}`);
}

function illegal(job: Job, event: JobEventType): CairnError {
  return new CairnError(
    ErrorCode.FailedPrecondition,
    `job ${job.id} with status ${job.status} cannot apply event ${event}`,
  );
}

/**
 * The job state machine: the one place that decides which status follows which. Returns the
 * job after `event` at time `nowMs`, or the same object when the event is a no-op (pausing a
 * paused job, canceling a cancel-requested one). Throws a FailedPrecondition CairnError for an
 * illegal event, with CockroachDB's wording for user requests
 * (`job with status succeeded cannot be requested to be paused`).
 *
 * - PAUSE: pending / running / reverting → pause-requested → paused; a no-op when paused or
 *   pause-requested.
 * - RESUME: only from paused, back to running (or to reverting if it was paused while reverting).
 * - CANCEL: pending / running / paused → cancel-requested → reverting → canceled; a no-op when
 *   cancel-requested.
 * - A permanent failure: running → reverting → failed (revert-failed if the revert fails).
 */
export function transition(job: Job, event: JobEvent, nowMs: number): Job {
  const s = job.status;
  const at = (patch: Partial<Job>): Job => ({ ...job, ...patch, modifiedAtMs: nowMs });
  // Pause-requested while running vs while reverting: the revert outcome tells them apart.
  const runningPhase = s === 'running' || (s === 'pause-requested' && job.revertOutcome === null);
  const revertingPhase = s === 'reverting' || (s === 'pause-requested' && job.revertOutcome !== null);
  const finish = (status: JobStatus, patch: Partial<Job> = {}): Job =>
    at({ status, finishedAtMs: nowMs, claimSessionId: null, nextRetryAtMs: null, ...patch });

  switch (event.type) {
    case 'request-pause':
      if (s === 'paused' || s === 'pause-requested') return job;
      if (s === 'pending' || s === 'running' || s === 'reverting') {
        return at({ status: 'pause-requested', pauseReason: event.reason ? event.reason : null });
      }
      throw refuse(s, 'paused');

    case 'request-resume':
      if (s !== 'paused') throw refuse(s, 'resumed');
      return at({ status: job.revertOutcome === null ? 'running' : 'reverting', nextRetryAtMs: null, pauseReason: null });

    case 'request-cancel':
      if (s === 'cancel-requested') return job;
      if (s === 'paused' && job.revertOutcome !== null) {
        // CockroachDB refuses too: the job already failed and must finish reverting, not cancel.
        throw new CairnError(
          ErrorCode.FailedPrecondition,
          `job ${job.id} is paused while reverting and cannot be requested to be canceled; resume it to finish reverting`,
        );
      }
      if (s === 'pending' || s === 'running' || s === 'paused') return at({ status: 'cancel-requested' });
      throw refuse(s, 'canceled');

    case 'adopted':
      if (isTerminalStatus(s)) throw illegal(job, event.type);
      return at({ coordinatorId: event.coordinatorId, claimSessionId: event.sessionId });

    case 'started':
      if (s !== 'pending') throw illegal(job, event.type);
      return at({ status: 'running', startedAtMs: job.startedAtMs ?? nowMs });

    case 'progressed': {
      if (s !== 'running' && s !== 'pause-requested' && s !== 'reverting') throw illegal(job, event.type);
      const progress = mergeProgress(job.progress, event);
      return at({ progress, retryCount: advanced(job.progress, progress) ? 0 : job.retryCount });
    }

    case 'succeeded':
      // A resumer that finished just as a pause was requested has still finished.
      if (!runningPhase) throw illegal(job, event.type);
      return finish('succeeded', {
        progress: { ...(event.progress ? mergeProgress(job.progress, event.progress) : job.progress), fractionCompleted: 1 },
        lastRetryError: null,
      });

    case 'failed':
      if (!runningPhase) throw illegal(job, event.type);
      return at({
        status: 'reverting',
        revertOutcome: 'failed',
        error: event.error,
        retryCount: 0,
        nextRetryAtMs: null,
      });

    case 'retry':
      if (s !== 'running' && s !== 'reverting') throw illegal(job, event.type);
      return at({
        retryCount: job.retryCount + 1,
        nextRetryAtMs: event.nextRetryAtMs,
        lastRetryError: event.error,
      });

    case 'paused':
      if (s !== 'pause-requested') throw illegal(job, event.type);
      return at({ status: 'paused', claimSessionId: null });

    case 'cancel-started':
      if (s !== 'cancel-requested') throw illegal(job, event.type);
      return at({ status: 'reverting', revertOutcome: 'canceled', retryCount: 0, nextRetryAtMs: null });

    case 'reverted':
      if (!revertingPhase) throw illegal(job, event.type);
      return finish(job.revertOutcome ?? 'failed', { revertOutcome: null });

    case 'revert-failed':
      if (!revertingPhase) throw illegal(job, event.type);
      return finish('revert-failed', {
        revertOutcome: null,
        error: job.error === null ? `revert failed: ${event.error}` : `${job.error}; revert failed: ${event.error}`,
      });
  }
}

function mergeProgress(p: JobProgress, e: ProgressUpdate): JobProgress {
  const fraction = e.fraction === undefined ? p.fractionCompleted : Math.min(1, Math.max(0, e.fraction));
  return {
    fractionCompleted: fraction,
    runningStatus: e.runningStatus === undefined ? p.runningStatus : e.runningStatus,
    checkpoint: e.checkpoint === undefined ? p.checkpoint : e.checkpoint,
    highWater: e.highWater === undefined ? p.highWater : e.highWater,
    spans: e.spans === undefined ? (p.spans ?? null) : e.spans,
  };
}

/** Progress advanced: CockroachDB resets the retry counter then, so a slow but moving job is never given up on. */
function advanced(before: JobProgress, after: JobProgress): boolean {
  if (after.fractionCompleted > before.fractionCompleted) return true;
  if (after.highWater !== null && (before.highWater === null || after.highWater > before.highWater)) return true;
  return after.checkpoint !== null && !bytesEqual(before.checkpoint, after.checkpoint);
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
