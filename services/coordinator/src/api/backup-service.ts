import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  BackupServiceService,
  BackupType,
  type BackupObject,
  type ListBackupsRequest,
  type ShowBackupRequest,
  type StartBackupRequest,
  type StartRestoreRequest,
} from '@cairn/proto';
import { quoteIdent, quoteString } from '@cairn/sql';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { executeSql } from '../statements/execute.js';
import type { StatementResult } from '../statements/result.js';
import { sessionUser } from '../privileges/privilege-statements.js';
import { openSession } from '../statements/session.js';
import { requireVisibleJob } from '../jobs/job-control.js';
import { unaryCall, type ApiCallContext } from './api-call.js';
import { jobToProto } from './job-service.js';

/**
 * Runs the statement an RPC stands for exactly as `cairn sql` would (parser, privilege
 * checks, audit, implementation), as the call's user.
 */
async function runStatement(leader: LeaderCapabilities, user: string, sql: string): Promise<StatementResult> {
  const [result] = await executeSql(leader, sql, '', user);
  if (!result) throw new CairnError(ErrorCode.Internal, `no result from ${sql}`);
  return result;
}

function tableName(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

function targets(req: { databases: string[]; tables: string[] }): string {
  if (req.databases.length > 0 && req.tables.length > 0) throw new CairnError(ErrorCode.InvalidArgument, 'give databases or tables, not both');
  if (req.databases.length > 0) return ` DATABASE ${req.databases.map(quoteIdent).join(', ')}`;
  if (req.tables.length > 0) return ` TABLE ${req.tables.map(tableName).join(', ')}`;
  return '';
}

function collection(uris: string[]): string {
  if (uris.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'collection is required');
  const quoted = uris.map(quoteString);
  return quoted.length === 1 ? quoted[0]! : `(${quoted.join(', ')})`;
}

/** A Timestamp as AS OF SYSTEM TIME's decimal (nanoseconds since the epoch). */
function asOf(date: Date | undefined): string {
  return date === undefined ? '' : ` AS OF SYSTEM TIME ${BigInt(date.getTime()) * 1_000_000n}.0000000000`;
}

/** WITH options: flags bare, values as string literals; `extra` (detached) appended. */
function withOptions(options: Record<string, string>, extra: string[] = []): string {
  const list = Object.entries(options).flatMap(([k, v]) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new CairnError(ErrorCode.InvalidArgument, `invalid option name "${k}"`);
    if (k === 'detached') return [];
    if (v === 'true') return [k];
    if (v === 'false') return [];
    return [`${k} = ${quoteString(v)}`];
  });
  const all = [...list, ...extra];
  return all.length === 0 ? '' : ` WITH ${all.join(', ')}`;
}

function subdirOf(subdir: string): string {
  return subdir === '' || subdir.toUpperCase() === 'LATEST' ? 'LATEST' : quoteString(subdir);
}

/** BACKUP ... INTO ... WITH detached, from the request's fields. */
export function backupSql(req: StartBackupRequest): string {
  return `BACKUP${targets(req)} INTO ${req.incremental ? 'LATEST IN ' : ''}${collection(req.collection)}${asOf(req.asOf)}${withOptions(req.options, ['detached'])}`;
}

/** RESTORE ... FROM ... IN ... WITH detached, from the request's fields. */
export function restoreSql(req: StartRestoreRequest): string {
  return `RESTORE${targets(req)} FROM ${subdirOf(req.subdir)} IN ${collection(req.collection)}${asOf(req.asOf)}${withOptions(req.options, ['detached'])}`;
}

/** SHOW BACKUP prints CockroachDB's `2024-03-01 10:00:00.123456+00:00`; the API carries a Timestamp. */
function parseShownTime(text: string | null): Date | undefined {
  if (text === null) return undefined;
  const d = new Date(text.replace(' ', 'T').replace(/(\.\d{3})\d*/, '$1'));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function objectsOf(result: StatementResult): BackupObject[] {
  const c = (name: string) => result.columns.indexOf(name);
  return result.rows.map((r) => ({
    databaseName: r[c('database_name')] ?? '',
    parentSchemaName: r[c('parent_schema_name')] ?? '',
    objectName: r[c('object_name')] ?? '',
    objectType: r[c('object_type')] ?? '',
    backupType: r[c('backup_type')] === 'incremental' ? BackupType.INCREMENTAL : BackupType.FULL,
    startTime: parseShownTime(r[c('start_time')] ?? null),
    endTime: parseShownTime(r[c('end_time')] ?? null),
    sizeBytes: BigInt(r[c('size_bytes')] ?? '0'),
    rows: BigInt(r[c('rows')] ?? '0'),
    isFullCluster: r[c('is_full_cluster')] === 'true',
  }));
}

/** The job a detached BACKUP/RESTORE statement answered with, as the API shows it. */
async function startedJob(leader: LeaderCapabilities, user: string, result: StatementResult) {
  const id = result.jobIds?.[0] ?? result.rows[0]?.[0];
  if (!id) throw new CairnError(ErrorCode.Internal, 'the statement started no job');
  const s = openSession(leader, { database: '', user: sessionUser(user) });
  return { job: jobToProto(await requireVisibleJob(s, id)) };
}

/** BackupService: each method runs on the leader (standbys forward). */
export function backupService(ctx: ApiCallContext): [typeof BackupServiceService, UntypedServiceImplementation] {
  const impl = {
    startBackup: unaryCall(ctx, 'BackupService', 'startBackup', async (leader, req: StartBackupRequest) =>
      startedJob(leader, req.user, await runStatement(leader, req.user, backupSql(req))),
    ),
    startRestore: unaryCall(ctx, 'BackupService', 'startRestore', async (leader, req: StartRestoreRequest) =>
      startedJob(leader, req.user, await runStatement(leader, req.user, restoreSql(req))),
    ),
    listBackups: unaryCall(ctx, 'BackupService', 'listBackups', async (leader, req: ListBackupsRequest) => {
      const coll = collection(req.collection);
      const paths = await runStatement(leader, req.user, `SHOW BACKUPS IN ${coll}`);
      const backups = [];
      for (const [path] of paths.rows) {
        if (!path) continue;
        const objects = objectsOf(await runStatement(leader, req.user, `SHOW BACKUP FROM ${quoteString(path)} IN ${coll}${withOptions(req.options)}`));
        const ends = objects.flatMap((o) => (o.endTime ? [o.endTime.getTime()] : []));
        const layers = new Set(objects.map((o) => `${o.startTime?.getTime() ?? 0}:${o.endTime?.getTime() ?? 0}`));
        backups.push({ subdir: path, endTime: ends.length > 0 ? new Date(Math.max(...ends)) : undefined, layers: layers.size });
      }
      return { backups };
    }),
    showBackup: unaryCall(ctx, 'BackupService', 'showBackup', async (leader, req: ShowBackupRequest) => {
      const options = { ...req.options, ...(req.checkFiles ? { check_files: 'true' } : {}) };
      const result = await runStatement(leader, req.user, `SHOW BACKUP FROM ${subdirOf(req.subdir)} IN ${collection(req.collection)}${withOptions(options)}`);
      return { objects: objectsOf(result) };
    }),
  };
  return [BackupServiceService, impl as UntypedServiceImplementation];
}
