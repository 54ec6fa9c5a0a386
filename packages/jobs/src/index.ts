/**
 * @cairn/jobs: CockroachDB's jobs model for cairn. A job is an immutable spec plus mutable
 * progress and a status driven by one state machine (`transition`); `JobStore` keeps jobs in
 * the `cairn_jobs` NATS KV bucket; `JobRegistry` runs on the coordinator leader, adopts jobs,
 * calls each type's `Resumer`, and applies PAUSE / RESUME / CANCEL; `showJobsRow` renders
 * SHOW JOBS.
 */
export {
  JOB_STATUSES,
  TERMINAL_STATUSES,
  ADOPTABLE_STATUSES,
  isTerminalStatus,
  isJobStatus,
  type JobStatus,
} from './job-status.js';
export {
  EMPTY_PROGRESS,
  encodeJsonPayload,
  decodeJsonPayload,
  type Job,
  type JobId,
  type JobType,
  type JobSpec,
  type JobProgress,
  type NewJobSpec,
  type RevertOutcome,
} from './job.js';
export { JobIdGenerator, parseJobId, jobIdTimestampMs } from './job-id.js';
export { transition, type JobEvent, type JobEventType, type ProgressUpdate } from './state-machine.js';
export {
  JobStore,
  JOBS_BUCKET,
  DEFAULT_JOB_RETENTION_MS,
  type JobFilter,
  type JobStoreOptions,
  type StoredJob,
} from './job-store.js';
export { retryDelayMs, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from './retry-backoff.js';
export {
  JobRegistry,
  type JobContext,
  type JobLogger,
  type JobMetricEvent,
  type JobRegistryKnobs,
  type JobRegistryOptions,
  type JobTypeCounts,
  type Resumer,
  type ResumerFactory,
} from './job-registry.js';
export { showJobsRow, formatJobTimestamp, SHOW_JOBS_COLUMNS, type ShowJobsColumn, type ShowJobsRow } from './show-jobs.js';
export { UTC, formatTimestampIn, offsetMinutesAt, parseShownTimestamp, resolveTimeZone, type TimeZone } from './time-zone.js';
