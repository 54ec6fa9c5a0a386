import type { ProtectedTimestampRecord } from '@cairn/cluster';

/** The count and oldest age of one kind of owner's records. */
export interface RecordStats {
  readonly count: number;
  /** Seconds from the oldest record's timestamp to now; 0 without records. */
  readonly oldestAgeSec: number;
}

/**
 * CockroachDB's `jobs.backup.protected_{record_count,age_sec}` and
 * `schedules.BACKUP.protected_{record_count,age_sec}`, from the records themselves. In cairn
 * only backups protect timestamps, so a job's record is a backup job's.
 */
export function protectedRecordStats(records: readonly ProtectedTimestampRecord[], nowMs: number): { jobs: RecordStats; schedules: RecordStats } {
  const stats = (kind: 'job' | 'schedule'): RecordStats => {
    const own = records.filter((r) => r.owner.kind === kind);
    if (own.length === 0) return { count: 0, oldestAgeSec: 0 };
    const oldest = own.reduce((min, r) => (r.timestamp < min ? r.timestamp : min), own[0]!.timestamp);
    return { count: own.length, oldestAgeSec: Math.max(0, nowMs / 1000 - Number(oldest / 1_000_000n) / 1000) };
  };
  return { jobs: stats('job'), schedules: stats('schedule') };
}
