import { encodeBackupDetails } from '../jobs/job-details.js';
import { formatStatement } from '@cairn/sql';
import { planBackup } from '../backup/backup-planner.js';
import { protectBackupJob } from '../backup/backup-protection.js';
import { authorizeStatement } from '../privileges/privilege-statements.js';
import type { Leader } from '../leader.js';
import type { ScheduledJobStarter } from './scheduler-daemon.js';

/** Plans a scheduled run's BACKUP and creates its job under the id the daemon recorded. */
export function scheduledBackupStarter(leader: Leader): ScheduledJobStarter {
  return async ({ schedule, jobId, backup }) => {
    // The owner's privileges are checked at each run, as when the schedule was created: a
    // REVOKE (or DROP USER) since then fails the run like any other planning error.
    await authorizeStatement({ leader, database: '', user: schedule.owner }, backup);
    const details = await planBackup(leader, backup, '');
    const text = formatStatement(backup, { redact: true });
    const job = await leader.jobs.create({
      id: jobId,
      type: 'BACKUP',
      description: text,
      statement: text,
      userName: schedule.owner,
      scheduleId: schedule.id,
      payload: encodeBackupDetails(details),
    });
    // As a BACKUP statement does: a job paused before its first run still holds its record.
    await protectBackupJob(leader.protectedTs, job.id, details);
  };
}
