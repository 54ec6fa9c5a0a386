import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Job, JobMetricEvent, JobRegistry, JobType } from '@cairn/jobs';

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
 * The coordinator's job metrics under CockroachDB's exported names, so existing dashboards
 * carry over, plus a job duration histogram of cairn's own. Lives as long as the process; the
 * leader of the moment feeds it.
 */
export class CoordinatorMetrics {
  private readonly counters = new Map<string, Counter>();
  private readonly duration: Histogram<'job_type' | 'status'>;
  private jobs: JobRegistry | undefined;

  constructor(registry: Registry) {
    for (const type of TYPES) {
      const t = type.toLowerCase();
      for (const e of EVENTS) {
        this.counters.set(`${type}/${e}`, new Counter({ name: `jobs_${t}_${e}`, help: `Number of ${t} jobs ${e.replace(/_/g, ' ')}`, registers: [registry] }));
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
  }

  /** The registry of the current leader (undefined while standing by). */
  attach(jobs: JobRegistry | undefined): void {
    this.jobs = jobs;
  }

  onJobEvent = (kind: JobMetricEvent, job: Job): void => {
    this.counters.get(`${job.spec.type}/${kind}`)?.inc();
    if (kind === 'resume_completed' || kind === 'fail_or_cancel_completed' || kind === 'resume_failed' || kind === 'fail_or_cancel_failed') {
      const status = kind === 'resume_completed' ? 'succeeded' : kind === 'fail_or_cancel_completed' ? (job.revertOutcome ?? 'failed') : 'failed';
      this.duration.labels(job.spec.type, status).observe(Math.max(0, (Date.now() - (job.startedAtMs ?? Date.now())) / 1000));
    }
  };
}
