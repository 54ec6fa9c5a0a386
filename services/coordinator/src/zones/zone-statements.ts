import { CairnError, ErrorCode } from '@cairn/errors';
import { DEFAULT_GC_TTL_SECONDS, GC_TTL_SETTING } from '@cairn/cluster';
import type { Catalog } from '@cairn/catalog';
import { ObjectKind, type DatabaseDescriptor, type TableDescriptor } from '@cairn/proto';
import { quoteIdent, type AlterTableSetStatement, type ConfigureZoneStatement, type ShowZoneConfigurationStatement, type TableName } from '@cairn/sql';
import { rowsResult, tagOnly, type StatementResult } from '../statements/result.js';
import type { SessionWith } from '../statements/session.js';

/** Zone configurations live in descriptors; the default comes from a setting. */
type ZoneSession = SessionWith<'catalog' | 'descriptors' | 'settings'>;

/**
 * ALTER TABLE ... SET (exclude_data_from_backup), ALTER TABLE|DATABASE ... CONFIGURE ZONE
 * USING gc.ttlseconds, SHOW ZONE CONFIGURATION. Both settings live in the descriptors, so
 * every backup carries them with the schema and a restore brings them back; the leader's
 * span config reconciler hands the TTLs to the nodes' GC.
 */

function resolveTable(catalog: Catalog, t: TableName, sessionDb: string): TableDescriptor {
  const name = t.database !== undefined ? { db: t.database, table: t.name } : { table: t.name };
  return catalog.resolveTable(name, sessionDb);
}

export async function alterTableSet(s: ZoneSession, stmt: AlterTableSetStatement): Promise<StatementResult> {
  await s.descriptors.change(async (c) => {
    const t = resolveTable(c.catalog, stmt.table, s.database);
    if (t.kind !== ObjectKind.TABLE) {
      throw new CairnError(ErrorCode.InvalidArgument, `"${t.name}" is not a table: exclude_data_from_backup applies to tables`);
    }
    c.put({ kind: { $case: 'table', value: { ...t, excludeDataFromBackup: stmt.excludeDataFromBackup } } });
  });
  return tagOnly('ALTER TABLE');
}

export async function configureZone(s: ZoneSession, stmt: ConfigureZoneStatement): Promise<StatementResult> {
  const ttl = stmt.gcTtlSeconds;
  await s.descriptors.change(async (c) => {
    if (stmt.target.kind === 'database') {
      const { gcTtlSeconds: _old, ...db } = c.catalog.resolveDatabase(stmt.target.name);
      c.put({ kind: { $case: 'database', value: ttl === undefined ? db : { ...db, gcTtlSeconds: ttl } } });
      return;
    }
    const { gcTtlSeconds: _old, ...t } = resolveTable(c.catalog, stmt.target.table, s.database);
    c.put({ kind: { $case: 'table', value: ttl === undefined ? t : { ...t, gcTtlSeconds: ttl } } });
  });
  // The leader's span config reconciler hands the new TTL to the nodes within a second.
  return tagOnly('CONFIGURE ZONE');
}

/**
 * `SHOW ZONE CONFIGURATION FROM TABLE t | DATABASE d`: CockroachDB's columns; `target` names
 * where the TTL in force comes from (the table, its database, or `RANGE default`, the setting).
 */
export async function showZoneConfiguration(s: ZoneSession, stmt: ShowZoneConfigurationStatement): Promise<StatementResult> {
  const catalog = s.catalog;
  let db: DatabaseDescriptor;
  let table: TableDescriptor | undefined;
  if (stmt.target.kind === 'database') db = catalog.resolveDatabase(stmt.target.name);
  else {
    table = resolveTable(catalog, stmt.target.table, s.database);
    db = catalog.databaseById(table.parentId)!;
  }
  const setting = Number(s.settings.get(GC_TTL_SETTING) ?? DEFAULT_GC_TTL_SECONDS);
  const [target, alter, ttl] =
    table?.gcTtlSeconds !== undefined
      ? [`TABLE ${quoteIdent(db.name)}.${quoteIdent(table.name)}`, `ALTER TABLE ${quoteIdent(db.name)}.${quoteIdent(table.name)}`, table.gcTtlSeconds]
      : db.gcTtlSeconds !== undefined
        ? [`DATABASE ${quoteIdent(db.name)}`, `ALTER DATABASE ${quoteIdent(db.name)}`, db.gcTtlSeconds]
        : ['RANGE default', 'ALTER RANGE default', setting];
  return rowsResult(['target', 'raw_config_sql'], [[target, `${alter} CONFIGURE ZONE USING gc.ttlseconds = ${ttl}`]]);
}
