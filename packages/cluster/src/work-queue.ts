import type { Consumer, JetStreamManager, JsMsg, KV } from 'nats';
import { AckPolicy, DeliverPolicy, RetentionPolicy, headers } from 'nats';
import { CairnError, ErrorCode, isRetryable, type ErrorCode as Code } from '@cairn/errors';
import { WorkAnnouncement, WorkItem, WorkResult, type LocalityTier } from '@cairn/proto';
import type { ClusterState } from './state-buckets.js';
import { localityMatches } from './locality.js';

export const WORK_STREAM = 'CAIRN_WORK';
export const RESULTS_STREAM = 'CAIRN_RESULTS';
export const WORK_BUCKET = 'cairn_work';
const DEDUP_WINDOW_NS = 3600 * 1e9;

const workSubject = (jobId: string) => `cairn.work.${jobId}`;
const resultSubject = (jobId: string) => `cairn.results.${jobId}`;
const consumerName = (jobId: string) => `work-${jobId}`;

export interface OpenJobOptions {
  kind: string;
  localityFilter?: LocalityTier[];
  /** How long a claimed item may go without a heartbeat before it is redelivered. */
  ackWaitMs?: number;
  /** Deliveries of one item before it fails for good. */
  maxAttempts?: number;
}

async function ensureStreams(jsm: JetStreamManager, replicas: number): Promise<void> {
  const want = [
    // Work queue: each item is removed once a node acknowledges it; only one consumer per
    // subject, which is one durable per job shared by every eligible node.
    { name: WORK_STREAM, subjects: ['cairn.work.>'], retention: RetentionPolicy.Workqueue, duplicate_window: DEDUP_WINDOW_NS },
    // Results stay until the job closes its queue; a resumed coordinator re-reads them all.
    { name: RESULTS_STREAM, subjects: ['cairn.results.>'], retention: RetentionPolicy.Limits, duplicate_window: DEDUP_WINDOW_NS },
  ];
  for (const cfg of want) {
    try {
      await jsm.streams.info(cfg.name);
    } catch {
      await jsm.streams.add({ ...cfg, num_replicas: replicas, max_msg_size: 4 * 1024 * 1024 });
    }
  }
}

/**
 * The coordinator's side of distributed job work: a durable work queue per job on JetStream,
 * announced to nodes in a KV bucket, and a results stream read back by the job's resumer.
 * Item ids double as JetStream message ids, so republishing after a coordinator failover
 * does not queue an item twice.
 */
export class WorkQueue {
  private constructor(
    private readonly state: ClusterState,
    readonly announcements: KV,
  ) {}

  static async open(state: ClusterState): Promise<WorkQueue> {
    await ensureStreams(state.jsm, state.options.replicas);
    const kv = await state.js.views.kv(WORK_BUCKET, { replicas: state.options.replicas, history: 1 });
    return new WorkQueue(state, kv);
  }

  async openJob(jobId: string, o: OpenJobOptions): Promise<void> {
    const ackWaitMs = o.ackWaitMs ?? 15_000;
    const maxAttempts = o.maxAttempts ?? 5;
    try {
      await this.state.jsm.consumers.info(WORK_STREAM, consumerName(jobId));
    } catch {
      await this.state.jsm.consumers.add(WORK_STREAM, {
        durable_name: consumerName(jobId),
        filter_subject: workSubject(jobId),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWaitMs * 1_000_000,
        max_deliver: maxAttempts,
        max_ack_pending: 10_000,
      });
    }
    const a: WorkAnnouncement = { jobId, kind: o.kind, localityFilter: o.localityFilter ?? [], ackWaitMs, maxAttempts };
    await this.announcements.put(jobId, WorkAnnouncement.encode(a).finish());
  }

  async publish(jobId: string, itemId: string, payload: Uint8Array): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', `${jobId}/${itemId}`);
    await this.state.js.publish(workSubject(jobId), WorkItem.encode({ jobId, itemId, payload }).finish(), { headers: h });
  }

  /** Every result of the job so far and then new ones as they arrive, until `signal` aborts. */
  async *results(jobId: string, signal: AbortSignal): AsyncGenerator<WorkResult> {
    const consumer = await this.state.js.consumers.get(RESULTS_STREAM, { filterSubjects: resultSubject(jobId) });
    const messages = await consumer.consume({ max_messages: 256 });
    const stop = () => void messages.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of messages as AsyncIterable<JsMsg>) yield WorkResult.decode(m.data);
    } finally {
      signal.removeEventListener('abort', stop);
      void messages.close();
    }
  }

  /** Removes the job's queue, results and announcement (after success, failure or cancel). */
  async closeJob(jobId: string): Promise<void> {
    await this.announcements.delete(jobId).catch(() => undefined);
    await this.state.jsm.consumers.delete(WORK_STREAM, consumerName(jobId)).catch(() => undefined);
    await this.state.jsm.streams.purge(WORK_STREAM, { filter: workSubject(jobId) }).catch(() => undefined);
    await this.state.jsm.streams.purge(RESULTS_STREAM, { filter: resultSubject(jobId) }).catch(() => undefined);
  }
}

/** What a node's processor gets while it works on one item. */
export interface WorkContext {
  jobId: string;
  itemId: string;
  attempt: number;
  /** Aborted when the node stops or the job's queue closes. */
  signal: AbortSignal;
}

export type WorkHandler = (payload: Uint8Array, ctx: WorkContext) => Promise<Uint8Array>;

export interface WorkClaimerOptions {
  nodeId: number;
  locality: LocalityTier[];
  handlers: Record<string, WorkHandler>;
  /** Items processed at once by this node. */
  concurrency?: number;
  onError?: (err: unknown, ctx: WorkContext) => void;
}

/**
 * A node's side: watches job announcements, and for each job whose locality filter it
 * matches, claims items one at a time per worker (so work spreads evenly across nodes),
 * heartbeats them with `working()` while processing, publishes the result, then acks.
 * A node that dies mid-item stops heartbeating: JetStream redelivers the item to another
 * node after the ack wait. Failures: retryable errors are nak'ed with a delay until the
 * attempts run out; others, and the last attempt, are reported as error results.
 */
export class WorkClaimer {
  private readonly jobs = new Map<string, AbortController>();
  private readonly stopAll = new AbortController();
  private watchDone: Promise<void> | undefined;

  constructor(
    private readonly state: ClusterState,
    private readonly o: WorkClaimerOptions,
  ) {}

  async start(): Promise<void> {
    await ensureStreams(this.state.jsm, this.state.options.replicas);
    const kv = await this.state.js.views.kv(WORK_BUCKET, { replicas: this.state.options.replicas, history: 1 });
    const watch = await kv.watch();
    this.stopAll.signal.addEventListener('abort', () => watch.stop(), { once: true });
    this.watchDone = (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') this.join(WorkAnnouncement.decode(e.value));
        else this.leave(e.key);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopAll.abort();
    for (const c of this.jobs.values()) c.abort();
    await this.watchDone?.catch(() => undefined);
  }

  private join(a: WorkAnnouncement): void {
    if (this.jobs.has(a.jobId)) return;
    const handler = this.o.handlers[a.kind];
    if (!handler || !localityMatches(this.o.locality, a.localityFilter)) return;
    const ctl = new AbortController();
    this.jobs.set(a.jobId, ctl);
    for (let i = 0; i < (this.o.concurrency ?? 2); i++) void this.claimLoop(a, handler, ctl.signal);
  }

  private leave(jobId: string): void {
    this.jobs.get(jobId)?.abort();
    this.jobs.delete(jobId);
  }

  private async claimLoop(a: WorkAnnouncement, handler: WorkHandler, signal: AbortSignal): Promise<void> {
    let consumer: Consumer | undefined;
    while (!signal.aborted && !this.stopAll.signal.aborted) {
      try {
        consumer ??= await this.state.js.consumers.get(WORK_STREAM, consumerName(a.jobId));
        const batch = await consumer.fetch({ max_messages: 1, expires: 2000 });
        for await (const m of batch) await this.process(a, handler, m, signal);
      } catch (err) {
        // The consumer is gone when the job closed its queue; otherwise NATS is busy/restarting.
        consumer = undefined;
        await new Promise((r) => setTimeout(r, 500));
        void err;
      }
    }
  }

  private async process(a: WorkAnnouncement, handler: WorkHandler, m: JsMsg, signal: AbortSignal): Promise<void> {
    const item = WorkItem.decode(m.data);
    const attempt = m.info.deliveryCount;
    const ctx: WorkContext = { jobId: item.jobId, itemId: item.itemId, attempt, signal };
    const heartbeat = setInterval(() => m.working(), Math.max(200, Math.floor(a.ackWaitMs / 3)));
    let result: WorkResult;
    try {
      const payload = await handler(item.payload, ctx);
      result = { jobId: item.jobId, itemId: item.itemId, nodeId: this.o.nodeId, attempt, outcome: { $case: 'payload', value: payload } };
    } catch (err) {
      clearInterval(heartbeat);
      this.o.onError?.(err, ctx);
      if (isRetryable(err) && attempt < a.maxAttempts) {
        m.nak(Math.min(10_000, 500 * 2 ** attempt));
        return;
      }
      const e = err instanceof CairnError ? err : new CairnError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
      result = { jobId: item.jobId, itemId: item.itemId, nodeId: this.o.nodeId, attempt, outcome: { $case: 'error', value: { code: e.code, message: e.message } } };
    }
    try {
      await this.state.js.publish(resultSubject(item.jobId), WorkResult.encode(result).finish());
      await m.ackAck();
    } catch {
      // Could not report: leave the item unacked so it is redelivered.
    } finally {
      clearInterval(heartbeat);
    }
  }
}

/** Rebuilds the CairnError a node reported for an item. */
export function workError(r: WorkResult): CairnError | undefined {
  if (r.outcome?.$case !== 'error') return undefined;
  return new CairnError(r.outcome.value.code as Code, `node ${r.nodeId}: ${r.outcome.value.message}`);
}
