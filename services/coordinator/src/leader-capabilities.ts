import type { KV, NatsConnection } from 'nats';
import type { Catalog } from '@cairn/catalog';
import type { StorageContext } from '@cairn/cloud';
import type { ProtectedTimestampStore } from '@cairn/cluster';
import type { JobRegistry } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';
import type { KeyValueOp, NodeRecord } from '@cairn/proto';
import type { ScheduleStore } from '@cairn/schedules';
import type { ClusterMetadataStores } from './backup/cluster-metadata.js';
import type { DescriptorWriter } from './catalog/descriptor-writer.js';
import type { ClusterSettings } from './cluster-settings.js';
import type { PrivilegeStore } from './privileges/privilege-store.js';
import type { RangeDirectory } from './range-directory.js';
import type { ReplicaReader } from './replica-reader.js';
import type { WriteLock } from './write-lock.js';

/*
 * The narrow capabilities a leader hands to its parts. A planner, a resumer, a scheduled run,
 * a statement or an RPC names the few it uses, so it can be read (and tested) without the
 * whole Leader, and no module that serves a request or plans a job imports leader.ts. The
 * Leader implements the live ones (read point, readiness, key reads and writes, nodes,
 * storage, planning); `LeaderCapabilities` gathers them with the other parts. Nothing here
 * imports leader.ts.
 */

/** A timestamp above every write so far, and the log position a read at it must wait for. */
export interface ReadPoint {
  readPoint(): { timestamp: bigint; seq: number };
}

/** The nodes the leader knows to be alive (heartbeating). */
export interface LiveNodes {
  liveNodes(): NodeRecord[];
}

/** How the coordinator reaches external storage (nodelocal:// through its node, connections by name). */
export interface StorageResolver {
  storageContext(): StorageContext;
}

/** The catalog as of now, and as of a past point read from the keyspace. */
export interface CatalogSource {
  readonly catalog: Catalog;
  catalogAt(ts: bigint, seq: number): Promise<Catalog>;
}

/** Ids for new descriptors (tables and databases a RESTORE creates). */
export interface DescriptorIds {
  allocateDescriptorId(): number;
}

/** Node RPC: the connection node calls (export, GC thresholds) go over. */
export interface NodeCalls {
  readonly nc: NatsConnection;
}

/** What planning a BACKUP reads: the catalog and ranges at a read point, storage, nodes, cluster metadata. */
export interface BackupPlanning extends ReadPoint, LiveNodes, StorageResolver, NodeCalls, Pick<CatalogSource, 'catalogAt'> {
  readonly settings: Pick<ClusterSettings, 'get' | 'getNumber'>;
  readonly ranges: Pick<RangeDirectory, 'overlapping' | 'find'>;
  /** Grants (every backup) and, for a cluster backup, users, schedules, settings, connections. */
  readonly clusterMetadata: Pick<ClusterMetadataStores, 'privileges' | 'schedules' | 'meta' | 'settings'>;
}

/** What planning a RESTORE reads and allocates: the current catalog, storage, nodes, new ids. */
export interface RestorePlanning extends ReadPoint, LiveNodes, StorageResolver, DescriptorIds, Pick<CatalogSource, 'catalog'> {
  readonly settings: Pick<ClusterSettings, 'get' | 'getNumber'>;
}

/** Whether the leader can serve statements yet (throws a retryable error until it can). */
export interface Readiness {
  readonly ready: boolean;
  assertReady(): void;
}

/** Reads of the keyspace at a read point, from whichever replica can serve them. */
export interface KeyReads extends ReadPoint {
  readonly reader: Pick<ReplicaReader, 'scan' | 'scanSpans' | 'fingerprint'>;
}

/** Key writes through the leader's log (DML, sequences, the raw DataService.Write). */
export interface KeyWrites {
  /** Held from a read-modify-write's check until its batch has its place in the log. */
  readonly writeLock: WriteLock;
  /** Appends one atomic batch; `stored` resolves once it is durable (await it outside the lock). */
  appendWrite(ops: KeyValueOp[]): { timestamp: bigint; stored: Promise<bigint> };
}

/** The nodes the leader knows: all of them (SHOW NODES) and the live ones. */
export interface NodeView extends LiveNodes {
  allNodes(): NodeRecord[];
}

/** Backup schedules as statements change them: the store, under the scheduler's lock, then a wake-up. */
export interface ScheduleAccess {
  readonly store: ScheduleStore;
  /** Serializes schedule changes with the scheduler's own runs. */
  readonly lock: Pick<WriteLock, 'run'>;
  /** Asks the scheduler to look again now (a schedule was created, altered or dropped). */
  wake(): void;
  /** Ids for new schedules (CockroachDB-style unique INT8s). */
  ids(): string;
}

/** Refuses writes while the cluster is restored in place; a managed in-place restore registers its job. */
export interface WriteGate {
  assertWritable(): Promise<void>;
  add(jobId: string): void;
}

/**
 * The capabilities a leader hands to statements, services, the console and managed backups:
 * each field is one narrow part, and a consumer names the fields it uses
 * (`Pick<LeaderCapabilities, 'jobs' | 'log'>`, or a statement family's `SessionWith<...>`).
 * Built once per leader by `startLeader`; none of it starts, stops or owns the leader's lifecycle.
 */
export interface LeaderCapabilities {
  readonly readiness: Readiness;
  /** The live catalog (replaced when the leader loads it, so read it where it is used). */
  readonly catalog: Catalog;
  readonly reads: KeyReads;
  readonly writes: KeyWrites;
  /** The one path for schema changes (lock, write descriptors, apply to the catalog). */
  readonly descriptors: DescriptorWriter;
  readonly jobs: JobRegistry;
  readonly schedules: ScheduleAccess;
  /** Protected timestamp records: backup jobs' and backup schedules' (the leader writes them). */
  readonly protectedTs: ProtectedTimestampStore;
  readonly settings: ClusterSettings;
  readonly storage: StorageResolver;
  readonly nodes: NodeView;
  readonly ranges: Pick<RangeDirectory, 'overlapping'>;
  /** The cluster's metadata bucket: external connections, API keys. */
  readonly meta: KV;
  /** Users, roles and grants. */
  readonly privileges: PrivilegeStore;
  readonly nodeCalls: NodeCalls;
  readonly restoreGate: WriteGate;
  /** What planning a BACKUP or a RESTORE reads (job-types.ts's planners). */
  readonly planning: BackupPlanning & RestorePlanning;
  readonly log: Logger;
}

/** What checking a user's privileges reads: the privilege state and the catalog names resolve in. */
export type PrivilegeChecking = Pick<LeaderCapabilities, 'readiness' | 'catalog' | 'privileges'>;
