import type { Command } from 'commander';
import { CairnError, ErrorCode } from '@cairn/errors';
import { isTerminalJob, JobStatus, JobType, type CairnClient, type Job, type ListJobsOptions } from '@cairn/client';
import { formatResult, outputFormats, type OutputFormat } from '../output/index.js';
import { JobProgress } from '../output/index.js';
import { clientFor, DEFAULT_HOST, DEFAULT_USER } from './client-options.js';
import { DEFAULT_CERTS_DIR } from './cert.js';
import { addClientSecurityOptions, resolveClientSecurity } from './client-security.js';
import { jobTypeText, statusText } from './job-watch.js';

interface CommonOptions {
  host: string;
  user: string;
  format: OutputFormat;
  certsDir: string;
  insecure?: boolean;
}

/** SHOW JOBS' columns, then the typed progress JobService adds. */
const COLUMNS = [
  'job_id',
  'job_type',
  'description',
  'user_name',
  'status',
  'running_status',
  'created',
  'finished',
  'fraction_completed',
  'spans',
  'bytes',
  'error',
  'coordinator_id',
];

function row(j: Job): (string | null)[] {
  return [
    String(j.jobId),
    jobTypeText(j.jobType),
    j.description,
    j.userName,
    statusText(j.status),
    j.status === JobStatus.PAUSED && j.pauseReason ? j.pauseReason : j.runningStatus || null,
    j.created?.toISOString() ?? null,
    j.finished?.toISOString() ?? null,
    String(Math.round(j.fractionCompleted * 1e6) / 1e6),
    j.spansTotal > 0 ? `${j.spansDone}/${j.spansTotal}` : null,
    j.bytesDone > 0n ? String(j.bytesDone) : null,
    j.error || null,
    j.coordinatorId || null,
  ];
}

function print(jobs: Job[], format: OutputFormat): void {
  const text = formatResult({ columns: COLUMNS, rows: jobs.map(row) }, format);
  if (text) process.stdout.write(text + '\n');
}

/** `backup`, `BACKUP EXPIRY`, `backup_expiry` → the JobType. */
function parseType(text: string): JobType {
  const key = text.trim().toUpperCase().replace(/[\s-]+/g, '_') as keyof typeof JobType;
  const t = JobType[key];
  if (typeof t !== 'number' || t === JobType.UNSPECIFIED) {
    throw new CairnError(ErrorCode.InvalidArgument, `unknown job type "${text}": expected backup, restore or "backup expiry"`);
  }
  return t;
}

/** `paused`, `pause-requested` → the JobStatus. */
function parseStatus(text: string): JobStatus {
  const key = text.trim().toUpperCase().replace(/-/g, '_') as keyof typeof JobStatus;
  const s = JobStatus[key];
  if (typeof s !== 'number' || s === JobStatus.UNSPECIFIED) throw new CairnError(ErrorCode.InvalidArgument, `unknown job status "${text}"`);
  return s;
}

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',')];

async function withClient<T>(o: CommonOptions, fn: (c: CairnClient) => Promise<T>): Promise<T> {
  if (!outputFormats.includes(o.format)) throw new CairnError(ErrorCode.InvalidArgument, `unknown --format "${o.format}"`);
  // Secure clusters: TLS with client.<user>.crt or a password, as cairn sql connects.
  const client = clientFor(o.host, undefined, o.user, await resolveClientSecurity(o, o.user, o.certsDir !== DEFAULT_CERTS_DIR));
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * Follows a job with WatchJob until it ends (across leader changes), showing its progress;
 * resolves with the final job.
 */
export async function followJob(client: CairnClient, jobId: string): Promise<Job> {
  let last: Job | undefined;
  let progress: JobProgress | undefined;
  for await (const u of client.watchJob(jobId)) {
    if (!u.job) continue;
    last = u.job;
    progress ??= new JobProgress({ label: jobTypeText(u.job.jobType) });
    progress.update({
      fraction: u.job.fractionCompleted,
      status: statusText(u.job.status),
      ...(u.job.bytesDone > 0n ? { bytes: Number(u.job.bytesDone) } : {}),
    });
  }
  if (!last || !isTerminalJob(last)) throw new CairnError(ErrorCode.Unavailable, `stopped following job ${jobId} before it ended`);
  progress?.finish(statusText(last.status));
  return last;
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('list, show, follow and control jobs (JobService)');
  const common = (c: Command) =>
    addClientSecurityOptions(c)
      .option('--host <addr>', 'coordinator gRPC address(es), comma-separated', DEFAULT_HOST)
      .option('-u, --user <name>', 'SQL user the call runs as (a non-admin sees only its own jobs)', DEFAULT_USER)
      .option('--format <fmt>', `output format (${outputFormats.join('|')})`, 'table');

  common(job.command('list').description('jobs, newest first'))
    .option('--type <type>', 'only jobs of this type (backup, restore, "backup expiry"); repeatable or comma-separated', collect)
    .option('--status <status>', 'only jobs in this status (running, paused, ...); repeatable or comma-separated', collect)
    .option('--schedule <id>', 'only jobs started by this schedule')
    .option('--owner <user>', 'only jobs of this user')
    .option('--limit <n>', 'at most this many jobs (pages are fetched as needed)', '100')
    .action(async (o: CommonOptions & { type?: string[]; status?: string[]; schedule?: string; owner?: string; limit: string }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CairnError(ErrorCode.InvalidArgument, `--limit must be a positive integer, got "${o.limit}"`);
      const filter: ListJobsOptions = {
        jobTypes: (o.type ?? []).map(parseType),
        statuses: (o.status ?? []).map(parseStatus),
        scheduleId: o.schedule ? BigInt(o.schedule) : 0n,
        userName: o.owner ?? '',
        pageSize: Math.min(limit, 1000),
      };
      await withClient(o, async (c) => {
        const jobs: Job[] = [];
        for await (const j of c.allJobs(filter)) {
          jobs.push(j);
          if (jobs.length >= limit) break;
        }
        print(jobs, o.format);
      });
    });

  common(job.command('show <job_id>').description('one job')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.getJob(id)], o.format));
  });

  common(job.command('watch <job_id>').description('follow a job until it ends (exits non-zero unless it succeeded)')).action(
    async (id: string, o: CommonOptions) => {
      await withClient(o, async (c) => {
        const last = await followJob(c, id);
        print([last], o.format);
        if (last.status !== JobStatus.SUCCEEDED) process.exitCode = 1;
      });
    },
  );

  common(job.command('pause <job_id>').description('PAUSE JOB'))
    .option('--reason <text>', 'why (shown with the paused job)')
    .action(async (id: string, o: CommonOptions & { reason?: string }) => {
      await withClient(o, async (c) => print([await c.pauseJob(id, o.reason ?? '')], o.format));
    });
  common(job.command('resume <job_id>').description('RESUME JOB')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.resumeJob(id)], o.format));
  });
  common(job.command('cancel <job_id>').description('CANCEL JOB')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.cancelJob(id)], o.format));
  });
}
