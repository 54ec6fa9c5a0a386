import { formatLocality, isLive } from '@cairn/cluster';
import { CairnError, ErrorCode, redactText } from '@cairn/errors';
import type { Job } from '@cairn/jobs';
import type { NodeRecord } from '@cairn/proto';
import { compareScheduleIds, showSchedulesRow, type BackupSchedule } from '@cairn/schedules';
import { listJobPage } from '../jobs/job-control.js';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { authorizeStatement, sessionUser, scheduleAccess } from '../privileges/privilege-statements.js';
import { executeSql } from '../statements/execute.js';
import { runningJobs } from '../statements/schedule-statements.js';
import { openSession, type SessionContext } from '../statements/session.js';

/**
 * The console's read-only views of the cluster beside managed backups (running jobs, nodes by
 * locality, schedules) and its schedule pause/resume, as JSON for `/api/v1/clusters/{id}/`
 * jobs, nodes and schedules. Each one runs the code its SQL statement runs (SHOW JOBS' job
 * listing, SHOW NODES' node directory, SHOW SCHEDULES' rows, PAUSE|RESUME SCHEDULE itself), so
 * the console cannot show or do something different from `cairn sql`.
 */

/** A job as the console lists it: SHOW JOBS' columns that a jobs table shows. */
export interface JobView {
  id: string;
  type: string;
  description: string;
  status: string;
  running_status: string;
  fraction_completed: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error_message: string | null;
}

export interface NodeView {
  id: number;
  address: string;
  locality: string;
  status: 'LIVE' | 'DEAD';
  ranges: number;
  started_at: string | null;
  last_heartbeat_at: string | null;
}

export interface ScheduleView {
  id: string;
  label: string;
  status: 'ACTIVE' | 'PAUSED';
  /** The schedule's status text (SHOW SCHEDULES' `state`), e.g. why it paused. */
  state: string;
  recurrence: string;
  next_run_at: string | null;
  jobs_running: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** `pending` → `PENDING`, `pause-requested` → `PAUSE_REQUESTED`: the API's enum spelling. */
const jobStatusEnum = (s: string): string => s.toUpperCase().replace(/-/g, '_');

const JOB_STATUSES = ['pending', 'running', 'paused', 'pause-requested', 'cancel-requested', 'reverting', 'succeeded', 'failed', 'canceled', 'revert-failed'] as const;

export function jobView(job: Job): JobView {
  return {
    id: job.id,
    type: job.spec.type,
    description: redactText(job.spec.description),
    status: jobStatusEnum(job.status),
    running_status: job.progress.runningStatus ?? '',
    fraction_completed: job.progress.fractionCompleted,
    created_at: new Date(job.spec.createdAtMs).toISOString(),
    started_at: iso(job.startedAtMs),
    finished_at: iso(job.finishedAtMs),
    error_message: job.error === null ? null : redactText(job.error),
  };
}

/** What a view reads (`K`), and what checking the user's privileges to read it takes. */
type Viewing<K extends keyof LeaderCapabilities> = Pick<LeaderCapabilities, K | 'readiness' | 'catalog' | 'privileges'>;

/** A session for `user`, as the SQL statements it stands for would run. */
function session<C extends Partial<LeaderCapabilities>>(leader: C, user: string): SessionContext & C {
  return openSession(leader, { database: '', user: sessionUser(user) });
}

/**
 * `GET jobs[?status=running,paused]`: the newest jobs first (at most `limit`), only those
 * `user` may see, as SHOW JOBS decides. `status` is one or more job statuses, comma-separated,
 * in either spelling (`PAUSE_REQUESTED` or `pause-requested`).
 */
export async function listJobs(leader: Viewing<'jobs'>, user: string, query: URLSearchParams): Promise<{ jobs: JobView[] }> {
  leader.readiness.assertReady();
  const s = session(leader, user);
  await authorizeStatement(s, { kind: 'showJobs', pos: 1 });
  const wanted = query.get('status');
  const statuses = (wanted ?? '')
    .split(',')
    .filter((w) => w.trim() !== '')
    .map((w) => {
      const status = JOB_STATUSES.find((x) => x === w.trim().toLowerCase().replace(/_/g, '-'));
      if (status === undefined) throw new CairnError(ErrorCode.InvalidArgument, `unknown job status "${w}"; one of ${JOB_STATUSES.map(jobStatusEnum).join(', ')}`);
      return status;
    });
  const limit = Number(query.get('limit') ?? '100');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CairnError(ErrorCode.InvalidArgument, `limit must be an integer from 1 to 1000, got ${query.get('limit')}`);
  const page = await listJobPage(s, statuses.length === 0 ? {} : { statuses }, { pageSize: limit });
  return { jobs: page.jobs.map(jobView) };
}

/** `GET nodes`: every storage node the cluster knows (SHOW NODES' directory), live or not. */
export async function listNodes(leader: Viewing<'nodes'>, user: string): Promise<{ nodes: NodeView[] }> {
  await authorizeStatement(session(leader, user), { kind: 'showNodes', pos: 1 });
  const now = Date.now();
  return {
    nodes: leader.nodes.allNodes().map((n: NodeRecord) => ({
      id: n.nodeId,
      address: n.address,
      locality: formatLocality(n.locality),
      status: isLive(n, now) ? 'LIVE' : 'DEAD',
      ranges: n.ranges,
      started_at: iso(Number(n.startedAtMs)),
      last_heartbeat_at: iso(Number(n.heartbeatAtMs)),
    })),
  };
}

function scheduleView(schedule: BackupSchedule, jobsRunning: number): ScheduleView {
  const row = showSchedulesRow(schedule, jobsRunning);
  return {
    id: schedule.id,
    label: schedule.label,
    status: schedule.state === 'PAUSED' ? 'PAUSED' : 'ACTIVE',
    // Redacted (a status may quote a job's error), as SHOW SCHEDULES shows it.
    state: row.state ?? '',
    recurrence: row.recurrence ?? '',
    next_run_at: iso(schedule.nextRunMs),
    jobs_running: jobsRunning,
  };
}

/** `GET schedules`: SHOW SCHEDULES' schedules in its order (creation time, then id). */
export async function listSchedules(leader: Viewing<'schedules' | 'jobs'>, user: string): Promise<{ schedules: ScheduleView[] }> {
  leader.readiness.assertReady();
  const s = session(leader, user);
  await authorizeStatement(s, { kind: 'showSchedules', backupOnly: false, pos: 1 });
  // A non-admin sees the schedules it owns, as through SHOW SCHEDULES.
  const may = await scheduleAccess(s);
  const all = (await leader.schedules.store.list()).filter((x) => may(x.owner)).sort((a, b) => a.createdAtMs - b.createdAtMs || compareScheduleIds(a.id, b.id));
  const running = await runningJobs(s);
  return { schedules: all.map((x) => scheduleView(x, running(x.id))) };
}

/**
 * `POST schedules/{id}/pause` and `.../resume`: runs PAUSE|RESUME SCHEDULE as `user` (its
 * parser, privilege check and audit line), then answers with the schedule as it now is.
 */
export async function setSchedulePaused(leader: LeaderCapabilities, user: string, id: string, paused: boolean): Promise<ScheduleView> {
  if (!/^\d+$/.test(id)) throw new CairnError(ErrorCode.InvalidArgument, `schedule id must be an integer, got "${id}"`);
  if (!(await leader.schedules.store.get(id))) throw new CairnError(ErrorCode.NotFound, `schedule ${id} does not exist`);
  await executeSql(leader, `${paused ? 'PAUSE' : 'RESUME'} SCHEDULE ${id}`, '', user);
  const schedule = await leader.schedules.store.get(id);
  if (!schedule) throw new CairnError(ErrorCode.NotFound, `schedule ${id} does not exist`);
  const running = await runningJobs(session(leader, user));
  return scheduleView(schedule, running(id));
}
