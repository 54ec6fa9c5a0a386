import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { callNode } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Span } from '@cairn/keys';
import { NodeAppliedRequest, NodeAppliedResponse, type RangeDescriptor } from '@cairn/proto';

/** How long one long poll waits at a node before it answers with where it is. */
const POLL_MS = 5_000;
/** A node that did not answer (dead, restarting, reconnecting) is asked again after this. */
const RETRY_MS = 500;

/**
 * Waits until the log, as far as it is written now, is applied where it will be read.
 *
 * A RESTORE's rows reach the replicas outside its job: the leader logs a small entry naming
 * each batch of staged rows, and every replica loads them when it applies that entry. The
 * job must not make its tables public before they are loaded: a read right after the
 * RESTORE would wait for a replica still loading and, on a busy cluster, time out
 * ("replica is behind"). As CockroachDB's AddSSTable is applied by its range before the
 * request returns, the job waits until a majority of each range's replicas have applied the
 * log up to its last entry.
 */
export interface ReplicaCatchUp {
  untilApplied(spans: readonly Span[], signal: AbortSignal): Promise<void>;
}

export function replicaCatchUp(
  nc: NatsConnection,
  ranges: { overlapping(span: Span): RangeDescriptor[] },
  logPosition: () => number,
): ReplicaCatchUp {
  return {
    async untilApplied(spans, signal) {
      const target = logPosition();
      const held = spans.flatMap((s) => ranges.overlapping(s)).filter((r) => r.replicas.length > 0);
      if (held.length === 0) return;
      const caughtUp = new Set<number>();
      const settled = (): boolean => held.every((r) => r.replicas.filter((n) => caughtUp.has(n)).length * 2 > r.replicas.length);
      const stop = new AbortController();
      const stopped = AbortSignal.any([signal, stop.signal]);
      // One long poll per node, side by side: the job goes on once the majorities are there,
      // without waiting for a dead or slow last replica.
      const polls = [...new Set(held.flatMap((r) => r.replicas))].map(async (nodeId) => {
        while (!stopped.aborted) {
          try {
            const res = await callNode(nc, nodeId, 'applied', NodeAppliedRequest, NodeAppliedResponse, { minAppliedSeq: BigInt(target), waitMs: POLL_MS }, POLL_MS + 10_000);
            if (Number(res.appliedSeq) >= target) {
              caughtUp.add(nodeId);
              if (settled()) stop.abort();
              return;
            }
          } catch {
            // Unanswered (the node is down or reconnecting): the other replicas may suffice.
            await sleep(RETRY_MS, undefined, { signal: stopped }).catch(() => undefined);
          }
        }
      });
      await Promise.race([new Promise<void>((resolve) => stopped.addEventListener('abort', () => resolve(), { once: true })), Promise.all(polls)]);
      stop.abort();
      if (!settled()) {
        throw new CairnError(ErrorCode.Canceled, `stopped waiting for the replicas to apply the log up to entry ${target}`);
      }
    },
  };
}
