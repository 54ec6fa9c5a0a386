import type { KV, NatsConnection } from 'nats';
import { JsApiCode, createKvEntries, ensureKv, followStream, isJsApiError, stateReplicas } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job, JobId, JobSpec, JobType } from './job.js';
import { decodeSpec, decodeState, encodeSpec, encodeState, hasInitialState, initialState, type JobState } from './job-codec.js';
import { isTerminalStatus, type JobStatus } from './job-status.js';

/** The KV bucket holding every job. */
export const JOBS_BUCKET = 'cairn_jobs';

/** How long terminal jobs are kept before a sweep purges them (CockroachDB: 14 days). */
export const DEFAULT_JOB_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;

export interface JobStoreOptions {
  /** Bucket replicas: 1 on a single nats-server, 3 on a NATS cluster. */
  replicas?: number;
  bucket?: string;
}

/**
 * A job with the KV revision of its `<id>.state` key, which the single writer updates against;
 * 0 while the job is stored as its spec alone (the first state write then creates the key).
 */
export interface StoredJob {
  readonly job: Job;
  readonly revision: number;
}

/** Which jobs `list` returns; every field given must match. */
export interface JobFilter {
  readonly types?: readonly JobType[];
  readonly statuses?: readonly JobStatus[];
  readonly scheduleId?: string;
  readonly userName?: string;
  /** Only jobs created at or after this time. */
  readonly createdSinceMs?: number;
  /** The newest `limit` matches (still returned oldest first). */
  readonly limit?: number;
}

const specKey = (id: JobId) => `${id}.spec`;
const stateKey = (id: JobId) => `${id}.state`;

/**
 * Jobs in a NATS KV bucket, two keys per job: `<id>.spec` written once with `kv.create()` and
 * `<id>.state` (status + progress) rewritten on every change, so frequent progress writes never
 * rewrite the spec. A new job is stored as its spec alone (with its creator's claim): its state
 * is "pending, claimed by its creator" until the first change creates `<id>.state`, so creating
 * a job costs one KV create, not two (a burst of 10,000 due schedules is bounded by them).
 * Written only by the coordinator leader's registry (a single writer, see TOOLCHAIN.md); state
 * updates still name the revision they replace (0: the key must not exist yet), so a deposed
 * leader's late write fails instead of overwriting its successor's.
 */
export class JobStore {
  constructor(
    readonly kv: KV,
    /** The connection and bucket name `readAll` pages the bucket's stream through. */
    private readonly nc: NatsConnection,
    private readonly bucket: string,
  ) {}

  /** Opens the jobs bucket, creating it when missing. */
  static async open(nc: NatsConnection, options: JobStoreOptions = {}): Promise<JobStore> {
    const bucket = options.bucket ?? JOBS_BUCKET;
    const kv = await ensureKv(nc, bucket, { replicas: options.replicas ?? (await stateReplicas(nc)) });
    return new JobStore(kv, nc, bucket);
  }

  /**
   * Stores a new job: its spec alone when its state is the initial one (a pending job that
   * nothing has happened to), else its spec then its state. Throws a DuplicateObject
   * CairnError when the id is taken, so the caller can take another id.
   */
  async create(job: Job): Promise<StoredJob> {
    try {
      await this.kv.create(specKey(job.id), encodeSpec(job.id, job.spec, job));
    } catch (err) {
      throw createError(job.id, err);
    }
    if (hasInitialState(job)) return { job, revision: 0 };
    try {
      const revision = await this.kv.create(stateKey(job.id), encodeState(job));
      return { job, revision };
    } catch (err) {
      throw unavailable(`cannot create job ${job.id}`, err);
    }
  }

  /**
   * Stores new jobs, up to `window` of them in flight at once. Each result is the stored job
   * or the error `create` would have thrown; `onStored` is called as each one is stored. Jobs
   * stored as their spec alone (all of a batch of new jobs) go out as pipelined creates
   * (`createKvEntries`): a burst of 10,000 scheduled runs is bound by this process's CPU,
   * and a pipelined create costs a sixth of a `kv.create`'s.
   */
  async createMany(jobs: readonly Job[], options: { window?: number; onStored?: (stored: StoredJob) => void } = {}): Promise<Array<StoredJob | Error>> {
    const { window = CREATE_WINDOW, onStored } = options;
    const results: Array<StoredJob | Error> = new Array(jobs.length);
    const whole: number[] = [];
    const specs: number[] = [];
    jobs.forEach((job, i) => (hasInitialState(job) ? specs : whole).push(i));
    const spec = (k: number) => jobs[specs[k]!]!;
    const created = await createKvEntries(this.nc, this.bucket, this.kv, specs.length, (k) => ({ key: specKey(spec(k).id), value: encodeSpec(spec(k).id, spec(k).spec, spec(k)) }), {
      window,
      onCreated: (k) => {
        const stored = { job: spec(k), revision: 0 };
        results[specs[k]!] = stored;
        onStored?.(stored);
      },
    });
    created.forEach((r, k) => {
      if (typeof r !== 'number') results[specs[k]!] = createError(jobs[specs[k]!]!.id, r);
    });
    for (const i of whole) {
      try {
        const stored = await this.create(jobs[i]!);
        results[i] = stored;
        onStored?.(stored);
      } catch (err) {
        results[i] = err instanceof Error ? err : new Error(String(err));
      }
    }
    return results;
  }

  async get(id: JobId): Promise<Job | undefined> {
    return (await this.getWithRevision(id))?.job;
  }

  async getWithRevision(id: JobId): Promise<StoredJob | undefined> {
    try {
      const [spec, state] = await Promise.all([this.kv.get(specKey(id)), this.kv.get(stateKey(id))]);
      if (!spec || spec.operation !== 'PUT') return undefined;
      // A purged state with its spec still there is a sweep half done: the job is gone.
      if (state && state.operation !== 'PUT') return undefined;
      return withState(id, spec.value, state ?? undefined);
    } catch (err) {
      throw unavailable(`cannot read job ${id}`, err);
    }
  }

  /**
   * Replaces a job's state (status and progress; the spec is never rewritten). `revision` is
   * the state revision the caller last saw (0: none stored yet, the job is as created); a
   * mismatch means another coordinator wrote the job and fails with a retryable NotLeader
   * CairnError. Returns the new revision.
   */
  async updateState(job: Job, revision: number): Promise<number> {
    try {
      if (revision === 0) return await this.kv.create(stateKey(job.id), encodeState(job));
      return await this.kv.update(stateKey(job.id), encodeState(job), revision);
    } catch (err) {
      if (isExistsError(err)) {
        throw new CairnError(ErrorCode.NotLeader, `job ${job.id} was changed by another coordinator`, {
          cause: err,
          retryable: true,
        });
      }
      throw unavailable(`cannot update job ${job.id}`, err);
    }
  }

  /** Jobs matching `filter`, oldest first (ids grow with creation time). */
  async list(filter: JobFilter = {}): Promise<Job[]> {
    const all = (await this.listWithRevisions()).map((s) => s.job).filter((j) => matches(j, filter));
    return filter.limit === undefined ? all : all.slice(Math.max(0, all.length - filter.limit));
  }

  /**
   * Every job with its state revision, oldest first. Decoding yields to the event loop every
   * few thousand jobs: a new leader loads them all while it must keep renewing its lease.
   */
  async listWithRevisions(): Promise<StoredJob[]> {
    const entries = await this.readAll();
    const out: StoredJob[] = [];
    let decoded = 0;
    for (const [key, e] of entries) {
      if (++decoded % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      if (!key.endsWith('.spec')) continue;
      const id = key.slice(0, -'.spec'.length);
      out.push(withState(id, e.value, entries.get(stateKey(id))));
    }
    return out.sort((a, b) => compareIds(a.job.id, b.job.id));
  }

  /**
   * Purges terminal jobs that finished more than `retentionMs` before `nowMs`. A job stored
   * as its spec alone is pending, never expired. Returns the purged ids.
   */
  async sweep(nowMs: number, retentionMs: number = DEFAULT_JOB_RETENTION_MS): Promise<JobId[]> {
    const cutoff = nowMs - retentionMs;
    const entries = await this.readAll();
    const purged: JobId[] = [];
    for (const [key, e] of entries) {
      if (!key.endsWith('.state')) continue;
      const id = key.slice(0, -'.state'.length);
      // A state left by a sweep that purged the spec and stopped there: finish it.
      const orphan = !entries.has(specKey(id));
      if (!orphan) {
        const state = decodeState(id, e.value);
        if (!isTerminalStatus(state.status) || (state.finishedAtMs ?? state.modifiedAtMs) >= cutoff) continue;
      }
      try {
        // The spec first: a spec left alone would read as a new pending job.
        if (!orphan) await this.kv.purge(specKey(id));
        await this.kv.purge(stateKey(id));
      } catch (err) {
        throw unavailable(`cannot purge job ${id}`, err);
      }
      purged.push(id);
    }
    return purged;
  }

  /**
   * Resolves with the job once it is terminal, following its state key with a KV watch (so it
   * works from any process, across leader changes). Rejects with NotFound if the job does not
   * exist or is purged, with Canceled when `signal` aborts.
   */
  async waitForTerminal(id: JobId, options: { signal?: AbortSignal } = {}): Promise<Job> {
    const { signal } = options;
    signal?.throwIfAborted();
    const specEntry = await this.kv.get(specKey(id));
    if (!specEntry || specEntry.operation !== 'PUT') throw notFound(id);
    const spec = decodeSpec(specEntry.value).spec;
    const watch = await this.kv.watch({ key: stateKey(id) });
    const onAbort = () => watch.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const e of watch) {
        if (e.operation !== 'PUT') throw notFound(id);
        const state = decodeState(id, e.value);
        if (isTerminalStatus(state.status)) return assemble(id, spec, state);
      }
      if (signal?.aborted) {
        throw new CairnError(ErrorCode.Canceled, `stopped waiting for job ${id}`, { cause: signal.reason });
      }
      throw new CairnError(ErrorCode.Unavailable, `lost the watch on job ${id}`, { retryable: true });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      watch.stop();
    }
  }

  /**
   * The job as stored now, then each state change, until one is terminal (yielded last).
   * Follows the state key with a KV watch, so it works from any process and across leader
   * changes. Throws NotFound if the job does not exist or is purged; ends quietly when
   * `signal` aborts.
   */
  async *watch(id: JobId, options: { signal?: AbortSignal } = {}): AsyncGenerator<Job> {
    const { signal } = options;
    if (signal?.aborted) return;
    let specEntry;
    try {
      specEntry = await this.kv.get(specKey(id));
    } catch (err) {
      throw unavailable(`cannot read job ${id}`, err);
    }
    if (!specEntry || specEntry.operation !== 'PUT') throw notFound(id);
    const { spec, creator } = decodeSpec(specEntry.value);
    const watch = await this.kv.watch({ key: stateKey(id) });
    const onAbort = () => watch.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // The watch says nothing about a state key not written yet: the job is then as created.
      if (!(await this.hasState(id))) yield assemble(id, spec, initialState(spec, creator));
      for await (const e of watch) {
        if (e.operation !== 'PUT') throw notFound(id);
        const job = assemble(id, spec, decodeState(id, e.value));
        yield job;
        if (isTerminalStatus(job.status)) return;
      }
      if (signal?.aborted) return;
      throw new CairnError(ErrorCode.Unavailable, `lost the watch on job ${id}`, { retryable: true });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      watch.stop();
    }
  }

  private async hasState(id: JobId): Promise<boolean> {
    try {
      const e = await this.kv.get(stateKey(id));
      return e !== null && e.operation === 'PUT';
    } catch (err) {
      throw unavailable(`cannot read job ${id}`, err);
    }
  }

  /**
   * Every live key with its value and revision, as of the stream's last message when the
   * read starts. Read with a pull consumer a few hundred messages at a time, not a KV watch:
   * a watch has the server push the whole bucket (two messages per job, 200,000 for 100,000
   * jobs) into this connection at once, and on a loaded machine the leader's lease renewals
   * and log appends on the same connection then waited behind it past their timeouts; the
   * leader gave up, the next one reloaded, and so on. With at most a batch in flight, a
   * reply waits behind a few hundred messages at most.
   */
  private async readAll(): Promise<Map<string, { value: Uint8Array; revision: number }>> {
    const out = new Map<string, { value: Uint8Array; revision: number }>();
    const stream = `KV_${this.bucket}`;
    const prefix = `$KV.${this.bucket}.`;
    try {
      const jsm = await this.nc.jetstreamManager();
      const { state } = await jsm.streams.info(stream);
      if (state.messages === 0) return out;
      const last = state.last_seq;
      for await (const m of followStream(this.nc, this.nc.jetstream(), stream, { fromSeq: state.first_seq, maxMessages: READ_BATCH })) {
        const key = m.subject.slice(prefix.length);
        const op = m.headers?.get('KV-Operation');
        if (op === 'DEL' || op === 'PURGE') out.delete(key);
        else out.set(key, { value: m.data, revision: m.seq });
        // The end as of the start (pending 0 also covers a last message purged meanwhile).
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } catch (err) {
      throw unavailable('cannot list jobs', err);
    }
    return out;
  }
}

function assemble(id: JobId, spec: JobSpec, state: JobState): Job {
  return { id, spec, ...state };
}

/** A job from its spec's bytes and its state entry, or its initial state when none is stored (revision 0). */
function withState(id: JobId, specBytes: Uint8Array, state: { value: Uint8Array; revision: number } | undefined): StoredJob {
  const { spec, creator } = decodeSpec(specBytes);
  if (!state) return { job: assemble(id, spec, initialState(spec, creator)), revision: 0 };
  return { job: assemble(id, spec, decodeState(id, state.value)), revision: state.revision };
}

function matches(j: Job, f: JobFilter): boolean {
  return (
    (f.types === undefined || f.types.includes(j.spec.type)) &&
    (f.statuses === undefined || f.statuses.includes(j.status)) &&
    (f.scheduleId === undefined || j.spec.scheduleId === f.scheduleId) &&
    (f.userName === undefined || j.spec.userName === f.userName) &&
    (f.createdSinceMs === undefined || j.spec.createdAtMs >= f.createdSinceMs)
  );
}

/** Numeric order of decimal ids without BigInt: a shorter id is smaller. */
function compareIds(a: JobId, b: JobId): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Jobs `createMany` has in flight at once: enough to keep NATS busy, few enough to bound memory. */
const CREATE_WINDOW = 1024;

/** Messages a full read of the bucket has in flight at once (see `readAll`). */
const READ_BATCH = 256;

/** Entries decoded between yields to the event loop when loading every job. */
const YIELD_EVERY = 2000;

/** JetStream's "wrong last sequence": the key exists / moved on. */
function isExistsError(err: unknown): boolean {
  return isJsApiError(err, JsApiCode.WrongLastSequence);
}

/** What a failed create of job `id`'s spec means: the id is taken, or NATS did not answer. */
function createError(id: JobId, err: unknown): CairnError {
  if (isExistsError(err)) return new CairnError(ErrorCode.DuplicateObject, `job ${id} already exists`, { cause: err });
  return unavailable(`cannot create job ${id}`, err);
}

function unavailable(what: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new CairnError(ErrorCode.Unavailable, `${what}: ${reason}`, { cause: err, retryable: true });
}

function notFound(id: JobId): CairnError {
  return new CairnError(ErrorCode.NotFound, `job with ID ${id} does not exist`);
}
