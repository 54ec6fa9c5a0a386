import type { ProtectedTimestampRecord } from '@cairn/cluster';
import { formatJobTimestamp } from '@cairn/jobs';
import { formatTimestamp } from '@cairn/keys';
import { rowsResult, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** SHOW PROTECTED TIMESTAMPS lists the records. */
type ProtectedTsSession = SessionWith<'protectedTs'>;

/**
 * The columns of `SHOW PROTECTED TIMESTAMPS`, after CockroachDB's `system.protected_ts_records`:
 * `meta_type` is `jobs` or `schedules`, `owner_id` the job or schedule id, and `target`
 * `cluster` for a record over the whole keyspace or `spans` for one over `num_spans` spans.
 */
export const SHOW_PROTECTED_TIMESTAMPS_COLUMNS = ['id', 'ts', 'meta_type', 'owner_id', 'num_spans', 'target', 'created'] as const;

/** One row per record, oldest protected timestamp first. */
export function protectedTimestampRows(records: readonly ProtectedTimestampRecord[]): string[][] {
  return records.map((r) => [
    r.id,
    formatTimestamp(r.timestamp),
    r.owner.kind === 'job' ? 'jobs' : 'schedules',
    r.owner.kind === 'job' ? r.owner.jobId : r.owner.scheduleId,
    String(r.spans === 'all' ? 0 : r.spans.length),
    r.spans === 'all' ? 'cluster' : 'spans',
    formatJobTimestamp(r.createdAtMs),
  ]);
}

/** SHOW PROTECTED TIMESTAMPS: the records that hold back GC now. */
export async function showProtectedTimestamps(s: ProtectedTsSession): Promise<StatementResult> {
  return rowsResult([...SHOW_PROTECTED_TIMESTAMPS_COLUMNS], protectedTimestampRows(await s.protectedTs.list()));
}
