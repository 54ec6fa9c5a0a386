import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  ScheduleServiceService,
  ScheduleStatus,
  type AlterBackupScheduleRequest,
  type CreateBackupScheduleRequest,
  type DropScheduleRequest,
  type GetScheduleRequest,
  type ListSchedulesRequest,
  type PauseScheduleRequest,
  type ResumeScheduleRequest,
  type Schedule,
} from '@cairn/proto';
import { compareScheduleIds, showSchedulesRow, type BackupSchedule } from '@cairn/schedules';
import { quoteIdent, quoteString, type Statement } from '@cairn/sql';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { authorizeStatement, scheduleAccess, sessionUser } from '../privileges/privilege-statements.js';
import { executeSql } from '../statements/execute.js';
import { runningJobs } from '../statements/schedule-statements.js';
import { openSession } from '../statements/session.js';
import { unaryCall, type ApiCallContext } from './api-call.js';

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** A schedule as the API shows it: SHOW SCHEDULES' row, typed. */
export function scheduleToProto(schedule: BackupSchedule, jobsRunning: number): Schedule {
  const row = showSchedulesRow(schedule, jobsRunning);
  return {
    scheduleId: BigInt(schedule.id),
    label: schedule.label,
    status: schedule.state === 'PAUSED' ? ScheduleStatus.PAUSED : ScheduleStatus.ACTIVE,
    nextRun: schedule.nextRunMs === null ? undefined : new Date(schedule.nextRunMs),
    // Redacted (a status may quote a job's error), as SHOW SCHEDULES shows it.
    state: row.state ?? '',
    recurrence: row.recurrence ?? '',
    jobsRunning,
    owner: schedule.owner,
    created: new Date(schedule.createdAtMs),
    command: row.command ?? '',
  };
}

/**
 * Runs the statement an RPC stands for exactly as `cairn sql` would (parser, privilege
 * checks, audit, implementation), as the call's user, and returns its result.
 */
async function runStatement(leader: LeaderCapabilities, user: string, sql: string) {
  const [result] = await executeSql(leader, sql, '', user);
  if (!result) throw new CairnError(ErrorCode.Internal, `no result from ${sql}`);
  return result;
}

/** What reading schedules as the caller may takes: the schedules, their jobs, the privilege checks' reads. */
type ScheduleReads = Pick<LeaderCapabilities, 'schedules' | 'jobs' | 'readiness' | 'catalog' | 'privileges'>;

/** The schedules a statement's result names in its `schedule_id` column, as the API shows them. */
async function schedulesNamed(leader: ScheduleReads, user: string, ids: readonly string[]): Promise<Schedule[]> {
  const s = openSession(leader, { database: '', user: sessionUser(user) });
  const running = await runningJobs(s);
  const may = await scheduleAccess(s);
  const out: Schedule[] = [];
  for (const id of ids) {
    const schedule = await leader.schedules.store.get(id);
    // A non-admin sees its own schedules only, as through SHOW SCHEDULES.
    if (schedule && may(schedule.owner)) out.push(scheduleToProto(schedule, running(id)));
  }
  return out;
}

function idsFromResult(result: { columns: string[]; rows: (string | null)[][] }): string[] {
  const i = result.columns.indexOf('schedule_id');
  return i < 0 ? [] : result.rows.flatMap((r) => (r[i] ? [r[i]] : []));
}

function scheduleIdOf(id: bigint): string {
  if (id <= 0n) throw new CairnError(ErrorCode.InvalidArgument, 'schedule_id is required');
  return String(id);
}

/** A table name `db.t` (or `t`) as SQL, each part quoted as needed. */
function tableName(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

/** `WITH` option values: flags bare (`revision_history`), others as string literals. */
function optionList(options: Record<string, string>, flagsBare: boolean): string[] {
  return Object.entries(options).flatMap(([k, v]) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new CairnError(ErrorCode.InvalidArgument, `invalid option name "${k}"`);
    if (flagsBare && v === 'true') return [k];
    if (flagsBare && v === 'false') return [];
    return [`${k} = ${v === 'true' || v === 'false' ? v : quoteString(v)}`];
  });
}

/** CREATE SCHEDULE ... FOR BACKUP, from the request's fields. */
export function createScheduleSql(req: CreateBackupScheduleRequest): string {
  if (req.collection.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'collection is required');
  if (req.databases.length > 0 && req.tables.length > 0) {
    throw new CairnError(ErrorCode.InvalidArgument, 'give databases or tables, not both');
  }
  const parts = ['CREATE SCHEDULE'];
  if (req.ifNotExists) parts.push('IF NOT EXISTS');
  if (req.label) parts.push(quoteString(req.label));
  parts.push('FOR BACKUP');
  if (req.databases.length > 0) parts.push(`DATABASE ${req.databases.map(quoteIdent).join(', ')}`);
  if (req.tables.length > 0) parts.push(`TABLE ${req.tables.map(tableName).join(', ')}`);
  const uris = req.collection.map(quoteString);
  parts.push(`INTO ${uris.length === 1 ? uris[0] : `(${uris.join(', ')})`}`);
  const options = optionList(req.options, true);
  if (options.length > 0) parts.push(`WITH ${options.join(', ')}`);
  parts.push(`RECURRING ${req.recurring ? quoteString(req.recurring) : 'NEVER'}`);
  if (req.fullBackup) parts.push(`FULL BACKUP ${req.fullBackup.toUpperCase() === 'ALWAYS' ? 'ALWAYS' : quoteString(req.fullBackup)}`);
  const scheduleOptions = optionList(req.scheduleOptions, true);
  if (scheduleOptions.length > 0) parts.push(`WITH SCHEDULE OPTIONS ${scheduleOptions.join(', ')}`);
  return parts.join(' ');
}

/** ALTER BACKUP SCHEDULE id SET ..., from the request's fields. */
export function alterScheduleSql(req: AlterBackupScheduleRequest): string {
  const commands: string[] = [];
  if (req.label) commands.push(`SET LABEL ${quoteString(req.label)}`);
  if (req.recurring) commands.push(`SET RECURRING ${req.recurring.toUpperCase() === 'NEVER' ? 'NEVER' : quoteString(req.recurring)}`);
  if (req.fullBackup) commands.push(`SET FULL BACKUP ${req.fullBackup.toUpperCase() === 'ALWAYS' ? 'ALWAYS' : quoteString(req.fullBackup)}`);
  for (const o of optionList(req.options, false)) commands.push(`SET WITH ${o}`);
  for (const o of optionList(req.scheduleOptions, false)) commands.push(`SET SCHEDULE OPTION ${o}`);
  if (commands.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'nothing to alter: give at least one field');
  return `ALTER BACKUP SCHEDULE ${scheduleIdOf(req.scheduleId)} ${commands.join(', ')}`;
}

const SHOW_SCHEDULES: Statement = { kind: 'showSchedules', backupOnly: false, pos: 1 };

/** ScheduleService: each method runs on the leader (standbys forward). */
export function scheduleService(ctx: ApiCallContext): [typeof ScheduleServiceService, UntypedServiceImplementation] {
  const impl = {
    listSchedules: unaryCall(ctx, 'ScheduleService', 'listSchedules', async (leader: ScheduleReads, req: ListSchedulesRequest) => {
      leader.readiness.assertReady();
      const s = openSession(leader, { database: '', user: sessionUser(req.user) });
      await authorizeStatement(s, SHOW_SCHEDULES);
      const pageSize = req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize;
      if (pageSize > MAX_PAGE_SIZE) throw new CairnError(ErrorCode.InvalidArgument, `page_size must be at most ${MAX_PAGE_SIZE}`);
      const after = req.pageToken ? decodeToken(req.pageToken) : undefined;
      const may = await scheduleAccess(s);
      // SHOW SCHEDULES' order: creation time, then id; a non-admin's own schedules only.
      const all = (await leader.schedules.store.list())
        .filter((x) => may(x.owner) && (req.label === '' || x.label === req.label) && (req.status === ScheduleStatus.UNSPECIFIED || (req.status === ScheduleStatus.PAUSED) === (x.state === 'PAUSED')))
        .sort((a, b) => a.createdAtMs - b.createdAtMs || compareScheduleIds(a.id, b.id));
      const start = after === undefined ? 0 : all.findIndex((x) => x.createdAtMs > after.createdAtMs || (x.createdAtMs === after.createdAtMs && compareScheduleIds(x.id, after.id) > 0));
      const page = start < 0 ? [] : all.slice(start, start + pageSize);
      const running = await runningJobs(s);
      const last = page.at(-1);
      const more = start >= 0 && start + pageSize < all.length;
      return { schedules: page.map((x) => scheduleToProto(x, running(x.id))), nextPageToken: more && last ? encodeToken(last) : '' };
    }),
    getSchedule: unaryCall(ctx, 'ScheduleService', 'getSchedule', async (leader: ScheduleReads, req: GetScheduleRequest) => {
      const id = scheduleIdOf(req.scheduleId);
      leader.readiness.assertReady();
      const s = openSession(leader, { database: '', user: sessionUser(req.user) });
      await authorizeStatement(s, { kind: 'showSchedule', id, pos: 1 });
      const [schedule] = await schedulesNamed(leader, req.user, [id]);
      if (!schedule) throw new CairnError(ErrorCode.NotFound, `schedule ${id} does not exist`);
      return { schedule };
    }),
    createBackupSchedule: unaryCall(ctx, 'ScheduleService', 'createBackupSchedule', async (leader, req: CreateBackupScheduleRequest) => {
      const result = await runStatement(leader, req.user, createScheduleSql(req));
      return { schedules: await schedulesNamed(leader, req.user, idsFromResult(result)) };
    }),
    alterBackupSchedule: unaryCall(ctx, 'ScheduleService', 'alterBackupSchedule', async (leader, req: AlterBackupScheduleRequest) => {
      const result = await runStatement(leader, req.user, alterScheduleSql(req));
      return { schedules: await schedulesNamed(leader, req.user, idsFromResult(result)) };
    }),
    pauseSchedule: unaryCall(ctx, 'ScheduleService', 'pauseSchedule', async (leader, req: PauseScheduleRequest) => {
      const id = scheduleIdOf(req.scheduleId);
      await runStatement(leader, req.user, `PAUSE SCHEDULE ${id}`);
      return { schedule: (await schedulesNamed(leader, req.user, [id]))[0] };
    }),
    resumeSchedule: unaryCall(ctx, 'ScheduleService', 'resumeSchedule', async (leader, req: ResumeScheduleRequest) => {
      const id = scheduleIdOf(req.scheduleId);
      await runStatement(leader, req.user, `RESUME SCHEDULE ${id}`);
      return { schedule: (await schedulesNamed(leader, req.user, [id]))[0] };
    }),
    dropSchedule: unaryCall(ctx, 'ScheduleService', 'dropSchedule', async (leader, req: DropScheduleRequest) => {
      const id = scheduleIdOf(req.scheduleId);
      if (!(await leader.schedules.store.get(id))) throw new CairnError(ErrorCode.NotFound, `schedule ${id} does not exist`);
      await runStatement(leader, req.user, `DROP SCHEDULE ${id}`);
      return {};
    }),
  };
  return [ScheduleServiceService, impl as UntypedServiceImplementation];
}

function encodeToken(last: BackupSchedule): string {
  return Buffer.from(`v1:${last.createdAtMs}:${last.id}`).toString('base64url');
}

function decodeToken(token: string): { createdAtMs: number; id: string } {
  const m = /^v1:(\d+):(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  if (!m) throw new CairnError(ErrorCode.InvalidArgument, 'invalid page_token: pass the next_page_token of a previous ListSchedules answer');
  return { createdAtMs: Number(m[1]), id: m[2]! };
}
