import type { NatsConnection } from 'nats';
import { callNode } from '@cairn/cluster';
import { NodeGcThresholdRequest, NodeGcThresholdResponse } from '@cairn/proto';

/** A span and the nodes holding its replicas. */
export interface ReplicatedSpan {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
  readonly replicas: readonly number[];
}

const ASK_TIMEOUT_MS = 2000;

/**
 * The GC threshold of each span: the highest over its replicas, since each replica collects
 * on its own and a read may be served by any of them. Only live replicas are asked (a dead
 * node would only add a timeout), and one that does not answer is left out: it cannot serve
 * the read either, and the read itself checks again wherever it runs.
 */
export async function replicaGcThresholds(nc: NatsConnection, spans: readonly ReplicatedSpan[], isLive: (nodeId: number) => boolean): Promise<bigint[]> {
  return Promise.all(
    spans.map(async (span) => {
      const answers = await Promise.all(
        span.replicas.filter(isLive).map((nodeId) =>
          callNode(nc, nodeId, 'gcThreshold', NodeGcThresholdRequest, NodeGcThresholdResponse, { startKey: span.start, endKey: span.end }, ASK_TIMEOUT_MS).then(
            (r) => r.threshold,
            () => 0n,
          ),
        ),
      );
      return answers.reduce((max, t) => (t > max ? t : max), 0n);
    }),
  );
}
