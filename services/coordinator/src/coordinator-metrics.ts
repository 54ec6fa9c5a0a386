import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Job, JobMetricEvent, JobRegistry, JobType } from '@cairn/jobs';
import type { ProtectedTimestampStore } from '@cairn/cluster';
import type { BackupSchedule } from '@cairn/schedules';
import { protectedRecordStats } from './protected-ts/record-stats.js';

/** Scrapes within this long of each other share one read of the protected timestamp records. */
const RECORD_STATS_TTL_MS = 1000;

/** Job types with CockroachDB-named metrics (`jobs.backup.*` → `jobs_backup_*`). */
const TYPES = ['BACKUP', 'RESTORE'] as const;
const EVENTS: JobMetricEvent[] = [
  'resume_completed',
  'resume_failed',
  'resume_retry_error',
  'fail_or_cancel_completed',
  'fail_or_cancel_failed',
  'fail_or_cancel_retry_error',
];

/**
 * The coordinator's job metrics under CockroachDB's exported names, plus a job duration
 * histogram of cairn's own. Counters carry Prometheus' `_total` suffix
 * (`jobs_backup_resume_completed_total` for CockroachDB's `jobs.backup.resume_completed`),
 * which is what `promtool check metrics` requires and what Prometheus' own OpenMetrics and
 * OTLP translations name a counter; gauges keep CockroachDB's name exactly. Lives as long as
 * the process; the leader of the moment feeds it.
 */
export class CoordinatorMetrics {
  private readonly counters = new Map<string, Counter>();
  private readonly duration: Histogram<'job_type' | 'status'>;
  private jobs: JobRegistry | undefined;
  private protectedTs: ProtectedTimestampStore | undefined;
  private recordStats: { atMs: number; stats: Promise<ReturnType<typeof protectedRecordStats>> } | undefined;

  constructor(registry: Registry) {
    for (const type of TYPES) {
      const t = type.toLowerCase();
      for (const e of EVENTS) {
        this.counters.set(`${type}/${e}`, new Counter({ name: `jobs_${t}_${e}_total`, help: `Number of ${t} jobs ${e.replace(/_/g, ' ')}`, registers: [registry] }));
      }
      for (const state of ['running', 'paused'] as const) {
        const current = (): number => this.jobs?.counts().get(type as JobType)?.[state] ?? 0;
        new Gauge({
          name: `jobs_${t}_currently_${state}`,
          help: `Number of ${t} jobs currently ${state}`,
          registers: [registry],
          collect() {
            this.set(current());
          },
        });
      }
    }
    this.duration = new Histogram({
      name: 'cairn_job_duration_seconds',
      help: 'Wall time from a job starting to its end, by type and final status',
      labelNames: ['job_type', 'status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600],
      registers: [registry],
    });
    this.registerScheduleMetrics(registry);
    this.registerProtectedTimestampMetrics(registry);
  }

  private readonly schedule = {
    started: undefined as Counter | undefined,
    succeeded: undefined as Counter | undefined,
    failed: undefined as Counter | undefined,
    wait: undefined as Counter | undefined,
    skip: undefined as Counter | undefined,
    jobsStarted: undefined as Counter | undefined,
    lastCompleted: undefined as Gauge | undefined,
  };

  /** Schedule metrics, CockroachDB's `schedules.BACKUP.*` and `schedules.round.*` (counters with `_total`). */
  registerScheduleMetrics(registry: Registry): void {
    const c = (name: string, help: string) => new Counter({ name: `${name}_total`, help, registers: [registry] });
    this.schedule.started = c('schedules_BACKUP_started', 'Number of BACKUP jobs started by schedules');
    this.schedule.succeeded = c('schedules_BACKUP_succeeded', 'Number of scheduled BACKUP jobs that succeeded');
    this.schedule.failed = c('schedules_BACKUP_failed', 'Number of scheduled BACKUP jobs that failed');
    this.schedule.wait = c('schedules_round_reschedule_wait', 'Schedules delayed because a previous run was still running (on_previous_running = wait)');
    this.schedule.skip = c('schedules_round_reschedule_skip', 'Schedule runs skipped because a previous run was still running (on_previous_running = skip)');
    this.schedule.jobsStarted = c('schedules_round_jobs_started', 'Jobs started by the scheduler');
    this.schedule.lastCompleted = new Gauge({
      name: 'schedules_BACKUP_last_completed_time',
      help: 'Unix time (seconds) of the end time of the newest successful backup of a schedule created with updates_cluster_last_backup_time_metric (0 on standbys)',
      registers: [registry],
    });
  }

  /**
   * CockroachDB's `schedules.BACKUP.last-completed-time`: moved only by schedules created
   * (or altered) WITH SCHEDULE OPTIONS updates_cluster_last_backup_time_metric, to the end
   * time of their successful backup (its AS OF SYSTEM TIME). It never moves back: with
   * on_previous_running = start an older run can end after a newer one.
   */
  private advanceLastCompleted(schedule: BackupSchedule): void {
    if (!schedule.args.updatesLastBackupMetric || schedule.lastSuccessEndMs === null) return;
    this.lastCompletedSec = Math.max(this.lastCompletedSec, Math.floor(schedule.lastSuccessEndMs / 1000));
    this.schedule.lastCompleted?.set(this.lastCompletedSec);
  }

  private lastCompletedSec = 0;

  scheduleStarted(): void {
    this.schedule.started?.inc();
    this.schedule.jobsStarted?.inc();
  }

  scheduleFinished(outcome: 'succeeded' | 'failed', schedule: BackupSchedule): void {
    if (outcome === 'succeeded') {
      this.schedule.succeeded?.inc();
      this.advanceLastCompleted(schedule);
    } else this.schedule.failed?.inc();
  }

  /**
   * On election: continues the last-completed gauge from the schedules' stored last success.
   * In CockroachDB the gauge lives in the node's memory and restarts at 0 with it, and a
   * "no backup for a day" alert on it pages after every restart; here the new leader picks
   * up where the old one was.
   */
  schedulesLoaded(schedules: readonly BackupSchedule[]): void {
    for (const s of schedules) this.advanceLastCompleted(s);
  }

  scheduleRescheduled(action: 'wait' | 'skip'): void {
    (action === 'wait' ? this.schedule.wait : this.schedule.skip)?.inc();
  }

  /** The registry of the current leader (undefined while standing by). */
  attach(jobs: JobRegistry | undefined, protectedTs?: ProtectedTimestampStore): void {
    this.jobs = jobs;
    this.protectedTs = jobs ? protectedTs : undefined;
    this.recordStats = undefined;
    if (!jobs) {
      // Only the leader reports the last completed backup (standbys 0, which the alert leaves
      // out): a deposed leader's value would otherwise linger beside the new leader's.
      this.lastCompletedSec = 0;
      this.schedule.lastCompleted?.set(0);
    }
  }

  /**
   * CockroachDB's `jobs.backup.protected_{age_sec,record_count}` and
   * `schedules.BACKUP.protected_{age_sec,record_count}`, computed from the records (the leader
   * reports them; standbys report 0). Named `..._age_seconds` and `..._records` here: Prometheus
   * wants base units spelled out and keeps `_count` for histograms and summaries (`promtool
   * check metrics`).
   */
  private registerProtectedTimestampMetrics(registry: Registry): void {
    const stats = async () => {
      const store = this.protectedTs;
      if (!store) return undefined;
      const now = Date.now();
      if (!this.recordStats || now - this.recordStats.atMs > RECORD_STATS_TTL_MS) {
        this.recordStats = { atMs: now, stats: store.list().then((records) => protectedRecordStats(records, now)) };
      }
      return this.recordStats.stats.catch(() => undefined);
    };
    const gauge = (name: string, help: string, pick: (s: ReturnType<typeof protectedRecordStats>) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          const s = await stats();
          this.set(s ? pick(s) : 0);
        },
      });
    gauge('jobs_backup_protected_records', 'Number of protected timestamp records held by backup jobs', (s) => s.jobs.count);
    gauge('jobs_backup_protected_age_seconds', 'Age in seconds of the oldest protected timestamp record held by backup jobs', (s) => s.jobs.oldestAgeSec);
    gauge('schedules_BACKUP_protected_records', 'Number of protected timestamp records held by backup schedules', (s) => s.schedules.count);
    gauge('schedules_BACKUP_protected_age_seconds', 'Age in seconds of the oldest protected timestamp record held by backup schedules', (s) => s.schedules.oldestAgeSec);
  }

  onJobEvent = (kind: JobMetricEvent, job: Job): void => {
    this.counters.get(`${job.spec.type}/${kind}`)?.inc();
    if (kind === 'resume_completed' || kind === 'fail_or_cancel_completed' || kind === 'resume_failed' || kind === 'fail_or_cancel_failed') {
      const status = kind === 'resume_completed' ? 'succeeded' : kind === 'fail_or_cancel_completed' ? (job.revertOutcome ?? 'failed') : 'failed';
      this.duration.labels(job.spec.type, status).observe(Math.max(0, (Date.now() - (job.startedAtMs ?? Date.now())) / 1000));
    }
  };
}
