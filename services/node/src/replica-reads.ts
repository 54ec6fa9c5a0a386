import { CairnError, ErrorCode } from '@cairn/errors';
import { compareKeys, type Span } from '@cairn/keys';
import type { MvccStore } from '@cairn/mvcc';
import { TableFingerprinter } from '@cairn/catalog';
import {
  TableDescriptor,
  type NodeAppliedRequest,
  type NodeAppliedResponse,
  type NodeExportRequest,
  type NodeExportResponse,
  type NodeFingerprintRequest,
  type NodeFingerprintResponse,
  type NodeGcThresholdRequest,
  type NodeGcThresholdResponse,
  type NodeMultiScanRequest,
  type NodeMultiScanResponse,
  type NodeRangeStatsResponse,
  type NodeScanRequest,
  type NodeScanResponse,
  type NodeSplitKeysRequest,
  type NodeSplitKeysResponse,
  type NodeStatsRequest,
  type NodeStatsResponse,
} from '@cairn/proto';
import type { AppliedPosition } from './applied-position.js';
import type { RangeTable } from './range-table.js';

/** Replies stay well under NATS's default 1 MiB payload limit. */
const REPLY_BYTE_BUDGET = 512 * 1024;
const CATCH_UP_TIMEOUT_MS = 20_000;
const EMPTY = new Uint8Array(0);

/** Serves reads from this node's replicas, each after the replica has caught up. */
export class ReplicaReads {
  constructor(
    private readonly nodeId: number,
    private readonly store: MvccStore,
    private readonly ranges: RangeTable,
    private readonly applied: AppliedPosition,
  ) {}

  async scan(req: NodeScanRequest): Promise<NodeScanResponse> {
    await this.prepare(req.startKey, req.endKey, req.minAppliedSeq);
    const kvs: NodeScanResponse['kvs'] = [];
    let bytes = 0;
    const limit = req.limit > 0 ? req.limit : Number.MAX_SAFE_INTEGER;
    for (const kv of this.store.scan({ start: req.startKey, end: req.endKey }, req.timestamp)) {
      if (kvs.length >= limit || bytes >= REPLY_BYTE_BUDGET) {
        return { kvs, resumeKey: kv.key };
      }
      const value = req.keysOnly ? EMPTY : kv.value;
      kvs.push({ key: kv.key, value, timestamp: kv.ts });
      bytes += kv.key.length + value.length + 16;
    }
    return { kvs, resumeKey: new Uint8Array(0) };
  }

  /**
   * The rows of several spans (an `IN` list's point reads) in one reply, span after span, in
   * one wait for the replica to catch up: the coordinator paid a request, a reply and the
   * node's turn of the event loop per row when it sent them one by one.
   */
  async multiScan(req: NodeMultiScanRequest): Promise<NodeMultiScanResponse> {
    await this.applied.waitFor(Number(req.minAppliedSeq), CATCH_UP_TIMEOUT_MS);
    for (const s of req.spans) this.assertHeld({ start: s.startKey, end: s.endKey });
    // The page faults of a store larger than the page cache land on a worker thread, and the
    // requests of one statement to this node wait for the disk side by side.
    await this.store.prefetch(req.spans.map((s) => s.startKey));
    const kvs: NodeMultiScanResponse['kvs'] = [];
    let bytes = 0;
    for (let i = 0; i < req.spans.length; i++) {
      const s = req.spans[i]!;
      for (const kv of this.store.scan({ start: s.startKey, end: s.endKey }, req.timestamp)) {
        if (bytes >= REPLY_BYTE_BUDGET) return { kvs, truncated: true, resumeSpan: i, resumeKey: kv.key };
        const value = req.keysOnly ? EMPTY : kv.value;
        kvs.push({ key: kv.key, value, timestamp: kv.ts });
        bytes += kv.key.length + value.length + 16;
      }
    }
    return { kvs, truncated: false, resumeSpan: 0, resumeKey: EMPTY };
  }

  async exportRevisions(req: NodeExportRequest): Promise<NodeExportResponse> {
    await this.prepare(req.startKey, req.endKey, req.minAppliedSeq);
    const budget = req.targetBytes > 0 ? req.targetBytes : REPLY_BYTE_BUDGET;
    const revisions: NodeExportResponse['revisions'] = [];
    let bytes = 0;
    let lastKey: Uint8Array | undefined;
    const span = { start: req.startKey, end: req.endKey };
    for (const r of this.store.exportRevisions(span, req.startTs, req.endTs, req.allRevisions)) {
      // Never cut between revisions of one key: a resumed export starts at a fresh key.
      if (bytes >= budget && lastKey && compareKeys(lastKey, r.key) !== 0) {
        return { revisions, resumeKey: r.key };
      }
      revisions.push(r.value === null ? { key: r.key, timestamp: r.ts } : { key: r.key, timestamp: r.ts, value: r.value });
      bytes += r.key.length + (r.value?.length ?? 0) + 16;
      lastKey = r.key;
    }
    return { revisions, resumeKey: new Uint8Array(0) };
  }

  async fingerprint(req: NodeFingerprintRequest): Promise<NodeFingerprintResponse> {
    await this.prepare(req.startKey, req.endKey, req.minAppliedSeq);
    const table = TableDescriptor.decode(req.tableDescriptor);
    const fp = new TableFingerprinter();
    let rows = 0n;
    for (const kv of this.store.scan({ start: req.startKey, end: req.endKey }, req.timestamp)) {
      fp.add(kv.key, kv.value, table);
      rows++;
    }
    return { fingerprint: fp.digest(), rows };
  }

  /** A full scan of any span (for verification and tools; the split check reads `rangeStats`). */
  async stats(req: NodeStatsRequest): Promise<NodeStatsResponse> {
    const span = { start: req.startKey, end: req.endKey };
    const s = this.store.spanStats(span);
    return {
      keys: BigInt(s.keys),
      liveKeys: BigInt(s.liveKeys),
      bytes: BigInt(s.bytes),
      liveBytes: BigInt(s.liveBytes),
      midKey: this.store.approximateMidKey(span, s.keys) ?? new Uint8Array(0),
    };
  }

  /**
   * The size of every range this node holds, from the counters its store keeps as writes
   * apply: no scan, so the leader may ask every second. A range whose counters are being
   * split right now is left out (asked again at the next check).
   */
  rangeStats(): NodeRangeStatsResponse {
    const ranges: NodeRangeStatsResponse['ranges'] = [];
    for (const r of this.ranges.held()) {
      const s = this.store.trackedStats({ start: r.startKey, end: r.endKey });
      if (s === undefined) continue;
      ranges.push({
        rangeId: r.rangeId,
        generation: r.generation,
        startKey: r.startKey,
        endKey: r.endKey,
        keys: BigInt(s.keys),
        liveKeys: BigInt(s.liveKeys),
        bytes: BigInt(s.bytes),
        liveBytes: BigInt(s.liveBytes),
      });
    }
    return { ranges };
  }

  /** Keys that cut a span this node holds into pieces of about `targetBytes`, from one pass. */
  async splitKeys(req: NodeSplitKeysRequest): Promise<NodeSplitKeysResponse> {
    const span = { start: req.startKey, end: req.endKey };
    this.assertHeld(span);
    return { keys: this.store.splitKeys(span, Number(req.targetBytes), req.maxKeys) };
  }

  /** The replica's GC threshold over the span; it only grows, so no catch-up is needed. */
  async gcThreshold(req: NodeGcThresholdRequest): Promise<NodeGcThresholdResponse> {
    return { threshold: this.store.gcThreshold({ start: req.startKey, end: req.endKey }) };
  }

  /**
   * Where this replica's application of the log stands, once it has reached `minAppliedSeq`
   * or `waitMs` (at most the read catch-up timeout) has passed: a long poll for a RESTORE
   * waiting until the rows it staged are loaded.
   */
  async appliedPosition(req: NodeAppliedRequest): Promise<NodeAppliedResponse> {
    await this.applied.reached(Number(req.minAppliedSeq), Math.min(req.waitMs, CATCH_UP_TIMEOUT_MS));
    return { appliedSeq: BigInt(this.applied.seq) };
  }

  private async prepare(start: Uint8Array, end: Uint8Array, minSeq: bigint): Promise<void> {
    await this.applied.waitFor(Number(minSeq), CATCH_UP_TIMEOUT_MS);
    this.assertHeld({ start, end });
  }

  /**
   * A read must be served by a replica of every range it touches that has its rows, else it
   * would miss data. The span may cover several of this node's ranges: the coordinator may
   * route with a range that this node has since seen split.
   */
  private assertHeld(span: Span): void {
    if (!this.ranges.servesSpan(span)) {
      throw new CairnError(ErrorCode.Unavailable, `node ${this.nodeId} holds no replica with the rows of the requested span`, {
        retryable: true,
      });
    }
  }
}
