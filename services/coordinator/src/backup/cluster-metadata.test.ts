/**
 * What a full-cluster backup carries outside the keyspace, against a real nats-server: the
 * metadata is captured from one cluster's buckets and restored into another's, grants move
 * to the restored objects' new ids (and grants on objects not restored go), schedules come
 * back paused without the old cluster's protected timestamp record (unchanged when restored
 * onto the cluster they came from), settings and external
 * connections as they were. The span configs the zone configurations make are derived here
 * too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV, NatsConnection } from 'nats';
import { Catalog } from '@cairn/catalog';
import { connectNats, readAllKeys } from '@cairn/cluster';
import { createLogger } from '@cairn/metrics';
import { DescriptorState, ObjectKind, type Descriptor, type TableDescriptor } from '@cairn/proto';
import { ScheduleStore, planCreateSchedule } from '@cairn/schedules';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { EMPTY_PRIVILEGE_STATE, createUser, grant, setAdminMembership } from '../privileges/privilege-model.js';
import { PrivilegeStore } from '../privileges/privilege-store.js';
import { desiredSpanConfigs } from '../zones/span-config-reconciler.js';
import {
  RESTORED_SCHEDULE_STATUS,
  backedUpGrants,
  captureClusterMetadata,
  restoreClusterMetadata,
  restoredClusterMetadata,
  type ClusterMetadataStores,
} from './cluster-metadata.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let n = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'cluster-metadata-test');
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

/** A cluster's worth of buckets, fresh. */
async function clusterStores(): Promise<ClusterMetadataStores & { settingsSet: Map<string, string> }> {
  const i = ++n;
  const kv = (name: string): Promise<KV> => nc.jetstream().views.kv(`cm_${name}_${i}`, { history: 1 });
  const meta = await kv('meta');
  const settings = await kv('settings');
  const settingsSet = new Map<string, string>();
  return {
    privileges: new PrivilegeStore(meta),
    schedules: await ScheduleStore.open(nc, { bucket: `cm_schedules_${i}`, replicas: 1 }),
    meta,
    settings,
    settingsSet,
    setSetting: async (name, value) => {
      if (name.startsWith('unknown.')) throw new Error(`unknown setting ${name}`);
      settingsSet.set(name, value);
      await settings.put(name, new TextEncoder().encode(value));
    },
    log: createLogger('cluster-metadata-test', 'silent'),
  };
}

describe('cluster metadata in a full-cluster backup', () => {
  it('is captured from one cluster and restored onto another, grants moved to the new ids', async () => {
    const source = await clusterStores();
    let state = createUser(createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 10), 'carl', 20);
    state = setAdminMembership(state, ['admin'], ['carl'], true);
    state = grant(state, [{ kind: 'database', id: 104 }], ['BACKUP'], ['maxroach']);
    state = grant(state, [{ kind: 'table', id: 105 }], ['SELECT'], ['maxroach']);
    state = grant(state, [{ kind: 'table', id: 999 }], ['SELECT'], ['maxroach']); // not restored
    state = grant(state, [{ kind: 'system' }], ['EXTERNALIOIMPLICITACCESS'], ['maxroach']);
    state = grant(state, [{ kind: 'externalConnection', name: 'conn-foo' }], ['USAGE'], ['maxroach']);
    await source.privileges.update(() => ({ state, result: undefined }));
    await source.meta.put('external-connection.conn-foo', new TextEncoder().encode('s3://b/p?AWS_SECRET_ACCESS_KEY=s'));
    await source.meta.put('cluster-id', new TextEncoder().encode('source-cluster'));
    await source.settings.put('bulkio.backup.file_size', new TextEncoder().encode('1048576'));
    await source.settings.put('unknown.newer.setting', new TextEncoder().encode('1'));
    let id = 500n;
    const stmt = parseOne("CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/s' RECURRING '@hourly'") as CreateScheduleStatement;
    const [inc, full] = planCreateSchedule(stmt, new Date(0), () => String(id++), { owner: 'maxroach' }).schedules;
    await source.schedules.createAll([{ ...inc!, args: { ...inc!.args, chainedProtectedTimestampRecord: 'pts-of-the-old-cluster' } }, full!]);

    const md = await captureClusterMetadata(source);
    // Grants on objects go with the objects (every backup); the rest with the cluster.
    const objectGrants = backedUpGrants(state, new Set([104, 105]));
    expect(objectGrants.map((g) => [g.objectKind, g.objectId, g.privilege])).toEqual([
      ['database', 104, 'BACKUP'],
      ['table', 105, 'SELECT'],
    ]);
    expect(md.grants.map((g) => [g.objectKind, g.objectName, g.privilege])).toEqual([
      ['system', '', 'EXTERNALIOIMPLICITACCESS'],
      ['external_connection', 'conn-foo', 'USAGE'],
    ]);
    expect(md.externalConnections).toEqual({ 'conn-foo': 's3://b/p?AWS_SECRET_ACCESS_KEY=s' });
    expect(md.schedules).toHaveLength(2);
    expect(restoredClusterMetadata({ grants: objectGrants, clusterMetadata: md })).toEqual({ grants: objectGrants, clusterMetadata: md });

    expect(md.clusterId).toBe('source-cluster');
    const target = await clusterStores();
    await target.meta.put('cluster-id', new TextEncoder().encode('target-cluster'));
    // A user the new cluster had is replaced, as CockroachDB's restore replaces system.users.
    await target.privileges.update((s) => ({ state: createUser(s, 'stranger', 1), result: undefined }));
    const ids = new Map([
      [104, 204],
      [105, 205],
    ]);
    await restoreClusterMetadata(target, md, objectGrants, ids);
    await restoreClusterMetadata(target, md, objectGrants, ids); // a resumed job runs it again

    const restored = await target.privileges.read();
    expect(restored.users.map((u) => [u.name, u.admin])).toEqual([
      ['carl', true],
      ['maxroach', false],
    ]);
    expect(restored.grants).toEqual([
      { object: { kind: 'database', id: 204 }, grantee: 'maxroach', privilege: 'BACKUP' },
      { object: { kind: 'table', id: 205 }, grantee: 'maxroach', privilege: 'SELECT' },
      { object: { kind: 'system' }, grantee: 'maxroach', privilege: 'EXTERNALIOIMPLICITACCESS' },
      { object: { kind: 'externalConnection', name: 'conn-foo' }, grantee: 'maxroach', privilege: 'USAGE' },
    ]);
    expect(target.settingsSet).toEqual(new Map([['bulkio.backup.file_size', '1048576']]));
    const meta = await readAllKeys(target.meta);
    expect(new TextDecoder().decode(meta.get('external-connection.conn-foo'))).toBe('s3://b/p?AWS_SECRET_ACCESS_KEY=s');
    const schedules = await target.schedules.list();
    expect(schedules.map((x) => [x.id, x.label, x.owner, x.state, x.nextRunMs, x.statusText, x.cron])).toEqual([
      [inc!.id, 's', 'maxroach', 'PAUSED', null, RESTORED_SCHEDULE_STATUS, '@hourly'],
      [full!.id, 's', 'maxroach', 'PAUSED', null, RESTORED_SCHEDULE_STATUS, '@daily'],
    ]);
    expect(schedules.every((x) => x.args.chainedProtectedTimestampRecord === null)).toBe(true);
    expect(schedules.find((x) => x.id === full!.id)?.args.dependentScheduleId).toBe(inc!.id);

    // Restored onto the cluster they came from (an in-place restore), schedules stay as they were.
    const same = await clusterStores();
    await same.meta.put('cluster-id', new TextEncoder().encode('source-cluster'));
    await restoreClusterMetadata(same, md, objectGrants, ids);
    expect((await same.schedules.list()).map((x) => [x.id, x.state, x.args.chainedProtectedTimestampRecord])).toEqual([
      [inc!.id, 'PAUSED', 'pts-of-the-old-cluster'],
      [full!.id, 'ACTIVE', null],
    ]);
  });
});

describe('span configs from zone configurations', () => {
  const table = (id: number, parentId: number, extra: Partial<TableDescriptor> = {}): Descriptor => ({
    kind: {
      $case: 'table',
      value: {
        id,
        name: `t${id}`,
        parentId,
        kind: ObjectKind.TABLE,
        columns: [],
        primaryKey: [],
        foreignKeys: [],
        state: DescriptorState.PUBLIC,
        viewQuery: '',
        dependsOn: [],
        nextColumnId: 1,
        ...extra,
      } as TableDescriptor,
    },
  });

  it("gives each table its own TTL, else its database's; the setting covers the rest", () => {
    const catalog = Catalog.fromDescriptors([
      { kind: { $case: 'database', value: { id: 100, name: 'bank', state: DescriptorState.PUBLIC, gcTtlSeconds: 7200 } } },
      { kind: { $case: 'database', value: { id: 110, name: 'plain', state: DescriptorState.PUBLIC } } },
      table(101, 100, { gcTtlSeconds: 600 }),
      table(102, 100),
      table(103, 100, { state: DescriptorState.DROPPED, gcTtlSeconds: 5 }),
      table(104, 100, { kind: ObjectKind.VIEW }),
      table(111, 110),
      table(112, 110, { gcTtlSeconds: 1 }),
    ] as Descriptor[]);
    expect(desiredSpanConfigs(catalog)).toEqual(
      new Map([
        ['table.101', '600'],
        ['table.102', '7200'],
        ['table.112', '1'],
      ]),
    );
  });
});
