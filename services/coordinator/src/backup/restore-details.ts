import type { BackupClusterMetadata, BackupGrant, LocalityTier } from '@cairn/proto';

/** What a RESTORE job does, fixed at planning time (the job's spec payload). */
export interface RestoreDetails {
  /** Each used layer's directory URI per locality ("default", "k=v"), oldest layer first. */
  layers: Array<Record<string, string>>;
  endTime: string;
  /** Descriptors to create (base64 protobuf, OFFLINE), databases first. */
  descriptors: string[];
  /** Names the restored objects take, for conflict checks when they are published. */
  names: Array<{ parentId: number; name: string; id: number }>;
  rewrites: Array<{ oldId: number; newId: number }>;
  items: Array<{ start: string; end: string; files: Array<{ layer: number; path: string; locality: string }> }>;
  /** New table ids (for range splits and for making them PUBLIC at the end). */
  newTableIds: number[];
  /** Hex data key when the backup is encrypted. */
  encryptionKey?: string;
  /** EXECUTION LOCALITY: only nodes with every one of these tiers restore spans. */
  executionLocality?: LocalityTier[];
  /** A cluster restore's backed-up grants on its objects (by backed-up ids) and cluster metadata. */
  grants?: BackupGrant[];
  clusterMetadata?: BackupClusterMetadata;
}
