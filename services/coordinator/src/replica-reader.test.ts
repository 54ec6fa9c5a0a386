import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { connectNats, serveNodeMethod } from '@cairn/cluster';
import { compareKeys, type Span } from '@cairn/keys';
import { NodeMultiScanRequest, NodeMultiScanResponse, NodeScanRequest, NodeScanResponse, type NodeKeyValue, type RangeDescriptor } from '@cairn/proto';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { ReplicaReader, type ReadKv } from './replica-reader.js';

const key = (s: string) => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array) => Buffer.from(b).toString();
const point = (s: string): Span => ({ start: key(s), end: key(`${s}\0`) });

/** Rows every replica holds: a00..a99 at ts 5, value `v<name>`. */
const ROWS: NodeKeyValue[] = Array.from({ length: 100 }, (_, i) => {
  const name = `a${String(i).padStart(2, '0')}`;
  return { key: key(name), value: key(`v${name}`), timestamp: 5n };
});
/** Rows per fake reply, so that replies stop and resume often. */
const REPLY_ROWS = 3;

const RANGES: RangeDescriptor[] = [
  { rangeId: 1, startKey: key('a'), endKey: key('a30'), replicas: [1, 2, 3], generation: 1 },
  { rangeId: 2, startKey: key('a30'), endKey: key('a70'), replicas: [2, 3, 1], generation: 1 },
  { rangeId: 3, startKey: key('a70'), endKey: new Uint8Array(0), replicas: [3, 1, 2], generation: 1 },
];
const directory = {
  overlapping: (span: Span) => RANGES.filter((r) => (r.endKey.length === 0 || compareKeys(r.endKey, span.start) > 0) && (span.end.length === 0 || compareKeys(r.startKey, span.end) < 0)),
};

let server: NatsServerHandle;
let nodeConn: NatsConnection;
let callerConn: NatsConnection;
/** multiScan requests each node answered, and whether node 3 refuses every read. */
const answered = new Map<number, number>();
let node3Down = false;

const inSpan = (k: Uint8Array, start: Uint8Array, end: Uint8Array) => compareKeys(k, start) >= 0 && (end.length === 0 || compareKeys(k, end) < 0);

function refuseIfDown(nodeId: number): void {
  if (nodeId === 3 && node3Down) throw new CairnError(ErrorCode.Unavailable, 'node 3 is catching up', { retryable: true });
}

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nodeConn = await connectNats(server.url, 'reader-nodes');
  callerConn = await connectNats(server.url, 'reader-caller');
  for (const nodeId of [1, 2, 3]) {
    serveNodeMethod(nodeConn, nodeId, 'scan', NodeScanRequest, NodeScanResponse, async (r) => {
      refuseIfDown(nodeId);
      const rows = ROWS.filter((kv) => inSpan(kv.key, r.startKey, r.endKey));
      const n = Math.min(r.limit || Infinity, REPLY_ROWS);
      const kvs = rows.slice(0, n).map((kv) => (r.keysOnly ? { ...kv, value: new Uint8Array(0) } : kv));
      return { kvs, resumeKey: rows[n]?.key ?? new Uint8Array(0) };
    });
    // As a node answers: span after span, cut short after REPLY_ROWS rows.
    serveNodeMethod(nodeConn, nodeId, 'multiScan', NodeMultiScanRequest, NodeMultiScanResponse, async (r) => {
      refuseIfDown(nodeId);
      answered.set(nodeId, (answered.get(nodeId) ?? 0) + 1);
      const kvs: NodeKeyValue[] = [];
      for (const [i, s] of r.spans.entries()) {
        for (const kv of ROWS.filter((row) => inSpan(row.key, s.startKey, s.endKey))) {
          if (kvs.length >= REPLY_ROWS) return { kvs, truncated: true, resumeSpan: i, resumeKey: kv.key };
          kvs.push(r.keysOnly ? { ...kv, value: new Uint8Array(0) } : kv);
        }
      }
      return { kvs, truncated: false, resumeSpan: 0, resumeKey: new Uint8Array(0) };
    });
  }
  await nodeConn.flush();
});

afterAll(async () => {
  await nodeConn?.close();
  await callerConn?.close();
  await server?.stop();
});

const reader = () => new ReplicaReader(callerConn, directory, () => new Set([1, 2, 3]));

async function collect(it: AsyncIterable<ReadKv>): Promise<string[]> {
  const out: string[] = [];
  for await (const kv of it) out.push(`${text(kv.key)}=${text(kv.value)}`);
  return out;
}

/** What `scan` gives one span after another: what `scanSpans` must equal. */
async function oneByOne(spans: Span[], keysOnly = false): Promise<string[]> {
  const out: string[] = [];
  for (const s of spans) out.push(...(await collect(reader().scan(s, 10n, 0, 0, keysOnly))));
  return out;
}

describe('ReplicaReader.scanSpans', () => {
  it('gives what one scan per span gives, in span order, over every range', async () => {
    // Points (some absent), wide spans, and a span across two range boundaries.
    const spans = [point('a01'), point('a05'), { start: key('a08'), end: key('a14') }, point('a29'), point('a30'), point('a31x'), { start: key('a60'), end: key('a75') }, point('a99')];
    const got = await collect(reader().scanSpans(spans, 10n, 0));
    expect(got).toEqual(await oneByOne(spans));
    expect(got.slice(0, 3)).toEqual(['a01=va01', 'a05=va05', 'a08=va08']);
    expect(got).toHaveLength(1 + 1 + 6 + 1 + 1 + 15 + 1);
    expect(await collect(reader().scanSpans(spans, 10n, 0, true))).toEqual(await oneByOne(spans, true));
  });

  it('reads 500 point spans in few requests, spread over the replicas', async () => {
    answered.clear();
    const spans = Array.from({ length: 500 }, (_, i) => point(`a${String(i % 100).padStart(2, '0')}${i < 100 ? '' : `-${i}`}`));
    spans.sort((a, b) => compareKeys(a.start, b.start));
    const got = await collect(reader().scanSpans(spans, 10n, 0));
    expect(got).toHaveLength(100);
    // 500 spans, one replica set, 64 per request: 8 requests, plus one per cut-short reply.
    const requests = [...answered.values()].reduce((a, b) => a + b, 0);
    expect(requests).toBeLessThanOrEqual(8 + Math.ceil(100 / REPLY_ROWS) + 8);
    expect([...answered.keys()].sort()).toEqual([1, 2, 3]);
  });

  it('goes to the next replica when one refuses, and a consumer that stops early leaves nothing behind', async () => {
    node3Down = true;
    try {
      const spans = ROWS.map((r) => ({ start: r.key, end: key(`${text(r.key)}\0`) }));
      expect(await collect(reader().scanSpans(spans, 10n, 0))).toHaveLength(100);
      let n = 0;
      for await (const _ of reader().scanSpans(spans, 10n, 0)) if (++n === 2) break;
      expect(n).toBe(2);
    } finally {
      node3Down = false;
    }
  });
});
