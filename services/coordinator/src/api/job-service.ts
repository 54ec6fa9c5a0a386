import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { CairnError, ErrorCode, redactText } from '@cairn/errors';
import { isTerminalStatus, type Job, type JobFilter, type JobStatus } from '@cairn/jobs';
import {
  JobServiceService,
  JobStatus as PbJobStatus,
  JobType as PbJobType,
  type CancelJobRequest,
  type GetJobRequest,
  type Job as PbJob,
  type ListJobsRequest,
  type PauseJobRequest,
  type ResumeJobRequest,
  type WatchJobRequest,
  type WatchJobResponse,
} from '@cairn/proto';
import type { Statement } from '@cairn/sql';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { BACKUP_EXPIRY_JOB_TYPE } from '../backup/expiry-planner.js';
import { authorizeStatement, sessionUser } from '../privileges/privilege-statements.js';
import { openSession, type SessionContext } from '../statements/session.js';
import { controlJob, listJobPage, requireVisibleJob, type JobAction } from '../jobs/job-control.js';
import { toServiceError } from './grpc-errors.js';
import type { ApiCallContext } from './api-call.js';
import { unaryCall } from './api-call.js';

const STATUS_TO_PB: Readonly<Record<JobStatus, PbJobStatus>> = {
  pending: PbJobStatus.PENDING,
  running: PbJobStatus.RUNNING,
  paused: PbJobStatus.PAUSED,
  'pause-requested': PbJobStatus.PAUSE_REQUESTED,
  'cancel-requested': PbJobStatus.CANCEL_REQUESTED,
  reverting: PbJobStatus.REVERTING,
  succeeded: PbJobStatus.SUCCEEDED,
  failed: PbJobStatus.FAILED,
  canceled: PbJobStatus.CANCELED,
  'revert-failed': PbJobStatus.REVERT_FAILED,
};
const PB_TO_STATUS = new Map<PbJobStatus, JobStatus>(Object.entries(STATUS_TO_PB).map(([k, v]) => [v, k as JobStatus]));

const TYPE_TO_PB: Readonly<Record<string, PbJobType>> = {
  BACKUP: PbJobType.BACKUP,
  RESTORE: PbJobType.RESTORE,
  [BACKUP_EXPIRY_JOB_TYPE]: PbJobType.BACKUP_EXPIRY,
};
const PB_TO_TYPE = new Map<PbJobType, string>(Object.entries(TYPE_TO_PB).map(([k, v]) => [v, k]));

const toDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** A job as the API shows it: SHOW JOBS' columns, typed, plus the span counts. */
export function jobToProto(job: Job): PbJob {
  const spans = job.progress.spans ?? null;
  return {
    jobId: BigInt(job.id),
    jobType: TYPE_TO_PB[job.spec.type] ?? PbJobType.UNSPECIFIED,
    // The one redactor again at the edge, as SHOW JOBS: nothing written earlier shows a secret.
    description: redactText(job.spec.description),
    statement: redactText(job.spec.statement),
    userName: job.spec.userName,
    status: STATUS_TO_PB[job.status],
    runningStatus: redactText(job.progress.runningStatus ?? ''),
    created: new Date(job.spec.createdAtMs),
    started: toDate(job.startedAtMs),
    finished: toDate(job.finishedAtMs),
    modified: new Date(job.modifiedAtMs),
    fractionCompleted: job.progress.fractionCompleted,
    error: redactText(job.error ?? ''),
    coordinatorId: job.coordinatorId ?? '',
    scheduleId: job.spec.scheduleId === null ? 0n : BigInt(job.spec.scheduleId),
    spansDone: spans?.done ?? 0,
    spansTotal: spans?.total ?? 0,
    bytesDone: spans?.bytes ?? 0n,
    rowsDone: spans?.rows ?? 0n,
    pauseReason: job.pauseReason ?? '',
  };
}

function jobFilter(req: ListJobsRequest): JobFilter {
  const types = req.jobTypes.map((t) => {
    const name = PB_TO_TYPE.get(t);
    if (name === undefined) throw new CairnError(ErrorCode.InvalidArgument, `unknown job_type ${t}`);
    return name;
  });
  const statuses = req.statuses.map((st) => {
    const name = PB_TO_STATUS.get(st);
    if (name === undefined) throw new CairnError(ErrorCode.InvalidArgument, `unknown job status ${st}`);
    return name;
  });
  return {
    ...(types.length > 0 ? { types } : {}),
    ...(statuses.length > 0 ? { statuses } : {}),
    ...(req.scheduleId !== 0n ? { scheduleId: String(req.scheduleId) } : {}),
    ...(req.userName !== '' ? { userName: req.userName } : {}),
  };
}

function jobIdOf(id: bigint): string {
  if (id <= 0n) throw new CairnError(ErrorCode.InvalidArgument, 'job_id is required');
  return String(id);
}

/**
 * A session for an RPC, refused exactly as the statement it stands for would be: the same
 * user checks (authorizeStatement) run before the shared job-control code.
 */
async function sessionFor(leader: JobServiceCapabilities, user: string, stmt: Statement): Promise<SessionContext & JobServiceCapabilities> {
  leader.readiness.assertReady();
  const s = openSession(leader, { database: '', user: sessionUser(user) });
  await authorizeStatement(s, stmt);
  return s;
}

/** What the job RPCs use: the job registry, and what checking the caller's privileges reads. */
type JobServiceCapabilities = Pick<LeaderCapabilities, 'jobs' | 'readiness' | 'catalog' | 'privileges'>;

const SHOW_JOBS: Statement = { kind: 'showJobs', pos: 1 };
const control = (action: JobAction, id: string): Statement => ({ kind: 'controlJobs', action, jobs: { kind: 'jobId', id, pos: 1 }, pos: 1 });

async function controlRpc(leader: JobServiceCapabilities, req: { user: string; jobId: bigint }, action: JobAction, reason?: string) {
  const id = jobIdOf(req.jobId);
  const s = await sessionFor(leader, req.user, control(action, id));
  return { job: jobToProto(await controlJob(s, id, action, reason)) };
}

/** Bytes per second over the updates of the last ~10 s, 0 until two carry bytes. */
class RateMeter {
  private samples: { at: number; bytes: bigint }[] = [];

  observe(job: Job): number {
    const bytes = job.progress.spans?.bytes;
    if (bytes === undefined) return 0;
    const at = Date.now();
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - 10_000) this.samples.shift();
    const first = this.samples[0]!;
    if (at <= first.at) return 0;
    return (Number(bytes - first.bytes) / (at - first.at)) * 1000;
  }
}

/**
 * WatchJob on the leader: the job now, then each stored change, until terminal. The job's
 * KV watch is independent of who leads; when this leader dies the stream breaks and the
 * client asks the next one, whose first message is the job as it is then.
 */
async function watchJob(leader: JobServiceCapabilities, call: ServerWritableStream<WatchJobRequest, WatchJobResponse>): Promise<void> {
  const req = call.request;
  const id = jobIdOf(req.jobId);
  const s = await sessionFor(leader, req.user, SHOW_JOBS);
  await requireVisibleJob(s, id);
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort());
  const meter = new RateMeter();
  for await (const job of leader.jobs.watch(id, { signal: abort.signal })) {
    if (!call.write({ job: jobToProto(job), bytesPerSecond: meter.observe(job) })) {
      await new Promise<void>((resolve) => call.once('drain', resolve));
    }
    if (isTerminalStatus(job.status)) break;
  }
}

/** JobService: each method runs on the leader (standbys forward, WatchJob's stream too). */
export function jobService(ctx: ApiCallContext): [typeof JobServiceService, UntypedServiceImplementation] {
  const impl = {
    listJobs: unaryCall(ctx, 'JobService', 'listJobs', async (leader, req: ListJobsRequest) => {
      const s = await sessionFor(leader, req.user, SHOW_JOBS);
      const page = await listJobPage(s, jobFilter(req), { pageSize: req.pageSize, pageToken: req.pageToken });
      return { jobs: page.jobs.map(jobToProto), nextPageToken: page.nextPageToken };
    }),
    getJob: unaryCall(ctx, 'JobService', 'getJob', async (leader, req: GetJobRequest) => {
      const id = jobIdOf(req.jobId);
      const s = await sessionFor(leader, req.user, SHOW_JOBS);
      return { job: jobToProto(await requireVisibleJob(s, id)) };
    }),
    pauseJob: unaryCall(ctx, 'JobService', 'pauseJob', (leader, req: PauseJobRequest) => controlRpc(leader, req, 'pause', req.reason)),
    resumeJob: unaryCall(ctx, 'JobService', 'resumeJob', (leader, req: ResumeJobRequest) => controlRpc(leader, req, 'resume')),
    cancelJob: unaryCall(ctx, 'JobService', 'cancelJob', (leader, req: CancelJobRequest) => controlRpc(leader, req, 'cancel')),
    watchJob: (call: ServerWritableStream<WatchJobRequest, WatchJobResponse>) => {
      const leader = ctx.leader();
      const run = leader
        ? watchJob(leader, call)
        : ctx.forwarder.forwardStream<WatchJobRequest, WatchJobResponse>('JobService', 'watchJob', call.request, (m) => call.write(m), call);
      run.then(
        () => call.end(),
        (err: unknown) => call.emit('error', toServiceError(err)),
      );
    },
  };
  return [JobServiceService, impl as UntypedServiceImplementation];
}
