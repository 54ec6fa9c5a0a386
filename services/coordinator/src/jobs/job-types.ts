import type { ProtectedTimestampStore, WorkQueue } from '@cairn/cluster';
import type { StorageContext } from '@cairn/cloud';
import type { Job, JobType, Resumer } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';
import { BackupResumer } from '../backup/backup-resumer.js';
import { BACKUP_EXPIRY_JOB_TYPE } from '../backup/expiry-planner.js';
import { ExpiryResumer } from '../backup/expiry-resumer.js';
import { RestoreResumer } from '../backup/restore-resumer.js';
import type { DescriptorWriter } from '../catalog/descriptor-writer.js';
import type { ClusterMetadataStores } from '../backup/cluster-metadata.js';

/** The capabilities job types draw from; each resumer takes only the ones it uses. */
export interface JobTypeDeps {
  readonly workQueue: WorkQueue;
  readonly storage: () => StorageContext;
  readonly protectedTs: ProtectedTimestampStore;
  readonly descriptors: DescriptorWriter;
  /** Where a cluster restore writes users, grants, schedules, settings and connections. */
  readonly clusterMetadata: ClusterMetadataStores;
  readonly log: Logger;
  /** Whether a RESTORE job restores the cluster in place (managed restores; see restore-gate.ts). */
  readonly restoresInPlace?: (jobId: string) => Promise<boolean>;
}

/** A job type: its name in SHOW JOBS and how a job of it is resumed (CockroachDB's RegisterConstructor). */
export interface JobTypeRegistration {
  readonly type: JobType;
  resumer(job: Job, deps: JobTypeDeps): Resumer;
}

export const BACKUP_JOB: JobTypeRegistration = {
  type: 'BACKUP',
  resumer: (job, d) => new BackupResumer(job, d.workQueue, d.storage(), d.protectedTs),
};

export const RESTORE_JOB: JobTypeRegistration = {
  type: 'RESTORE',
  resumer: (job, d) => new RestoreResumer(job, { descriptors: d.descriptors, clusterMetadata: d.clusterMetadata, log: d.log, ...(d.restoresInPlace ? { restoresInPlace: d.restoresInPlace } : {}) }, d.workQueue),
};

export const BACKUP_EXPIRY_JOB: JobTypeRegistration = {
  type: BACKUP_EXPIRY_JOB_TYPE,
  resumer: (job, d) => new ExpiryResumer(job, d.storage(), d.log.child({ component: 'backup-expiry' })),
};

/** Every job type a leader runs; a new type is one more entry here. */
export const JOB_TYPES: readonly JobTypeRegistration[] = [BACKUP_JOB, RESTORE_JOB, BACKUP_EXPIRY_JOB];
