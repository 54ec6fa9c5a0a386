import { CairnError, ErrorCode } from '@cairn/errors';
import { formatLocality, isLive } from '@cairn/cluster';
import { primaryIndexSpan } from '@cairn/catalog';
import { intersectSpans, prettyKey, tableSpan } from '@cairn/keys';
import { ObjectKind, type NodeRecord, type TableDescriptor } from '@cairn/proto';
import type {
  ShowClusterSettingStatement,
  ShowCreateTableStatement,
  ShowFingerprintsStatement,
  ShowRangesStatement,
  ShowTablesStatement,
} from '@cairn/sql';
import { resolveAsOf } from './as-of.js';
import { createStatementOf } from './create-statement.js';
import { catalogName } from './ddl-statements.js';
import { rowsResult, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** SHOW statements read the catalog, nodes, ranges, settings and fingerprints at a read point. */
type ShowSession = SessionWith<'readiness' | 'catalog' | 'reads' | 'nodes' | 'ranges' | 'settings'>;

export function showDatabases(s: ShowSession): StatementResult {
  s.readiness.assertReady();
  return rowsResult(
    ['database_name', 'owner'],
    s.catalog.databases().map((d) => [d.name, 'root']),
  );
}

export function showTables(s: ShowSession, stmt: ShowTablesStatement): StatementResult {
  s.readiness.assertReady();
  const dbName = stmt.database ?? s.database;
  if (!dbName) throw new CairnError(ErrorCode.UndefinedObject, 'no current database: USE a database or SHOW TABLES FROM <db>');
  const db = s.catalog.resolveDatabase(dbName);
  return rowsResult(
    ['schema_name', 'table_name', 'type', 'owner'],
    s.catalog.tablesIn(db.id).map((t) => [t.schemaName ?? 'public', t.name, kindName(t.kind), 'root']),
  );
}

export function showNodes(s: ShowSession): StatementResult {
  const now = Date.now();
  return rowsResult(
    ['id', 'address', 'locality', 'is_live', 'ranges', 'started_at', 'updated_at'],
    s.nodes.allNodes().map((n: NodeRecord) => [
      String(n.nodeId),
      n.address,
      formatLocality(n.locality),
      String(isLive(n, now)),
      String(n.ranges),
      new Date(Number(n.startedAtMs)).toISOString(),
      new Date(Number(n.heartbeatAtMs)).toISOString(),
    ]),
  );
}

export function showRanges(s: ShowSession, stmt: ShowRangesStatement): StatementResult {
  s.readiness.assertReady();
  const spans = stmt.table
    ? [tableSpan(s.catalog.resolveTable(catalogName(stmt.table), s.database).id)]
    : s.catalog.tablesIn(s.catalog.resolveDatabase(stmt.database ?? s.database).id).map((t) => tableSpan(t.id));
  const nodes = new Map(s.nodes.allNodes().map((n) => [n.nodeId, n]));
  const rows: (string | null)[][] = [];
  const seen = new Set<number>();
  for (const span of spans) {
    for (const r of s.ranges.overlapping(span)) {
      if (seen.has(r.rangeId)) continue;
      seen.add(r.rangeId);
      const part = intersectSpans(span, { start: r.startKey, end: r.endKey }) ?? span;
      const leaseholder = r.replicas[0];
      rows.push([
        prettyKey(part.start),
        prettyKey(part.end),
        String(r.rangeId),
        leaseholder === undefined ? null : String(leaseholder),
        leaseholder === undefined ? null : formatLocality(nodes.get(leaseholder)?.locality ?? []),
        `{${r.replicas.join(',')}}`,
        `{${r.replicas.map((n) => `"${formatLocality(nodes.get(n)?.locality ?? [])}"`).join(',')}}`,
      ]);
    }
  }
  return rowsResult(['start_key', 'end_key', 'range_id', 'lease_holder', 'lease_holder_locality', 'replicas', 'replica_localities'], rows);
}

/**
 * SHOW FINGERPRINTS: a hash of every live row at the read time that does not depend on the
 * table's id, so a restored copy fingerprints equal to its source.
 */
export async function showFingerprints(s: ShowSession, stmt: ShowFingerprintsStatement, nodeId?: number): Promise<StatementResult> {
  s.readiness.assertReady();
  const point = s.reads.readPoint();
  const ts = stmt.asOf ? resolveAsOf(stmt.asOf, point.timestamp) : point.timestamp;
  if (stmt.table) {
    const table = s.catalog.resolveTable(catalogName(stmt.table), s.database);
    const fp = await tableFingerprint(s, table, ts, point.seq, nodeId);
    return rowsResult(['index_name', 'fingerprint'], [[`${table.name}_pkey`, fp]]);
  }
  const db = s.catalog.resolveDatabase(stmt.database ?? s.database);
  const rows: (string | null)[][] = [];
  for (const t of s.catalog.tablesIn(db.id)) {
    if (t.kind !== ObjectKind.TABLE) continue;
    rows.push([t.name, await tableFingerprint(s, t, ts, point.seq, nodeId)]);
  }
  return rowsResult(['table_name', 'fingerprint'], rows);
}

export async function tableFingerprint(s: ShowSession, table: TableDescriptor, ts: bigint, seq: number, nodeId?: number): Promise<string> {
  const res = await s.reads.reader.fingerprint(primaryIndexSpan(table), table, ts, seq, nodeId);
  return res.fingerprint;
}

export function showCreateTable(s: ShowSession, stmt: ShowCreateTableStatement): StatementResult {
  s.readiness.assertReady();
  const t = s.catalog.resolveTable(catalogName(stmt.table), s.database);
  const body = createStatementOf(t, s.catalog);
  return rowsResult(['table_name', 'create_statement'], [[t.name, body]]);
}

export function showClusterSetting(s: ShowSession, stmt: ShowClusterSettingStatement): StatementResult {
  return rowsResult([stmt.name], [[s.settings.get(stmt.name)]]);
}

export function showClusterSettings(s: ShowSession): StatementResult {
  return rowsResult(
    ['variable', 'value', 'setting_type', 'description'],
    s.settings.list().map((x) => [x.variable, x.value, x.type, x.description]),
  );
}


function kindName(kind: ObjectKind): string {
  return kind === ObjectKind.VIEW ? 'view' : kind === ObjectKind.SEQUENCE ? 'sequence' : 'table';
}
