import type { NatsConnection } from 'nats';
import type { Catalog } from '@cairn/catalog';
import type { StorageContext } from '@cairn/cloud';
import type { NodeRecord } from '@cairn/proto';
import type { ClusterMetadataStores } from './backup/cluster-metadata.js';
import type { ClusterSettings } from './cluster-settings.js';
import type { RangeDirectory } from './range-directory.js';

/*
 * The narrow capabilities a leader hands to its parts. A planner, a resumer or a scheduled
 * run names the few it uses, so it can be read (and tested) without the whole Leader, and a
 * module that plans a job never imports leader.ts. The Leader implements every one of them;
 * nothing here imports it.
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
  assertReady(): void;
}

/** What checking a user's privileges reads: the privilege state and the catalog names resolve in. */
export interface PrivilegeChecking extends Readiness, Pick<CatalogSource, 'catalog'> {
  readonly clusterMetadata: Pick<ClusterMetadataStores, 'privileges'>;
}
