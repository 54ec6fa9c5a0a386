import { CairnError, ErrorCode } from '@cairn/errors';
import { Catalog, decodeDescriptor } from '@cairn/catalog';
import { openStorage, parseStorageUri, redactStorageUri } from '@cairn/cloud';
import type { Job } from '@cairn/jobs';
import { encodeBackupDetails, encodeRestoreDetails } from '../jobs/job-details.js';
import { formatJobTimestamp } from '@cairn/jobs';
import { BackupCheckpoint, DescriptorState, ObjectKind, type BackupFile } from '@cairn/proto';
import {
  formatStatement,
  type AlterBackupKmsStatement,
  type BackupStatement,
  type CreateExternalConnectionStatement,
  type DropExternalConnectionStatement,
  type RestoreStatement,
  type ShowBackupStatement,
  type ShowBackupsStatement,
} from '@cairn/sql';
import { BackupCollection } from '../backup/backup-collection.js';
import { planBackup } from '../backup/backup-planner.js';
import { protectBackupJob } from '../backup/backup-protection.js';
import { planRestore } from '../backup/restore-planner.js';
import { decodeRestoreCheckpoint } from '../backup/restore-resumer.js';
import { forgetConnectionGrants, grantConnectionToCreator } from '../privileges/privilege-statements.js';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import type { Session } from './session.js';

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
  s: Session,
  type: 'BACKUP' | 'RESTORE',
  stmt: BackupStatement | RestoreStatement,
  /** The job's details, encoded (jobs/job-details.ts). */
  payload: Uint8Array,
  totals: (job: Job) => { rows: string; bytes: string },
  onCreated?: (job: Job) => Promise<void>,
): Promise<StatementResult> {
  const text = formatStatement(stmt, { redact: true });
  const job = await s.leader.jobs.create({ type, description: text, statement: text, userName: s.user, payload });
  await onCreated?.(job);
  if (stmt.options.detached) return { ...rowsResult(['job_id'], [[job.id]]), jobIds: [job.id] };
  const done = finished(await s.leader.jobs.waitForTerminal(job.id));
  const { rows, bytes } = totals(done);
  return {
    ...rowsResult(['job_id', 'status', 'fraction_completed', 'rows', 'index_entries', 'bytes'], [
      [done.id, done.status, String(done.progress.fractionCompleted), rows, '0', bytes],
    ]),
    jobIds: [job.id],
  };
}

export async function backup(s: Session, stmt: BackupStatement): Promise<StatementResult> {
  s.leader.assertReady();
  const details = await planBackup(s.leader, stmt, s.database);
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
    (job) => protectBackupJob(s.leader.protectedTs, job.id, details),
  );
}

export async function restore(s: Session, stmt: RestoreStatement): Promise<StatementResult> {
  s.leader.assertReady();
  const details = await planRestore(s.leader, stmt, s.database);
  return runJob(s, 'RESTORE', stmt, encodeRestoreDetails(details), (job) => {
    const cp = job.progress.checkpoint ? decodeRestoreCheckpoint(job.progress.checkpoint) : undefined;
    return { rows: cp?.rows ?? '0', bytes: cp?.bytes ?? '0' };
  });
}

export async function showBackups(s: Session, stmt: ShowBackupsStatement): Promise<StatementResult> {
  const c = await BackupCollection.open(stmt.collection.uris, s.leader.storageContext());
  try {
    return rowsResult(['path'], (await c.fullSubdirs()).map((p) => [p]));
  } finally {
    await c.close();
  }
}

const tsText = (ns: bigint): string => formatJobTimestamp(Number(ns / 1_000_000n), Number((ns / 1000n) % 1000n));

/**
 * `ALTER BACKUP ... ADD NEW_KMS = ... WITH OLD_KMS = ...`: the full backup's data key,
 * unwrapped with an old KMS key, is wrapped by the new ones too; its incrementals share it.
 */
export async function alterBackupKms(s: Session, stmt: AlterBackupKmsStatement): Promise<StatementResult> {
  const sub = stmt.location.subdir ?? ({ kind: 'latest', pos: stmt.pos } as const);
  const c = await BackupCollection.open(stmt.location.uris, s.leader.storageContext());
  try {
    const full = sub.kind === 'latest' ? await c.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
    await c.addKms(full, stmt.oldKms, stmt.newKms);
    return tagOnly('ALTER BACKUP');
  } finally {
    await c.close();
  }
}

export async function showBackup(s: Session, stmt: ShowBackupStatement): Promise<StatementResult> {
  // `SHOW BACKUP '<uri>'` (the old form) shows the newest chain at that location.
  const sub = stmt.source.subdir ?? ({ kind: 'latest', pos: stmt.pos } as const);
  const c = await BackupCollection.open(stmt.source.uris, s.leader.storageContext());
  try {
    const full = sub.kind === 'latest' ? await c.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
    const key = await c.encryptionKey(full, stmt.options, false);
    const chain = await c.chain(full, key);
    const rows: (string | null)[][] = [];
    for (const layer of chain) {
      const m = layer.manifest;
      const catalog = Catalog.fromDescriptors(m.descriptors.map((b) => decodeDescriptor(b)));
      if (stmt.options.checkFiles) await checkFiles(s, c, layer.path, m.files);
      const stats = new Map<number, { rows: bigint; bytes: bigint }>();
      for (const f of m.files) {
        const id = f.span ? tableIdOf(f.span.start) : -1;
        const st = stats.get(id) ?? { rows: 0n, bytes: 0n };
        st.rows += f.rows;
        st.bytes += f.logicalBytes;
        stats.set(id, st);
      }
      const kind = m.startTime === 0n ? 'full' : 'incremental';
      const start = m.startTime === 0n ? null : tsText(m.startTime);
      for (const db of catalog.databases()) {
        rows.push([null, null, db.name, 'database', kind, start, tsText(m.endTime), null, null, String(m.isFullCluster)]);
        for (const t of catalog.tablesIn(db.id)) {
          if (t.state === DescriptorState.DROPPED) continue;
          const st = stats.get(t.id);
          rows.push([
            db.name,
            'public',
            t.name,
            t.kind === ObjectKind.VIEW ? 'view' : t.kind === ObjectKind.SEQUENCE ? 'sequence' : 'table',
            kind,
            start,
            tsText(m.endTime),
            String(st?.bytes ?? 0n),
            String(st?.rows ?? 0n),
            String(m.isFullCluster),
          ]);
        }
      }
    }
    return rowsResult(
      ['database_name', 'parent_schema_name', 'object_name', 'object_type', 'backup_type', 'start_time', 'end_time', 'size_bytes', 'rows', 'is_full_cluster'],
      rows,
    );
  } finally {
    await c.close();
  }
}

function tableIdOf(key: Uint8Array): number {
  // Table keys start with the ordered uvarint of the table id: a length byte, then big-endian bytes.
  const len = key[0] ?? 0;
  let id = 0;
  for (let i = 1; i <= len; i++) id = id * 256 + (key[i] ?? 0);
  return id;
}

export async function createExternalConnection(s: Session, stmt: CreateExternalConnectionStatement): Promise<StatementResult> {
  const loc = parseStorageUri(stmt.uri);
  if (loc.scheme === 'external') throw new CairnError(ErrorCode.InvalidArgument, 'an external connection cannot point to another external connection');
  const key = `external-connection.${stmt.name}`;
  try {
    await s.leader.state.meta.create(key, new TextEncoder().encode(stmt.uri));
  } catch {
    throw new CairnError(ErrorCode.DuplicateObject, `external connection with name ${stmt.name} already exists`);
  }
  await grantConnectionToCreator(s, stmt.name);
  return tagOnly('CREATE EXTERNAL CONNECTION');
}

export async function dropExternalConnection(s: Session, stmt: DropExternalConnectionStatement): Promise<StatementResult> {
  await s.leader.state.meta.delete(`external-connection.${stmt.name}`);
  await forgetConnectionGrants(s, stmt.name);
  return tagOnly('DROP EXTERNAL CONNECTION');
}

export async function showExternalConnections(s: Session): Promise<StatementResult> {
  const rows: (string | null)[][] = [];
  const keys = await s.leader.state.meta.keys('external-connection.*');
  const names: string[] = [];
  for await (const k of keys) names.push(k);
  for (const k of names.sort()) {
    const e = await s.leader.state.meta.get(k);
    if (e && e.operation === 'PUT') rows.push(externalConnectionRow(k.slice('external-connection.'.length), e.string()));
  }
  return rowsResult(['connection_name', 'connection_uri'], rows);
}

/** One SHOW EXTERNAL CONNECTIONS row: the name and the URI, credentials redacted. */
export function externalConnectionRow(name: string, uri: string): [string, string] {
  return [name, redactStorageUri(uri)];
}

/** SHOW BACKUP ... WITH check_files: every file of the layer exists in its locality's storage. */
async function checkFiles(s: Session, c: BackupCollection, layerPath: string, files: readonly BackupFile[]): Promise<void> {
  const uris = c.layerUris(layerPath);
  for (const locality of new Set(files.map((f) => f.locality))) {
    const uri = uris[locality];
    if (!uri) throw new CairnError(ErrorCode.FailedPrecondition, `no URI given for locality ${locality} of backup ${layerPath}`);
    const storage = await openStorage(uri, s.leader.storageContext());
    try {
      for (const f of files.filter((x) => x.locality === locality)) {
        if (!(await storage.exists(f.path))) {
          throw new CairnError(ErrorCode.NotFound, `backup file ${layerPath}/${f.path} is missing from ${redactStorageUri(uri)}`);
        }
      }
    } finally {
      await storage.close();
    }
  }
}
