import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { errorFromDetails } from './error-details.js';
import { CairnError, ErrorCode, ERROR_CODE_METADATA_KEY, type ErrorCode as Code } from '@cairn/errors';
import {
  ClusterServiceClient,
  DataServiceClient,
  JobServiceClient,
  BackupServiceClient,
  type BackupObject,
  type BackupSummary,
  type ShowBackupRequest,
  type StartBackupRequest,
  type StartRestoreRequest,
  ScheduleServiceClient,
  ApiKeyServiceClient,
  type ApiKey,
  type CreateApiKeyResponse,
  type AlterBackupScheduleRequest,
  type CreateBackupScheduleRequest,
  type ListSchedulesRequest,
  type ListSchedulesResponse,
  type Schedule,
  SqlServiceClient,
  JobStatus,
  type Job,
  type ListJobsRequest,
  type ListJobsResponse,
  type WatchJobResponse,
  type ExecuteResponse,
  type FingerprintRequest,
  type FingerprintResponse,
  type ListNodesResponse,
  type WriteRequest,
  TableDescriptor,
  type WriteResponse,
} from '@cairn/proto';

export interface ClientOptions {
  /** One or more coordinator addresses (host:port); calls fail over between them. */
  addresses: string[];
  /** How long a call may keep retrying while the cluster is unavailable (leader failover). */
  retryForMs?: number;
  deadlineMs?: number;
  /**
   * The SQL user statements run as (`cockroach sql --user`); default `root`. Like CockroachDB's
   * insecure mode, the name is taken as given: privileges are checked, identity is not proven.
   */
  user?: string;
  /**
   * Secure clusters: the CA that signed the coordinators' certificates, and a client
   * certificate and key (`client.<user>.crt/.key`), whose CN is the user. Without `tls` the
   * client speaks plaintext, which only an insecure cluster answers.
   */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** Password login (secure clusters): sent on each call over TLS, never over plaintext. */
  password?: string;
}

/** A statement's result with NULLs as null. */
export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
  tag: string;
  database: string;
  jobIds: string[];
}

interface Stubs {
  sql: SqlServiceClient;
  cluster: ClusterServiceClient;
  data: DataServiceClient;
  jobs: JobServiceClient;
  schedules: ScheduleServiceClient;
  backups: BackupServiceClient;
  apiKeys: ApiKeyServiceClient;
}

/** A job id as SHOW JOBS prints it (decimal text) or as the API carries it (bigint). */
export type JobIdLike = string | bigint;

/** ListJobs' filters and paging, every field optional. */
export type ListJobsOptions = Partial<Omit<ListJobsRequest, 'user'>>;

/** Statuses after which a job never changes again. */
const TERMINAL = new Set<JobStatus>([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.REVERT_FAILED]);

/** Job calls answer at once (none waits for a job to finish). */
const JOB_CALL = { deadlineMs: 30_000 };

/** Whether a job has ended (succeeded, failed, canceled, revert-failed). */
export function isTerminalJob(job: Pick<Job, 'status'>): boolean {
  return TERMINAL.has(job.status);
}

/**
 * The typed gRPC client of cairn's API, used by the CLI and tests. Retryable failures
 * (UNAVAILABLE: a coordinator died, a leader is being elected) are retried against the next
 * address until `retryForMs` has passed; everything else surfaces at once as a CairnError.
 */
export class CairnClient {
  private readonly stubs: Stubs[];
  private current = 0;
  database = '';
  /** The session's time zone (SET TIME ZONE), kept between calls like `database`; empty: UTC. */
  timeZone = '';
  /** The SQL user this client's statements run as. */
  readonly user: string;

  constructor(private readonly opts: ClientOptions) {
    if (opts.addresses.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'no coordinator address given');
    this.user = opts.user ?? 'root';
    if (opts.password !== undefined && !opts.tls) {
      throw new CairnError(ErrorCode.InvalidArgument, 'a password is sent only over TLS: give the CA certificate (--certs-dir) as well');
    }
    this.stubs = opts.addresses.map((a) => {
      const c = opts.tls ? credentials.createSsl(opts.tls.ca, opts.tls.key ?? null, opts.tls.cert ?? null) : credentials.createInsecure();
      const o = {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        // gRPC's default reconnect backoff grows to 2 minutes: a coordinator back from a
        // restart or a failover should be found within seconds.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2_000,
      };
      return {
        sql: new SqlServiceClient(a, c, o),
        cluster: new ClusterServiceClient(a, c, o),
        data: new DataServiceClient(a, c, o),
        jobs: new JobServiceClient(a, c, o),
        schedules: new ScheduleServiceClient(a, c, o),
        backups: new BackupServiceClient(a, c, o),
        apiKeys: new ApiKeyServiceClient(a, c, o),
      };
    });
  }

  /** Runs statements; the result is the last statement's. Remembers USE for later calls. */
  /**
   * Runs statements. `startsJob`: the statement starts a job (BACKUP, RESTORE), so it is tried
   * again only when it surely did not reach a leader (NOT_LEADER, no connection made): a
   * retry after a lost answer could start the job twice. Such callers follow the job instead
   * (`watchJob`).
   */
  async execute(sql: string, options: { startsJob?: boolean } = {}): Promise<QueryResult> {
    const res = await this.call<ExecuteResponse>(
      (s, md, opts, cb) => s.sql.execute({ sql, database: this.database, user: this.user, timeZone: this.timeZone }, md, opts, cb),
      options.startsJob ? { retry: neverReachedLeader } : {},
    );
    this.database = res.database;
    this.timeZone = res.timeZone ?? '';
    return {
      columns: res.columns,
      rows: res.rows.map((r) => r.values.map((v) => (v.text === undefined ? null : v.text))),
      tag: res.tag,
      database: res.database,
      jobIds: res.jobIds,
    };
  }

  async listNodes(): Promise<ListNodesResponse> {
    return this.call((s, md, opts, cb) => s.cluster.listNodes({}, md, opts, cb));
  }

  async fingerprint(req: Partial<FingerprintRequest> & { database: string }): Promise<FingerprintResponse> {
    const full: FingerprintRequest = { table: '', timestamp: 0n, nodeId: 0, ...req };
    return this.call((s, md, opts, cb) => s.data.fingerprint(full, md, opts, cb));
  }

  async getTable(database: string, table: string): Promise<TableDescriptor> {
    const res = await this.call<{ descriptor: Uint8Array }>((s, md, opts, cb) => s.data.getTable({ database, table }, md, opts, cb));
    return TableDescriptor.decode(res.descriptor);
  }

  async write(req: WriteRequest): Promise<WriteResponse> {
    return this.call((s, md, opts, cb) => s.data.write(req, md, opts, cb));
  }

  /** One page of the jobs this client's user may see, newest first (filters as in ListJobsRequest). */
  async listJobs(options: ListJobsOptions = {}): Promise<ListJobsResponse> {
    const req: ListJobsRequest = { jobTypes: [], statuses: [], scheduleId: 0n, userName: '', pageSize: 0, pageToken: '', ...options, user: this.user };
    return this.call((s, md, opts, cb) => s.jobs.listJobs(req, md, opts, cb), JOB_CALL);
  }

  /** Every job matching `options`, newest first, fetching pages as the loop goes. */
  async *allJobs(options: Omit<ListJobsOptions, 'pageToken'> = {}): AsyncGenerator<Job> {
    let pageToken = '';
    do {
      const page = await this.listJobs({ ...options, pageToken });
      yield* page.jobs;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  async getJob(jobId: JobIdLike): Promise<Job> {
    const res = await this.call<{ job?: Job }>((s, md, opts, cb) => s.jobs.getJob({ user: this.user, jobId: BigInt(jobId) }, md, opts, cb), JOB_CALL);
    return requireJob(res.job);
  }

  /** PAUSE JOB; `reason` is kept with the paused job. Pausing a paused job changes nothing, so it is retried. */
  async pauseJob(jobId: JobIdLike, reason = ''): Promise<Job> {
    const res = await this.call<{ job?: Job }>((s, md, opts, cb) => s.jobs.pauseJob({ user: this.user, jobId: BigInt(jobId), reason }, md, opts, cb), JOB_CALL);
    return requireJob(res.job);
  }

  /**
   * RESUME JOB. Not idempotent (a running job cannot be resumed), so it is retried only while
   * no leader took it (NOT_LEADER), never after an answer may have been lost.
   */
  async resumeJob(jobId: JobIdLike): Promise<Job> {
    const res = await this.call<{ job?: Job }>(
      (s, md, opts, cb) => s.jobs.resumeJob({ user: this.user, jobId: BigInt(jobId) }, md, opts, cb),
      { ...JOB_CALL, retry: (e) => e.code === ErrorCode.NotLeader },
    );
    return requireJob(res.job);
  }

  /** CANCEL JOB; canceling a canceled job changes nothing, so it is retried. */
  async cancelJob(jobId: JobIdLike): Promise<Job> {
    const res = await this.call<{ job?: Job }>((s, md, opts, cb) => s.jobs.cancelJob({ user: this.user, jobId: BigInt(jobId) }, md, opts, cb), JOB_CALL);
    return requireJob(res.job);
  }

  /**
   * BACKUP ... INTO (detached): resolves with the started job, to follow with `watchJob`. Not
   * retried after a lost answer: the job may exist (find it with `listJobs`).
   */
  async startBackup(req: Partial<Omit<StartBackupRequest, 'user'>> & { collection: string[] }): Promise<Job> {
    const full: StartBackupRequest = { databases: [], tables: [], incremental: false, asOf: undefined, options: {}, ...req, user: this.user };
    const res = await this.call<{ job?: Job }>((s, md, opts, cb) => s.backups.startBackup(full, md, opts, cb), { ...JOB_CALL, retry: neverReachedLeader });
    return requireJob(res.job);
  }

  /** RESTORE ... FROM (detached): resolves with the started job. Not retried after a lost answer. */
  async startRestore(req: Partial<Omit<StartRestoreRequest, 'user'>> & { collection: string[] }): Promise<Job> {
    const full: StartRestoreRequest = { databases: [], tables: [], subdir: '', asOf: undefined, options: {}, ...req, user: this.user };
    const res = await this.call<{ job?: Job }>((s, md, opts, cb) => s.backups.startRestore(full, md, opts, cb), { ...JOB_CALL, retry: neverReachedLeader });
    return requireJob(res.job);
  }

  /** SHOW BACKUPS IN, with each chain's end time. */
  async listBackups(collection: string[], options: Record<string, string> = {}): Promise<BackupSummary[]> {
    const res = await this.call<{ backups: BackupSummary[] }>((s, md, opts, cb) => s.backups.listBackups({ user: this.user, collection, options }, md, opts, cb));
    return res.backups;
  }

  /** SHOW BACKUP FROM subdir (default LATEST) IN collection [WITH check_files]. */
  async showBackup(req: Partial<Omit<ShowBackupRequest, 'user'>> & { collection: string[] }): Promise<BackupObject[]> {
    const full: ShowBackupRequest = { subdir: '', checkFiles: false, options: {}, ...req, user: this.user };
    const res = await this.call<{ objects: BackupObject[] }>((s, md, opts, cb) => s.backups.showBackup(full, md, opts, cb));
    return res.objects;
  }

  /** Creates an API key for the HTTP API; the answer's `secret` is shown only this once. Not retried. */
  async createApiKey(name: string, role: string): Promise<CreateApiKeyResponse> {
    return this.call((s, md, opts, cb) => s.apiKeys.createApiKey({ user: this.user, name, role }, md, opts, cb), { ...JOB_CALL, retry: neverReachedLeader });
  }

  async listApiKeys(): Promise<ApiKey[]> {
    const res = await this.call<{ keys: ApiKey[] }>((s, md, opts, cb) => s.apiKeys.listApiKeys({ user: this.user }, md, opts, cb), JOB_CALL);
    return res.keys;
  }

  async deleteApiKey(nameOrId: string): Promise<void> {
    await this.call((s, md, opts, cb) => s.apiKeys.deleteApiKey({ user: this.user, key: nameOrId }, md, opts, cb), JOB_CALL);
  }

  /** One page of backup schedules, oldest first (SHOW SCHEDULES' order). */
  async listSchedules(options: Partial<Omit<ListSchedulesRequest, 'user'>> = {}): Promise<ListSchedulesResponse> {
    const req: ListSchedulesRequest = { label: '', status: 0, pageSize: 0, pageToken: '', ...options, user: this.user };
    return this.call((s, md, opts, cb) => s.schedules.listSchedules(req, md, opts, cb), JOB_CALL);
  }

  async getSchedule(scheduleId: JobIdLike): Promise<Schedule> {
    const res = await this.call<{ schedule?: Schedule }>((s, md, opts, cb) => s.schedules.getSchedule({ user: this.user, scheduleId: BigInt(scheduleId) }, md, opts, cb), JOB_CALL);
    return requireSchedule(res.schedule);
  }

  /**
   * CREATE SCHEDULE FOR BACKUP from fields; resolves with the created schedules (the full's
   * first, then its incremental's). Not retried after a lost answer: it may have been created.
   */
  async createBackupSchedule(req: Partial<Omit<CreateBackupScheduleRequest, 'user'>> & { collection: string[] }): Promise<Schedule[]> {
    const full: CreateBackupScheduleRequest = {
      label: '', ifNotExists: false, databases: [], tables: [], options: {}, recurring: '', fullBackup: '', scheduleOptions: {}, ...req, user: this.user,
    };
    const res = await this.call<{ schedules: Schedule[] }>((s, md, opts, cb) => s.schedules.createBackupSchedule(full, md, opts, cb), {
      ...JOB_CALL,
      retry: neverReachedLeader,
    });
    return res.schedules;
  }

  /** ALTER BACKUP SCHEDULE from fields (empty fields are left as they are). */
  async alterBackupSchedule(req: Partial<Omit<AlterBackupScheduleRequest, 'user'>> & { scheduleId: bigint }): Promise<Schedule[]> {
    const full: AlterBackupScheduleRequest = { label: '', recurring: '', fullBackup: '', options: {}, scheduleOptions: {}, ...req, user: this.user };
    const res = await this.call<{ schedules: Schedule[] }>((s, md, opts, cb) => s.schedules.alterBackupSchedule(full, md, opts, cb), {
      ...JOB_CALL,
      retry: neverReachedLeader,
    });
    return res.schedules;
  }

  /** PAUSE SCHEDULE (pausing a paused schedule changes nothing, so it is retried). */
  async pauseSchedule(scheduleId: JobIdLike): Promise<Schedule> {
    const res = await this.call<{ schedule?: Schedule }>((s, md, opts, cb) => s.schedules.pauseSchedule({ user: this.user, scheduleId: BigInt(scheduleId) }, md, opts, cb), JOB_CALL);
    return requireSchedule(res.schedule);
  }

  /** RESUME SCHEDULE (resuming an active schedule changes nothing, so it is retried). */
  async resumeSchedule(scheduleId: JobIdLike): Promise<Schedule> {
    const res = await this.call<{ schedule?: Schedule }>((s, md, opts, cb) => s.schedules.resumeSchedule({ user: this.user, scheduleId: BigInt(scheduleId) }, md, opts, cb), JOB_CALL);
    return requireSchedule(res.schedule);
  }

  /** DROP SCHEDULE; retried only while no leader took it (a second drop finds nothing). */
  async dropSchedule(scheduleId: JobIdLike): Promise<void> {
    await this.call((s, md, opts, cb) => s.schedules.dropSchedule({ user: this.user, scheduleId: BigInt(scheduleId) }, md, opts, cb), {
      ...JOB_CALL,
      retry: neverReachedLeader,
    });
  }

  /**
   * Follows a job until it ends: yields its state now, then each change; the last update is
   * terminal. No deadline applies, and a stream broken by a coordinator's death or a leader
   * change is opened again on the next coordinator (its first message is the job as it is
   * then), for as long as the job runs: only a terminal job, an error that retrying cannot
   * fix (NOT_FOUND, PERMISSION_DENIED), or `signal` ends the loop.
   */
  async *watchJob(jobId: JobIdLike, options: { signal?: AbortSignal } = {}): AsyncGenerator<WatchJobResponse> {
    const req = { user: this.user, jobId: BigInt(jobId) };
    for (let attempt = 0; ; attempt++) {
      if (options.signal?.aborted) return;
      const stubs = this.stubs[this.current % this.stubs.length]!;
      const stream: ClientReadableStream<WatchJobResponse> = stubs.jobs.watchJob(req, this.callMetadata());
      const onAbort = () => stream.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const msg of stream as AsyncIterable<WatchJobResponse>) {
          attempt = 0;
          yield msg;
          if (msg.job && isTerminalJob(msg.job)) return;
        }
        // The server ends the stream only after a terminal update; an early end is a broken stream.
      } catch (err) {
        if (options.signal?.aborted) return;
        const e = fromServiceError(err as ServiceError, this.opts.addresses[this.current % this.stubs.length]!, this.opts.tls !== undefined);
        if (!e.retryable) throw e;
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
        stream.cancel();
      }
      this.current++;
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
    }
  }

  close(): void {
    for (const s of this.stubs) {
      s.sql.close();
      s.cluster.close();
      s.data.close();
      s.jobs.close();
      s.schedules.close();
      s.backups.close();
    }
  }

  /** Who the calls are from: the user, and the password when logging in with one. */
  private metadata(): Metadata {
    const md = new Metadata();
    md.set('cairn-user', this.user);
    if (this.opts.password !== undefined) {
      md.set('authorization', `Basic ${Buffer.from(`${this.user}:${this.opts.password}`).toString('base64')}`);
    }
    return md;
  }

  /** The metadata a streaming call carries (unary calls get theirs in `call`). */
  private callMetadata(): Metadata {
    return this.metadata();
  }

  /**
   * One unary call, retried on the next coordinator while the error is retryable (or passes
   * `retry`) and `retryForMs` has not passed. Job calls answer at once, so their deadline is
   * short (30 s, unless the client was given one); statements may wait on a job, so theirs is long.
   */
  private async call<R>(
    invoke: (s: Stubs, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: R) => void) => unknown,
    options: { retry?: (e: CairnError) => boolean; deadlineMs?: number } = {},
  ): Promise<R> {
    const until = Date.now() + (this.opts.retryForMs ?? 15_000);
    for (let attempt = 0; ; attempt++) {
      const stubs = this.stubs[this.current % this.stubs.length]!;
      try {
        return await new Promise<R>((resolve, reject) =>
          invoke(stubs, this.metadata(), { deadline: Date.now() + (this.opts.deadlineMs ?? options.deadlineMs ?? 3_600_000) }, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        );
      } catch (err) {
        const e = fromServiceError(err as ServiceError, this.opts.addresses[this.current % this.stubs.length]!);
        if (!(options.retry ? options.retry(e) : e.retryable) || Date.now() > until) throw e;
        this.current++;
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
  }
}

function fromServiceError(err: ServiceError, address: string, tls = false): CairnError {
  const rich = errorFromDetails(err);
  if (rich) return rich;
  const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const position = err.metadata?.get('cairn-error-position')[0];
  if (code) {
    const c = String(code) as Code;
    return new CairnError(c, err.details, {
      retryable: c === ErrorCode.Unavailable || c === ErrorCode.NotLeader,
      ...(position ? { position: Number(position) } : {}),
    });
  }
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    // Plaintext against a TLS server (or the reverse) looks like a connection that cannot be
    // established: say which mode this client used. A deadline is not that.
    const hint =
      err.code !== status.UNAVAILABLE
        ? ''
        : tls
          ? ' (connected with TLS: is the cluster secure, and was its certificate signed by this ca.crt?)'
          : ' (connected without TLS: if the cluster runs secure, give its CA certificate with --certs-dir)';
    return new CairnError(ErrorCode.Unavailable, `cannot reach cairn at ${address}: ${err.details || err.message}${hint}`, {
      retryable: err.code === status.UNAVAILABLE,
      cause: err,
    });
  }
  return new CairnError(ErrorCode.Internal, err.details || err.message, { cause: err });
}

function requireJob(job: Job | undefined): Job {
  if (!job) throw new CairnError(ErrorCode.Internal, 'the server answered without the job');
  return job;
}

/** Errors after which the call surely did nothing: no leader took it, or no connection was made. */
function neverReachedLeader(e: CairnError): boolean {
  if (e.code === ErrorCode.NotLeader) return true;
  return e.code === ErrorCode.Unavailable && /No connection established|ECONNREFUSED/.test(e.message);
}

function requireSchedule(schedule: Schedule | undefined): Schedule {
  if (!schedule) throw new CairnError(ErrorCode.Internal, 'the server answered without the schedule');
  return schedule;
}
