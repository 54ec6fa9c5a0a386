import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { callNode, readStaged, tailLog, type LocalStagedBatches } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { intersectSpans, spansOverlap } from '@cairn/keys';
import type { MvccStore } from '@cairn/mvcc';
import type { Logger } from '@cairn/metrics';
import {
  NodeExportRequest,
  NodeExportResponse,
  NodeGcThresholdRequest,
  NodeGcThresholdResponse,
  RangeUpdate,
  type IngestRef,
  type LogEntry,
  type RangeDescriptor,
} from '@cairn/proto';
import type { AppliedPosition } from './applied-position.js';
import type { RangeTable } from './range-table.js';

export const META_APPLIED_SEQ = 'applied-seq';
/** Staged restore batches (~256 kB each) written but not yet committed, per replica. */
const INGEST_COMMITS_IN_FLIGHT = 4;
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
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly nodeId: number,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly store: MvccStore,
    private readonly ranges: RangeTable,
    private readonly applied: AppliedPosition,
    private readonly log: Logger,
    /** Restore batches this node's processors staged, loaded from memory instead of the stream. */
    private readonly stagedHere?: LocalStagedBatches,
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
      const holds = this.ranges.holdsKeys();
      for (const op of kind.value.ops) {
        if (holds(op.key)) ops.push({ key: op.key, value: op.value ?? null });
      }
      await this.store.applyBatch(ops, entry.timestamp, meta);
    } else if (kind?.$case === 'ingest') {
      await this.applyIngest(seq, entry.timestamp, kind.value);
      await this.store.applyBatch([], entry.timestamp, meta);
    } else if (kind?.$case === 'rangeUpdate') {
      const fresh = this.ranges.apply(kind.value.ranges);
      // The store's counters follow the ranges (a split counts its pieces once, here). A
      // crash before the entry commits leaves them split while the stored table is not:
      // the node sets them from its table at start, which joins them again.
      await this.store.setStatsSpans(this.ranges.starts());
      for (const r of fresh) await this.snapshot(r, seq, entry.timestamp);
      meta[META_RANGES] = RangeUpdate.encode({ ranges: [...this.ranges.all()] }).finish();
      await this.store.applyBatch([], entry.timestamp, meta);
      this.ranges.loaded();
      this.log.info({ seq, ranges: kind.value.ranges.map((r) => r.rangeId), snapshots: fresh.length }, 'ranges updated');
    } else {
      await this.store.applyBatch([], entry.timestamp, meta);
    }
  }

  /**
   * Loads rows a restore staged on the ingest stream (see `IngestRef`), the keys this replica
   * holds, at the entry's timestamp. The batches commit one by one before the applied position
   * moves: a node killed in between writes them again, the same keys at the same timestamp.
   * Rows no longer staged (purged once every node had applied the entry, or expired) are
   * copied from another replica instead, as of this entry.
   *
   * The change index gets one span marker per held range (its part of the entry's span), not
   * an entry per row: those cost each replica 1.4-2 CPU-s per GiB restored (in one process,
   * 8-11 CPU-s per GiB with them), for an incremental that reads a restored span in full
   * either way (today's planner exports a table new to the chain from the beginning of time).
   */
  private async applyIngest(seq: number, ts: bigint, ref: IngestRef): Promise<void> {
    const ingested = { start: ref.startKey, end: ref.endKey };
    const held = this.ranges.held().filter((r) => spansOverlap({ start: r.startKey, end: r.endKey }, ingested));
    if (held.length === 0) {
      this.stagedHere?.drop(ref.subject);
      return;
    }
    // Every staged key is in the entry's span and every key kept is in a held range.
    const marked = held.flatMap((r) => intersectSpans({ start: r.startKey, end: r.endKey }, ingested) ?? []);
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        this.jsm ??= await this.nc.jetstreamManager();
        let rows = 0;
        // A few batches commit while the next ones are read and written: LMDB commits queued
        // transactions together, so a replica waits for one commit per few batches, not each.
        const committing: Promise<void>[] = [];
        for await (const batch of readStaged(this.nc, this.js, this.jsm, ref, this.abort.signal, this.stagedHere)) {
          const ops = [];
          const holds = this.ranges.holdsKeys();
          for (const op of batch) if (holds(op.key)) ops.push({ key: op.key, value: op.value ?? null });
          const commit = this.store.applyBulkBatch(ops, ts, marked);
          // Observed below; after a failed read the same keys are written again anyway.
          commit.catch(() => undefined);
          committing.push(commit);
          if (committing.length >= INGEST_COMMITS_IN_FLIGHT) await committing.shift();
          rows += ops.length;
        }
        await Promise.all(committing);
        this.log.info({ seq, subject: ref.subject, rows }, 'restored rows loaded');
        return;
      } catch (err) {
        if (err instanceof CairnError && err.code === ErrorCode.NotFound) {
          this.log.warn({ seq, subject: ref.subject }, 'staged rows are gone: copying the span from another replica');
          for (const r of held) await this.snapshot(r, seq + 1, ts);
          if (this.abort.signal.aborted) break;
          return;
        }
        if (this.abort.signal.aborted) break;
        this.log.warn({ err, seq, subject: ref.subject }, 'cannot load staged rows yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * (attempt + 1))));
      }
    }
    // Stopping: the entry is not applied, so the applied position must not move past it.
    throw new CairnError(ErrorCode.Canceled, `stopped while loading the restored rows of log entry ${seq}`);
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
