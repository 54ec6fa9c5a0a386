export {
  CairnClient,
  isTerminalJob,
  type ClientOptions,
  type JobIdLike,
  type ListJobsOptions,
  type QueryResult,
} from './cairn-client.js';
export { errorInfoOf } from './error-details.js';
export {
  BackupType,
  JobStatus,
  JobType,
  ScheduleStatus,
  type BackupObject,
  type BackupSummary,
  type ApiKey,
  type Job,
  type Schedule,
  type WatchJobResponse,
} from '@cairn/proto';
