import type { BackupClusterMetadata, BackupGrant, LocalityTier } from '@cairn/proto';

/** A span of a backup job, with hex keys (the job payload is JSON). */
export interface PlannedSpan {
  start: string;
  end: string;
  /** Exclusive lower bound of the revisions to export: the previous layer's end, or 0 for a span new in this layer. */
  startTime: string;
  replicas: number[];
}

/** What a BACKUP job does, fixed at planning time (the job's spec payload). */
export interface BackupDetails {
  /** The collection's URIs as given, credentials included (never shown). */
  collection: string[];
  fullSubdir: string;
  /** This layer's directory inside the collection. */
  layerPath: string;
  incremental: boolean;
  /**
   * Whether LATEST moves to `fullSubdir` when the layer is done: for a full, and for the
   * incremental `BACKUP TO 'x' INCREMENTAL FROM ...` writes as the first backup at `x`.
   */
  movesLatest: boolean;
  startTime: string;
  endTime: string;
  revisionHistory: boolean;
  /**
   * With revision_history, the time from which the layer holds every revision: its start,
   * or for a full the GC threshold at planning (older revisions may be collapsed already).
   */
  revisionStartTime?: string;
  /**
   * The protected timestamp record the job holds until it ends (its id) and the timestamp it
   * protects: the oldest time the job reads at (see backup-protection.ts).
   */
  protectedTimestampRecord?: string;
  protectedTimestamp?: string;
  executionLocality: LocalityTier[];
  isFullCluster: boolean;
  spans: PlannedSpan[];
  /** Descriptors at endTime (base64 protobuf). */
  descriptors: string[];
  /** With revision_history: every change of a descriptor in (startTime, endTime]. */
  descriptorRevisions?: Array<{ id: number; timestamp: string; descriptor?: string }>;
  completeDatabaseIds: number[];
  dependencies: string[];
  backupId: string;
  minAppliedSeq: number;
  targetFileSize: number;
  /** Hex data key of an encrypted backup (derived from the passphrase; never shown). */
  encryptionKey?: string;
  /** The grants on the backed-up databases and tables, at planning. */
  grants?: BackupGrant[];
  /** A full-cluster backup's users, other grants, schedules, settings and connections. */
  clusterMetadata?: BackupClusterMetadata;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
