import type { KV } from 'nats';
import { readAllKeys } from '@cairn/cluster';
import { pauseSchedule, type BackupSchedule, type ScheduleStore, decodeSchedule, encodeSchedule } from '@cairn/schedules';
import type { BackupClusterMetadata, BackupGrant, BackupManifest } from '@cairn/proto';
import type { Logger } from '@cairn/metrics';
import type { GrantRecord, PrivilegeObject, PrivilegeState, UserRecord } from '../privileges/privilege-model.js';
import type { PrivilegeStore } from '../privileges/privilege-store.js';

/**
 * What a full-cluster backup carries besides schema and data, and how a cluster restore
 * brings it back (CockroachDB backs up and restores its system tables: users, role members,
 * privileges, scheduled jobs, settings, external connections). Database and table grants go
 * in every backup (`BackupManifest.grants`, by the backed-up descriptor ids); the rest only in
 * cluster backups (`cluster_metadata`). Zone configurations (gc.ttlseconds) live in the
 * descriptors, so every backup carries them with the schema.
 */

/** The key prefix of external connections in the `cairn_meta` bucket. */
export const EXTERNAL_CONNECTION_KEY_PREFIX = 'external-connection.';
/** The key of the cluster's id in `cairn_meta` (written once by the first coordinator). */
export const CLUSTER_ID_KEY = 'cluster-id';

/** Where the cluster metadata is read from and written to. */
export interface ClusterMetadataStores {
  readonly privileges: PrivilegeStore;
  readonly schedules: ScheduleStore;
  /** `cairn_meta` (external connections). */
  readonly meta: KV;
  /** `cairn_settings`: what SET CLUSTER SETTING stored. */
  readonly settings: KV;
  /** Stores one setting as SET CLUSTER SETTING would (validated and normalized). */
  readonly setSetting: (name: string, value: string) => Promise<void>;
  readonly log: Logger;
}

function grantOf(g: GrantRecord): BackupGrant {
  const o = g.object;
  return {
    objectKind: o.kind === 'externalConnection' ? 'external_connection' : o.kind,
    objectId: o.kind === 'database' || o.kind === 'table' ? o.id : 0,
    objectName: o.kind === 'externalConnection' ? o.name : '',
    grantee: g.grantee,
    privilege: g.privilege,
  };
}

function objectOf(g: BackupGrant, ids: ReadonlyMap<number, number>): PrivilegeObject | undefined {
  switch (g.objectKind) {
    case 'system':
      return { kind: 'system' };
    case 'external_connection':
      return { kind: 'externalConnection', name: g.objectName };
    case 'database':
    case 'table': {
      // Moved to the restored object's new id; a grant on an object not restored goes.
      const id = ids.get(g.objectId);
      return id === undefined ? undefined : { kind: g.objectKind, id };
    }
    default:
      return undefined;
  }
}

/** The grants on the backed-up databases and tables (`descriptorIds`), for the manifest. */
export function backedUpGrants(state: PrivilegeState, descriptorIds: ReadonlySet<number>): BackupGrant[] {
  return state.grants.filter((g) => (g.object.kind === 'database' || g.object.kind === 'table') && descriptorIds.has(g.object.id)).map(grantOf);
}

/** Reads the cluster metadata a full-cluster backup carries. */
export async function captureClusterMetadata(stores: Pick<ClusterMetadataStores, 'privileges' | 'schedules' | 'meta' | 'settings'>): Promise<BackupClusterMetadata> {
  const state = await stores.privileges.read();
  const decoder = new TextDecoder();
  const settings: Record<string, string> = {};
  for (const [k, v] of await readAllKeys(stores.settings)) settings[k] = decoder.decode(v);
  const externalConnections: Record<string, string> = {};
  let clusterId = '';
  for (const [k, v] of await readAllKeys(stores.meta)) {
    if (k.startsWith(EXTERNAL_CONNECTION_KEY_PREFIX)) externalConnections[k.slice(EXTERNAL_CONNECTION_KEY_PREFIX.length)] = decoder.decode(v);
    if (k === CLUSTER_ID_KEY) clusterId = decoder.decode(v);
  }
  return {
    users: state.users.map((u) => ({ name: u.name, admin: u.admin, createdAtMs: BigInt(u.createdAtMs), passwordHash: u.passwordHash })),
    grants: state.grants.filter((g) => g.object.kind === 'system' || g.object.kind === 'externalConnection').map(grantOf),
    schedules: (await stores.schedules.list()).map(encodeSchedule),
    settings,
    externalConnections,
    clusterId,
  };
}

/** The status a restored schedule shows until someone resumes it. */
export const RESTORED_SCHEDULE_STATUS =
  'paused by a cluster restore: resume it once no other cluster backs up into its collection';

/**
 * A schedule restored onto another cluster: paused, as CockroachDB pauses a backup schedule
 * that finds itself on a new cluster (two clusters writing one collection would break each
 * other's chains). It keeps its id, owner, label, cadence, pairing and protected-timestamp
 * chaining; restored onto the cluster it came from, it comes back as it was.
 */
export function restoredSchedule(s: BackupSchedule): BackupSchedule {
  // A chained protected timestamp record lived in the backed-up cluster: here there is none.
  return { ...pauseSchedule(s), statusText: RESTORED_SCHEDULE_STATUS, lastRun: null, args: { ...s.args, chainedProtectedTimestampRecord: null } };
}

/**
 * Brings a cluster backup's metadata back onto the (empty) cluster a cluster restore runs on:
 * users and their role membership replace the cluster's; grants on restored databases and
 * tables move to their new ids (`ids`: backed-up id → restored id), with the system and
 * external connection grants beside them; schedules come back, paused when this is another
 * cluster than the one backed up; settings and external
 * connections are written as they were. Idempotent, so a resumed restore may run it again.
 */
export async function restoreClusterMetadata(
  stores: ClusterMetadataStores,
  md: BackupClusterMetadata,
  objectGrants: readonly BackupGrant[],
  ids: ReadonlyMap<number, number>,
): Promise<void> {
  const users: UserRecord[] = md.users.map((u) => ({
    name: u.name,
    admin: u.admin,
    createdAtMs: Number(u.createdAtMs),
    ...(u.passwordHash === undefined ? {} : { passwordHash: u.passwordHash }),
  }));
  const grants: GrantRecord[] = [];
  for (const g of [...objectGrants, ...md.grants]) {
    const object = objectOf(g, ids);
    if (object !== undefined) grants.push({ object, grantee: g.grantee, privilege: g.privilege });
  }
  await stores.privileges.update(() => ({ state: { users, grants }, result: undefined }));

  for (const [name, value] of Object.entries(md.settings)) {
    try {
      await stores.setSetting(name, value);
    } catch (err) {
      // A setting this build does not know (a newer cluster's) cannot be set; say so and go on.
      stores.log.warn({ setting: name, err }, 'cluster restore: backed-up setting not restored');
    }
  }
  const encoder = new TextEncoder();
  for (const [name, uri] of Object.entries(md.externalConnections)) {
    await stores.meta.put(`${EXTERNAL_CONNECTION_KEY_PREFIX}${name}`, encoder.encode(uri));
  }
  const here = await stores.meta.get(CLUSTER_ID_KEY);
  const sameCluster = md.clusterId !== '' && here?.operation === 'PUT' && new TextDecoder().decode(here.value) === md.clusterId;
  for (const bytes of md.schedules) {
    const schedule = decodeSchedule(bytes);
    await stores.schedules.put(sameCluster ? schedule : restoredSchedule(schedule));
  }
}

/** What a cluster restore takes from the newest layer it reads (RestoreDetails' fields). */
export function restoredClusterMetadata(m: Pick<BackupManifest, 'grants' | 'clusterMetadata'>): { grants: BackupGrant[]; clusterMetadata?: BackupClusterMetadata } {
  return { grants: m.grants, ...(m.clusterMetadata ? { clusterMetadata: m.clusterMetadata } : {}) };
}
