export {
  CairnClient,
  isTerminalJob,
  type ClientOptions,
  type JobIdLike,
  type ListJobsOptions,
  type QueryResult,
} from './cairn-client.js';
export { errorInfoOf } from './error-details.js';
export { JobStatus, JobType, type Job, type WatchJobResponse } from '@cairn/proto';
