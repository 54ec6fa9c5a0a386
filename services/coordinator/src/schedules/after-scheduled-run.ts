import type { ProtectedTimestampStore } from '@cairn/cluster';
import type { Job, JobRegistry } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';
import { decodeBackupDetails } from '../jobs/job-details.js';
import type { BackupSchedule, ScheduleStore } from '@cairn/schedules';
import { backupProtectedSpans } from '../backup/backup-protection.js';
import { startExpiryJob } from '../backup/expiry-planner.js';

/** What follows a scheduled run uses: jobs to start expiry, schedules and records to chain. */
export interface AfterRunDeps {
  readonly jobs: Pick<JobRegistry, 'create' | 'list'>;
  readonly schedules: Pick<ScheduleStore, 'get' | 'put'>;
  readonly protectedTs: Pick<ProtectedTimestampStore, 'get' | 'update' | 'protectScheduleChain'>;
  readonly log: Logger;
}

/**
 * What follows the success of a scheduled backup, once the daemon has recorded it:
 * - the chained protected timestamp of a full/incremental pair (CockroachDB's
 *   `chain_protected_timestamp_records`): a full protects its end time on behalf of its
 *   incremental schedule, each incremental moves the record to its own end, so the next
 *   incremental can read from there even when it runs later than `gc.ttlseconds`;
 * - after a full, the managed-retention expiry job of a schedule with `retention`.
 * Runs inside the scheduler's round, under its lock.
 */
export function afterScheduledRun(leader: AfterRunDeps): (schedule: BackupSchedule, job: Job) => Promise<void> {
  return async (schedule, job) => {
    if (job.status !== 'succeeded') return;
    if (schedule.args.chainProtectedTimestampRecords) await chainProtectedTimestamp(leader, schedule, job);
    if (schedule.args.backupType === 'FULL') {
      const expiry = await startExpiryJob(leader, schedule);
      if (expiry) leader.log.info({ scheduleId: schedule.id, jobId: expiry.id }, 'backup expiry started');
    }
  };
}

async function chainProtectedTimestamp(leader: AfterRunDeps, schedule: BackupSchedule, job: Job): Promise<void> {
  const holderId = schedule.args.backupType === 'FULL' ? schedule.args.dependentScheduleId : schedule.id;
  if (holderId === null) return;
  const store = leader.schedules;
  const holder = await store.get(holderId);
  if (!holder) return;
  const details = decodeBackupDetails(job.spec);
  const pts = leader.protectedTs;
  const timestamp = BigInt(details.endTime);
  const spans = backupProtectedSpans(details);
  // Move the record the schedule names; only without one (or if it went) look for records by
  // owner, which reads them all.
  const known = holder.args.chainedProtectedTimestampRecord;
  const recordId =
    known !== null && (await pts.get(known)) !== undefined
      ? (await pts.update(known, timestamp, spans)).id
      : await pts.protectScheduleChain(holderId, timestamp, spans);
  if (holder.args.chainedProtectedTimestampRecord !== recordId) {
    await store.put({ ...holder, args: { ...holder.args, chainedProtectedTimestampRecord: recordId } });
  }
  leader.log.info({ scheduleId: holderId, recordId, timestamp: details.endTime }, 'chained protected timestamp moved');
}
