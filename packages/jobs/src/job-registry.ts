import { randomUUID } from 'node:crypto';
import { CairnError, ErrorCode, isRetryable, redactText } from '@cairn/errors';
import type { Job, JobId, JobSpec, JobType, NewJobSpec, SpanProgress } from './job.js';
import { initialState } from './job-codec.js';
import { JobIdGenerator } from './job-id.js';
import { ADOPTABLE_STATUSES, isTerminalStatus, type JobStatus } from './job-status.js';
import { DEFAULT_JOB_RETENTION_MS, type JobFilter, type JobStore, type StoredJob } from './job-store.js';
import { DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS, retryDelayMs } from './retry-backoff.js';
import { transition, type JobEvent, type ProgressUpdate } from './state-machine.js';

/** What a resumer sees of its job while it runs. */
export interface JobContext {
  /** The job as last written (progress included). */
  readonly job: Job;
  /**
   * Aborted when the job is paused or canceled, or when this coordinator loses leadership.
   * The resumer should stop soon after; its state is then decided by the registry.
   */
  readonly signal: AbortSignal;
  /** The latest checkpoint (persisted or just set), null on a fresh start. */
  readonly checkpoint: Uint8Array | null;
  /**
   * Reports progress. A checkpoint (or high-water) is persisted before the promise resolves;
   * fraction / running-status-only updates are throttled and written at most once per
   * `progressIntervalMs`. Rejects once the job can no longer record progress (it was canceled
   * or this coordinator lost leadership).
   */
  setProgress(fraction: number, runningStatus?: string | null, checkpoint?: Uint8Array, highWater?: bigint): Promise<void>;
  /**
   * Records a span-based job's typed counts (spans finished of all, bytes so far), written
   * with the next progress update (WatchJob and progress bars read them).
   */
  setSpanProgress(spans: SpanProgress): void;
  /** Writes progress held back by throttling. */
  flushProgress(): Promise<void>;
}

/**
 * The code that does one type of job's work; one factory per job type. `resume` runs the job
 * (again from its checkpoint after a pause, retry or adoption, so it must be idempotent);
 * `onFailOrCancel` undoes partial work after a permanent failure or a cancel. A retryable
 * CairnError from either is retried with backoff; any other error is permanent.
 */
export interface Resumer {
  resume(ctx: JobContext): Promise<void>;
  onFailOrCancel(ctx: JobContext): Promise<void>;
  /**
   * Cleanup that need not hold up the job's answer (a work queue's removal, a protected
   * timestamp's release): run once `succeeded` is stored, so the statement waiting on the job
   * is answered first. Best effort: a failure is logged, and a coordinator that dies before
   * it runs leaves the cleanup to sweeps at the next leader's start; it must be idempotent and
   * must not be needed for the job's outcome to be read correctly.
   */
  afterSuccess?(): Promise<void>;
}

export type ResumerFactory = (job: Job) => Resumer;

/**
 * Counter events for metrics, named like CockroachDB's `jobs.<type>.<event>`; the coordinator
 * maps them to Prometheus names such as `jobs_backup_resume_completed`.
 */
export type JobMetricEvent =
  | 'resume_completed'
  | 'resume_failed'
  | 'resume_retry_error'
  | 'fail_or_cancel_completed'
  | 'fail_or_cancel_failed'
  | 'fail_or_cancel_retry_error';

/** Gauges per job type (CockroachDB's `jobs.<type>.currently_running` / `currently_paused`). */
export interface JobTypeCounts {
  /** Resumers (or reverts) executing on this registry now. */
  readonly running: number;
  /** Paused jobs. */
  readonly paused: number;
}

/** Structured logging, a subset of pino's `Logger` so one can be passed as is. */
export interface JobLogger {
  debug(meta: object, msg: string): void;
  info(meta: object, msg: string): void;
  warn(meta: object, msg: string): void;
  error(meta: object, msg: string): void;
}

/** Testing knobs, injected per registry (never global). */
export interface JobRegistryKnobs {
  /** Called after every persisted change, with the event that caused it. */
  afterTransition?: (before: Job, after: Job, event: JobEvent) => void;
  /** Called before each `resume` / `onFailOrCancel` run. */
  beforeRun?: (job: Job, phase: 'resume' | 'revert') => void | Promise<void>;
}

export interface JobRegistryOptions {
  readonly store: JobStore;
  /** This coordinator's id, recorded as the job's coordinator_id. */
  readonly coordinatorId: string;
  /** Milliseconds since the epoch; every persisted time comes from here. Default `Date.now`. */
  readonly clock?: () => number;
  readonly logger?: JobLogger;
  readonly onEvent?: (kind: JobMetricEvent, job: Job) => void;
  /** First retry delay (default 30 s), doubling per retry up to `maxBackoffMs` (default 24 h). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Minimum spacing of throttled progress writes (default 5 s). */
  readonly progressIntervalMs?: number;
  /** How long terminal jobs are kept (default 14 days). */
  readonly retentionMs?: number;
  /** How often the leader sweeps expired jobs (default 1 h; 0 disables the timer). */
  readonly sweepIntervalMs?: number;
  /** How long `stop()` waits for aborted resumers to return (default 10 s). */
  readonly stopGraceMs?: number;
  readonly knobs?: JobRegistryKnobs;
}

interface Entry {
  job: Job;
  revision: number;
}

/** One drive loop for one job on this registry. */
interface Run {
  readonly session: string;
  /** Aborts whatever the loop is doing now (a resumer, a revert, a backoff wait). */
  controller: AbortController;
  /** The resumer or revert being executed, for the running gauge. */
  phase: 'resume' | 'revert' | null;
  /** Set when the job was resumed while this loop was still winding down after a pause. */
  relaunch: boolean;
  done: Promise<void>;
}

const NOOP_LOGGER: JobLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The job registry the coordinator leader runs: it creates jobs, drives each through the
 * state machine by calling its type's resumer, and applies PAUSE / RESUME / CANCEL.
 *
 * `start()` (on becoming leader) adopts every non-terminal, non-paused job, so jobs whose
 * coordinator died resume from their checkpoints; `stop()` (on losing leadership) aborts
 * running resumers without touching their state, for the next leader to adopt. Being the only
 * writer of job state (TOOLCHAIN.md), it serializes the updates of each job in process.
 */
export class JobRegistry {
  private readonly store: JobStore;
  private readonly coordinatorId: string;
  private readonly now: () => number;
  private readonly log: JobLogger;
  private readonly opts: Required<
    Pick<JobRegistryOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'progressIntervalMs' | 'retentionMs' | 'sweepIntervalMs' | 'stopGraceMs'>
  >;
  private readonly onEvent: JobRegistryOptions['onEvent'];
  private readonly knobs: JobRegistryKnobs;
  private readonly ids: JobIdGenerator;
  private readonly resumers = new Map<JobType, ResumerFactory>();
  private readonly entries = new Map<JobId, Entry>();
  /**
   * The ids of `entries`, oldest first: the leader's index for paginated listings, so a page
   * of ListJobs costs the page, not a read of the whole jobs bucket.
   */
  private readonly order = new JobOrder();
  private readonly terminalListeners = new Set<(job: Job) => void>();
  private readonly runs = new Map<JobId, Run>();
  private readonly locks = new Map<JobId, Promise<void>>();
  /** The claim session while leader; null while stopped. */
  private session: string | null = null;
  /** Aborted by `stop()`: ends the session's waits (store retries) at once. */
  private sessionAbort = new AbortController();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: JobRegistryOptions) {
    this.store = options.store;
    this.coordinatorId = options.coordinatorId;
    this.now = options.clock ?? Date.now;
    this.log = options.logger ?? NOOP_LOGGER;
    this.onEvent = options.onEvent;
    this.knobs = options.knobs ?? {};
    this.ids = new JobIdGenerator(this.now);
    this.opts = {
      initialBackoffMs: options.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      progressIntervalMs: options.progressIntervalMs ?? 5000,
      retentionMs: options.retentionMs ?? DEFAULT_JOB_RETENTION_MS,
      sweepIntervalMs: options.sweepIntervalMs ?? 60 * 60 * 1000,
      stopGraceMs: options.stopGraceMs ?? 10_000,
    };
  }

  /** Registers the resumer for a job type; call before `start()`. */
  registerResumer(type: JobType, factory: ResumerFactory): void {
    this.resumers.set(type, factory);
  }

  /** True between `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.session !== null;
  }

  /**
   * Becomes the jobs' single writer: loads every job and adopts each non-terminal, non-paused
   * one (pending, running, pause-requested, cancel-requested, reverting), continuing it from
   * its last checkpoint.
   */
  async start(): Promise<void> {
    if (this.session !== null) return;
    const session = randomUUID();
    this.session = session;
    this.sessionAbort = new AbortController();
    this.log.info({ component: 'jobs', coordinatorId: this.coordinatorId, session }, 'job registry starting');
    let stored;
    try {
      stored = await this.store.listWithRevisions();
    } catch (err) {
      this.session = null;
      throw err;
    }
    for (const { job, revision } of stored) {
      if (this.session !== session) return;
      this.entries.set(job.id, { job, revision });
      this.order.add(job.id);
      if (!ADOPTABLE_STATUSES.includes(job.status)) continue;
      if (!this.resumers.has(job.spec.type)) {
        this.log.warn({ ...meta(job) }, 'no resumer registered for job type; not adopting');
        continue;
      }
      this.log.info({ ...meta(job), status: job.status, previousCoordinator: job.coordinatorId }, 'adopting job');
      this.launch(job.id, session);
    }
    if (this.opts.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.purgeExpired().catch((err: unknown) =>
          this.log.warn({ component: 'jobs', err: errorMessage(err) }, 'job retention sweep failed'),
        );
      }, this.opts.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Stops being the writer (leadership lost or shutting down): aborts every resumer and waits
   * (up to `stopGraceMs`) for them to return. Job states are left as they are for the next
   * leader to adopt; nothing more is written by this registry until `start()`.
   */
  async stop(): Promise<void> {
    const session = this.session;
    if (session === null) return;
    this.session = null;
    this.sessionAbort.abort();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const reason = new CairnError(ErrorCode.NotLeader, `coordinator ${this.coordinatorId} stopped running jobs`, {
      retryable: true,
    });
    const pending = [...this.runs.values()].map((r) => {
      r.controller.abort(reason);
      return r.done;
    });
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.opts.stopGraceMs)));
    const outcome = await Promise.race([Promise.allSettled(pending), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn({ component: 'jobs', running: this.runs.size }, 'resumers still running after stop grace period');
    }
    this.entries.clear();
    this.order.clear();
    this.log.info({ component: 'jobs', coordinatorId: this.coordinatorId, session }, 'job registry stopped');
  }

  /**
   * Creates a job (status pending, claimed by this coordinator) and starts running it. The
   * returned snapshot is the pending job; callers that wait (non-detached statements) use
   * `waitForTerminal`.
   */
  async create(spec: NewJobSpec): Promise<Job> {
    const session = this.requireLeader();
    this.assertResumer(spec);
    const nowMs = this.now();
    for (;;) {
      const job = this.newJob(spec, nowMs, session);
      let stored;
      try {
        stored = await this.store.create(job);
      } catch (err) {
        // Another coordinator's generator made the same id in the same millisecond: take the next.
        if (err instanceof CairnError && err.code === ErrorCode.DuplicateObject && spec.id === undefined) continue;
        throw err;
      }
      if (this.session === session) this.track(stored, session);
      return job;
    }
  }

  /**
   * Creates several jobs as one batch (a burst of due schedules): one creation time for all,
   * every job's record written with many in flight, and none started before the whole batch
   * is stored, so that running the first jobs does not slow down storing the last. A job is
   * listed (SHOW JOBS, `list`) as soon as it is stored, when `onStored` is called with it.
   * Each result is the created job or the error that job's creation met; one failing does
   * not fail the others.
   */
  async createMany(specs: readonly NewJobSpec[], options: { onStored?: (job: Job) => void } = {}): Promise<Array<Job | Error>> {
    const session = this.requireLeader();
    const nowMs = this.now();
    const results: Array<Job | Error> = new Array(specs.length);
    const jobs: Job[] = [];
    const slots: number[] = [];
    specs.forEach((spec, i) => {
      try {
        this.assertResumer(spec);
        jobs.push(this.newJob(spec, nowMs, session));
        slots.push(i);
      } catch (err) {
        results[i] = asError(err);
      }
    });
    const stored = await this.store.createMany(jobs, {
      onStored: (r) => {
        if (this.session === session) this.keep(r);
        options.onStored?.(r.job);
      },
    });
    const created: StoredJob[] = [];
    for (const [k, r] of stored.entries()) {
      const i = slots[k]!;
      const spec = specs[i]!;
      if (r instanceof CairnError && r.code === ErrorCode.DuplicateObject) {
        // A generated id taken by another coordinator in the same millisecond: as `create`, take the next.
        if (spec.id === undefined) results[i] = await this.create(spec).catch(asError);
        else {
          const same = await this.sameCreation(spec).catch(asError);
          if (same === undefined) results[i] = r;
          else if (same instanceof Error) results[i] = same;
          else {
            results[i] = same.job;
            created.push(same);
          }
        }
        continue;
      }
      if (r instanceof Error) {
        results[i] = r;
        continue;
      }
      results[i] = r.job;
      created.push(r);
    }
    if (this.session === session) for (const r of created) this.launch(r.job.id, session);
    return results;
  }

  /**
   * The job stored under `spec.id` when it is this creation made before, else undefined: the
   * caller gave the id (a scheduled run's, recorded beforehand) and starts again a creation
   * whose create went unanswered though it may have landed, or that a previous leader made.
   * Same type and schedule under one id is the same run (ids are never reused); the creation
   * time differs between attempts, so the bytes cannot be compared. The job is kept (listed)
   * as a created one is; `createMany` runs it unless it ran here already.
   */
  private async sameCreation(spec: NewJobSpec): Promise<StoredJob | undefined> {
    const session = this.requireLeader();
    const known = this.entries.get(spec.id!);
    const stored = known ? { job: known.job, revision: known.revision } : await this.store.getWithRevision(spec.id!);
    if (!stored || stored.job.spec.type !== spec.type || stored.job.spec.scheduleId !== (spec.scheduleId ?? null)) return undefined;
    if (!known && this.session === session) this.keep(stored);
    return stored;
  }

  private assertResumer(spec: NewJobSpec): void {
    if (!this.resumers.has(spec.type)) {
      throw new CairnError(ErrorCode.InvalidArgument, `no resumer registered for job type ${spec.type}`);
    }
  }

  /** A new job as `create` stores it: pending, claimed by this coordinator's session. */
  private newJob(spec: NewJobSpec, nowMs: number, session: string): Job {
    const jobSpec: JobSpec = {
      type: spec.type,
      description: spec.description,
      statement: spec.statement ?? '',
      userName: spec.userName,
      createdAtMs: nowMs,
      scheduleId: spec.scheduleId ?? null,
      payload: spec.payload ?? new Uint8Array(0),
    };
    return { id: spec.id ?? this.ids.next(), spec: jobSpec, ...initialState(jobSpec, { coordinatorId: this.coordinatorId, claimSessionId: session }) };
  }

  /** Keeps a job this registry just stored and starts running it. */
  private track(stored: StoredJob, session: string): void {
    this.keep(stored);
    this.launch(stored.job.id, session);
  }

  /** Keeps a job this registry just stored (listed from now on), without running it yet. */
  private keep({ job, revision }: StoredJob): void {
    this.entries.set(job.id, { job, revision });
    this.order.add(job.id);
    this.log.info({ ...meta(job), status: job.status }, 'job created');
  }

  /** A fresh job id for `NewJobSpec.id`. */
  allocateId(): JobId {
    return this.ids.next();
  }

  /**
   * Calls `listener` with each job this registry moves to a terminal status (succeeded,
   * failed, canceled, revert-failed), once per job. Returns the unsubscribe function.
   */
  onTerminal(listener: (job: Job) => void): () => void {
    this.terminalListeners.add(listener);
    return () => this.terminalListeners.delete(listener);
  }

  /**
   * PAUSE JOB: pending / running / reverting → pause-requested → paused (no-op if paused).
   * `reason` is kept with the paused job (CockroachDB's `PAUSE JOB ... WITH REASON`).
   */
  async pause(id: JobId, reason?: string): Promise<Job> {
    const session = this.requireLeader();
    const job = await this.apply(id, { type: 'request-pause', ...(reason ? { reason } : {}) }, session);
    if (job.status === 'pause-requested') this.interrupt(id, session, `job ${id} pause requested`);
    return job;
  }

  /** RESUME JOB: paused → running (or back to reverting), run by a fresh `resume()` from the checkpoint. */
  async resume(id: JobId): Promise<Job> {
    const session = this.requireLeader();
    const job = await this.apply(id, { type: 'request-resume' }, session);
    this.interrupt(id, session, `job ${id} resumed`);
    return job;
  }

  /** CANCEL JOB: pending / running / paused → cancel-requested → reverting → canceled. */
  async cancel(id: JobId): Promise<Job> {
    const session = this.requireLeader();
    const job = await this.apply(id, { type: 'request-cancel' }, session);
    if (job.status === 'cancel-requested') this.interrupt(id, session, `job ${id} canceled`);
    return job;
  }

  /** The job as stored, or a NotFound CairnError. */
  async get(id: JobId): Promise<Job> {
    const job = await this.store.get(id);
    if (!job) throw new CairnError(ErrorCode.NotFound, `job with ID ${id} does not exist`);
    return job;
  }

  /** Whether the job has ended: a terminal status, or no longer stored (purged after its retention). */
  async isOver(id: JobId): Promise<boolean> {
    const job = await this.store.get(id);
    return job === undefined || isTerminalStatus(job.status);
  }

  /**
   * Jobs matching `filter`, oldest first: from the leader's copy while it runs jobs (it is
   * their only writer, so the copy is current), else read from the store.
   */
  async list(filter: JobFilter = {}): Promise<Job[]> {
    if (this.session === null) return this.store.list(filter);
    const out: Job[] = [];
    for (const id of this.order.ascending()) {
      const job = this.entries.get(id)?.job;
      if (job && matchesFilter(job, filter)) out.push(job);
    }
    return filter.limit === undefined ? out : out.slice(Math.max(0, out.length - filter.limit));
  }

  /**
   * One page of jobs, newest first: those matching `filter` and `accept` (the caller's
   * visibility check) with ids below `before` (the last id of the previous page). `next` is
   * the id to pass as `before` for the following page, absent on the last one. Served from the
   * leader's copy, walking the id index from `before` down, so a page costs about its size
   * when most jobs match.
   */
  listPage(options: { filter?: JobFilter; accept?: (job: Job) => boolean; pageSize: number; before?: JobId }): { jobs: Job[]; next?: JobId } {
    this.requireLeader();
    const filter = options.filter ?? {};
    const jobs: Job[] = [];
    for (const id of this.order.descendingBelow(options.before)) {
      const job = this.entries.get(id)?.job;
      if (!job || !matchesFilter(job, filter) || (options.accept && !options.accept(job))) continue;
      if (jobs.length === options.pageSize) return { jobs, next: jobs[jobs.length - 1]!.id };
      jobs.push(job);
    }
    return { jobs };
  }

  /** The job now, then each change until it is terminal (see `JobStore.watch`). */
  watch(id: JobId, options: { signal?: AbortSignal } = {}): AsyncGenerator<Job> {
    return this.store.watch(id, options);
  }

  /** Resolves with the job once it is succeeded, failed, canceled or revert-failed. */
  waitForTerminal(id: JobId, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.store.waitForTerminal(id, options);
  }

  /** Purges terminal jobs older than the retention period; returns their ids. */
  async purgeExpired(): Promise<JobId[]> {
    const purged = await this.store.sweep(this.now(), this.opts.retentionMs);
    for (const id of purged) this.entries.delete(id);
    if (purged.length > 0) this.order.removeAll(new Set(purged));
    if (purged.length > 0) this.log.info({ component: 'jobs', purged: purged.length }, 'purged expired jobs');
    return purged;
  }

  /** Running / paused gauges per job type, for the coordinator's metrics. */
  counts(): Map<JobType, JobTypeCounts> {
    const out = new Map<JobType, { running: number; paused: number }>();
    const bucket = (t: JobType) => {
      let c = out.get(t);
      if (!c) out.set(t, (c = { running: 0, paused: 0 }));
      return c;
    };
    for (const type of this.resumers.keys()) bucket(type);
    for (const [id, e] of this.entries) {
      if (e.job.status === 'paused') bucket(e.job.spec.type).paused++;
      if (this.runs.get(id)?.phase) bucket(e.job.spec.type).running++;
    }
    return out;
  }

  private requireLeader(): string {
    if (this.session === null) {
      throw new CairnError(ErrorCode.NotLeader, `coordinator ${this.coordinatorId} is not running jobs`, {
        retryable: true,
      });
    }
    return this.session;
  }

  /**
   * Makes the job's loop see a new status: aborts what it is doing now, and has it start over
   * if it was just winding down (e.g. after writing `paused`); starts a loop if none runs.
   */
  private interrupt(id: JobId, session: string, why: string): void {
    const run = this.runs.get(id);
    if (!run) return this.launch(id, session);
    run.relaunch = true;
    run.controller.abort(new CairnError(ErrorCode.Canceled, why));
  }

  private launch(id: JobId, session: string): void {
    if (this.runs.has(id) || this.session !== session) return;
    const run: Run = { session, controller: new AbortController(), phase: null, relaunch: false, done: Promise.resolve() };
    this.runs.set(id, run);
    run.done = this.drive(id, run)
      .catch((err: unknown) => this.log.error({ component: 'jobs', jobId: id, err: errorMessage(err) }, 'job loop failed'))
      .finally(() => {
        this.runs.delete(id);
        if (run.relaunch) this.launch(id, session);
      });
  }

  /** Steps the job through the state machine until it is paused, terminal, or no longer ours. */
  private async drive(id: JobId, run: Run): Promise<void> {
    const { session } = run;
    for (;;) {
      if (this.session !== session) return;
      const job = this.entries.get(id)?.job;
      if (!job || isTerminalStatus(job.status) || job.status === 'paused') return;
      if (job.claimSessionId !== session || job.coordinatorId !== this.coordinatorId) {
        // Claim it first (adoption, or a resumed job), so SHOW JOBS names who runs it.
        const event: JobEvent = { type: 'adopted', coordinatorId: this.coordinatorId, sessionId: session };
        if (!(await this.settle(id, event, run))) return;
        continue;
      }
      switch (job.status) {
        case 'pending':
          await this.settle(id, { type: 'started' }, run);
          break;
        case 'pause-requested':
          // Paused from a resumer's point of view once it has returned; nothing runs here now.
          if (await this.settle(id, { type: 'paused' }, run)) return;
          break;
        case 'cancel-requested':
          await this.settle(id, { type: 'cancel-started' }, run);
          break;
        case 'running':
          await this.runPhase(id, run, 'resume');
          break;
        case 'reverting':
          await this.runPhase(id, run, 'revert');
          break;
        default:
          return;
      }
    }
  }

  /** One attempt at `resume` or `onFailOrCancel`, after any retry backoff, and its outcome. */
  private async runPhase(id: JobId, run: Run, phase: 'resume' | 'revert'): Promise<void> {
    const { session } = run;
    const expected: JobStatus = phase === 'resume' ? 'running' : 'reverting';
    const current = () => (this.session === session ? this.entries.get(id)?.job : undefined);
    run.controller = new AbortController();
    const { signal } = run.controller;

    const waitMs = (current()?.nextRetryAtMs ?? 0) - this.now();
    if (waitMs > 0) {
      await sleep(waitMs, signal);
      if (signal.aborted) return;
    }
    const job = current();
    if (!job || job.status !== expected) return;
    const factory = this.resumers.get(job.spec.type);
    if (!factory) {
      this.log.error({ ...meta(job) }, 'no resumer registered for job type');
      return (await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true })));
    }

    const ctx = new RunContext(
      job,
      signal,
      this.opts.progressIntervalMs,
      () => this.entries.get(id)?.job,
      (event) => this.apply(id, event, session),
    );
    let ok = false;
    let error: unknown;
    let resumer: Resumer | undefined;
    run.phase = phase;
    try {
      await this.knobs.beforeRun?.(job, phase);
      resumer = factory(job);
      if (phase === 'resume') await resumer.resume(ctx);
      else await resumer.onFailOrCancel(ctx);
      ok = true;
    } catch (err) {
      error = err;
    } finally {
      run.phase = null;
    }
    // A success carries the progress still held back; any other outcome writes it first.
    const held = ok && phase === 'resume' ? ctx.takeHeld() : null;
    const succeeded: JobEvent = held ? { type: 'succeeded', progress: held } : { type: 'succeeded' };
    await ctx.close();

    const after = current();
    if (!after) return; // Leadership lost (or the job was taken over): leave the state for the next leader.
    const revertOutcome = after.revertOutcome;
    if (after.status !== expected) {
      // Paused or canceled meanwhile. Work that completed anyway is still complete.
      if (ok && after.status === 'pause-requested') {
        const event: JobEvent = phase === 'resume' ? succeeded : { type: 'reverted' };
        if (await this.settle(id, event, run)) {
          this.emit(phase === 'resume' ? 'resume_completed' : 'fail_or_cancel_completed', id);
          if (phase === 'resume') await this.afterSuccess(after, resumer);
        }
      }
      return;
    }
    if (ok) {
      if (phase === 'resume') {
        if (await this.settle(id, succeeded, run)) {
          this.emit('resume_completed', id);
          await this.afterSuccess(after, resumer);
        }
      } else if (await this.settle(id, { type: 'reverted' }, run)) {
        this.emit('fail_or_cancel_completed', id);
      }
      return;
    }
    const message = errorMessage(error);
    if (isRetryable(error)) {
      const retryAfter = error instanceof CairnError ? error.retryAfterMs : undefined;
      const delay = retryDelayMs(after.retryCount, this.opts.initialBackoffMs, this.opts.maxBackoffMs, retryAfter);
      this.log.warn({ ...meta(after), phase, retryCount: after.retryCount + 1, delayMs: delay, err: message }, 'job will retry');
      if (await this.settle(id, { type: 'retry', error: message, nextRetryAtMs: this.now() + delay }, run)) {
        this.emit(phase === 'resume' ? 'resume_retry_error' : 'fail_or_cancel_retry_error', id);
      }
      return;
    }
    this.log.warn({ ...meta(after), phase, revertOutcome, err: message }, phase === 'resume' ? 'job failed' : 'job revert failed');
    if (phase === 'resume') {
      if (await this.settle(id, { type: 'failed', error: message }, run)) this.emit('resume_failed', id);
    } else if (await this.settle(id, { type: 'revert-failed', error: message }, run)) {
      this.emit('fail_or_cancel_failed', id);
    }
  }

  /** Runs a succeeded job's `afterSuccess`; its failure is logged, never the job's. */
  private async afterSuccess(job: Job, resumer: Resumer | undefined): Promise<void> {
    try {
      await resumer?.afterSuccess?.();
    } catch (err) {
      this.log.warn({ ...meta(job), err: errorMessage(err) }, 'cleanup after the job succeeded failed; the next leader sweeps it');
    }
  }

  /**
   * Applies an event from the drive loop. Returns false if the event no longer applies (the
   * status moved on; the loop re-reads it) or the job is no longer ours; store errors are
   * retried while this registry is leader, so an outcome is never lost to a NATS hiccup.
   */
  private async settle(id: JobId, event: JobEvent, run: Run): Promise<boolean> {
    const stopped = this.sessionAbort.signal;
    for (let attempt = 0; ; attempt++) {
      if (this.session !== run.session || !this.entries.has(id)) return false;
      try {
        await this.apply(id, event, run.session);
        return true;
      } catch (err) {
        if (err instanceof CairnError && (err.code === ErrorCode.FailedPrecondition || err.code === ErrorCode.NotLeader)) {
          return false;
        }
        this.log.warn({ component: 'jobs', jobId: id, event: event.type, attempt, err: errorMessage(err) }, 'job update failed; retrying');
        await sleep(Math.min(200 * 2 ** attempt, 5000), stopped);
      }
    }
  }

  /**
   * The single write path: runs `transition` on the cached job and persists the result
   * against the cached revision, one update at a time per job.
   */
  private async apply(id: JobId, event: JobEvent, session: string): Promise<Job> {
    return this.withLock(id, async () => {
      if (this.session !== session) {
        throw new CairnError(ErrorCode.NotLeader, `coordinator ${this.coordinatorId} is not running jobs`, { retryable: true });
      }
      let entry = this.entries.get(id);
      if (!entry) {
        const stored = await this.store.getWithRevision(id);
        if (!stored) throw new CairnError(ErrorCode.NotFound, `job with ID ${id} does not exist`);
        entry = { job: stored.job, revision: stored.revision };
        if (this.session === session) this.entries.set(id, entry);
      }
      const before = entry.job;
      const after = transition(before, event, this.now());
      if (after === before) return before;
      let revision: number;
      try {
        revision = await this.store.updateState(after, entry.revision);
      } catch (err) {
        if (err instanceof CairnError && err.code === ErrorCode.NotLeader) {
          // Someone else wrote this job: it is not ours to run any more.
          this.entries.delete(id);
          this.runs.get(id)?.controller.abort(err);
          this.log.warn({ ...meta(before) }, 'job changed by another coordinator; dropping it');
        }
        throw err;
      }
      if (this.session === session) this.entries.set(id, { job: after, revision });
      if (after.status !== before.status) {
        this.log.info({ ...meta(after), from: before.status, to: after.status, event: event.type }, 'job status changed');
      }
      this.knobs.afterTransition?.(before, after, event);
      if (isTerminalStatus(after.status) && !isTerminalStatus(before.status)) {
        for (const listener of this.terminalListeners) {
          try {
            listener(after);
          } catch (err) {
            this.log.warn({ ...meta(after), err: errorMessage(err) }, 'terminal-job listener threw');
          }
        }
      }
      return after;
    });
  }

  private withLock<T>(id: JobId, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return result;
  }

  private emit(kind: JobMetricEvent, id: JobId): void {
    const job = this.entries.get(id)?.job;
    if (!job || !this.onEvent) return;
    try {
      this.onEvent(kind, job);
    } catch (err) {
      this.log.warn({ ...meta(job), kind, err: errorMessage(err) }, 'job metrics hook threw');
    }
  }
}

/** The JobContext of one resumer run: throttles progress and fences writes to its session. */
class RunContext implements JobContext {
  private pending: ProgressUpdate | null = null;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private latestCheckpoint: Uint8Array | null;
  private closed = false;
  /** Span counts set since the last setProgress, written with it. */
  private spans: SpanProgress | undefined;

  constructor(
    private readonly initial: Job,
    readonly signal: AbortSignal,
    private readonly intervalMs: number,
    private readonly read: () => Job | undefined,
    private readonly write: (event: JobEvent) => Promise<Job>,
  ) {
    this.latestCheckpoint = initial.progress.checkpoint;
  }

  get job(): Job {
    return this.read() ?? this.initial;
  }

  get checkpoint(): Uint8Array | null {
    return this.latestCheckpoint;
  }

  async setProgress(fraction: number, runningStatus?: string | null, checkpoint?: Uint8Array, highWater?: bigint): Promise<void> {
    if (this.closed) throw new CairnError(ErrorCode.FailedPrecondition, `job ${this.initial.id}: progress reported after its run ended`);
    const p = this.pending ?? {};
    this.pending = {
      ...p,
      fraction,
      ...(runningStatus !== undefined ? { runningStatus } : {}),
      ...(checkpoint !== undefined ? { checkpoint } : {}),
      ...(highWater !== undefined ? { highWater } : {}),
    };
    if (checkpoint !== undefined) this.latestCheckpoint = checkpoint;
    if (this.spans !== undefined) {
      this.pending = { ...this.pending, spans: this.spans };
      this.spans = undefined;
    }
    const elapsed = performance.now() - this.lastWrite;
    // Progress without a checkpoint waits for the interval, and whatever still waits when the
    // run succeeds is written with `succeeded` (takeHeld): a job's "done, status cleared" costs
    // no write of its own before the one its statement waits for.
    if (checkpoint !== undefined || highWater !== undefined || elapsed >= this.intervalMs) {
      await this.flushProgress();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flushProgress().catch(() => {
          // The next setProgress (or the end of the run) reports the problem.
        });
      }, this.intervalMs - elapsed);
    }
  }

  setSpanProgress(spans: SpanProgress): void {
    this.spans = spans;
  }

  async flushProgress(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.lastWrite = performance.now();
    await this.write({ type: 'progressed', ...p });
  }

  /** Takes the progress held back by throttling, unwritten, for the run's outcome to carry. */
  takeHeld(): ProgressUpdate | null {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    this.pending = null;
    return p;
  }

  /** Ends the run: writes held-back progress if the job can still take it. */
  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.flushProgress();
    } catch {
      // The job moved on (canceled, or leadership lost): the progress no longer matters.
    }
  }
}

function meta(job: Job): Record<string, unknown> {
  return { component: 'jobs', jobId: job.id, jobType: job.spec.type };
}

/** A job's error as stored and shown: redacted here, so no reader of the job sees a secret. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function errorMessage(err: unknown): string {
  return redactText(err instanceof Error ? err.message : String(err));
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Whether `job` passes every field of `f` (JobStore.list applies the same test to what it reads). */
function matchesFilter(job: Job, f: JobFilter): boolean {
  return (
    (f.types === undefined || f.types.includes(job.spec.type)) &&
    (f.statuses === undefined || f.statuses.includes(job.status)) &&
    (f.scheduleId === undefined || job.spec.scheduleId === f.scheduleId) &&
    (f.userName === undefined || job.spec.userName === f.userName) &&
    (f.createdSinceMs === undefined || job.spec.createdAtMs >= f.createdSinceMs)
  );
}

/**
 * Job ids kept in numeric order. Ids are decimal INT8s of the creation time, so new ones
 * almost always go at the end; comparing by length, then text, orders them without BigInt.
 */
class JobOrder {
  private ids: JobId[] = [];

  add(id: JobId): void {
    const i = this.lowerBound(id);
    if (this.ids[i] === id) return;
    if (i === this.ids.length) this.ids.push(id);
    else this.ids.splice(i, 0, id);
  }

  removeAll(ids: ReadonlySet<JobId>): void {
    this.ids = this.ids.filter((id) => !ids.has(id));
  }

  clear(): void {
    this.ids = [];
  }

  ascending(): readonly JobId[] {
    return this.ids;
  }

  /** Ids strictly below `before` (all when absent), newest first. */
  *descendingBelow(before: JobId | undefined): Generator<JobId> {
    const start = before === undefined ? this.ids.length : this.lowerBound(before);
    for (let i = start - 1; i >= 0; i--) yield this.ids[i]!;
  }

  /** The first index whose id is not below `id`. */
  private lowerBound(id: JobId): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareJobIds(this.ids[mid]!, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function compareJobIds(a: JobId, b: JobId): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
