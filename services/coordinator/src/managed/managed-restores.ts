import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job } from '@cairn/jobs';
import { parse, quoteIdent, quoteString, type RestoreStatement } from '@cairn/sql';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { openSession } from '../statements/session.js';
import { executeSql } from '../statements/execute.js';
import { restore } from '../statements/backup-statements.js';
import type { ManagedBackups } from './managed-backups.js';
import type { ManagedRestoreRecord } from './managed-backup-store.js';

export const RESTORE_TYPES = ['CLUSTER', 'DATABASE', 'TABLE'] as const;
type RestoreType = (typeof RESTORE_TYPES)[number];

const FLAGS = ['skip_missing_foreign_keys', 'skip_missing_sequences', 'skip_missing_views', 'skip_localities_check'] as const;

/** A POST restores body, checked. */
export interface RestoreRequest {
  backup_id: string;
  type: RestoreType;
  source?: string;
  destination_database?: string;
  flags: Array<(typeof FLAGS)[number]>;
}

/** A restore job as the API shows it (the Restore Jobs tab's columns). */
export interface RestoreView {
  id: string;
  backup_id: string;
  backup_taken_at: string;
  type: RestoreType;
  source: string;
  destination: string;
  status: 'PREPARING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  created_at: string;
  completed_at: string | null;
  fraction_completed: number;
  error_message: string | null;
}

const bad = (message: string) => new CairnError(ErrorCode.InvalidArgument, message);

export function parseRestoreRequest(body: unknown): RestoreRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object with backup_id and type');
  const b = body as Record<string, unknown>;
  const allowed = ['backup_id', 'type', 'source', 'destination_database', ...FLAGS];
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw bad(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}: allowed fields are ${allowed.join(', ')}`);
  if (typeof b['backup_id'] !== 'string' || b['backup_id'] === '') throw bad('backup_id is required (an id from GET backups)');
  const type = b['type'];
  if (typeof type !== 'string' || !(RESTORE_TYPES as readonly string[]).includes(type)) {
    throw bad(`type ${JSON.stringify(type)} is not allowed: allowed values are ${RESTORE_TYPES.join(', ')}`);
  }
  for (const k of ['source', 'destination_database'] as const) {
    if (b[k] !== undefined && (typeof b[k] !== 'string' || b[k] === '')) throw bad(`${k} must be a non-empty string`);
  }
  const flags: RestoreRequest['flags'] = [];
  for (const f of FLAGS) {
    if (b[f] === undefined) continue;
    if (typeof b[f] !== 'boolean') throw bad(`${f} must be true or false`);
    if (b[f]) flags.push(f);
  }
  const req: RestoreRequest = { backup_id: b['backup_id'], type: type as RestoreType, flags };
  if (typeof b['source'] === 'string') req.source = b['source'];
  if (typeof b['destination_database'] === 'string') req.destination_database = b['destination_database'];
  if (req.type === 'CLUSTER' && (req.source !== undefined || req.destination_database !== undefined)) {
    throw bad('a CLUSTER restore takes no source or destination_database: it restores the whole backup into this cluster');
  }
  if (req.type !== 'CLUSTER' && req.source === undefined) {
    throw bad(req.type === 'DATABASE' ? 'source is required: the database to restore' : 'source is required: the table to restore, as db.table');
  }
  return req;
}

/** `db.table` or `db.public.table` → its parts. */
function tableSource(source: string): { db: string; table: string } {
  const parts = source.split('.');
  if (parts.length === 2) return { db: parts[0]!, table: parts[1]! };
  if (parts.length === 3 && parts[1] === 'public') return { db: parts[0]!, table: parts[2]! };
  throw bad(`source "${source}" must name a table as db.table`);
}

export function restoreStatus(job: Job): RestoreView['status'] {
  switch (job.status) {
    case 'pending':
      return 'PREPARING';
    case 'running':
    case 'paused':
    case 'pause-requested':
      return 'RUNNING';
    case 'succeeded':
      return 'SUCCEEDED';
    default:
      return 'FAILED';
  }
}

export function restoreView(r: ManagedRestoreRecord, job: Job | undefined): RestoreView {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: r.jobId,
    backup_id: r.backupId,
    backup_taken_at: iso(r.backupTakenAtMs),
    type: r.type,
    source: r.source,
    destination: r.destination,
    status: job ? restoreStatus(job) : 'FAILED',
    created_at: iso(job?.spec.createdAtMs ?? r.createdAtMs),
    completed_at: job?.finishedAtMs ? iso(job.finishedAtMs) : job ? null : iso(r.createdAtMs),
    fraction_completed: job?.progress.fractionCompleted ?? 0,
    error_message: job ? job.error : 'the restore job was never created',
  };
}

/**
 * POST restores: the RESTORE statement the request stands for, run through the statement's
 * own implementation. A CLUSTER restore onto a cluster with user databases is a restore in
 * place: recorded (with its job id) before the job exists, gated from then on, and erased by
 * the job itself in the batch that creates the restored objects.
 */
export async function createRestore(
  leader: LeaderCapabilities,
  managed: ManagedBackups,
  clusterName: string,
  req: RestoreRequest,
  /** The request's `Idempotency-Key`: a repeat of the request returns the restore it started. */
  idempotencyKey?: string,
): Promise<RestoreView> {
  const uri = managed.collectionUri;
  if (uri === undefined) throw new CairnError(ErrorCode.FailedPrecondition, 'managed backups are not configured (--managed-backups-uri)');
  // A repeat of a request that started a restore answers with it, before any check that the
  // first one's effects (a destination that now exists) would fail.
  const earlier = idempotencyKey === undefined ? undefined : await managed.store.restoreKeyOwner(idempotencyKey);
  if (earlier !== undefined) return startedRestore(leader, managed, earlier);
  const { record } = await managed.completeBackup(leader, req.backup_id);
  await leader.restoreGate.assertWritable();
  const from = `FROM ${quoteString(record.fullSubdir)} IN ${quoteString(uri)} AS OF SYSTEM TIME ${record.asOfNs}.0000000000`;
  const options: string[] = ['detached', ...req.flags];
  let target = '';
  let source = clusterName;
  let destination = clusterName;
  if (req.type === 'DATABASE') {
    const db = record.databases.find((d) => d.name === req.source);
    if (!db) throw new CairnError(ErrorCode.NotFound, `database "${req.source}" is not in backup ${req.backup_id}`);
    const dest = req.destination_database ?? db.name;
    target = ` DATABASE ${quoteIdent(db.name)}`;
    if (dest !== db.name) options.push(`new_db_name = ${quoteString(dest)}`);
    source = db.name;
    destination = dest;
  } else if (req.type === 'TABLE') {
    const { db, table } = tableSource(req.source!);
    if (!record.databases.some((d) => d.name === db && d.tables.includes(table))) {
      throw new CairnError(ErrorCode.NotFound, `table "${db}.${table}" is not in backup ${req.backup_id}`);
    }
    const dest = req.destination_database ?? db;
    target = ` TABLE ${quoteIdent(db)}.${quoteIdent(table)}`;
    if (dest !== db) options.push(`into_db = ${quoteString(dest)}`);
    // Cloud's rule: a database name that does not exist yet is created to restore into.
    if (leader.catalog.database(dest) === undefined) await executeSql(leader, `CREATE DATABASE IF NOT EXISTS ${quoteIdent(dest)}`, '', 'root');
    source = `${db}.${table}`;
    destination = `${dest}.${table}`;
  }
  const sql = `RESTORE${target} ${from} WITH ${options.join(', ')}`;
  const [stmt] = parse(sql);
  if (stmt?.kind !== 'restore') throw new CairnError(ErrorCode.Internal, `not a RESTORE: ${sql}`);
  // A new cluster's empty defaultdb and postgres do not make it "not empty" (RESTORE fills them).
  const eraseExisting = req.type === 'CLUSTER' && leader.catalog.databases().some((d) => !leader.catalog.isUnusedDefaultDatabase(d));
  const jobId = leader.jobs.allocateId();
  if (idempotencyKey !== undefined) {
    const owner = await managed.store.claimRestoreKey(idempotencyKey, jobId);
    if (owner !== jobId) return startedRestore(leader, managed, owner);
  }
  const restoreRecord: ManagedRestoreRecord = {
    version: 1,
    jobId,
    backupId: record.backupId,
    backupTakenAtMs: record.asOfMs,
    type: req.type,
    source,
    destination,
    eraseExisting,
    createdAtMs: Date.now(),
  };
  await managed.store.putRestore(restoreRecord);
  if (eraseExisting) leader.restoreGate.add(jobId);
  await restore(openSession(leader, { database: '', user: 'root' }), stmt as RestoreStatement, { eraseExisting, jobId });
  leader.log.info({ jobId, type: req.type, source, destination, eraseExisting }, 'managed restore started');
  if (eraseExisting) managed.settleInPlaceRestoreLater(leader, jobId);
  return restoreView(restoreRecord, await leader.jobs.get(jobId));
}

/**
 * The restore a request with the same idempotency key started: its record is written right
 * after the key is claimed, so a repeat that raced the first waits for it briefly.
 */
async function startedRestore(leader: Pick<LeaderCapabilities, 'jobs'>, managed: ManagedBackups, jobId: string): Promise<RestoreView> {
  for (let i = 0; i < 50; i++) {
    const r = await managed.store.getRestore(jobId);
    if (r) return restoreView(r, await leader.jobs.get(jobId).catch(() => undefined));
    await sleep(200);
  }
  throw new CairnError(ErrorCode.Unavailable, `the restore of an earlier request with this idempotency key (job ${jobId}) is not recorded yet; try again`, { retryable: true });
}

/** Every restore started through the API, with its job. */
export async function listRestores(leader: Pick<LeaderCapabilities, 'jobs'>, managed: ManagedBackups): Promise<RestoreView[]> {
  const records = await managed.store.restores();
  return Promise.all(records.map(async (r) => restoreView(r, await leader.jobs.get(r.jobId).catch(() => undefined))));
}

export async function getRestore(leader: Pick<LeaderCapabilities, 'jobs'>, managed: ManagedBackups, id: string): Promise<RestoreView> {
  const r = await managed.store.getRestore(id);
  if (!r) throw new CairnError(ErrorCode.NotFound, `restore "${id}" does not exist`);
  return restoreView(r, await leader.jobs.get(r.jobId).catch(() => undefined));
}
