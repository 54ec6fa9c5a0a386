import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { ErrorCode } from '@cairn/errors';
import {
  ClusterState,
  LOG_SUBJECT,
  ProtectedTimestampCache,
  ProtectedTimestampStore,
  SettingsView,
  connectNats,
} from '@cairn/cluster';
import { createLogger } from '@cairn/metrics';
import { MvccStore } from '@cairn/mvcc';
import { LogEntry } from '@cairn/proto';
import { tablePrefix, tableSpan } from '@cairn/keys';
import { startNatsServer, tempDir, waitFor, type NatsServerHandle } from '@cairn/testing';
import { AppliedPosition } from './applied-position.js';
import { MvccGcLoop, logTimestampAt, type GcRound } from './mvcc-gc-loop.js';
import { RangeTable } from './range-table.js';

const S = 1_000_000_000n;
const NODE = 1;
const key = (s: string) => new Uint8Array(Buffer.from(s));
const value = (s: string) => new Uint8Array(Buffer.from(s));
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());

let server: NatsServerHandle;
let nc: NatsConnection;
let state: ClusterState;
const log = createLogger('gc-test', 'silent');

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'gc-loop-test');
  state = await ClusterState.open(nc);
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

/**
 * A store whose node holds [a, m) and [m, t) but not [t, end): keys a and p were overwritten
 * at 20 s, a again at 30 s; z (not held) like p.
 */
async function fixture(name: string) {
  const store = await MvccStore.open(await tempDir(`cairn-gc-${name}`));
  const ranges = new RangeTable(NODE, [
    { rangeId: 1, startKey: key('a'), endKey: key('m'), replicas: [NODE], generation: 1 },
    { rangeId: 2, startKey: key('m'), endKey: key('t'), replicas: [NODE, 2], generation: 1 },
    { rangeId: 3, startKey: key('t'), endKey: new Uint8Array(0), replicas: [2], generation: 1 },
  ]);
  await store.applyBatch([{ key: key('a'), value: value('a1') }, { key: key('p'), value: value('p1') }, { key: key('z'), value: value('z1') }], 10n * S);
  await store.applyBatch([{ key: key('a'), value: value('a2') }, { key: key('p'), value: value('p2') }, { key: key('z'), value: value('z2') }], 20n * S);
  await store.applyBatch([{ key: key('a'), value: value('a3') }], 30n * S);
  return { store, ranges };
}

describe('MvccGcLoop', () => {
  it('collects what is older than the TTL on the cluster time line, held back by protected timestamps', async () => {
    const { store, ranges } = await fixture('threshold');
    const pts = await ProtectedTimestampStore.open(state);
    await state.settings.put('gc.ttlseconds', new TextEncoder().encode('15'));
    const settings = await SettingsView.open(state.nc, state.settings);
    const cache = await ProtectedTimestampCache.watch(state);
    try {
      // The cluster's time is the last applied entry's timestamp (40 s): the threshold is 25 s.
      const applied = new AppliedPosition(7, 40n * S);
      const record = await pts.protect({ timestamp: 15n * S, spans: [{ start: key('p'), end: key('q') }], owner: { kind: 'job', jobId: '1' } });
      await waitFor(async () => cache.list().length === 1, { what: 'the cache sees the record', timeoutMs: 5000, intervalMs: 20 });
      const gc = new MvccGcLoop({ store, ranges, applied, settings, protectedTimestamps: cache, log });

      expect(await gc.runOnce()).toEqual({ threshold: 25n * S, removed: 1, ranges: 2, heldBack: 1 });
      // [a, m): a1 is gone, and reads below 25 s are refused rather than answered wrongly.
      expect(store.gcThreshold({ start: key('a'), end: key('m') })).toBe(25n * S);
      expect(text(store.get(key('a'), 25n * S))).toBe('a2');
      expect(() => store.get(key('a'), 12n * S)).toThrow(expect.objectContaining({ code: ErrorCode.FailedPrecondition }));
      // [m, t) is protected at 15 s: p1, visible there, stays readable.
      expect(store.gcThreshold({ start: key('m'), end: key('t') })).toBe(15n * S);
      expect(text(store.get(key('p'), 15n * S))).toBe('p1');
      // [t, end) is not this node's: untouched.
      expect(store.gcThreshold({ start: key('t'), end: new Uint8Array(0) })).toBe(0n);
      expect(text(store.get(key('z'), 10n * S))).toBe('z1');

      await pts.release(record.id);
      await waitFor(async () => cache.list().length === 0, { what: 'the cache sees the release', timeoutMs: 5000, intervalMs: 20 });
      expect(await gc.runOnce()).toEqual({ threshold: 25n * S, removed: 1, ranges: 2, heldBack: 0 });
      expect(() => store.get(key('p'), 15n * S)).toThrow(/batch timestamp .* must be at or after replica GC threshold 25000000000\.0000000000/);
      expect(text(store.get(key('p'), 25n * S))).toBe('p2');
    } finally {
      settings.stop();
      cache.stop();
      await state.settings.delete('gc.ttlseconds');
      await store.close();
    }
  });

  it('does nothing until the cluster time is known, then runs every kv.gc.interval', async () => {
    const { store, ranges } = await fixture('loop');
    await state.settings.put('gc.ttlseconds', new TextEncoder().encode('5'));
    await state.settings.put('kv.gc.interval', new TextEncoder().encode('50ms'));
    const settings = await SettingsView.open(state.nc, state.settings);
    const cache = await ProtectedTimestampCache.watch(state);
    const applied = new AppliedPosition(0);
    const rounds: GcRound[] = [];
    const gc = new MvccGcLoop({ store, ranges, applied, settings, protectedTimestamps: cache, log, onRound: (r) => rounds.push(r) });
    try {
      expect(await gc.runOnce()).toBeUndefined();
      gc.start();
      await new Promise((r) => setTimeout(r, 200));
      expect(rounds).toEqual([]);
      expect(store.gcThreshold()).toBe(0n);

      applied.advance(1, 31n * S);
      const first = await waitFor(async () => rounds[0], { what: 'a GC round', timeoutMs: 5000, intervalMs: 10 });
      expect(first).toEqual({ threshold: 26n * S, removed: 2, ranges: 2, heldBack: 0 });
      await waitFor(async () => rounds.length >= 3, { what: 'more rounds at the 50 ms interval', timeoutMs: 5000, intervalMs: 10 });
      expect(rounds.slice(1).every((r) => r.removed === 0)).toBe(true);
    } finally {
      await gc.stop();
      settings.stop();
      cache.stop();
      await state.settings.delete('gc.ttlseconds');
      await state.settings.delete('kv.gc.interval');
      await store.close();
    }
  });

  it('reads the timestamp of the last applied entry back from the log after a restart', async () => {
    const ack = await state.js.publish(LOG_SUBJECT, LogEntry.encode({ timestamp: 123n * S }).finish());
    expect(await logTimestampAt(state.jsm, ack.seq)).toBe(123n * S);
    expect(await logTimestampAt(state.jsm, 0)).toBe(0n);
    expect(await logTimestampAt(state.jsm, ack.seq + 1000)).toBe(0n);
  });
  it("collects a table with a zone TTL of its own by that TTL, every other range by the setting's", async () => {
    const store = await MvccStore.open(await tempDir('cairn-gc-zones'));
    const row = (table: number, k: string) => new Uint8Array([...tablePrefix(table), ...key(k)]);
    const ranges = new RangeTable(NODE, [
      { rangeId: 1, startKey: tablePrefix(150), endKey: tablePrefix(151), replicas: [NODE], generation: 1 },
      { rangeId: 2, startKey: tablePrefix(151), endKey: tablePrefix(152), replicas: [NODE], generation: 1 },
    ]);
    for (const [i, ts] of [10n, 20n].entries()) {
      await store.applyBatch([{ key: row(150, 'k'), value: value(`short${i}`) }, { key: row(151, 'k'), value: value(`long${i}`) }], ts * S);
    }
    await state.settings.put('gc.ttlseconds', new TextEncoder().encode('100'));
    const settings = await SettingsView.open(state.nc, state.settings);
    const cache = await ProtectedTimestampCache.watch(state);
    try {
      await waitFor(async () => settings.get('gc.ttlseconds') === '100', { what: 'the setting', timeoutMs: 5000, intervalMs: 20 });
      const gc = new MvccGcLoop({
        store,
        ranges,
        applied: new AppliedPosition(3, 40n * S),
        settings,
        protectedTimestamps: cache,
        tableGcTtlSeconds: (id) => (id === 150 ? 5 : undefined),
        log,
      });
      // Table 150 (TTL 5 s) is collected below 35 s; table 151 follows the setting (100 s),
      // which reaches back before the epoch here: nothing of it is collected.
      expect((await gc.runOnce())?.removed).toBe(1);
      expect(store.gcThreshold(tableSpan(150))).toBe(35n * S);
      expect(() => store.get(row(150, 'k'), 15n * S)).toThrow(expect.objectContaining({ code: ErrorCode.FailedPrecondition }));
      expect(text(store.get(row(151, 'k'), 15n * S))).toBe('long0');
    } finally {
      settings.stop();
      cache.stop();
      await store.close();
    }
  });
});
