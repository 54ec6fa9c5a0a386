import { CairnError, ErrorCode } from '@cairn/errors';
import { Catalog, decodeDescriptor, encodeDescriptor, enumTypesOf, missingViewDependency, namespaceName, rewriteDescriptor, schemasOf } from '@cairn/catalog';
import { compareKeys, formatTimestamp, intersectSpans, tableSpan, type Span } from '@cairn/keys';
import { DescriptorState, MvccFilter, ObjectKind, type DatabaseDescriptor, type Descriptor, type TableDescriptor } from '@cairn/proto';
import { checkRestoreStatement, type RestoreStatement } from '@cairn/sql';
import type { RestorePlanning, StorageResolver } from '../leader-capabilities.js';
import { resolveAsOf } from '../statements/as-of.js';
import { BackupCollection, chainAcrossLocations, type Layer, type LocatedChain, type LocatedLayer } from './backup-collection.js';
import { collectBytes, openStorage, type StorageContext } from '@cairn/cloud';
import { DataFileReader } from '@cairn/backup-format';
import { hex } from './backup-details.js';
import { resolveTargets } from './backup-planner.js';
import type { RestoreDetails } from './restore-details.js';
import { restoredClusterMetadata } from './cluster-metadata.js';
import { executionLocalityFilter } from './execution-locality.js';
import { requireFeature } from '../feature-flags.js';

/** The layers a restore to `endTime` reads, checking the time is one the backups can give. */
export function layersFor<L extends Layer>(chain: L[], endTime: bigint): L[] {
  const last = chain[chain.length - 1]!.manifest;
  if (endTime > last.endTime || endTime <= 0n) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `invalid RESTORE timestamp: supplied backups do not cover requested time ${formatTimestamp(endTime)} (backups end at ${formatTimestamp(last.endTime)})`,
    );
  }
  const used = chain.filter((l) => l.manifest.startTime < endTime);
  const top = used[used.length - 1]!.manifest;
  const exact = chain.some((l) => l.manifest.endTime === endTime);
  const coveredByRevisions = top.mvccFilter === MvccFilter.ALL && endTime >= top.revisionStartTime;
  if (!exact && !coveredByRevisions) {
    const before = [...chain].reverse().find((l) => l.manifest.endTime < endTime)?.manifest.endTime;
    const after = chain.find((l) => l.manifest.endTime > endTime)?.manifest.endTime;
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `invalid RESTORE timestamp: restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option. nearest BACKUP times are ${before === undefined ? 'none' : formatTimestamp(before)} or ${after === undefined ? 'none' : formatTimestamp(after)}`,
    );
  }
  return used;
}

/**
 * Plans a RESTORE: resolves the chain and the restore time, picks the objects, gives them new
 * ids and names (checking for conflicts), and lists for each table span the files of every
 * layer that overlap it.
 */
export async function planRestore(
  leader: RestorePlanning,
  stmt: RestoreStatement,
  currentDb: string,
  /** A cluster restore in place: the cluster's databases will be erased, so they are no conflict. */
  o2: { readonly eraseExisting?: boolean } = {},
): Promise<RestoreDetails> {
  requireFeature(leader.settings, 'RESTORE');
  checkRestoreStatement(stmt);
  const o = stmt.options;
  const executionLocality = executionLocalityFilter(o.executionLocality, leader.liveNodes());
  const { layers: chain, key } = await restoreChain(stmt, leader.storageContext());
  const point = leader.readPoint();
  const endTime = stmt.asOf ? resolveAsOf(stmt.asOf, point.timestamp) : chain[chain.length - 1]!.manifest.endTime;
  const layers = layersFor(chain, endTime);
  const backupCatalog = Catalog.fromDescriptors(descriptorsAt(layers, endTime));
  const targets = resolveTargets(backupCatalog, stmt.targets, currentDb);
  const cluster = leader.catalog;

  const descriptors: Descriptor[] = [];
  const names: RestoreDetails['names'] = [];
  const idMap = new Map<number, number>();
  const parentFor = new Map<number, number>(); // old db id -> new db id

  if (stmt.targets.kind === 'cluster') {
    if (!layers[0]!.manifest.isFullCluster) {
      throw new CairnError(ErrorCode.InvalidArgument, 'full cluster RESTORE can only be used on full cluster BACKUP files');
    }
    // defaultdb and postgres, as a new cluster has them, do not count (CockroachDB's rule).
    const existing = cluster.databases().filter((d) => !cluster.isUnusedDefaultDatabase(d));
    if (existing.length > 0 && o2.eraseExisting !== true) {
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `full cluster restore can only be run on a cluster with no tables or databases but found ${existing.length} descriptors: ${existing.map((d) => d.name).join(', ')}`,
      );
    }
  }
  if (stmt.targets.kind === 'cluster' || stmt.targets.kind === 'databases') {
    const dbIds = targets.databaseIds;
    if (o.newDbName !== undefined && dbIds.length !== 1) {
      throw new CairnError(ErrorCode.InvalidArgument, 'new_db_name can only be used for RESTORE DATABASE with a single database');
    }
    for (const oldId of dbIds) {
      const db = backupCatalog.databaseById(oldId)!;
      const name = o.newDbName ?? db.name;
      const unused = stmt.targets.kind === 'cluster' && o2.eraseExisting !== true ? cluster.database(name) : undefined;
      if (unused !== undefined && cluster.isUnusedDefaultDatabase(unused)) {
        // A cluster restore fills the new cluster's empty defaultdb / postgres.
        idMap.set(oldId, unused.id);
        parentFor.set(oldId, unused.id);
        continue;
      }
      if (cluster.database(name) && !(stmt.targets.kind === 'cluster' && o2.eraseExisting === true)) {
        throw new CairnError(ErrorCode.DuplicateObject, `database "${name}" already exists`);
      }
      const newId = leader.allocateDescriptorId();
      idMap.set(oldId, newId);
      parentFor.set(oldId, newId);
      // The backed-up descriptor's other fields (its comment) come back with it.
      descriptors.push({ kind: { $case: 'database', value: { ...db, id: newId, name, state: DescriptorState.OFFLINE } } });
      names.push({ parentId: 0, name, id: newId });
    }
  } else {
    for (const t of targets.tables) {
      if (parentFor.has(t.parentId)) continue;
      const dbName = o.intoDb ?? backupCatalog.databaseById(t.parentId)?.name ?? '';
      const db = cluster.database(dbName);
      if (!db) throw new CairnError(ErrorCode.UndefinedObject, `a database named "${dbName}" needs to exist to restore ${t.name} into it`);
      parentFor.set(t.parentId, db.id);
    }
  }
  const tables = restorableViews(targets.tables, o.skipMissingViews === true);
  for (const t of tables) idMap.set(t.id, leader.allocateDescriptorId());
  const restored: TableDescriptor[] = [];
  for (const t of tables) {
    const parentId = parentFor.get(t.parentId)!;
    const tName = namespaceName(t.name, t.schemaName);
    if (!idMap.has(t.parentId)) {
      if (cluster.tablesIn(parentId).some((x) => namespaceName(x.name, x.schemaName) === tName)) {
        throw new CairnError(ErrorCode.DuplicateObject, `relation "${tName}" already exists`);
      }
      checkSchemaAndTypesIn(cluster.databaseById(parentId)!, t);
    }
    const nt = { ...rewriteDescriptor(t, idMap, parentId, {
        skipMissingForeignKeys: o.skipMissingForeignKeys === true,
        skipMissingSequences: o.skipMissingSequences === true,
      }), state: DescriptorState.OFFLINE };
    restored.push(nt);
    descriptors.push({ kind: { $case: 'table', value: nt } });
    names.push({ parentId, name: namespaceName(nt.name, nt.schemaName), id: nt.id });
  }

  if (o.verifyBackupTableData === true) {
    if (o.schemaOnly !== true) throw new CairnError(ErrorCode.InvalidArgument, 'to use the verify_backup_table_data option, the schema_only option must be set');
    await verifyLayerFiles(layers, leader, key);
  }
  const items: RestoreDetails['items'] = [];
  if (o.schemaOnly !== true) {
    for (const t of tables) {
      if (t.kind === ObjectKind.VIEW) continue;
      for (const span of restoreSpans(tableSpan(t.id), layers)) {
        const files: RestoreDetails['items'][number]['files'] = [];
        layers.forEach((l, layer) => {
          for (const f of l.manifest.files) {
            if (!f.span || !intersectSpans(span, { start: f.span.start, end: f.span.end })) continue;
            if (l.uris[f.locality] === undefined) {
              throw new CairnError(
                ErrorCode.FailedPrecondition,
                `backup ${l.shownAs} has files in locality ${f.locality}, but no URI with COCKROACH_LOCALITY=${f.locality} was given: pass every locality URI of the backup`,
              );
            }
            files.push({ layer, path: f.path, locality: f.locality });
          }
        });
        if (files.length > 0) items.push({ start: hex(span.start), end: hex(span.end), files });
      }
    }
  }
  return {
    layers: layers.map((l) => l.uris),
    endTime: String(endTime),
    descriptors: descriptors.map((d) => Buffer.from(encodeDescriptor(d)).toString('base64')),
    names,
    rewrites: [...idMap].map(([oldId, newId]) => ({ oldId, newId })),
    // A cluster restore brings back the newest used layer's users, grants, schedules, settings
    // and external connections.
    ...(stmt.targets.kind === 'cluster' ? restoredClusterMetadata(layers[layers.length - 1]!.manifest) : {}),
    items,
    newTableIds: restored.map((t) => t.id),
    ...(key ? { encryptionKey: Buffer.from(key).toString('hex') } : {}),
    ...(executionLocality.length > 0 ? { executionLocality } : {}),
  };
}

/**
 * The objects to restore, less the views whose tables (or views) are not restored with them:
 * with skip_missing_views those are left out, as are views on views left out; without it the
 * first one fails the RESTORE with CockroachDB's error.
 */
export function restorableViews(tables: readonly TableDescriptor[], skipMissingViews: boolean): TableDescriptor[] {
  let kept = [...tables];
  for (;;) {
    const ids = new Set(kept.map((t) => t.id));
    const broken = kept.find((t) => t.kind === ObjectKind.VIEW && t.dependsOn.some((d) => !ids.has(d)));
    if (broken === undefined) return kept;
    if (!skipMissingViews) throw missingViewDependency(broken.name);
    kept = kept.filter((t) => t !== broken);
  }
}

/**
 * The chain a RESTORE reads: a named or LATEST full of a collection with its incrementals, or
 * for the pre-collection form (`FROM 'loc'`, `FROM 'full', 'inc1', ...`) the newest chain of
 * each location in turn.
 */
async function restoreChain(stmt: RestoreStatement, ctx: StorageContext): Promise<LocatedChain> {
  const enc = stmt.options;
  const sub = stmt.source.subdir;
  if (!sub) return chainAcrossLocations([stmt.source.uris, ...(stmt.incrementalSources ?? []).map((l) => l.uris)], ctx, enc);
  const collection = await BackupCollection.open(stmt.source.uris, ctx);
  // With incremental_location, the full's incrementals are those there (and only those).
  const incrementals = enc.incrementalLocation ? await BackupCollection.open(enc.incrementalLocation, ctx) : undefined;
  try {
    const full = sub.kind === 'latest' ? await collection.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
    const key = await collection.encryptionKey(full, enc, false);
    const layers = (await collection.chain(full, key, incrementals)).map(({ home, ...l }) => ({ ...l, uris: home.layerUris(l.path), shownAs: `${home.redacted}/${l.path}` }));
    return { layers, ...(key ? { key } : {}) };
  } finally {
    await collection.close();
    await incrementals?.close();
  }
}

/**
 * `RESTORE ... WITH schema_only, verify_backup_table_data`: reads every block of every data
 * file the restore would use and checks it against its checksum, keeping none of the data.
 */
async function verifyLayerFiles(layers: LocatedLayer[], leader: StorageResolver, key: Uint8Array | undefined): Promise<void> {
  for (const l of layers) {
    const uris = l.uris;
    for (const f of l.manifest.files) {
      const uri = uris[f.locality] ?? uris['default']!;
      const storage = await openStorage(uri, leader.storageContext());
      try {
        const source = { size: () => storage.size(f.path), read: (offset: number, length: number) => collectBytes(storage.readFile(f.path, { offset, length })) };
        await new DataFileReader(`${l.path}/${f.path}`, source, key ? { encryptionKey: key } : {}).verify(f.checksum);
      } finally {
        await storage.close();
      }
    }
  }
}

/**
 * The backed-up descriptors as of `endTime`: those of the newest layer ending at or before it,
 * then every recorded revision after that layer's end up to `endTime` (revision_history).
 */
export function descriptorsAt(layers: Layer[], endTime: bigint): Descriptor[] {
  const base = [...layers].reverse().find((l) => l.manifest.endTime <= endTime);
  const byId = new Map<number, Descriptor>();
  // Without such a layer the time is inside the full's window: its revisions start at zero.
  for (const b of base?.manifest.descriptors ?? []) {
    const d = decodeDescriptor(b);
    byId.set(d.kind!.value.id, d);
  }
  const after = base?.manifest.endTime ?? 0n;
  const revisions = layers
    .flatMap((l) => l.manifest.descriptorRevisions)
    .filter((r) => r.timestamp > after && r.timestamp <= endTime)
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  for (const r of revisions) {
    if (r.change?.$case === 'descriptor') byId.set(r.id, decodeDescriptor(r.change.value));
    else byId.delete(r.id);
  }
  return [...byId.values()];
}

/**
 * A table's span cut where the oldest layer's data files start, so a large table is restored
 * as many items that nodes share (each merges only the files that overlap its piece) instead of
 * one item on one node. Keys never straddle a cut: a data file never splits a key's revisions.
 */
function restoreSpans(table: Span, layers: readonly { manifest: { files: ReadonlyArray<{ span?: { start: Uint8Array; end: Uint8Array } | undefined }> } }[]): Span[] {
  const cuts = (layers[0]?.manifest.files ?? [])
    .map((f) => f.span?.start)
    .filter((k): k is Uint8Array => k !== undefined && compareKeys(k, table.start) > 0 && (table.end.length === 0 || compareKeys(k, table.end) < 0))
    .sort(compareKeys);
  const spans: Span[] = [];
  let start = table.start;
  for (const cut of cuts) {
    if (compareKeys(cut, start) <= 0) continue;
    spans.push({ start, end: cut });
    start = cut;
  }
  spans.push({ start, end: table.end });
  return spans;
}

/**
 * A table restored into a database that already exists finds its user-defined schema and
 * enum types there (a database restore brings them in its own descriptor).
 */
function checkSchemaAndTypesIn(db: DatabaseDescriptor, t: TableDescriptor): void {
  const missing = (what: string) =>
    new CairnError(
      ErrorCode.UndefinedObject,
      `cannot restore table "${namespaceName(t.name, t.schemaName)}" into database "${db.name}": ${what} does not exist there (restore the database, or create it first)`,
    );
  if (t.schemaName !== undefined && !schemasOf(db).some((sc) => sc.name === t.schemaName)) throw missing(`schema "${t.schemaName}"`);
  for (const c of t.columns) {
    if (c.enumType !== undefined && !enumTypesOf(db).some((ty) => ty.name === c.enumType)) throw missing(`type "${c.enumType}"`);
  }
}
