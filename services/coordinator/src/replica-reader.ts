import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode, isRetryable } from '@cairn/errors';
import { callNode } from '@cairn/cluster';
import { combineFingerprints } from '@cairn/catalog';
import { intersectSpans, type Span } from '@cairn/keys';
import {
  NodeFingerprintRequest,
  NodeFingerprintResponse,
  NodeMultiScanRequest,
  NodeMultiScanResponse,
  NodeRangeStatsRequest,
  NodeRangeStatsResponse,
  NodeScanRequest,
  NodeScanResponse,
  NodeSplitKeysRequest,
  NodeSplitKeysResponse,
  TableDescriptor,
  type RangeDescriptor,
} from '@cairn/proto';
import type { RangeDirectory } from './range-directory.js';

/** A node answers `rangeStats` from memory and meta: one that takes longer is skipped this check. */
const RANGE_STATS_TIMEOUT_MS = 2000;
/**
 * Spans per `multiScan` request: few enough that an `IN` list of 500 ids makes several
 * requests, which go to different replicas side by side.
 */
const SPANS_PER_REQUEST = 64;
/** `multiScan` requests of one `scanSpans` in flight at once (read ahead of the consumer). */
const REQUESTS_IN_FLIGHT = 8;

/**
 * A run of spans (in order) in ranges with one replica set, read with one `multiScan`
 * request: `range` is the first range, with the set's replicas (any of them holds them all).
 */
interface SpanBatch {
  readonly range: RangeDescriptor;
  readonly replicaSet: string;
  readonly spans: Span[];
}

export interface ReadKv {
  key: Uint8Array;
  value: Uint8Array;
  timestamp: bigint;
}

/**
 * Routes reads to range replicas: one request per range (paged), trying the next live replica
 * when one does not answer. `minSeq` is the log position the replica must have applied.
 */
export class ReplicaReader {
  constructor(
    private readonly nc: NatsConnection,
    private readonly ranges: Pick<RangeDirectory, 'overlapping'>,
    private readonly liveNodes: () => Set<number>,
  ) {}

  async *scan(span: Span, ts: bigint, minSeq: number, limit = 0, keysOnly = false): AsyncGenerator<ReadKv> {
    let remaining = limit > 0 ? limit : Infinity;
    for (const r of this.ranges.overlapping(span)) {
      const part = intersectSpans(span, { start: r.startKey, end: r.endKey });
      if (!part) continue;
      let start = part.start;
      for (;;) {
        const res = await this.onReplica(r, undefined, (nodeId) =>
          callNode(this.nc, nodeId, 'scan', NodeScanRequest, NodeScanResponse, {
            startKey: start,
            endKey: part.end,
            timestamp: ts,
            limit: Number.isFinite(remaining) ? Math.min(remaining, 10_000) : 10_000,
            minAppliedSeq: BigInt(minSeq),
            keysOnly,
          }),
        );
        for (const kv of res.kvs) {
          yield kv;
          if (--remaining <= 0) return;
        }
        if (res.resumeKey.length === 0) break;
        start = res.resumeKey;
      }
    }
  }

  /**
   * The rows of several spans (in key order, not overlapping: an `IN` list's point spans), in
   * span order, as `scan` would give them one span after another. Runs of spans in ranges
   * with the same replicas go in one `multiScan` request, up to `REQUESTS_IN_FLIGHT` requests
   * at once, taking the replicas in turn: one point read per round trip, one after another,
   * cost a statement of 500 ids 500 round trips to one node, each waiting on a page fault
   * when the store is larger than the page cache.
   */
  async *scanSpans(spans: readonly Span[], ts: bigint, minSeq: number, keysOnly = false): AsyncGenerator<ReadKv> {
    if (spans.length === 1) {
      yield* this.scan(spans[0]!, ts, minSeq, 0, keysOnly);
      return;
    }
    const batches: SpanBatch[] = [];
    for (const span of spans) {
      for (const r of this.ranges.overlapping(span)) {
        const part = intersectSpans(span, { start: r.startKey, end: r.endKey });
        if (!part) continue;
        const replicas = [...r.replicas].sort((a, b) => a - b);
        const replicaSet = replicas.join(',');
        const last = batches[batches.length - 1];
        if (last !== undefined && last.replicaSet === replicaSet && last.spans.length < SPANS_PER_REQUEST) last.spans.push(part);
        else batches.push({ range: { ...r, replicas }, replicaSet, spans: [part] });
      }
    }
    const read = (b: SpanBatch, spans: Span[], turn: number): Promise<NodeMultiScanResponse> => {
      // Batches take the replicas in turn, so the nodes read side by side.
      const k = turn % b.range.replicas.length;
      const ordered = { ...b.range, replicas: [...b.range.replicas.slice(k), ...b.range.replicas.slice(0, k)] };
      const p = this.onReplica(ordered, undefined, (nodeId) =>
        callNode(this.nc, nodeId, 'multiScan', NodeMultiScanRequest, NodeMultiScanResponse, {
          spans: spans.map((s) => ({ startKey: s.start, endKey: s.end })),
          timestamp: ts,
          minAppliedSeq: BigInt(minSeq),
          keysOnly,
        }),
      );
      // Awaited in order below; one left behind by a consumer that stopped is not unhandled.
      p.catch(() => undefined);
      return p;
    };
    const ahead: Array<Promise<NodeMultiScanResponse>> = [];
    let next = 0;
    const fill = () => {
      while (next < batches.length && ahead.length < REQUESTS_IN_FLIGHT) {
        ahead.push(read(batches[next]!, batches[next]!.spans, next));
        next++;
      }
    };
    fill();
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i]!;
      let asked = batch.spans;
      let res = await ahead.shift()!;
      fill();
      for (;;) {
        for (const kv of res.kvs) yield kv;
        if (!res.truncated) break;
        // The reply reached the node's byte budget: the rest of this batch, before the next.
        const rest = asked.slice(res.resumeSpan);
        if (rest.length === 0) throw new CairnError(ErrorCode.Internal, `multiScan resumed at span ${res.resumeSpan} of ${asked.length}`);
        rest[0] = { start: res.resumeKey, end: rest[0]!.end };
        asked = rest;
        res = await read(batch, rest, i);
      }
    }
  }

  /** Fingerprint of a table's live rows at `ts`, combined over its ranges. */
  async fingerprint(span: Span, table: TableDescriptor, ts: bigint, minSeq: number, nodeId?: number): Promise<{ fingerprint: string; rows: bigint }> {
    const parts: string[] = [];
    let rows = 0n;
    const tableDescriptor = TableDescriptor.encode(table).finish();
    for (const r of this.ranges.overlapping(span)) {
      const part = intersectSpans(span, { start: r.startKey, end: r.endKey });
      if (!part) continue;
      const res = await this.onReplica(r, nodeId, (n) =>
        callNode(this.nc, n, 'fingerprint', NodeFingerprintRequest, NodeFingerprintResponse, {
          startKey: part.start,
          endKey: part.end,
          timestamp: ts,
          minAppliedSeq: BigInt(minSeq),
          tableDescriptor,
        }, 120_000),
      );
      parts.push(res.fingerprint);
      rows += res.rows;
    }
    return { fingerprint: combineFingerprints(parts), rows };
  }

  /** The sizes of the ranges `nodeId` holds, from its counters (the node scans nothing). */
  async rangeStats(nodeId: number): Promise<NodeRangeStatsResponse> {
    return callNode(this.nc, nodeId, 'rangeStats', NodeRangeStatsRequest, NodeRangeStatsResponse, {}, RANGE_STATS_TIMEOUT_MS);
  }

  /**
   * Keys that cut range `r` into pieces of about `targetBytes` (at most `maxKeys`), from one
   * pass over it on a replica: `first` (the one that reported the size) unless it fails.
   */
  async splitKeys(r: RangeDescriptor, targetBytes: number, maxKeys: number, first: number): Promise<Uint8Array[]> {
    const ordered = { ...r, replicas: [...r.replicas.filter((n) => n === first), ...r.replicas.filter((n) => n !== first)] };
    const res = await this.onReplica(ordered, undefined, (n) =>
      callNode(this.nc, n, 'splitKeys', NodeSplitKeysRequest, NodeSplitKeysResponse, {
        startKey: r.startKey,
        endKey: r.endKey,
        targetBytes: BigInt(Math.max(1, Math.floor(targetBytes))),
        maxKeys,
      }),
    );
    return res.keys;
  }

  private async onReplica<T>(r: RangeDescriptor, only: number | undefined, call: (nodeId: number) => Promise<T>): Promise<T> {
    const live = this.liveNodes();
    // A stable sort: live replicas first, otherwise in the range's order.
    const candidates = only !== undefined ? [only] : [...r.replicas].sort((a, b) => Number(!live.has(a)) - Number(!live.has(b)));
    if (only !== undefined && !r.replicas.includes(only)) {
      throw new CairnError(ErrorCode.InvalidArgument, `node ${only} holds no replica of range ${r.rangeId}`);
    }
    let last: unknown;
    // Two passes: a replica that is catching up may answer on the second try.
    for (let pass = 0; pass < 2; pass++) {
      for (const n of candidates) {
        try {
          return await call(n);
        } catch (err) {
          if (!isRetryable(err)) throw err;
          last = err;
        }
      }
    }
    throw new CairnError(ErrorCode.Unavailable, `no replica of range ${r.rangeId} answered: ${last instanceof Error ? last.message : String(last)}`, {
      cause: last,
      retryable: true,
    });
  }
}

