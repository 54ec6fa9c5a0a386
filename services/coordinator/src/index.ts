export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './coordinator-process.js';
export { SETTINGS as CLUSTER_SETTINGS } from './cluster-settings.js';
export { SchedulerDaemon, type SchedulerDaemonOptions, type ScheduledJobStarter, type ScheduledRun } from './schedules/scheduler-daemon.js';
