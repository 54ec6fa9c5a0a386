import { JobSpecRecord, JobStateRecord } from '@cairn/proto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { EMPTY_PROGRESS, type Job, type JobSpec, type RevertOutcome } from './job.js';
import { isJobStatus } from './job-status.js';

/** The part of a job stored under `<id>.state`: everything but the id and the spec. */
export type JobState = Omit<Job, 'id' | 'spec'>;

/** Who created a job: the claim a new job holds until its first state change is stored. */
export interface JobCreator {
  readonly coordinatorId: string | null;
  readonly claimSessionId: string | null;
}

/** `creator` is kept with the spec so that a job stored as its spec alone reads back whole. */
export function encodeSpec(id: string, spec: JobSpec, creator?: JobCreator): Uint8Array {
  return JobSpecRecord.encode({
    jobId: BigInt(id),
    jobType: spec.type,
    description: spec.description,
    statement: spec.statement,
    userName: spec.userName,
    createdAtMs: BigInt(spec.createdAtMs),
    scheduleId: spec.scheduleId === null ? undefined : BigInt(spec.scheduleId),
    payload: spec.payload,
    creatorCoordinatorId: creator?.coordinatorId ?? undefined,
    creatorSessionId: creator?.claimSessionId ?? undefined,
  }).finish();
}

export function decodeSpec(bytes: Uint8Array): { id: string; spec: JobSpec; creator: JobCreator } {
  const r = JobSpecRecord.decode(bytes);
  return {
    id: r.jobId.toString(),
    creator: { coordinatorId: r.creatorCoordinatorId ?? null, claimSessionId: r.creatorSessionId ?? null },
    spec: {
      type: r.jobType,
      description: r.description,
      statement: r.statement,
      userName: r.userName,
      createdAtMs: Number(r.createdAtMs),
      scheduleId: r.scheduleId === undefined ? null : r.scheduleId.toString(),
      payload: plainBytes(r.payload),
    },
  };
}

/**
 * The state of a job that has none stored yet: pending since its creation, claimed by its
 * creator. A new job is stored as its spec alone (one KV create), and this is its state until
 * the first change writes `<id>.state`.
 */
export function initialState(spec: JobSpec, creator: JobCreator): JobState {
  return {
    progress: EMPTY_PROGRESS,
    status: 'pending',
    error: null,
    revertOutcome: null,
    startedAtMs: null,
    finishedAtMs: null,
    modifiedAtMs: spec.createdAtMs,
    coordinatorId: creator.coordinatorId,
    claimSessionId: creator.claimSessionId,
    retryCount: 0,
    nextRetryAtMs: null,
    lastRetryError: null,
  };
}

/** Whether `job`'s state is exactly what `initialState` rebuilds, so storing its spec alone loses nothing. */
export function hasInitialState(job: Job): boolean {
  const p = job.progress;
  return (
    job.status === 'pending' &&
    job.error === null &&
    job.revertOutcome === null &&
    job.startedAtMs === null &&
    job.finishedAtMs === null &&
    job.modifiedAtMs === job.spec.createdAtMs &&
    job.retryCount === 0 &&
    job.nextRetryAtMs === null &&
    job.lastRetryError === null &&
    job.pauseReason === undefined &&
    p.fractionCompleted === 0 &&
    p.runningStatus === null &&
    p.checkpoint === null &&
    p.highWater === null &&
    p.spans === undefined
  );
}

const opt = <T, U>(v: T | null, f: (v: T) => U): U | undefined => (v === null ? undefined : f(v));
const orNull = <T, U>(v: T | undefined, f: (v: T) => U): U | null => (v === undefined ? null : f(v));

export function encodeState(job: JobState): Uint8Array {
  const p = job.progress;
  return JobStateRecord.encode({
    status: job.status,
    error: opt(job.error, String),
    revertOutcome: opt(job.revertOutcome, String),
    startedAtMs: opt(job.startedAtMs, BigInt),
    finishedAtMs: opt(job.finishedAtMs, BigInt),
    modifiedAtMs: BigInt(job.modifiedAtMs),
    coordinatorId: opt(job.coordinatorId, String),
    claimSessionId: opt(job.claimSessionId, String),
    retryCount: job.retryCount,
    nextRetryAtMs: opt(job.nextRetryAtMs, BigInt),
    lastRetryError: opt(job.lastRetryError, String),
    progress: {
      fractionCompleted: p.fractionCompleted,
      runningStatus: opt(p.runningStatus, String),
      checkpoint: p.checkpoint ?? undefined,
      highWater: p.highWater ?? undefined,
      spans: p.spans ?? undefined,
    },
    pauseReason: job.pauseReason ?? undefined,
  }).finish();
}

export function decodeState(id: string, bytes: Uint8Array): JobState {
  const r = JobStateRecord.decode(bytes);
  if (!isJobStatus(r.status)) {
    throw new CairnError(ErrorCode.Corruption, `job ${id} has unknown status "${r.status}"`);
  }
  const p = r.progress;
  return {
    status: r.status,
    error: r.error ?? null,
    revertOutcome: r.revertOutcome === 'failed' || r.revertOutcome === 'canceled' ? (r.revertOutcome as RevertOutcome) : null,
    startedAtMs: orNull(r.startedAtMs, Number),
    finishedAtMs: orNull(r.finishedAtMs, Number),
    modifiedAtMs: Number(r.modifiedAtMs),
    coordinatorId: r.coordinatorId ?? null,
    claimSessionId: r.claimSessionId ?? null,
    retryCount: r.retryCount,
    nextRetryAtMs: orNull(r.nextRetryAtMs, Number),
    lastRetryError: r.lastRetryError ?? null,
    progress: {
      fractionCompleted: p?.fractionCompleted ?? 0,
      runningStatus: p?.runningStatus ?? null,
      checkpoint: p?.checkpoint === undefined ? null : plainBytes(p.checkpoint),
      highWater: p?.highWater ?? null,
      // Optional fields stay absent when not stored, so a job reads back as it was written.
      ...(p?.spans ? { spans: p.spans } : {}),
    },
    ...(r.pauseReason !== undefined ? { pauseReason: r.pauseReason } : {}),
  };
}

/** A plain Uint8Array copy: the decoder may hand out Buffers viewing the whole KV message. */
function plainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
