import { CairnError, ErrorCode } from '@cairn/errors';
import { describeOwner, type ProtectedTimestampRecord, type ProtectedTimestampStore } from '@cairn/cluster';
import { isTerminalStatus, type Job } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';

/** CockroachDB reconciles every 5 minutes (`kv.protectedts.reconciliation.interval`). */
export const RECONCILE_INTERVAL_MS = 5 * 60_000;

/** What the reconciler asks about owners. */
export interface RecordOwners {
  /** The job, or a NotFound CairnError once it has been purged. */
  getJob(id: string): Promise<Job>;
  /** Whether the schedule still exists. */
  scheduleExists(id: string): Promise<boolean>;
}

/**
 * Whether a record's owner is done with it: its job ended (or is gone), or its schedule was
 * dropped. A job releases its own record as it ends; this catches what a crash between the
 * two writes, a revert that failed, or a schedule dropped mid-round left behind.
 */
export async function isOrphaned(record: ProtectedTimestampRecord, owners: RecordOwners): Promise<boolean> {
  if (record.owner.kind === 'schedule') return !(await owners.scheduleExists(record.owner.scheduleId));
  try {
    return isTerminalStatus((await owners.getJob(record.owner.jobId)).status);
  } catch (err) {
    if (err instanceof CairnError && err.code === ErrorCode.NotFound) return true;
    throw err;
  }
}

/**
 * The leader's protected timestamp reconciler (CockroachDB's `ptreconcile`): when a leader
 * takes over and then periodically, it releases records whose owner no longer needs them,
 * so a leftover record cannot hold back GC forever.
 */
export class ProtectedTimestampReconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<string[]> | undefined;

  constructor(
    private readonly store: ProtectedTimestampStore,
    private readonly owners: RecordOwners,
    private readonly log: Logger,
    private readonly intervalMs = RECONCILE_INTERVAL_MS,
  ) {}

  start(): void {
    void this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass; returns the ids released. Failures are logged and retried at the next pass. */
  reconcile(): Promise<string[]> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<string[]> {
    const released: string[] = [];
    try {
      for (const r of await this.store.list()) {
        if (!(await isOrphaned(r, this.owners))) continue;
        if (await this.store.release(r.id)) {
          released.push(r.id);
          this.log.info({ component: 'protectedts', recordId: r.id, owner: describeOwner(r.owner), ts: String(r.timestamp) }, 'released orphaned protected timestamp record');
        }
      }
    } catch (err) {
      this.log.warn({ component: 'protectedts', err }, 'protected timestamp reconciliation failed; will retry');
    }
    return released;
  }
}
