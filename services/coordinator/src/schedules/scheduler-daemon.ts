import { isTerminalStatus, type Job } from '@cairn/jobs';
import {
  decideRun,
  onJobFinished,
  recordJobStarted,
  type BackupSchedule,
  type ScheduleStore,
} from '@cairn/schedules';
import { formatStatement } from '@cairn/sql';
import { encodeJsonPayload } from '@cairn/jobs';
import type { Leader } from '../leader.js';
import { planBackup } from '../backup/backup-planner.js';
import { durationMs } from '../cluster-settings.js';
import type { CoordinatorMetrics } from '../coordinator-metrics.js';
import { WriteLock } from '../write-lock.js';

/**
 * The scheduler daemon of the coordinator leader: every poll interval it settles the runs of
 * schedules whose job has finished (failure policy, unpausing the incremental after the first
 * full), then starts due schedules under their on_previous_running policy. A schedule's next
 * run is saved before its job is created, so a leader failover can delay a run but never runs
 * it twice.
 */
export class SchedulerDaemon {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /**
   * Serializes every read-modify-write of schedules (a round, and the schedule statements), so
   * a PAUSE cannot be overwritten by a round that read the schedule before it.
   */
  readonly lock = new WriteLock();

  constructor(
    private readonly leader: Leader,
    readonly store: ScheduleStore,
    private readonly metrics?: CoordinatorMetrics,
  ) {}

  start(): void {
    const loop = (): void => {
      const interval = durationMs(this.leader.settings.get('jobs.scheduler.poll_interval'));
      this.timer = setTimeout(() => {
        void this.tick().finally(loop);
      }, interval);
    };
    loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** One round; exposed for tests and EXECUTE IMMEDIATELY. */
  async tick(now = Date.now()): Promise<void> {
    if (this.busy || !this.leader.ready) return;
    this.busy = true;
    try {
      await this.lock.run(() => this.round(now));
    } finally {
      this.busy = false;
    }
  }

  private async round(now: number): Promise<void> {
    try {
      const schedules = await this.store.list();
      const byId = new Map(schedules.map((s) => [s.id, s]));
      const jobsBySchedule = new Map<string, Job[]>();
      for (const j of await this.leader.jobs.list({ types: ['BACKUP'] })) {
        if (j.spec.scheduleId === null) continue;
        const list = jobsBySchedule.get(j.spec.scheduleId) ?? [];
        list.push(j);
        jobsBySchedule.set(j.spec.scheduleId, list);
      }
      for (const s of schedules) {
        const run = s.lastRun;
        if (!run || run.outcome !== 'running' || run.jobId === null) continue;
        const job = jobsBySchedule.get(s.id)?.find((j) => j.id === run.jobId);
        if (!job || !isTerminalStatus(job.status)) continue;
        const status = job.status === 'succeeded' ? 'succeeded' : job.status === 'canceled' ? 'canceled' : 'failed';
        const dependent = s.args.unpauseOnSuccess ? byId.get(s.args.unpauseOnSuccess) : undefined;
        const res = onJobFinished(s, { jobId: job.id, status, error: job.error, now }, dependent);
        await this.store.put(res.schedule);
        byId.set(s.id, res.schedule);
        if (res.unpaused) {
          await this.store.put(res.unpaused);
          byId.set(res.unpaused.id, res.unpaused);
        }
        this.metrics?.scheduleFinished(res.metric, now);
      }
      for (const s of [...byId.values()]) {
        if (s.state !== 'ACTIVE' || s.nextRunMs === null || s.nextRunMs > now) continue;
        const running = (jobsBySchedule.get(s.id) ?? []).filter((j) => !isTerminalStatus(j.status)).length;
        const d = decideRun(s, { now, runningJobsOfSchedule: running });
        if (d.action === 'notDue') continue;
        await this.store.put(d.schedule);
        if (d.action === 'wait' || d.action === 'skip') {
          this.metrics?.scheduleRescheduled(d.action);
          continue;
        }
        await this.startRun(d.schedule, d.backup);
      }
    } catch (err) {
      this.leader.log.warn({ err }, 'scheduler round failed');
    }
  }

  private async startRun(s: BackupSchedule, backup: Parameters<typeof planBackup>[1]): Promise<void> {
    try {
      const details = await planBackup(this.leader, backup, '');
      const text = formatStatement(backup, { redact: true });
      const job = await this.leader.jobs.create({
        type: 'BACKUP',
        description: text,
        statement: text,
        userName: s.owner,
        scheduleId: s.id,
        payload: encodeJsonPayload(details),
      });
      await this.store.put(recordJobStarted(s, job.id));
      this.metrics?.scheduleStarted();
      this.leader.log.info({ scheduleId: s.id, label: s.label, jobId: job.id }, 'scheduled backup started');
    } catch (err) {
      // Planning failed (unreachable bucket, missing table...): the run fails like a job would.
      const res = onJobFinished(s, { jobId: '', status: 'failed', error: err instanceof Error ? err.message : String(err), now: Date.now() });
      await this.store.put(res.schedule);
      this.metrics?.scheduleFinished('failed', Date.now());
      this.leader.log.warn({ err, scheduleId: s.id }, 'scheduled backup could not start');
    }
  }
}
