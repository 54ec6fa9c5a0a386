import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV, NatsConnection } from 'nats';
import { connectNats } from '@cairn/cluster';
import { ErrorCode } from '@cairn/errors';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { EMPTY_PRIVILEGE_STATE, createUser, grant } from './privilege-model.js';
import { PRIVILEGES_KEY, PrivilegeStore, decodePrivileges, encodePrivileges } from './privilege-store.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let bucket = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'privilege-store-test');
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

async function freshKv(): Promise<KV> {
  return nc.jetstream().views.kv(`privileges_test_${++bucket}`, { history: 1 });
}

describe('PrivilegeStore', () => {
  it('starts empty, stores changes, and a second store (a new leader) reads them', async () => {
    const kv = await freshKv();
    const store = new PrivilegeStore(kv);
    expect(await store.read()).toEqual(EMPTY_PRIVILEGE_STATE);
    await store.update((s) => ({ state: createUser(s, 'maxroach', 5), result: undefined }));
    await store.update((s) => ({ state: grant(s, [{ kind: 'database', id: 104 }], ['RESTORE'], ['maxroach']), result: undefined }));
    const again = await new PrivilegeStore(kv).read();
    expect(again.users).toEqual([{ name: 'maxroach', admin: false, createdAtMs: 5 }]);
    expect(again.grants).toEqual([{ object: { kind: 'database', id: 104 }, grantee: 'maxroach', privilege: 'RESTORE' }]);
  });

  it('loses no update when two processes change the state at once', async () => {
    const kv = await freshKv();
    // A second connection stands for another coordinator: its writes race through the revision check.
    const other = await connectNats(server.url, 'privilege-store-test-2');
    const a = new PrivilegeStore(kv);
    const b = new PrivilegeStore(await other.jetstream().views.kv(`privileges_test_${bucket}`, { history: 1 }));
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).update((s) => ({ state: createUser(s, `user${i}`, i), result: undefined }))),
    );
    expect((await a.read()).users.map((u) => u.name).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `user${i}`));
    await other.close();
  });

  it('writes nothing for a change that changes nothing, and passes errors of the change through', async () => {
    const kv = await freshKv();
    const store = new PrivilegeStore(kv);
    await store.update((s) => ({ state: createUser(s, 'maxroach', 1), result: undefined }));
    const before = (await kv.get(PRIVILEGES_KEY))?.revision;
    expect(await store.update((s) => ({ state: createUser(s, 'maxroach', 2, true), result: 'same' }))).toBe('same');
    expect((await kv.get(PRIVILEGES_KEY))?.revision).toBe(before);
    await expect(store.update((s) => ({ state: createUser(s, 'maxroach', 3), result: undefined }))).rejects.toMatchObject({
      code: ErrorCode.DuplicateObject,
    });
  });

  it('refuses a damaged or newer document instead of misreading it', async () => {
    const state = createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 1);
    expect(decodePrivileges(encodePrivileges(state))).toEqual(state);
    const bad = (text: string) => () => decodePrivileges(new TextEncoder().encode(text));
    expect(bad('{"version":2,"users":[],"grants":[]}')).toThrow(/format version 2/);
    expect(bad('{"version":1,"users":[{"name":1}],"grants":[]}')).toThrow(/bad user/);
    expect(bad('{"version":1,"users":[],"grants":[{"object":{"kind":"database"},"grantee":"x","privilege":"ALL"}]}')).toThrow(/bad grant object/);
    expect(bad('not json')).toThrow(/are invalid/);
    const kv = await freshKv();
    await kv.put(PRIVILEGES_KEY, new TextEncoder().encode('{"version":1}'));
    await expect(new PrivilegeStore(kv).read()).rejects.toMatchObject({ code: ErrorCode.Corruption });
  });
});
