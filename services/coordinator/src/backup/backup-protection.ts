import { randomUUID } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { KeySpan, ProtectedTimestampStore } from '@cairn/cluster';
import { descriptorSpan, type Catalog } from '@cairn/catalog';
import { formatTimestamp, spanContains, tableSpan } from '@cairn/keys';
import type { TableDescriptor } from '@cairn/proto';
import type { LiveNodes, NodeCalls } from '../leader-capabilities.js';
import { replicaGcThresholds } from '../protected-ts/replica-gc-thresholds.js';
import { unhex, type BackupDetails, type PlannedSpan } from './backup-details.js';

/** What a planned backup reads: its spans and its time window. */
export interface BackupReadWindow {
  readonly spans: readonly PlannedSpan[];
  readonly incremental: boolean;
  readonly revisionHistory: boolean;
  readonly startTime: bigint;
  readonly endTime: bigint;
}

/** The protection fields of BackupDetails, fixed at planning. */
export type BackupProtection = Required<Pick<BackupDetails, 'protectedTimestampRecord' | 'protectedTimestamp' | 'revisionStartTime'>>;

/**
 * The oldest time an export of `span` reads at: the previous layer's end for an incremental
 * span; the end time for a span exported from time zero (a full backup, or a table new in an
 * incremental), which needs the revisions visible at the end time.
 */
export function readStart(span: PlannedSpan, endTime: bigint): bigint {
  const start = BigInt(span.startTime);
  return start === 0n ? endTime : start;
}

/** The first span whose read starts below its GC threshold (`thresholds[i]` is span i's). */
export function findBelowGcThreshold(
  w: BackupReadWindow,
  thresholds: readonly bigint[],
): { index: number; readTs: bigint; threshold: bigint } | undefined {
  for (const [index, span] of w.spans.entries()) {
    const threshold = thresholds[index] ?? 0n;
    const readTs = readStart(span, w.endTime);
    if (readTs < threshold) return { index, readTs, threshold };
  }
  return undefined;
}

/**
 * CockroachDB's error for a read below the GC threshold, naming the table and what to do: an
 * incremental whose chain fell behind needs a new full backup.
 */
export function backupBelowGcThresholdError(readTs: bigint, threshold: bigint, table: string, incremental: boolean): CairnError {
  const why = incremental
    ? 'the revisions since the previous backup were garbage-collected (gc.ttlseconds); take a new full backup'
    : 'AS OF SYSTEM TIME is older than gc.ttlseconds allows';
  return new CairnError(
    ErrorCode.FailedPrecondition,
    `batch timestamp ${formatTimestamp(readTs)} must be at or after replica GC threshold ${formatTimestamp(threshold)} (table ${table}): ${why}`,
  );
}

/**
 * Checks the backup's read window against every span's GC threshold (refusing it up front,
 * with the table named, rather than failing the job on its first export) and fixes what the
 * job will protect:
 *
 * - a full backup reads at its end time;
 * - an incremental reads from its start time (the previous layer's end);
 * - a full with revision_history reads every revision still there, so from the highest GC
 *   threshold of its spans, which also becomes its revision start time.
 */
export async function planBackupProtection(
  leader: LiveNodes & NodeCalls,
  w: BackupReadWindow,
  tables: readonly TableDescriptor[],
  catalog: Catalog,
): Promise<BackupProtection> {
  const live = new Set(leader.liveNodes().map((n) => n.nodeId));
  const thresholds = await replicaGcThresholds(
    leader.nc,
    w.spans.map((s) => ({ start: unhex(s.start), end: unhex(s.end), replicas: s.replicas })),
    (nodeId) => live.has(nodeId),
  );
  const below = findBelowGcThreshold(w, thresholds);
  if (below) {
    const span = w.spans[below.index]!;
    const key = unhex(span.start);
    const table = tables.find((t) => spanContains(tableSpan(t.id), key));
    const name = table ? `${catalog.databaseById(table.parentId)?.name ?? '?'}.${table.name}` : `span ${span.start}`;
    throw backupBelowGcThresholdError(below.readTs, below.threshold, name, w.incremental);
  }
  const highestThreshold = thresholds.reduce((max, t) => (t > max ? t : max), 0n);
  const fullWithRevisions = !w.incremental && w.revisionHistory;
  const protectedTs = fullWithRevisions ? highestThreshold : w.incremental ? w.startTime : w.endTime;
  return {
    protectedTimestampRecord: randomUUID(),
    protectedTimestamp: String(protectedTs),
    revisionStartTime: String(fullWithRevisions ? highestThreshold : w.startTime),
  };
}

/**
 * What a backup's record protects: the spans it exports (adjacent ones merged) and the
 * descriptors, which the next incremental of the chain reads from this backup's end time.
 */
export function backupProtectedSpans(d: Pick<BackupDetails, 'spans'>): KeySpan[] {
  const out: KeySpan[] = [descriptorSpan()];
  for (const s of d.spans) {
    const span = { start: unhex(s.start), end: unhex(s.end) };
    const last = out[out.length - 1]!;
    if (last.end.length > 0 && Buffer.compare(last.end, span.start) === 0) out[out.length - 1] = { start: last.start, end: span.end };
    else out.push(span);
  }
  return out;
}

/**
 * Writes the job's record, as CockroachDB does when a backup job starts; again on every
 * resume (after a pause or on a new leader adopting the job), which finds it in place.
 */
export async function protectBackupJob(store: Pick<ProtectedTimestampStore, 'protect'>, jobId: string, d: BackupDetails): Promise<void> {
  // Jobs planned before protection existed carry no record.
  if (d.protectedTimestampRecord === undefined || d.protectedTimestamp === undefined) return;
  await store.protect({
    id: d.protectedTimestampRecord,
    timestamp: BigInt(d.protectedTimestamp),
    spans: backupProtectedSpans(d),
    owner: { kind: 'job', jobId },
  });
}

/** Releases the job's record: the job is done reading (succeeded, failed or canceled). */
export async function releaseBackupJob(store: ProtectedTimestampStore, d: BackupDetails): Promise<void> {
  if (d.protectedTimestampRecord !== undefined) await store.release(d.protectedTimestampRecord);
}
