import { JobSpecRecord, JobStateRecord } from '@cairn/proto';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job, JobSpec, RevertOutcome } from './job.js';
import { isJobStatus } from './job-status.js';

/** The part of a job stored under `<id>.state`: everything but the id and the spec. */
export type JobState = Omit<Job, 'id' | 'spec'>;

export function encodeSpec(id: string, spec: JobSpec): Uint8Array {
  return JobSpecRecord.encode({
    jobId: BigInt(id),
    jobType: spec.type,
    description: spec.description,
    statement: spec.statement,
    userName: spec.userName,
    createdAtMs: BigInt(spec.createdAtMs),
    scheduleId: spec.scheduleId === null ? undefined : BigInt(spec.scheduleId),
    payload: spec.payload,
  }).finish();
}

export function decodeSpec(bytes: Uint8Array): { id: string; spec: JobSpec } {
  const r = JobSpecRecord.decode(bytes);
  return {
    id: r.jobId.toString(),
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
