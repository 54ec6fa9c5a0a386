import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import {
  ClusterState,
  IngestStager,
  LocalStagedBatches,
  LogWriter,
  connectNats,
  ensureIngestStream,
  ingestSubject,
  purgeStaged,
  readStaged,
  serveNodeMethod,
  stagedMessages,
} from '@cairn/cluster';
import { ErrorCode } from '@cairn/errors';
import { createLogger } from '@cairn/metrics';
import { MvccStore } from '@cairn/mvcc';
import { NodeExportRequest, NodeExportResponse, NodeGcThresholdRequest, NodeGcThresholdResponse, type KeyValueOp } from '@cairn/proto';
import { startNatsServer, tempDir, waitFor, type NatsServerHandle } from '@cairn/testing';
import { AppliedPosition } from './applied-position.js';
import { RangeTable } from './range-table.js';
import { ReplicaApplyLoop } from './replica-apply-loop.js';
import { ReplicaReads } from './replica-reads.js';

const key = (s: string) => new Uint8Array(Buffer.from(s));
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());
const log = createLogger('ingest-test', 'silent');

let server: NatsServerHandle;
let nc: NatsConnection;
let state: ClusterState;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'ingest-test');
  state = await ClusterState.open(nc);
  await ensureIngestStream(state.jsm, 1);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

interface Replica {
  store: MvccStore;
  applied: AppliedPosition;
  loop: ReplicaApplyLoop;
  stop(): Promise<void>;
}

/** A node's store and apply loop, serving `export` and `gcThreshold` as a node does (the copy fallback asks them). */
async function replica(nodeId: number, fromSeq: number, stagedHere?: LocalStagedBatches): Promise<Replica> {
  const store = await MvccStore.open(await tempDir(`cairn-ingest-n${nodeId}`));
  const ranges = new RangeTable(nodeId);
  const applied = new AppliedPosition(fromSeq);
  const reads = new ReplicaReads(nodeId, store, ranges, applied);
  const subs = [
    serveNodeMethod(nc, nodeId, 'export', NodeExportRequest, NodeExportResponse, (r) => reads.exportRevisions(r)),
    serveNodeMethod(nc, nodeId, 'gcThreshold', NodeGcThresholdRequest, NodeGcThresholdResponse, (r) => reads.gcThreshold(r)),
  ];
  const loop = new ReplicaApplyLoop(nodeId, nc, state.js, store, ranges, applied, log, stagedHere);
  loop.start();
  return {
    store,
    applied,
    loop,
    stop: async () => {
      await loop.stop();
      for (const s of subs) s.unsubscribe();
      await store.close();
    },
  };
}

async function stage(subject: string, batches: KeyValueOp[][], here?: LocalStagedBatches): Promise<number> {
  const stager = new IngestStager(state.js, subject, here);
  for (const b of batches) await stager.add(b);
  return stager.finish();
}

describe('restored rows staged beside the log', () => {
  it('reads back what was staged, in order, and reports purged rows as gone', async () => {
    const subject = ingestSubject('job-a', '1', 1);
    const batches = [0, 1, 2].map((b) => [0, 1].map((i) => ({ key: key(`k${b}${i}`), value: key(`v${b}${i}`) })));
    const messages = await stage(subject, batches);
    expect(messages).toBe(3);
    expect(await stagedMessages(state.jsm, subject)).toBe(3);
    const ref = { subject, messages, startKey: key('k'), endKey: key('l'), rows: 6n };
    const read: string[] = [];
    for await (const ops of readStaged(nc, state.js, state.jsm, ref)) read.push(...ops.map((o) => text(o.key)!));
    expect(read).toEqual(['k00', 'k01', 'k10', 'k11', 'k20', 'k21']);
    await purgeStaged(state.jsm, subject);
    const gone = readStaged(nc, state.js, state.jsm, ref);
    await expect(gone.next()).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('replicas load a logged reference to staged rows; one that finds them purged copies them from another replica', async () => {
    const writer = await LogWriter.open(state.js, state.jsm);
    const from = writer.assignedSeq;
    const a = await replica(21, from);
    const b = await replica(22, from);
    try {
      // 21 and 22 hold [a, m), and so does 23, which is down; only 21 holds [m, end).
      await writer.append((ts) => ({
        timestamp: ts,
        kind: {
          $case: 'rangeUpdate',
          value: {
            ranges: [
              { rangeId: 1, startKey: key('a'), endKey: key('m'), replicas: [21, 22, 23], generation: 1 },
              { rangeId: 2, startKey: key('m'), endKey: new Uint8Array(0), replicas: [21], generation: 1 },
            ],
          },
        },
      })).stored;
      const rows = ['b1', 'c2', 'x9'].map((k) => ({ key: key(k), value: key(`restored-${k}`) }));
      const subject = ingestSubject('job-b', '0', 1);
      const messages = await stage(subject, [rows.slice(0, 2), rows.slice(2)]);
      const entry = writer.append((ts) => ({ timestamp: ts, kind: { $case: 'ingest', value: { subject, messages, startKey: key('b1'), endKey: key('x9\0'), rows: 3n } } }));
      await entry.stored;
      await waitFor(async () => a.applied.seq >= entry.seq && b.applied.seq >= entry.seq, { what: 'both replicas apply the ingest entry', timeoutMs: 10_000 });
      const at = entry.timestamp;
      expect(text(a.store.get(key('b1'), at))).toBe('restored-b1');
      expect(text(a.store.get(key('x9'), at))).toBe('restored-x9');
      expect(text(b.store.get(key('c2'), at))).toBe('restored-c2');
      // Written at the entry's timestamp, and only the keys each replica holds.
      expect([...a.store.exportRevisions({ start: key('a'), end: new Uint8Array(0) }, 0n, at, true)].map((r) => r.ts)).toEqual([at, at, at]);
      expect(b.store.get(key('x9'), at)).toBeUndefined();
      // The change index holds a marker per held range's part of the entry's span, not an
      // entry per row; an incremental whose window holds the entry still exports every row.
      expect(a.store.changeIndexSize()).toBe(2);
      expect(b.store.changeIndexSize()).toBe(1);
      expect([...a.store.exportRevisions({ start: key('a'), end: new Uint8Array(0) }, at - 1n, at, false)].map((r) => text(r.key))).toEqual(['b1', 'c2', 'x9']);
      expect([...b.store.exportRevisions({ start: key('a'), end: key('m') }, at - 1n, at, false)].map((r) => text(r.key))).toEqual(['b1', 'c2']);

      // Node 23 comes back after the rows were purged: it copies its part from another replica.
      await purgeStaged(state.jsm, subject);
      const late = await replica(23, from);
      try {
        await waitFor(async () => late.applied.seq >= entry.seq, { what: 'the late replica catches up', timeoutMs: 20_000 });
        expect(text(late.store.get(key('b1'), at))).toBe('restored-b1');
        expect(text(late.store.get(key('c2'), at))).toBe('restored-c2');
        expect(late.store.get(key('x9'), at)).toBeUndefined();
        // The copy is indexed per revision, as any snapshot is.
        expect(late.store.changeIndexSize()).toBe(2);
      } finally {
        await late.stop();
      }
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('the replica on the staging node loads the batches it kept, without the stream', async () => {
    const writer = await LogWriter.open(state.js, state.jsm);
    const from = writer.assignedSeq;
    const stagedHere = new LocalStagedBatches();
    const local = await replica(31, from, stagedHere);
    const remote = await replica(32, from);
    try {
      await writer.append((ts) => ({
        timestamp: ts,
        kind: { $case: 'rangeUpdate', value: { ranges: [{ rangeId: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), replicas: [31, 32], generation: 1 }] } },
      })).stored;
      const rows = Array.from({ length: 40 }, (_, i) => ({ key: key(`r${String(i).padStart(2, '0')}`), value: key(`value-${i}`) }));
      const subject = ingestSubject('job-c', '0', 1);
      const messages = await stage(subject, [rows.slice(0, 15), rows.slice(15, 30), rows.slice(30)], stagedHere);
      expect(stagedHere.keptBytes()).toBeGreaterThan(0);
      // Gone from the stream before anyone read it: only the staging node's memory has the rows.
      // Its replica loads them from there; the other finds the stream empty and copies from it.
      // (Without the kept batches both would find them gone, and neither would have them to copy.)
      await purgeStaged(state.jsm, subject);
      const entry = writer.append((ts) => ({ timestamp: ts, kind: { $case: 'ingest', value: { subject, messages, startKey: key('r'), endKey: key('s'), rows: 40n } } }));
      await entry.stored;
      await waitFor(async () => local.applied.seq >= entry.seq, { what: 'the staging node applies the ingest entry', timeoutMs: 10_000 });
      const at = entry.timestamp;
      expect(rows.map((r) => text(local.store.get(r.key, at)))).toEqual(rows.map((_, i) => `value-${i}`));
      // Taken once: nothing is left held in memory.
      expect(stagedHere.keptBytes()).toBe(0);
      await waitFor(async () => remote.applied.seq >= entry.seq, { what: 'the other replica applies the ingest entry', timeoutMs: 20_000 });
      expect(rows.map((r) => text(remote.store.get(r.key, at)))).toEqual(rows.map((_, i) => `value-${i}`));
    } finally {
      await local.stop();
      await remote.stop();
    }
  });
});
