import type { ProtectedTimestampStore } from '@cairn/cluster';
import type { JobRegistry, NewJobSpec } from '@cairn/jobs';
import { formatStatement, type BackupStatement } from '@cairn/sql';
import { protectBackupJob } from '../backup/backup-protection.js';
import { BACKUP_JOB } from '../jobs/job-types.js';
import type { BackupDetails } from '../backup/backup-details.js';
import { encodeBackupDetails } from '../jobs/job-details.js';
import type { BackupPlanning } from '../leader-capabilities.js';
import { inBatches, type ScheduledJobStarter } from './scheduler-daemon.js';

/** What starting a scheduled run's BACKUP uses. */
export interface ScheduledBackupDeps {
  readonly planning: BackupPlanning;
  readonly jobs: Pick<JobRegistry, 'createMany'>;
  readonly protectedTs: Pick<ProtectedTimestampStore, 'protect'>;
  /** Refuses the statement unless `owner` may run it now (privilege-statements.ts). */
  authorize(owner: string, stmt: BackupStatement): Promise<void>;
}

/** Runs planned (privileges, catalog, spans) at once before their jobs are created together. */
const PLAN_CONCURRENCY = 64;

/**
 * Plans each scheduled run's BACKUP, then creates the jobs of those planned in one batch under
 * the ids the daemon recorded, then protects what each job reads.
 */
export function scheduledBackupStarter(d: ScheduledBackupDeps): ScheduledJobStarter {
  return async (runs) => {
    const outcomes: unknown[] = new Array(runs.length).fill(undefined);
    const planned: Array<{ i: number; details: BackupDetails; spec: NewJobSpec }> = [];
    await inBatches(runs, PLAN_CONCURRENCY, async ({ schedule, jobId, backup }, i) => {
      try {
        // The owner's privileges are checked at each run, as when the schedule was created: a
        // REVOKE (or DROP USER) since then fails the run like any other planning error.
        await d.authorize(schedule.owner, backup);
        const details = await BACKUP_JOB.plan(d.planning, backup, '');
        const text = formatStatement(backup, { redact: true });
        const spec: NewJobSpec = {
          id: jobId,
          type: 'BACKUP',
          description: text,
          statement: text,
          userName: schedule.owner,
          scheduleId: schedule.id,
          payload: encodeBackupDetails(details),
        };
        planned.push({ i, details, spec });
      } catch (err) {
        outcomes[i] = err;
      }
    });
    const created = await d.jobs.createMany(planned.map((p) => p.spec));
    await inBatches(planned, PLAN_CONCURRENCY, async ({ i, details }, k) => {
      const job = created[k]!;
      if (job instanceof Error) {
        outcomes[i] = job;
        return;
      }
      // As a BACKUP statement does: a job paused before its first run still holds its record.
      await protectBackupJob(d.protectedTs, job.id, details).catch((err: unknown) => (outcomes[i] = err));
    });
    return outcomes;
  };
}
