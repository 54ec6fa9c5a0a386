import { workError, type WorkQueue } from '@cairn/cluster';
import { sideBySide } from '@cairn/errors';

/** Item publishes awaited together (each is a JetStream round trip; order does not matter). */
const PUBLISH_IN_FLIGHT = 32;

/** One span's work item: its id in the job (stable across retries and failovers) and payload. */
export interface SpanItem {
  readonly id: string;
  readonly payload: Uint8Array;
  /** Routed jobs: the nodes holding the span, which should do the work. */
  readonly holders?: readonly number[];
}

/** A finished item's result payload, yielded once per item. */
export interface SpanItemResult {
  readonly itemId: string;
  readonly payload: Uint8Array;
}

/**
 * "Publish span items, collect results once per item", the distribution step BACKUP and
 * RESTORE share. Opens the job's queue, publishes every item not in `done` (item ids are
 * JetStream message ids, so republishing after a failover adds nothing), then yields each
 * remaining item's first result: a redelivered item's second result, or one counted by an
 * earlier run, is skipped. A failed item throws its error. Ends once every item has a
 * result, or when `signal` aborts (the caller checks which).
 */
export async function* runSpanItems(
  queue: WorkQueue,
  jobId: string,
  options: Parameters<WorkQueue['openJob']>[1],
  items: readonly SpanItem[],
  done: { has(itemId: string): boolean },
  signal: AbortSignal,
  /**
   * What must be in place before the first item is queued (a backup's protection record, its
   * first progress), awaited beside the queue's opening rather than before it; its failure is
   * thrown ahead of the opening's.
   */
  beforePublish: Promise<unknown> = Promise.resolve(),
): AsyncGenerator<SpanItemResult> {
  await sideBySide([beforePublish, queue.openJob(jobId, options)]);
  const pending = new Set<string>();
  const publishing = new Set<Promise<void>>();
  for (const item of items) {
    if (done.has(item.id)) continue;
    pending.add(item.id);
    // Several in flight: one publish round trip after another was most of a small job's time.
    const p = queue.publish(jobId, item.id, item.payload, item.holders ?? []).finally(() => publishing.delete(p));
    // Observed by the race or the final wait; a failure after another one is not unhandled.
    p.catch(() => undefined);
    publishing.add(p);
    if (publishing.size >= PUBLISH_IN_FLIGHT) await Promise.race(publishing);
  }
  await Promise.all(publishing);
  if (pending.size === 0) return;
  for await (const r of queue.results(jobId, signal)) {
    if (!pending.has(r.itemId)) continue;
    const err = workError(r);
    if (err) throw err;
    if (r.outcome?.$case !== 'payload') continue;
    pending.delete(r.itemId);
    yield { itemId: r.itemId, payload: r.outcome.value };
    if (pending.size === 0) return;
  }
}
