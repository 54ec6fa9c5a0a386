import type { ProtectedTimestampStore } from '@cairn/cluster';
import type { JobRegistry } from '@cairn/jobs';
import { formatStatement, type BackupStatement } from '@cairn/sql';
import { protectBackupJob } from '../backup/backup-protection.js';
import { BACKUP_JOB } from '../jobs/job-types.js';
import { encodeBackupDetails } from '../jobs/job-details.js';
import type { BackupPlanning } from '../leader-capabilities.js';
import type { ScheduledJobStarter } from './scheduler-daemon.js';

/** What starting a scheduled run's BACKUP uses. */
export interface ScheduledBackupDeps {
  readonly planning: BackupPlanning;
  readonly jobs: Pick<JobRegistry, 'create'>;
  readonly protectedTs: Pick<ProtectedTimestampStore, 'protect'>;
  /** Refuses the statement unless `owner` may run it now (privilege-statements.ts). */
  authorize(owner: string, stmt: BackupStatement): Promise<void>;
}

/** Plans a scheduled run's BACKUP and creates its job under the id the daemon recorded. */
export function scheduledBackupStarter(d: ScheduledBackupDeps): ScheduledJobStarter {
  return async ({ schedule, jobId, backup }) => {
    // The owner's privileges are checked at each run, as when the schedule was created: a
    // REVOKE (or DROP USER) since then fails the run like any other planning error.
    await d.authorize(schedule.owner, backup);
    const details = await BACKUP_JOB.plan(d.planning, backup, '');
    const text = formatStatement(backup, { redact: true });
    const job = await d.jobs.create({
      id: jobId,
      type: 'BACKUP',
      description: text,
      statement: text,
      userName: schedule.owner,
      scheduleId: schedule.id,
      payload: encodeBackupDetails(details),
    });
    // As a BACKUP statement does: a job paused before its first run still holds its record.
    await protectBackupJob(d.protectedTs, job.id, details);
  };
}
