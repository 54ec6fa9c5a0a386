import type { ProtectedTimestampStore, WorkQueue } from '@cairn/cluster';
import type { StorageContext } from '@cairn/cloud';
import type { Job, JobType, Resumer } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';
import { BackupResumer } from '../backup/backup-resumer.js';
import { planBackup } from '../backup/backup-planner.js';
import { BACKUP_EXPIRY_JOB_TYPE, planExpiry } from '../backup/expiry-planner.js';
import { planRestore } from '../backup/restore-planner.js';
import { ExpiryResumer } from '../backup/expiry-resumer.js';
import { RestoreResumer } from '../backup/restore-resumer.js';
import type { ReplicaCatchUp } from '../backup/replica-catch-up.js';
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
  /** How a RESTORE waits for the rows it staged to be loaded before its tables go public. */
  readonly replicaCatchUp: ReplicaCatchUp;
}

/**
 * A job type: its name in SHOW JOBS, how a job of it is planned (what a statement or a
 * schedule asks for, turned into the job's details: CockroachDB's plan hook) and how it is
 * resumed (CockroachDB's RegisterConstructor). Statements and schedules plan through this
 * entry, so a type's two halves are registered in one place.
 */
export interface JobTypeRegistration<Plan = unknown> {
  readonly type: JobType;
  /** Each planner takes the narrow capabilities it reads (leader-capabilities.ts), never the Leader. */
  readonly plan: Plan;
  resumer(job: Job, deps: JobTypeDeps): Resumer;
}

export const BACKUP_JOB: JobTypeRegistration<typeof planBackup> = {
  type: 'BACKUP',
  plan: planBackup,
  resumer: (job, d) => new BackupResumer(job, d.workQueue, d.storage(), d.protectedTs),
};

export const RESTORE_JOB: JobTypeRegistration<typeof planRestore> = {
  type: 'RESTORE',
  plan: planRestore,
  resumer: (job, d) => new RestoreResumer(job, { descriptors: d.descriptors, clusterMetadata: d.clusterMetadata, log: d.log, replicas: d.replicaCatchUp, ...(d.restoresInPlace ? { restoresInPlace: d.restoresInPlace } : {}) }, d.workQueue),
};

export const BACKUP_EXPIRY_JOB: JobTypeRegistration<typeof planExpiry> = {
  type: BACKUP_EXPIRY_JOB_TYPE,
  plan: planExpiry,
  resumer: (job, d) => new ExpiryResumer(job, d.storage(), d.log.child({ component: 'backup-expiry' })),
};

/** Every job type a leader runs; a new type is one more entry here. */
export const JOB_TYPES: readonly JobTypeRegistration[] = [BACKUP_JOB, RESTORE_JOB, BACKUP_EXPIRY_JOB];
