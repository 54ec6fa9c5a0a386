import { CairnError, ErrorCode } from '@cairn/errors';
import { parseStorageUri, redactStorageUri } from '@cairn/cloud';
import type { Job } from '@cairn/jobs';
import { encodeBackupDetails, encodeRestoreDetails } from '../jobs/job-details.js';
import { BackupCheckpoint } from '@cairn/proto';
import {
  formatStatement,
  type AlterBackupKmsStatement,
  type BackupStatement,
  type CreateExternalConnectionStatement,
  type DropExternalConnectionStatement,
  type ShowExternalConnectionsStatement,
  type RestoreStatement,
  type ShowBackupsStatement,
} from '@cairn/sql';
import { BackupCollection } from '../backup/backup-collection.js';
import { protectBackupJob } from '../backup/backup-protection.js';
import { BACKUP_JOB, RESTORE_JOB } from '../jobs/job-types.js';
import { decodeRestoreCheckpoint } from '../backup/restore-resumer.js';
import { forgetConnectionGrants, grantConnectionToCreator } from '../privileges/privilege-statements.js';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** What BACKUP, RESTORE and external connections use: planning, jobs, protection, storage, the metadata bucket. */
type BackupSession = SessionWith<'readiness' | 'jobs' | 'planning' | 'protectedTs' | 'storage' | 'meta' | 'privileges'>;

/** A finished non-detached job's outcome, or its error as the statement's error. */
function finished(job: Job): Job {
  if (job.status === 'succeeded') return job;
  if (job.status === 'failed' || job.status === 'revert-failed') {
    throw new CairnError(ErrorCode.JobFailed, `job ${job.id} failed: ${job.error ?? 'unknown error'}`);
  }
  throw new CairnError(ErrorCode.Canceled, `job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}`);
}

/**
 * Starts a BACKUP or RESTORE job and answers as CockroachDB does: its id when detached, else,
 * once it has finished, `job_id, status, fraction_completed, rows, index_entries, bytes`.
 */
async function runJob(
  s: BackupSession,
  type: 'BACKUP' | 'RESTORE',
  stmt: BackupStatement | RestoreStatement,
  /** The job's details, encoded (jobs/job-details.ts). */
  payload: Uint8Array,
  totals: (job: Job) => { rows: string; bytes: string },
  onCreated?: (job: Job) => Promise<void>,
  /** An id allocated beforehand (`JobRegistry.allocateId`), when the caller records it first. */
  jobId?: string,
): Promise<StatementResult> {
  const text = formatStatement(stmt, { redact: true });
  const job = await s.jobs.create({ ...(jobId ? { id: jobId } : {}), type, description: text, statement: text, userName: s.user, payload });
  await onCreated?.(job);
  if (stmt.options.detached) return { ...rowsResult(['job_id'], [[job.id]]), jobIds: [job.id] };
  const done = finished(await s.jobs.waitForTerminal(job.id));
  const { rows, bytes } = totals(done);
  return {
    ...rowsResult(['job_id', 'status', 'fraction_completed', 'rows', 'index_entries', 'bytes'], [
      [done.id, done.status, String(done.progress.fractionCompleted), rows, '0', bytes],
    ]),
    jobIds: [job.id],
  };
}

export async function backup(s: BackupSession, stmt: BackupStatement): Promise<StatementResult> {
  s.readiness.assertReady();
  const details = await BACKUP_JOB.plan(s.planning, stmt, s.database);
  return runJob(
    s,
    'BACKUP',
    stmt,
    encodeBackupDetails(details),
    (job) => {
      const files = job.progress.checkpoint ? BackupCheckpoint.decode(job.progress.checkpoint).files : [];
      return {
        rows: String(files.reduce((a, f) => a + f.rows, 0n)),
        bytes: String(files.reduce((a, f) => a + f.logicalBytes, 0n)),
      };
    },
    // Protected before the statement answers, so a job paused before its first run holds it too.
    (job) => protectBackupJob(s.protectedTs, job.id, details),
  );
}

/**
 * RESTORE: plans and starts the job. The managed-backups API restores a cluster in place
 * (`eraseExisting`, under a job id it recorded first); a RESTORE statement never does.
 */
export async function restore(
  s: BackupSession,
  stmt: RestoreStatement,
  o: { readonly eraseExisting?: boolean; readonly jobId?: string } = {},
): Promise<StatementResult> {
  s.readiness.assertReady();
  const details = await RESTORE_JOB.plan(s.planning, stmt, s.database, { eraseExisting: o.eraseExisting === true });
  return runJob(
    s,
    'RESTORE',
    stmt,
    encodeRestoreDetails(details),
    (job) => {
      const cp = job.progress.checkpoint ? decodeRestoreCheckpoint(job.progress.checkpoint) : undefined;
      return { rows: cp?.rows ?? '0', bytes: cp?.bytes ?? '0' };
    },
    undefined,
    o.jobId,
  );
}

export async function showBackups(s: BackupSession, stmt: ShowBackupsStatement): Promise<StatementResult> {
  const c = await BackupCollection.open(stmt.collection.uris, s.storage.storageContext());
  try {
    return rowsResult(['path'], (await c.fullSubdirs()).map((p) => [p]));
  } finally {
    await c.close();
  }
}

/**
 * `ALTER BACKUP ... ADD NEW_KMS = ... WITH OLD_KMS = ...`: the full backup's data key,
 * unwrapped with an old KMS key, is wrapped by the new ones too; its incrementals share it.
 */
export async function alterBackupKms(s: BackupSession, stmt: AlterBackupKmsStatement): Promise<StatementResult> {
  const sub = stmt.location.subdir ?? ({ kind: 'latest', pos: stmt.pos } as const);
  const c = await BackupCollection.open(stmt.location.uris, s.storage.storageContext());
  try {
    const full = sub.kind === 'latest' ? await c.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
    await c.addKms(full, stmt.oldKms, stmt.newKms);
    return tagOnly('ALTER BACKUP');
  } finally {
    await c.close();
  }
}

// SHOW BACKUP has a file of its own (its variants and options).
export { showBackup } from './show-backup.js';

export async function createExternalConnection(s: BackupSession, stmt: CreateExternalConnectionStatement): Promise<StatementResult> {
  const loc = parseStorageUri(stmt.uri);
  if (loc.scheme === 'external') throw new CairnError(ErrorCode.InvalidArgument, 'an external connection cannot point to another external connection');
  const key = `external-connection.${stmt.name}`;
  try {
    await s.meta.create(key, new TextEncoder().encode(stmt.uri));
  } catch {
    throw new CairnError(ErrorCode.DuplicateObject, `external connection with name ${stmt.name} already exists`);
  }
  await grantConnectionToCreator(s, stmt.name);
  return tagOnly('CREATE EXTERNAL CONNECTION');
}

export async function dropExternalConnection(s: BackupSession, stmt: DropExternalConnectionStatement): Promise<StatementResult> {
  await s.meta.delete(`external-connection.${stmt.name}`);
  await forgetConnectionGrants(s, stmt.name);
  return tagOnly('DROP EXTERNAL CONNECTION');
}

/**
 * SHOW EXTERNAL CONNECTIONS, or SHOW EXTERNAL CONNECTION name (one row; an unknown name is an
 * error), with CockroachDB's columns. Every connection cairn makes is a storage one (its URI
 * must parse as a storage URI).
 */
export async function showExternalConnections(s: BackupSession, stmt: ShowExternalConnectionsStatement): Promise<StatementResult> {
  const columns = ['connection_name', 'connection_uri', 'connection_type'];
  if (stmt.name !== undefined) {
    const e = await s.meta.get(`external-connection.${stmt.name}`);
    if (!e || e.operation !== 'PUT') throw new CairnError(ErrorCode.UndefinedObject, `external connection with name ${stmt.name} does not exist`);
    return rowsResult(columns, [externalConnectionRow(stmt.name, e.string())]);
  }
  const rows: (string | null)[][] = [];
  const keys = await s.meta.keys('external-connection.*');
  const names: string[] = [];
  for await (const k of keys) names.push(k);
  for (const k of names.sort()) {
    const e = await s.meta.get(k);
    if (e && e.operation === 'PUT') rows.push(externalConnectionRow(k.slice('external-connection.'.length), e.string()));
  }
  return rowsResult(columns, rows);
}

/** One SHOW EXTERNAL CONNECTIONS row: the name, the URI with credentials redacted, the type. */
export function externalConnectionRow(name: string, uri: string): [string, string, string] {
  return [name, redactStorageUri(uri), 'STORAGE'];
}
