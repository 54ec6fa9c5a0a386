import { randomUUID } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { namespaceName, decodeDescriptorKey, descriptorSpan, encodeDescriptor, type Catalog } from '@cairn/catalog';
import { callNode } from '@cairn/cluster';
import { fullBackupSubdir } from '@cairn/backup-format';
import { intersectSpans, tableSpan, type Span } from '@cairn/keys';
import { DescriptorState, NodeExportRequest, NodeExportResponse, ObjectKind, type BackupManifest, type TableDescriptor } from '@cairn/proto';
import { checkBackupStatement, type BackupStatement, type Targets } from '@cairn/sql';
import type { BackupPlanning, NodeCalls } from '../leader-capabilities.js';
import { resolveAsOf } from '../statements/as-of.js';
import { BackupCollection, chainAcrossLocations, type HomedLayer } from './backup-collection.js';
import type { StorageContext } from '@cairn/cloud';
import { hex, type BackupDetails, type PlannedSpan } from './backup-details.js';
import { planBackupProtection } from './backup-protection.js';
import { backedUpGrants, captureClusterMetadata } from './cluster-metadata.js';
import { executionLocalityFilter } from './execution-locality.js';
import { groupAdjacentSpans } from './span-groups.js';
import { requireFeature } from '../feature-flags.js';

export interface ResolvedTargets {
  tables: TableDescriptor[];
  databaseIds: number[];
  isFullCluster: boolean;
}

/** The PUBLIC tables a BACKUP (or RESTORE) target names, as of the given catalog. */
export function resolveTargets(catalog: Catalog, targets: Targets, currentDb: string): ResolvedTargets {
  const publicTables = (dbId: number) => catalog.tablesIn(dbId).filter((t) => t.state === DescriptorState.PUBLIC);
  switch (targets.kind) {
    case 'cluster': {
      const dbs = catalog.databases().filter((d) => d.state === DescriptorState.PUBLIC);
      return { tables: dbs.flatMap((d) => publicTables(d.id)), databaseIds: dbs.map((d) => d.id), isFullCluster: true };
    }
    case 'databases': {
      const dbs = targets.names.map((n) => catalog.resolveDatabase(n));
      return { tables: dbs.flatMap((d) => publicTables(d.id)), databaseIds: dbs.map((d) => d.id), isFullCluster: false };
    }
    case 'tables': {
      const tables: TableDescriptor[] = [];
      for (const p of targets.tables) {
        if (p.kind === 'allTables') {
          const db = catalog.resolveDatabase(p.database ?? currentDb);
          // `db.sc.*`: the tables of schema sc only.
          tables.push(...publicTables(db.id).filter((t) => p.schema === undefined || (t.schemaName ?? 'public') === p.schema));
        } else {
          const table = namespaceName(p.table.name, p.table.schema);
          const name = p.table.database !== undefined ? { db: p.table.database, table } : { table };
          tables.push(catalog.resolveTable(name, currentDb));
        }
      }
      return { tables, databaseIds: [], isFullCluster: false };
    }
  }
}

/**
 * Items per live node for an incremental: one. Routed items are assigned to their nodes as
 * they are queued, so a second item per node balanced nothing; it cost the node another
 * claim, scan of the change index's window, data file (two fsyncs) and result.
 */
const INCREMENTAL_ITEMS_PER_NODE = 1;

/**
 * Plans a BACKUP: its time window, its layer in the collection (a new full, or an incremental
 * appended to the chain of LATEST or of a named full), and the spans nodes will export.
 */
export async function planBackup(leader: BackupPlanning, stmt: BackupStatement, currentDb: string): Promise<BackupDetails> {
  // Here rather than in the statement, so a scheduled run is refused as well.
  requireFeature(leader.settings, 'BACKUP');
  checkBackupStatement(stmt);
  // An incremental INTO LATEST (or INTO a named full) reads the chain it continues while the
  // catalog read waits for the replicas to apply what was just written: both are round trips
  // (the chain's through node n for nodelocal://n), one after the other on every
  // incremental's path. Only reads: its outcome, an error included, is taken where the chain
  // used to be read, so errors come in the same order.
  const sub = stmt.destination.subdir;
  const continued = sub && stmt.incrementalFrom.length === 0 ? readContinuedChain(stmt, sub, leader.storageContext()) : undefined;
  continued?.catch(() => undefined);
  try {
    return await planBackupWith(leader, stmt, currentDb, continued);
  } finally {
    // Nothing of it keeps running past the statement.
    await continued?.catch(() => undefined);
  }
}

/** What an incremental continues: the full's subdir, the chain's data key, its layers. */
interface ContinuedChain {
  readonly fullSubdir: string;
  readonly key: Uint8Array | undefined;
  readonly layers: HomedLayer[];
}

/**
 * The chain of LATEST's full (or the named one) in the statement's collection, with the
 * incrementals at its `incremental_location` if any. The encryption check and the chain's
 * own reads go side by side (BackupCollection.chain takes the key still being read).
 */
async function readContinuedChain(stmt: BackupStatement, sub: Subdir, ctx: StorageContext): Promise<ContinuedChain> {
  const collection = await BackupCollection.open(stmt.destination.uris, ctx);
  try {
    const incrementals = stmt.options.incrementalLocation ? await BackupCollection.open(stmt.options.incrementalLocation, ctx) : undefined;
    try {
      const fullSubdir = sub.kind === 'latest' ? await collection.requireLatestFull() : sub.path.startsWith('/') ? sub.path : `/${sub.path}`;
      const key = collection.encryptionKey(fullSubdir, stmt.options, false);
      key.catch(() => undefined);
      const layers = await collection.chain(fullSubdir, key, incrementals);
      return { fullSubdir, key: await key, layers };
    } finally {
      await incrementals?.close();
    }
  } finally {
    await collection.close();
  }
}

type Subdir = NonNullable<BackupStatement['destination']['subdir']>;

async function planBackupWith(leader: BackupPlanning, stmt: BackupStatement, currentDb: string, continued: Promise<ContinuedChain> | undefined): Promise<BackupDetails> {
  const point = leader.readPoint();
  const endTime = stmt.asOf ? resolveAsOf(stmt.asOf, point.timestamp) : point.timestamp;
  const catalog = await leader.catalogAt(endTime, point.seq);
  const targets = resolveTargets(catalog, stmt.targets, currentDb);
  // Tables and sequences have rows (a sequence's is its last value); views have none.
  const tables = targets.tables.filter((t) => t.kind === ObjectKind.TABLE || t.kind === ObjectKind.SEQUENCE);

  const executionLocality = executionLocalityFilter(stmt.options.executionLocality, leader.liveNodes());

  const collection = await BackupCollection.open(stmt.destination.uris, leader.storageContext());
  // `incremental_location`: the chain's incrementals are looked for, and this one written, there.
  const incrementals = stmt.options.incrementalLocation ? await BackupCollection.open(stmt.options.incrementalLocation, leader.storageContext()) : undefined;
  try {
    // The pre-collection `BACKUP TO 'loc'`: a full backup when `loc` has none yet, else an
    // incremental appended to it (CockroachDB 20.2's behaviour), in the collection layout.
    if (stmt.mode === 'to' && stmt.incrementalFrom.length === 0 && !stmt.destination.subdir && (await collection.hasBackups())) {
      stmt = { ...stmt, destination: { ...stmt.destination, subdir: { kind: 'latest', pos: stmt.pos } } };
    }
    let fullSubdir: string;
    let layerPath: string;
    let key: Uint8Array | undefined;
    // The layers this backup continues; none for a full backup.
    let previous: { layers: Array<{ manifest: BackupManifest }>; dependencies: string[] } | undefined;
    const sub = stmt.destination.subdir;
    if (stmt.incrementalFrom.length > 0) {
      // `BACKUP TO 'x' INCREMENTAL FROM 'full', 'inc1'`: continues the chain the listed
      // locations hold, as a new layer of its own at the (empty) location `x`.
      if (await collection.hasBackups()) {
        throw new CairnError(ErrorCode.DuplicateObject, `${collection.redacted} already contains a backup: INCREMENTAL FROM writes to an empty location`);
      }
      const chain = await chainAcrossLocations(stmt.incrementalFrom.map((u) => [u]), leader.storageContext(), stmt.options);
      previous = { layers: chain.layers, dependencies: chain.layers.map((l) => l.shownAs) };
      fullSubdir = fullBackupSubdir(endTime);
      layerPath = fullSubdir.replace(/^\/+/, '');
      key = chain.key;
      if (chain.encryptionInfo) await collection.writeEncryptionInfo(fullSubdir, chain.encryptionInfo);
    } else if (sub) {
      // Started before the catalog read, or (BACKUP TO a collection with backups) only now.
      const chain = await (continued ?? readContinuedChain(stmt, sub, leader.storageContext()));
      fullSubdir = chain.fullSubdir;
      key = chain.key;
      previous = { layers: chain.layers, dependencies: chain.layers.map((l) => `${l.home.redacted}/${l.path}`) };
      layerPath = '';
    } else if (incrementals) {
      // Only incrementals go to an incremental_location. CockroachDB ignores the option on a
      // full backup; cairn refuses it rather than accept an option that does nothing.
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `incremental_location is only for incremental backups (BACKUP ... INTO LATEST IN ...): a full backup goes to the collection, not to ${incrementals.redacted}`,
      );
    } else {
      fullSubdir = fullBackupSubdir(endTime);
      layerPath = fullSubdir.replace(/^\/+/, '');
      key = await collection.encryptionKey(fullSubdir, stmt.options, true);
    }
    let startTime = 0n;
    let previousSpans: Span[] = [];
    if (previous) {
      const prev = previous.layers[previous.layers.length - 1]!.manifest;
      if (previous.layers[0]!.manifest.isFullCluster !== targets.isFullCluster) {
        throw new CairnError(ErrorCode.FailedPrecondition, 'an incremental backup must have the same targets as its full backup: cannot mix a cluster backup and a backup of databases or tables');
      }
      startTime = prev.endTime;
      if (endTime <= startTime) {
        throw new CairnError(
          ErrorCode.InvalidArgument,
          `AS OF SYSTEM TIME ${endTime} must be after the end of the previous backup (${startTime})`,
        );
      }
      if (layerPath === '') layerPath = BackupCollection.incrementalLayerPath(fullSubdir, startTime, endTime, incrementals ? 'explicit' : 'collection');
      previousSpans = prev.spans.map((s) => ({ start: s.start, end: s.end }));
    }
    const dependencies = previous?.dependencies ?? [];

    const spans: PlannedSpan[] = [];
    // An incremental reads only what changed: a few items per node instead of one per range.
    const groups = Math.max(1, leader.liveNodes().length) * INCREMENTAL_ITEMS_PER_NODE;
    for (const t of tables) {
      // exclude_data_from_backup: the schema goes in the manifest, the rows stay out.
      if (t.excludeDataFromBackup === true) continue;
      const span = tableSpan(t.id);
      // A table the previous layer did not cover is exported from the beginning of time.
      const introduced = previous !== undefined && !previousSpans.some((p) => Buffer.compare(p.start, span.start) === 0);
      const parts: PlannedSpan[] = [];
      for (const r of leader.ranges.overlapping(span)) {
        const part = intersectSpans(span, { start: r.startKey, end: r.endKey });
        if (!part) continue;
        parts.push({ start: hex(part.start), end: hex(part.end), startTime: String(introduced ? 0n : startTime), replicas: [...r.replicas] });
      }
      // Within the table only: the next incremental finds each table's span by its start.
      spans.push(...(previous !== undefined ? groupAdjacentSpans(parts, groups) : parts));
    }
    // Refuses a window reaching below a span's GC threshold; fixes what the job protects.
    const protection = await planBackupProtection(
      leader,
      { spans, incremental: previous !== undefined, revisionHistory: stmt.options.revisionHistory === true, startTime, endTime },
      tables,
      catalog,
    );
    // Views and sequences are backed up as descriptors (they have no spans of their own), so a
    // restore has the objects tables depend on and the views that depend on tables.
    const descriptorIds = new Set<number>([...targets.databaseIds, ...targets.tables.map((t) => t.id), ...targets.tables.map((t) => t.parentId)]);
    const descriptors = catalog
      .descriptors()
      .filter((d) => d.kind !== undefined && descriptorIds.has(d.kind.value.id))
      .map((d) => Buffer.from(encodeDescriptor(d)).toString('base64'));
    // Grants on what is backed up go in every backup; a cluster backup also takes the users,
    // the other grants, schedules, settings and external connections (as of planning).
    const grants = backedUpGrants(await leader.clusterMetadata.privileges.read(), descriptorIds);
    const clusterMetadata = targets.isFullCluster ? await captureClusterMetadata(leader.clusterMetadata) : undefined;
    const descriptorRevisions = stmt.options.revisionHistory === true ? await descriptorChanges(leader, startTime, endTime, point.seq, descriptorIds) : undefined;
    return {
      ...(descriptorRevisions ? { descriptorRevisions } : {}),
      // The layer's home: the collection, or the incremental_location the layer goes to.
      collection: previous !== undefined && stmt.options.incrementalLocation ? stmt.options.incrementalLocation : stmt.destination.uris,
      fullSubdir,
      layerPath,
      incremental: previous !== undefined,
      movesLatest: previous === undefined || stmt.incrementalFrom.length > 0,
      startTime: String(startTime),
      endTime: String(endTime),
      revisionHistory: stmt.options.revisionHistory === true,
      ...protection,
      executionLocality,
      isFullCluster: targets.isFullCluster,
      spans,
      descriptors,
      completeDatabaseIds: targets.databaseIds,
      grants,
      ...(clusterMetadata ? { clusterMetadata } : {}),
      dependencies,
      backupId: randomUUID(),
      minAppliedSeq: point.seq,
      targetFileSize: leader.settings.getNumber('bulkio.backup.file_size'),
      ...(key ? { encryptionKey: Buffer.from(key).toString('hex') } : {}),
    };
  } finally {
    await collection.close();
    await incrementals?.close();
  }
}

/**
 * Every revision of the backed-up descriptors in (start, end]: with revision_history, a
 * restore to a time inside the window gets the schema as it was then, not as it ended.
 */
async function descriptorChanges(
  leader: NodeCalls & Pick<BackupPlanning, 'ranges'>,
  start: bigint,
  end: bigint,
  seq: number,
  ids: ReadonlySet<number>,
): Promise<NonNullable<BackupDetails['descriptorRevisions']>> {
  const span = descriptorSpan();
  const range = leader.ranges.find(span.start);
  if (!range) throw new CairnError(ErrorCode.Unavailable, 'no range holds the descriptors', { retryable: true });
  const out: NonNullable<BackupDetails['descriptorRevisions']> = [];
  let last: unknown;
  for (const nodeId of range.replicas) {
    try {
      let from = span.start;
      for (;;) {
        const res = await callNode(leader.nc, nodeId, 'export', NodeExportRequest, NodeExportResponse, {
          startKey: from,
          endKey: span.end,
          startTs: start,
          endTs: end,
          allRevisions: true,
          minAppliedSeq: BigInt(seq),
          targetBytes: 0,
        });
        for (const r of res.revisions) {
          const id = decodeDescriptorKey(r.key);
          if (!ids.has(id)) continue;
          out.push({ id, timestamp: String(r.timestamp), ...(r.value ? { descriptor: Buffer.from(r.value).toString('base64') } : {}) });
        }
        if (res.resumeKey.length === 0) return out;
        from = res.resumeKey;
      }
    } catch (err) {
      last = err;
      out.length = 0;
    }
  }
  throw last instanceof Error ? last : new CairnError(ErrorCode.Unavailable, 'no replica answered for the descriptors', { retryable: true });
}
