import { CairnError, ErrorCode } from '@cairn/errors';
import { isTerminalStatus, type JobRegistry } from '@cairn/jobs';

/**
 * Refuses writes while a cluster is restored in place: the restore erases every user
 * database and fills the cluster from the backup, and a write meanwhile would be lost (or
 * land in a database about to be erased). The gate knows the in-place restore jobs (from
 * their records when a leader starts, and as the API starts them) and asks the job registry,
 * the leader's in-memory copy, whether one is still running.
 */
export class ClusterRestoreGate {
  private readonly jobIds = new Set<string>();

  constructor(private readonly jobs: Pick<JobRegistry, 'get'>) {}

  add(jobId: string): void {
    this.jobIds.add(jobId);
  }

  /** Throws FAILED_PRECONDITION "cluster is being restored" while an in-place restore runs. */
  async assertWritable(): Promise<void> {
    for (const id of this.jobIds) {
      const job = await this.jobs.get(id).catch(() => undefined);
      if (job === undefined || isTerminalStatus(job.status)) {
        this.jobIds.delete(id);
        continue;
      }
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `cluster is being restored (job ${id}): writes are refused until the restore finishes`,
      );
    }
  }
}
