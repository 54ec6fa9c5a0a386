import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode, isRetryable } from '@cairn/errors';
import { callNode } from '@cairn/cluster';
import type { Span } from '@cairn/keys';
import { revisionsInSlot, type MvccStore, type RevisionSlot } from '@cairn/mvcc';
import { NodeExportRequest, NodeExportResponse } from '@cairn/proto';
import type { AppliedPosition } from '../applied-position.js';
import type { RangeTable } from '../range-table.js';

export interface ExportWindow {
  span: Span;
  startTs: bigint;
  endTs: bigint;
  allRevisions: boolean;
  minAppliedSeq: number;
}

/**
 * The revisions of a span in batches: read from this node's replica when it holds every
 * range of the span (the usual case: work goes to replicas), as one batch that is the
 * store's own export, iterated synchronously; else streamed from another replica over NATS,
 * a batch per reply. A consumer pays one async step per batch, not one per revision (an
 * async generator's per-revision promise cost a fifth of a node's export CPU).
 *
 * Each revision comes in one reused slot (the local export's `exportRevisionSlots`, whose
 * value lies in LMDB's read buffer): the consumer copies what it keeps before it takes the
 * next revision or awaits anything, as a data file writer's `writeSlot` does.
 */
export async function* exportRevisionBatches(
  local: { nodeId: number; store: MvccStore; ranges: RangeTable; applied: AppliedPosition; nc: NatsConnection },
  w: ExportWindow,
  replicas: readonly number[],
): AsyncGenerator<Iterable<RevisionSlot>> {
  // Asked again once caught up: a range this node joins in the entries up to `minAppliedSeq`
  // serves reads only once its rows are in (RangeTable.servesSpan). A replica that does not
  // catch up in time leaves the span to another one.
  const servedHere = local.ranges.servesSpan(w.span) && (await local.applied.reached(w.minAppliedSeq, 60_000)) && local.ranges.servesSpan(w.span);
  if (servedHere) {
    yield local.store.exportRevisionSlots(w.span, w.startTs, w.endTs, w.allRevisions);
    return;
  }
  const donors = replicas.filter((n) => n !== local.nodeId);
  if (donors.length === 0) throw new CairnError(ErrorCode.Unavailable, 'no replica of the span to export from', { retryable: true });
  let start = w.span.start;
  let donorIndex = 0;
  for (;;) {
    let res: NodeExportResponse;
    try {
      res = await callNode(local.nc, donors[donorIndex % donors.length]!, 'export', NodeExportRequest, NodeExportResponse, {
        startKey: start,
        endKey: w.span.end,
        startTs: w.startTs,
        endTs: w.endTs,
        allRevisions: w.allRevisions,
        minAppliedSeq: BigInt(w.minAppliedSeq),
        targetBytes: 0,
      });
    } catch (err) {
      if (!isRetryable(err) || ++donorIndex >= donors.length * 2) throw err;
      continue;
    }
    yield revisionsInSlot(res.revisions.map((r) => ({ key: r.key, ts: r.timestamp, value: r.value ?? null })));
    if (res.resumeKey.length === 0) return;
    start = res.resumeKey;
  }
}

