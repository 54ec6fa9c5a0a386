import type { JetStreamClient, NatsConnection } from 'nats';
import { callNode, tailLog } from '@cairn/cluster';
import type { MvccStore } from '@cairn/mvcc';
import type { Logger } from '@cairn/metrics';
import {
  NodeExportRequest,
  NodeExportResponse,
  NodeGcThresholdRequest,
  NodeGcThresholdResponse,
  RangeUpdate,
  type LogEntry,
  type RangeDescriptor,
} from '@cairn/proto';
import type { AppliedPosition } from './applied-position.js';
import type { RangeTable } from './range-table.js';

export const META_APPLIED_SEQ = 'applied-seq';
export const META_RANGES = 'ranges';

export function encodeSeq(seq: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

export function decodeSeq(b: Uint8Array | undefined): number {
  return b ? Number(Buffer.from(b).readBigUInt64BE()) : 0;
}

/**
 * Applies the replicated log to this node's store, in order, exactly once: each entry's
 * effects and the new applied position commit in one LMDB transaction, so a node killed at
 * any point resumes from the entry after the last one it committed.
 */
export class ReplicaApplyLoop {
  private readonly abort = new AbortController();
  private done: Promise<void> | undefined;

  constructor(
    private readonly nodeId: number,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly store: MvccStore,
    private readonly ranges: RangeTable,
    private readonly applied: AppliedPosition,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.done = this.run().catch((err: unknown) => {
      if (!this.abort.signal.aborted) {
        this.log.fatal({ err }, 'replica apply loop failed');
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      }
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    for await (const { seq, entry } of tailLog(this.nc, this.js, this.applied.seq + 1, this.abort.signal)) {
      if (seq <= this.applied.seq) continue;
      await this.applyEntry(seq, entry);
      this.applied.advance(seq, entry.timestamp);
    }
  }

  private async applyEntry(seq: number, entry: LogEntry): Promise<void> {
    const meta: Record<string, Uint8Array> = { [META_APPLIED_SEQ]: encodeSeq(seq) };
    const kind = entry.kind;
    if (kind?.$case === 'write') {
      const ops = [];
      for (const op of kind.value.ops) {
        if (this.ranges.holdsKey(op.key)) ops.push({ key: op.key, value: op.value ?? null });
      }
      await this.store.applyBatch(ops, entry.timestamp, meta);
    } else if (kind?.$case === 'rangeUpdate') {
      const fresh = this.ranges.apply(kind.value.ranges);
      for (const r of fresh) await this.snapshot(r, seq, entry.timestamp);
      meta[META_RANGES] = RangeUpdate.encode({ ranges: [...this.ranges.all()] }).finish();
      await this.store.applyBatch([], entry.timestamp, meta);
      this.log.info({ seq, ranges: kind.value.ranges.map((r) => r.rangeId), snapshots: fresh.length }, 'ranges updated');
    } else {
      await this.store.applyBatch([], entry.timestamp, meta);
    }
  }

  /**
   * Copies every revision of a range this node just became a replica of from an existing
   * replica, as of the entry before `seq` (timestamps grow along the log, so "revisions at or
   * below `ts`" is exactly the range's state at that log position).
   */
  private async snapshot(range: RangeDescriptor, seq: number, ts: bigint): Promise<void> {
    const donors = range.replicas.filter((n) => n !== this.nodeId);
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      const donor = donors[attempt % Math.max(1, donors.length)];
      if (donor === undefined) return;
      try {
        let start = range.startKey;
        let total = 0;
        for (;;) {
          const res = await callNode(this.nc, donor, 'export', NodeExportRequest, NodeExportResponse, {
            startKey: start,
            endKey: range.endKey,
            startTs: 0n,
            endTs: ts,
            allRevisions: true,
            minAppliedSeq: BigInt(seq - 1),
            targetBytes: 0,
          });
          total += await this.store.ingest(
            res.revisions.map((r) => ({ key: r.key, ts: r.timestamp, value: r.value ?? null })),
          );
          if (res.resumeKey.length === 0) break;
          start = res.resumeKey;
        }
        // The donor may have collected history below its GC threshold (asked after the copy,
        // so it covers any collection during it): this replica must refuse those reads too,
        // rather than answer them from the incomplete history it copied.
        const gc = await callNode(this.nc, donor, 'gcThreshold', NodeGcThresholdRequest, NodeGcThresholdResponse, {
          startKey: range.startKey,
          endKey: range.endKey,
        });
        if (gc.threshold > 0n) await this.store.gc({ start: range.startKey, end: range.endKey }, gc.threshold);
        this.log.info({ rangeId: range.rangeId, donor, revisions: total, gcThreshold: String(gc.threshold) }, 'replica snapshot applied');
        return;
      } catch (err) {
        this.log.warn({ err, rangeId: range.rangeId, donor }, 'snapshot failed; trying another replica');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * (attempt + 1))));
      }
    }
  }
}
