import type { JobStatus } from './job-status.js';

/**
 * The kind of work a job does; one resumer is registered per type. `BACKUP`, `RESTORE` and
 * `EXPIRE` are built in; other upper-case names may be registered later (e.g. `COMPACT`).
 */
export type JobType = 'BACKUP' | 'RESTORE' | 'EXPIRE' | (string & {});

/**
 * A job id: a CockroachDB-style INT8 unique id (`unixMs << 15 | counter`) as a decimal
 * string, which survives JSON, gRPC and SQL output unchanged.
 */
export type JobId = string;

/** The immutable part of a job, written once when it is created. */
export interface JobSpec {
  readonly type: JobType;
  /** Shown by SHOW JOBS; the caller has already redacted secrets (URI credentials). */
  readonly description: string;
  /** The statement column of SHOW JOBS; empty when the description says it all. */
  readonly statement: string;
  readonly userName: string;
  readonly createdAtMs: number;
  /** The schedule that started this job (decimal INT8 id), or null. */
  readonly scheduleId: string | null;
  /** Type-specific details (a proto message or JSON, see `encodeJsonPayload`), read only by the resumer. */
  readonly payload: Uint8Array;
}

/** The mutable part of a job reported by its resumer; rewritten often, so kept apart from the spec. */
export interface JobProgress {
  /** 0..1. */
  readonly fractionCompleted: number;
  readonly runningStatus: string | null;
  /** Opaque resumer state: a resumed or adopted job starts from here. */
  readonly checkpoint: Uint8Array | null;
  /** A resumer-defined timestamp up to which work is complete (e.g. an MVCC time), or null. */
  readonly highWater: bigint | null;
  /** Span-based jobs (BACKUP, RESTORE): spans finished of all and bytes so far, typed for WatchJob. */
  readonly spans?: SpanProgress | null;
}

/** What a span-based job has done: its spans (work items) finished and the bytes they wrote. */
export interface SpanProgress {
  readonly done: number;
  readonly total: number;
  readonly bytes: bigint;
  readonly rows: bigint;
}

/**
 * How a revert ends: `failed` after a permanent error, `canceled` after a cancel. Kept while a
 * reverting job is paused, so that resuming it reverts again instead of running.
 */
export type RevertOutcome = 'failed' | 'canceled';

/** A job as stored: its spec, its progress and its status. Values are immutable snapshots. */
export interface Job {
  readonly id: JobId;
  readonly spec: JobSpec;
  readonly progress: JobProgress;
  readonly status: JobStatus;
  /** The final error of a failed job, or the error being reverted. */
  readonly error: string | null;
  readonly revertOutcome: RevertOutcome | null;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
  readonly modifiedAtMs: number;
  /** The coordinator that runs (or last ran) the job. */
  readonly coordinatorId: string | null;
  /** The registry session that claimed the job; null once the job is terminal or paused. */
  readonly claimSessionId: string | null;
  /** Retries since progress last advanced. */
  readonly retryCount: number;
  readonly nextRetryAtMs: number | null;
  readonly lastRetryError: string | null;
  /** Why a user paused the job (PauseJob's reason), kept while it is paused. */
  readonly pauseReason?: string | null;
}

/** What a caller supplies to create a job; ids, times and status are assigned by the registry. */
export interface NewJobSpec {
  /**
   * A caller-chosen id from `JobRegistry.allocateId()`: the scheduler records a run's job id
   * before creating the job, so a new leader can create a lost run's job exactly once. When
   * the id is taken, `create` fails with DuplicateObject instead of taking another.
   */
  readonly id?: JobId;
  readonly type: JobType;
  readonly description: string;
  readonly userName: string;
  readonly statement?: string;
  readonly scheduleId?: string | null;
  readonly payload?: Uint8Array;
}

export const EMPTY_PROGRESS: JobProgress = {
  fractionCompleted: 0,
  runningStatus: null,
  checkpoint: null,
  highWater: null,
};

/** Encodes a JSON payload for `NewJobSpec.payload`. */
export function encodeJsonPayload(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Decodes a payload written by `encodeJsonPayload`. The type parameter is the caller's claim. */
export function decodeJsonPayload<T>(spec: Pick<JobSpec, 'payload'>): T {
  return JSON.parse(new TextDecoder().decode(spec.payload)) as T;
}
