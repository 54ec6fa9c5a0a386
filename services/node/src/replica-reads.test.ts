import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@cairn/errors';
import { MvccStore } from '@cairn/mvcc';
import { tempDir } from '@cairn/testing';
import type { NodeMultiScanRequest, NodeMultiScanResponse } from '@cairn/proto';
import { AppliedPosition } from './applied-position.js';
import { RangeTable } from './range-table.js';
import { ReplicaReads } from './replica-reads.js';

const key = (s: string) => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array) => Buffer.from(b).toString();
/** `[k, k 0x00)`: exactly the key `k`, as an `IN` list's point spans. */
const point = (s: string) => ({ startKey: key(s), endKey: key(`${s}\0`) });

let store: MvccStore;
let reads: ReplicaReads;

beforeAll(async () => {
  store = await MvccStore.open(await tempDir('cairn-replica-reads'));
  // Node 1 holds [a, m) and [m, end); node 2 alone holds [z, ...) in the descriptor set below.
  const ranges = new RangeTable(1, [
    { rangeId: 1, startKey: key('a'), endKey: key('m'), replicas: [1, 2], generation: 1 },
    { rangeId: 2, startKey: key('m'), endKey: key('z'), replicas: [1, 3], generation: 1 },
    { rangeId: 3, startKey: key('z'), endKey: new Uint8Array(0), replicas: [2, 3], generation: 1 },
  ]);
  reads = new ReplicaReads(1, store, ranges, new AppliedPosition(0));
  await store.applyBatch(['b', 'c', 'd', 'n', 'p'].map((k) => ({ key: key(k), value: key(`${k}1`) })), 10n);
  await store.applyBatch([{ key: key('c'), value: key('c2') }, { key: key('d'), value: null }], 20n);
});

afterAll(async () => {
  await store?.close();
});

/** Every row of a multiScan, following its resume points as the coordinator does. */
async function readAll(req: NodeMultiScanRequest): Promise<{ rows: string[]; replies: number }> {
  const rows: string[] = [];
  let spans = req.spans;
  for (let replies = 1; ; replies++) {
    const res: NodeMultiScanResponse = await reads.multiScan({ ...req, spans });
    for (const kv of res.kvs) rows.push(`${text(kv.key)}@${kv.timestamp}=${text(kv.value)}`);
    if (!res.truncated) return { rows, replies };
    spans = spans.slice(res.resumeSpan);
    spans[0] = { startKey: res.resumeKey, endKey: spans[0]!.endKey };
  }
}

describe('ReplicaReads.multiScan', () => {
  it('reads each span at the timestamp, in span order, across ranges, skipping absent keys', async () => {
    const spans = [point('b'), point('c'), point('d'), point('e'), { startKey: key('k'), endKey: key('q') }];
    expect((await readAll({ spans, timestamp: 20n, minAppliedSeq: 0n, keysOnly: false })).rows).toEqual([
      'b@10=b1',
      'c@20=c2',
      'n@10=n1',
      'p@10=p1',
    ]);
    // The same spans at an earlier timestamp see the older revisions, and d before its delete.
    expect((await readAll({ spans, timestamp: 15n, minAppliedSeq: 0n, keysOnly: false })).rows).toEqual([
      'b@10=b1',
      'c@10=c1',
      'd@10=d1',
      'n@10=n1',
      'p@10=p1',
    ]);
    expect((await readAll({ spans: [point('c'), point('n')], timestamp: 20n, minAppliedSeq: 0n, keysOnly: true })).rows).toEqual(['c@20=', 'n@10=']);
  });

  it('stops at its byte budget and resumes where it stopped, without losing or repeating a row', async () => {
    // 12 rows of 100 KB, four to a span: a reply's budget (512 KiB) ends inside the second.
    const big = Buffer.alloc(100_000, 7);
    const names = Array.from({ length: 12 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    await store.applyBatch(names.map((n) => ({ key: key(n), value: big })), 30n);
    const spans = [0, 4, 8].map((i) => ({ startKey: key(names[i]!), endKey: key(`${names[i + 3]!}\0`) }));
    const first = await reads.multiScan({ spans, timestamp: 30n, minAppliedSeq: 0n, keysOnly: false });
    expect(first).toMatchObject({ truncated: true, resumeSpan: 1 });
    expect(text(first.resumeKey)).toBe('f06');
    const { rows, replies } = await readAll({ spans, timestamp: 30n, minAppliedSeq: 0n, keysOnly: false });
    expect(replies).toBeGreaterThan(1);
    expect(rows.map((r) => r.split('@')[0])).toEqual(names);
  });

  it('refuses a range it has just joined until the snapshot of its rows has committed', async () => {
    const ranges = new RangeTable(1, [
      { rangeId: 1, startKey: key('a'), endKey: key('m'), replicas: [1, 2], generation: 1 },
      { rangeId: 2, startKey: key('m'), endKey: new Uint8Array(0), replicas: [2, 3], generation: 1 },
    ]);
    const joining = new ReplicaReads(1, store, ranges, new AppliedPosition(0));
    // The log entry that adds node 1 to [m, end) is being applied: held, not yet loaded.
    expect(ranges.apply([{ rangeId: 2, startKey: key('m'), endKey: new Uint8Array(0), replicas: [2, 3, 1], generation: 2 }])).toHaveLength(1);
    await expect(joining.multiScan({ spans: [point('b'), point('n')], timestamp: 20n, minAppliedSeq: 0n, keysOnly: false })).rejects.toMatchObject({
      code: ErrorCode.Unavailable,
      retryable: true,
    });
    await expect(joining.scan({ startKey: key('m'), endKey: key('q'), timestamp: 20n, limit: 0, minAppliedSeq: 0n, keysOnly: false })).rejects.toMatchObject({
      code: ErrorCode.Unavailable,
    });
    // The range it held before still serves reads meanwhile.
    expect((await joining.multiScan({ spans: [point('b'), point('c')], timestamp: 20n, minAppliedSeq: 0n, keysOnly: false })).kvs).toHaveLength(2);
    ranges.loaded();
    const res = await joining.multiScan({ spans: [point('b'), point('n')], timestamp: 20n, minAppliedSeq: 0n, keysOnly: false });
    expect(res.kvs.map((kv) => text(kv.key))).toEqual(['b', 'n']);
  });

  it('refuses a span this node holds no replica of, as a retryable Unavailable', async () => {
    await expect(reads.multiScan({ spans: [point('b'), point('zz')], timestamp: 20n, minAppliedSeq: 0n, keysOnly: false })).rejects.toMatchObject({
      code: ErrorCode.Unavailable,
      retryable: true,
    });
  });
});
