import { CairnError, ErrorCode } from '@cairn/errors';
import { schemasOf, Catalog, decodeDescriptor } from '@cairn/catalog';
import { openStorage, redactStorageUri } from '@cairn/cloud';
import { formatJobTimestamp } from '@cairn/jobs';
import { decodeTableId, prettyKey } from '@cairn/keys';
import { BackupManifest, Descriptor, DescriptorState, type BackupFile } from '@cairn/proto';
import { checkShowBackupStatement, type ShowBackupStatement } from '@cairn/sql';
import { BackupCollection, type HomedLayer } from '../backup/backup-collection.js';
import { createStatementOf } from './create-statement.js';
import { rowsResult, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** SHOW BACKUP reads a collection. */
type ShowBackupSession = SessionWith<'storage'>;

type Cell = string | null;

const tsText = (ns: bigint): string => formatJobTimestamp(Number(ns / 1_000_000n), Number((ns / 1000n) % 1000n));
const keyBytes = (k: Uint8Array): string => `\\x${Buffer.from(k).toString('hex')}`;

/**
 * SHOW BACKUP [SCHEMAS | FILES | RANGES] with CockroachDB's columns, over the chain of a full
 * backup (its incrementals from `incremental_location` when given):
 * - default: one row per database, schema, table, view and sequence of each layer; `SCHEMAS`
 *   adds `create_statement`; `privileges` adds `privileges` and `owner`; `check_files` checks
 *   every data file is there and adds `file_bytes` (their stored size);
 * - `FILES`: one row per data file (its path in the collection, span, size and locality);
 * - `RANGES`: one row per span each layer covers;
 * - `as_json`: one row per layer, its manifest as JSON.
 * `regions` is NULL: cairn has no multi-region databases.
 */
export async function showBackup(s: ShowBackupSession, stmt: ShowBackupStatement): Promise<StatementResult> {
  checkShowBackupStatement(stmt);
  // `SHOW BACKUP '<uri>'` (the old form) shows the newest chain at that location.
  const sub = stmt.source.subdir ?? ({ kind: 'latest', pos: stmt.pos } as const);
  const c = await BackupCollection.open(stmt.source.uris, s.storage.storageContext());
  const incrementals = stmt.options.incrementalLocation ? await BackupCollection.open(stmt.options.incrementalLocation, s.storage.storageContext()) : undefined;
  try {
    const full = sub.kind === 'latest' ? await c.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
    const key = await c.encryptionKey(full, stmt.options, false);
    const chain = await c.chain(full, key, incrementals);
    // check_files: every file is read for its size, so a missing one fails the statement.
    const stored = stmt.options.checkFiles ? await storedSizes(s, chain) : undefined;
    if (stmt.options.asJson) return rowsResult(['manifest'], chain.map((l) => [manifestJson(l.manifest)]));
    if (stmt.details === 'files') return filesResult(chain, stored);
    if (stmt.details === 'ranges') return rangesResult(chain);
    return objectsResult(stmt, chain, stored);
  } finally {
    await c.close();
    await incrementals?.close();
  }
}

const backupType = (l: HomedLayer): string => (l.manifest.startTime === 0n ? 'full' : 'incremental');

function objectsResult(stmt: ShowBackupStatement, chain: readonly HomedLayer[], stored: Map<BackupFile, number> | undefined): StatementResult {
  const withSchemas = stmt.details === 'schemas';
  const withPrivileges = stmt.options.privileges === true;
  // CockroachDB's order: the base columns, then create_statement, privileges and owner, file_bytes.
  const columns = ['database_name', 'parent_schema_name', 'object_name', 'object_type', 'backup_type', 'start_time', 'end_time', 'size_bytes', 'rows', 'is_full_cluster', 'regions'];
  if (withSchemas) columns.push('create_statement');
  if (withPrivileges) columns.push('privileges', 'owner');
  if (stored) columns.push('file_bytes');

  const rows: Cell[][] = [];
  for (const layer of chain) {
    const m = layer.manifest;
    const catalog = Catalog.fromDescriptors(m.descriptors.map((b) => decodeDescriptor(b)));
    const stats = new Map<number, { rows: bigint; bytes: bigint; stored: number }>();
    for (const f of m.files) {
      const id = f.span ? decodeTableId(f.span.start) : -1;
      const st = stats.get(id) ?? { rows: 0n, bytes: 0n, stored: 0 };
      st.rows += f.rows;
      st.bytes += f.logicalBytes;
      st.stored += stored?.get(f) ?? 0;
      stats.set(id, st);
    }
    const times = [backupType(layer), m.startTime === 0n ? null : tsText(m.startTime), tsText(m.endTime)];
    const row = (names: Cell[], size: { rows: Cell; bytes: Cell; stored: Cell }, create: Cell, privileges: Cell): Cell[] => {
      const out = [...names, ...times, size.bytes, size.rows, String(m.isFullCluster), null];
      if (withSchemas) out.push(create);
      if (withPrivileges) out.push(privileges, privileges === null ? null : 'root');
      if (stored) out.push(size.stored);
      return out;
    };
    const none = { rows: null, bytes: null, stored: null };
    for (const db of catalog.databases()) {
      rows.push(row([null, null, db.name, 'database'], none, null, privilegesText(m, 'database', db.id, db.name)));
      rows.push(row([db.name, null, 'public', 'schema'], none, null, null));
      // User-defined schemas (CREATE SCHEMA) travel in the database's descriptor.
      for (const sc of schemasOf(db)) rows.push(row([db.name, null, sc.name, 'schema'], none, null, null));
      for (const t of catalog.tablesIn(db.id)) {
        if (t.state === DescriptorState.DROPPED) continue;
        const st = stats.get(t.id);
        const size = { rows: String(st?.rows ?? 0n), bytes: String(st?.bytes ?? 0n), stored: String(st?.stored ?? 0) };
        // Views and sequences are table descriptors: CockroachDB shows them as 'table' too.
        rows.push(row([db.name, t.schemaName ?? 'public', t.name, 'table'], size, createStatementOf(t, catalog), privilegesText(m, 'table', t.id, t.name)));
      }
    }
  }
  return rowsResult(columns, rows);
}

/**
 * The privileges column as CockroachDB prints it, by grantee: `GRANT ALL ON TABLE t TO admin
 * WITH GRANT OPTION; ...` (admin and root hold ALL on every object), then the grants the
 * backup recorded on the object (`GRANT SELECT ON TABLE t TO alice; `).
 */
function privilegesText(m: BackupManifest, kind: 'database' | 'table', id: number, name: string): string {
  const byGrantee = new Map<string, { grantable: string[]; plain: string[] }>([
    ['admin', { grantable: ['ALL'], plain: [] }],
    ['root', { grantable: ['ALL'], plain: [] }],
  ]);
  for (const g of m.grants) {
    if (g.objectKind !== kind || g.objectId !== id) continue;
    const held = byGrantee.get(g.grantee) ?? { grantable: [], plain: [] };
    if (!held.plain.includes(g.privilege) && !held.grantable.includes(g.privilege)) held.plain.push(g.privilege);
    byGrantee.set(g.grantee, held);
  }
  const on = `ON ${kind.toUpperCase()} ${name} TO`;
  return [...byGrantee]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([grantee, { grantable, plain }]) =>
        (grantable.length > 0 ? `GRANT ${grantable.join(', ')} ${on} ${grantee} WITH GRANT OPTION; ` : '') +
        (plain.length > 0 ? `GRANT ${[...plain].sort().join(', ')} ${on} ${grantee}; ` : ''),
    )
    .join('');
}

/**
 * One row per data file. `path` is relative to the collection (or, for an incremental there,
 * the incremental location), as CockroachDB prints it; `locality` is 'NULL' for a backup that
 * is not locality-aware. `file_bytes` is the stored size: measured with check_files, else as
 * the manifest records it (CockroachDB prints -1 then; cairn's manifest knows it).
 */
function filesResult(chain: readonly HomedLayer[], stored: Map<BackupFile, number> | undefined): StatementResult {
  const rows: Cell[][] = [];
  for (const layer of chain) {
    const localityAware = layer.home.uris.byLocality.size > 0;
    for (const f of layer.manifest.files) {
      const span = f.span ?? { start: new Uint8Array(0), end: new Uint8Array(0) };
      rows.push([
        `/${layer.path}/${f.path}`,
        backupType(layer),
        prettyKey(span.start),
        prettyKey(span.end),
        keyBytes(span.start),
        keyBytes(span.end),
        String(f.logicalBytes),
        String(f.rows),
        localityAware ? f.locality : 'NULL',
        String(stored?.get(f) ?? f.bytes),
      ]);
    }
  }
  return rowsResult(['path', 'backup_type', 'start_pretty', 'end_pretty', 'start_key', 'end_key', 'size_bytes', 'rows', 'locality', 'file_bytes'], rows);
}

function rangesResult(chain: readonly HomedLayer[]): StatementResult {
  const rows: Cell[][] = [];
  for (const layer of chain) {
    for (const sp of layer.manifest.spans) rows.push([prettyKey(sp.start), prettyKey(sp.end), keyBytes(sp.start), keyBytes(sp.end)]);
  }
  return rowsResult(['start_pretty', 'end_pretty', 'start_key', 'end_key'], rows);
}

/** A layer's manifest as JSON, its descriptors decoded rather than base64. */
function manifestJson(m: BackupManifest): string {
  const json = BackupManifest.toJSON(m) as Record<string, unknown>;
  json['descriptors'] = m.descriptors.map((b) => Descriptor.toJSON(decodeDescriptor(b)));
  return JSON.stringify(json);
}

/** As CockroachDB: a check stops listing missing files after this many. */
const MAX_MISSING_FILES = 10;

/**
 * The stored size of every data file of the chain, read from the storage of its locality:
 * `check_files`. Missing files fail the statement, listed (up to ten) as CockroachDB lists
 * them, each with the storage it is missing from.
 */
async function storedSizes(s: ShowBackupSession, chain: readonly HomedLayer[]): Promise<Map<BackupFile, number>> {
  const sizes = new Map<BackupFile, number>();
  const missing: string[] = [];
  for (const layer of chain) {
    const uris = layer.home.layerUris(layer.path);
    for (const locality of new Set(layer.manifest.files.map((f) => f.locality))) {
      const uri = uris[locality];
      if (!uri) throw new CairnError(ErrorCode.FailedPrecondition, `no URI given for locality ${locality} of backup ${layer.path}`);
      const storage = await openStorage(uri, s.storage.storageContext());
      try {
        for (const f of layer.manifest.files.filter((x) => x.locality === locality)) {
          if (missing.length >= MAX_MISSING_FILES) break;
          if (await storage.exists(f.path)) sizes.set(f, await storage.size(f.path));
          else missing.push(`${layer.path}/${f.path} (in ${redactStorageUri(uri)})`);
        }
      } finally {
        await storage.close();
      }
    }
  }
  if (missing.length > 0) {
    const prefix = missing.length >= MAX_MISSING_FILES ? 'Multiple files cannot be read from the backup including:' : 'The following files are missing from the backup:';
    throw new CairnError(ErrorCode.NotFound, `${prefix} ${missing.join(', ')}`);
  }
  return sizes;
}
