import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { ClusterState } from './state-buckets.js';
import { ProtectedTimestampCache, ProtectedTimestampStore, protectsSpan, type KeySpan } from './protected-timestamps.js';
import { SettingsView, parseDurationMs } from './settings-view.js';

let server: NatsServerHandle;
const connections: NatsConnection[] = [];

async function state(name: string): Promise<ClusterState> {
  const nc = await connectNats(server.url, name);
  connections.push(nc);
  return ClusterState.open(nc);
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const span = (start: string, end: string): KeySpan => ({ start: bytes(start), end: bytes(end) });

beforeAll(async () => {
  server = await startNatsServer();
});

// Every test starts from an empty bucket, whatever the one before left.
beforeEach(async () => {
  const store = await ProtectedTimestampStore.open(await state('pts-cleanup'));
  for (const r of await store.list()) await store.release(r.id);
});

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server.stop();
});

describe('ProtectedTimestampStore', () => {
  it('protects, lists oldest first, updates and releases records', async () => {
    let now = 1_700_000_000_000;
    const store = await ProtectedTimestampStore.open(await state('pts-basic'), { clock: () => now });
    const a = await store.protect({ id: 'rec-a', timestamp: 300n, spans: [span('a', 'c')], owner: { kind: 'job', jobId: '1' } });
    now += 5;
    const b = await store.protect({ timestamp: 100n, spans: 'all', owner: { kind: 'schedule', scheduleId: '9' } });
    expect(a).toEqual({ id: 'rec-a', timestamp: 300n, spans: [span('a', 'c')], owner: { kind: 'job', jobId: '1' }, createdAtMs: 1_700_000_000_000 });
    expect(b.id).toMatch(/^[0-9a-f-]{36}$/);

    expect((await store.list()).map((r) => [r.id, r.timestamp])).toEqual([
      [b.id, 100n],
      ['rec-a', 300n],
    ]);

    const moved = await store.update('rec-a', 50n);
    expect([moved.timestamp, moved.spans, moved.createdAtMs]).toEqual([50n, [span('a', 'c')], 1_700_000_000_000]);
    expect((await store.get('rec-a'))?.timestamp).toBe(50n);
    expect((await store.list())[0]?.id).toBe('rec-a');

    expect(await store.release('rec-a')).toBe(true);
    expect(await store.release('rec-a')).toBe(false);
    expect(await store.get('rec-a')).toBeUndefined();
    expect((await store.list()).map((r) => r.id)).toEqual([b.id]);
    await expect(store.update('rec-a', 1n)).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('protects again idempotently for the same owner and refuses the id for another', async () => {
    const store = await ProtectedTimestampStore.open(await state('pts-idempotent'));
    const first = await store.protect({ id: 'job-rec', timestamp: 10n, spans: 'all', owner: { kind: 'job', jobId: '42' } });
    const again = await store.protect({ id: 'job-rec', timestamp: 99n, spans: 'all', owner: { kind: 'job', jobId: '42' } });
    expect(again).toEqual(first);

    const err = await store.protect({ id: 'job-rec', timestamp: 10n, spans: 'all', owner: { kind: 'job', jobId: '43' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect([(err as CairnError).code, (err as CairnError).message]).toEqual([
      ErrorCode.DuplicateObject,
      'protected timestamp record job-rec is held by job 42, not job 43',
    ]);

    // A released id can be protected again (CREATE over a deleted key).
    await store.release('job-rec');
    const reborn = await store.protect({ id: 'job-rec', timestamp: 11n, spans: 'all', owner: { kind: 'job', jobId: '43' } });
    expect(reborn.timestamp).toBe(11n);
    await expect(store.protect({ id: 'bad id!', timestamp: 1n, spans: 'all', owner: { kind: 'job', jobId: '1' } })).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
    });
  });

  it('releases everything an owner holds and nothing else', async () => {
    const store = await ProtectedTimestampStore.open(await state('pts-owner'));
    await store.protect({ id: 'o1', timestamp: 1n, spans: 'all', owner: { kind: 'job', jobId: '7' } });
    await store.protect({ id: 'o2', timestamp: 2n, spans: 'all', owner: { kind: 'job', jobId: '7' } });
    await store.protect({ id: 'o3', timestamp: 3n, spans: 'all', owner: { kind: 'job', jobId: '8' } });
    await store.protect({ id: 'o4', timestamp: 4n, spans: 'all', owner: { kind: 'schedule', scheduleId: '7' } });
    expect(await store.releaseOwnedBy({ kind: 'job', jobId: '7' })).toBe(2);
    expect((await store.list()).map((r) => r.id)).toEqual(['o3', 'o4']);
    expect(await store.releaseOwnedBy({ kind: 'job', jobId: '7' })).toBe(0);
  });

  it('chains one record per schedule: moved forward by each run, released on drop', async () => {
    const store = await ProtectedTimestampStore.open(await state('pts-chain'));
    const id = await store.protectScheduleChain('555', 1000n, [span('t', 'u')]);
    expect(await store.protectScheduleChain('555', 2000n, [span('t', 'v')])).toBe(id);
    const held = await store.get(id);
    expect([held?.timestamp, held?.spans, held?.owner]).toEqual([2000n, [span('t', 'v')], { kind: 'schedule', scheduleId: '555' }]);
    const other = await store.protectScheduleChain('556', 10n);
    expect(other).not.toBe(id);

    expect(await store.releaseScheduleChain('555')).toBe(1);
    expect((await store.list()).map((r) => r.id)).toEqual([other]);
    expect(await store.releaseScheduleChain('555')).toBe(0);
  });
});

describe('ProtectedTimestampCache', () => {
  it('sees the leader writes and answers which records protect a span', async () => {
    const store = await ProtectedTimestampStore.open(await state('pts-writer'));
    await store.protect({ id: 'before-watch', timestamp: 500n, spans: [span('b', 'd')], owner: { kind: 'job', jobId: '1' } });
    const cache = await ProtectedTimestampCache.watch(await state('pts-reader'));
    try {
      // Loaded at open, before any change.
      expect(cache.list().map((r) => r.id)).toEqual(['before-watch']);
      expect(cache.timestampsProtecting(span('c', 'e'))).toEqual([500n]);
      expect(cache.timestampsProtecting(span('d', 'e'))).toEqual([]);

      await store.protect({ id: 'everything', timestamp: 700n, spans: 'all', owner: { kind: 'schedule', scheduleId: '2' } });
      await store.protect({ id: 'open-ended', timestamp: 900n, spans: [span('x', '')], owner: { kind: 'job', jobId: '3' } });
      await waitFor(async () => (cache.list().length === 3 ? true : undefined), { what: 'the cache sees three records', timeoutMs: 5000, intervalMs: 20 });
      expect(cache.timestampsProtecting(span('a', 'b')).sort()).toEqual([700n]);
      expect(cache.timestampsProtecting(span('y', '')).sort()).toEqual([700n, 900n]);

      await store.release('before-watch');
      await store.update('everything', 800n);
      await waitFor(async () => (cache.list().length === 2 && cache.list()[0]?.timestamp === 800n ? true : undefined), {
        what: 'the cache sees the release and the update',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(cache.timestampsProtecting(span('c', 'e'))).toEqual([800n]);
    } finally {
      cache.stop();
    }
  });

  it('treats an empty end key as the end of the keyspace on either side', () => {
    const record = { id: 'r', timestamp: 1n, spans: [span('m', 'p')], owner: { kind: 'job', jobId: '1' } as const, createdAtMs: 0 };
    expect(protectsSpan(record, span('a', ''))).toBe(true);
    expect(protectsSpan(record, span('p', ''))).toBe(false);
    expect(protectsSpan(record, span('a', 'm'))).toBe(false);
    expect(protectsSpan({ ...record, spans: [span('', '')] }, span('zzz', 'zzzz'))).toBe(true);
  });
});

describe('SettingsView', () => {
  it('follows SET CLUSTER SETTING writes and falls back to the caller default', async () => {
    const st = await state('settings-view');
    await st.settings.put('gc.ttlseconds', new TextEncoder().encode('600'));
    const view = await SettingsView.open(st.nc, st.settings);
    try {
      expect(view.getInt('gc.ttlseconds', 14_400)).toBe(600);
      expect(view.getDurationMs('kv.gc.interval', '1m')).toBe(60_000);
      // The delete first: the view follows the bucket in order, so once it sees the later
      // put it has seen the delete too (waiting on the put alone raced a delete made after it).
      await st.settings.delete('gc.ttlseconds');
      await st.settings.put('kv.gc.interval', new TextEncoder().encode('250ms'));
      await waitFor(async () => (view.getDurationMs('kv.gc.interval', '1m') === 250 ? true : undefined), {
        what: 'the view sees the new interval',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(view.getInt('gc.ttlseconds', 14_400)).toBe(14_400);
    } finally {
      view.stop();
    }
    expect([parseDurationMs('2h'), parseDurationMs('30s'), parseDurationMs('5 minutes')]).toEqual([7_200_000, 30_000, undefined]);
  });
});
