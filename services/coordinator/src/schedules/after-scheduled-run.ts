import type { Job } from '@cairn/jobs';
import type { BackupSchedule } from '@cairn/schedules';
import { startExpiryJob } from '../backup/expiry-planner.js';
import type { Leader } from '../leader.js';

/**
 * What follows the end of a scheduled backup, once the daemon has recorded it: after a full's
 * success, the managed-retention expiry job of a schedule with `retention`.
 */
export function afterScheduledRun(leader: Leader): (schedule: BackupSchedule, job: Job) => Promise<void> {
  return async (schedule, job) => {
    if (job.status !== 'succeeded') return;
    if (schedule.args.backupType === 'FULL') {
      const expiry = await startExpiryJob(leader, schedule);
      if (expiry) leader.log.info({ scheduleId: schedule.id, jobId: expiry.id }, 'backup expiry started');
    }
  };
}
