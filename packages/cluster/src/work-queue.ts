import type { Consumer, JetStreamManager, JsMsg, KV } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, DeliverPolicy, RetentionPolicy, headers } from 'nats';
import { CairnError, ErrorCode, isRetryable, type ErrorCode as Code } from '@cairn/errors';
import { WorkAnnouncement, WorkItem, WorkResult, type LocalityTier } from '@cairn/proto';
import type { ClusterState } from './state-buckets.js';
import { localityMatches } from './locality.js';
import { ensureConsumer, ensureStream } from './jetstream-setup.js';
import { followStream } from './stream-follower.js';
import { JsApiCode, isJsApiError } from './nats-errors.js';
import { retryNats } from './nats-retry.js';

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
  for (const cfg of want) await ensureStream(jsm, { ...cfg, num_replicas: replicas, max_msg_size: 4 * 1024 * 1024 });
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
    return new WorkQueue(state, await state.openKv(WORK_BUCKET));
  }

  async openJob(jobId: string, o: OpenJobOptions): Promise<void> {
    const ackWaitMs = o.ackWaitMs ?? 15_000;
    const maxAttempts = o.maxAttempts ?? 5;
    await ensureConsumer(this.state.jsm, WORK_STREAM, {
      durable_name: consumerName(jobId),
      filter_subject: workSubject(jobId),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs * 1_000_000,
      max_deliver: maxAttempts,
      max_ack_pending: 10_000,
    });
    const a: WorkAnnouncement = { jobId, kind: o.kind, localityFilter: o.localityFilter ?? [], ackWaitMs, maxAttempts };
    await this.announcements.put(jobId, WorkAnnouncement.encode(a).finish());
  }

  async publish(jobId: string, itemId: string, payload: Uint8Array): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', `${jobId}/${itemId}`);
    const data = WorkItem.encode({ jobId, itemId, payload }).finish();
    // The message id makes a repeat harmless: JetStream drops a duplicate within the window.
    await retryNats(() => this.state.js.publish(workSubject(jobId), data, { headers: h }), { what: `cannot queue work item ${itemId} of job ${jobId}` });
  }

  /**
   * Every result of the job so far and then new ones as they arrive, until `signal` aborts,
   * through NATS server failures (see `followStream`).
   */
  async *results(jobId: string, signal: AbortSignal): AsyncGenerator<WorkResult> {
    for await (const m of followStream(this.state.nc, this.state.js, RESULTS_STREAM, { filterSubjects: resultSubject(jobId), signal })) {
      yield WorkResult.decode(m.data);
    }
  }

  /** Removes the job's queue, results and announcement (after success, failure or cancel). */
  async closeJob(jobId: string): Promise<void> {
    await this.announcements.delete(jobId);
    const jsm = this.state.jsm;
    await retryNats(
      async () => {
        try {
          await jsm.consumers.delete(WORK_STREAM, consumerName(jobId));
        } catch (err) {
          if (!isJsApiError(err, JsApiCode.ConsumerNotFound)) throw err;
        }
      },
      { what: `cannot close the work queue of job ${jobId}` },
    );
    await retryNats(() => jsm.streams.purge(WORK_STREAM, { filter: workSubject(jobId) }), { what: `cannot purge the work of job ${jobId}` });
    await retryNats(() => jsm.streams.purge(RESULTS_STREAM, { filter: resultSubject(jobId) }), { what: `cannot purge the results of job ${jobId}` });
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

/** One item a node is working on. */
interface InFlightItem {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

/**
 * A node's side: watches job announcements, and for each job whose locality filter it
 * matches, claims items one at a time per worker (so work spreads evenly across nodes),
 * heartbeats them with `working()` while processing, publishes the result, then acks.
 * A node that dies mid-item stops heartbeating: JetStream redelivers the item to another
 * node after the ack wait. A node that drains (SIGTERM) stops claiming, lets its items
 * finish for a grace period and hands back the rest at once (nak), so nobody waits for the
 * ack wait. Failures: retryable errors are nak'ed with a delay until the attempts run out;
 * others, and the last attempt, are reported as error results.
 */
export class WorkClaimer {
  private readonly jobs = new Map<string, AbortController>();
  private readonly stopAll = new AbortController();
  private readonly inFlight = new Set<InFlightItem>();
  private draining = false;
  private watchDone: Promise<void> | undefined;

  constructor(
    private readonly state: ClusterState,
    private readonly o: WorkClaimerOptions,
  ) {}

  async start(): Promise<void> {
    await ensureStreams(this.state.jsm, this.state.options.replicas);
    const kv = await this.state.openKv(WORK_BUCKET);
    this.watchDone = this.followAnnouncements(kv);
  }

  /** Items being processed right now. */
  get busy(): number {
    return this.inFlight.size;
  }

  /**
   * Stops claiming, waits up to `graceMs` for the items in hand to finish, then aborts the
   * rest and hands them back to the queue for another node, and stops.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const settled = Promise.allSettled([...this.inFlight].map((i) => i.done));
    const timer = sleep(graceMs, 'timeout' as const, { ref: false });
    if ((await Promise.race([settled, timer])) === 'timeout') {
      for (const item of this.inFlight) item.abort.abort(new CairnError(ErrorCode.Canceled, 'node is draining'));
      await Promise.allSettled([...this.inFlight].map((i) => i.done));
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    this.draining = true;
    this.stopAll.abort();
    for (const c of this.jobs.values()) c.abort();
    await this.watchDone?.catch(() => undefined);
  }

  /**
   * Follows the announcements bucket for as long as the claimer runs. The watch is an
   * ordered consumer; if it ends while the claimer still runs (its server died and the
   * consumer could not be re-created in time), a new watch starts: it replays every current
   * announcement, and joining a job twice is a no-op.
   */
  private async followAnnouncements(kv: KV): Promise<void> {
    while (!this.stopAll.signal.aborted) {
      try {
        const watch = await kv.watch();
        const stop = () => watch.stop();
        this.stopAll.signal.addEventListener('abort', stop, { once: true });
        for await (const e of watch) {
          if (e.operation === 'PUT') this.join(WorkAnnouncement.decode(e.value));
          else this.leave(e.key);
        }
        this.stopAll.signal.removeEventListener('abort', stop);
      } catch {
        // NATS unavailable for longer than the KV's retries: try again below.
      }
      if (!this.stopAll.signal.aborted) await sleep(500);
    }
  }

  private join(a: WorkAnnouncement): void {
    if (this.jobs.has(a.jobId) || this.draining) return;
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
    while (!signal.aborted && !this.draining) {
      try {
        consumer ??= await this.state.js.consumers.get(WORK_STREAM, consumerName(a.jobId));
        const batch = await consumer.fetch({ max_messages: 1, expires: 2000 });
        for await (const m of batch) {
          if (this.draining) {
            // Claimed just as the drain began: give it straight back.
            m.nak();
            continue;
          }
          await this.track(a, handler, m, signal);
        }
      } catch (err) {
        // The consumer is gone when the job closed its queue (also while this node's watch
        // was down and missed the announcement's removal).
        if (isJsApiError(err, JsApiCode.ConsumerNotFound)) {
          this.leave(a.jobId);
          return;
        }
        // Otherwise the server this node is connected to died or JetStream is electing a
        // leader: look the consumer up again.
        consumer = undefined;
        await sleep(500);
      }
    }
  }

  private async track(a: WorkAnnouncement, handler: WorkHandler, m: JsMsg, jobSignal: AbortSignal): Promise<void> {
    const abort = new AbortController();
    const onJobAbort = () => abort.abort(jobSignal.reason);
    jobSignal.addEventListener('abort', onJobAbort, { once: true });
    const item: InFlightItem = { abort, done: this.process(a, handler, m, abort.signal) };
    this.inFlight.add(item);
    try {
      await item.done;
    } finally {
      this.inFlight.delete(item);
      jobSignal.removeEventListener('abort', onJobAbort);
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
      if (this.draining && signal.aborted) {
        // Handed back unfinished: another node takes it now, without counting a failure.
        m.nak();
        return;
      }
      this.o.onError?.(err, ctx);
      if (isRetryable(err) && attempt < a.maxAttempts) {
        m.nak(Math.min(10_000, 500 * 2 ** attempt));
        return;
      }
      const e = err instanceof CairnError ? err : new CairnError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
      result = { jobId: item.jobId, itemId: item.itemId, nodeId: this.o.nodeId, attempt, outcome: { $case: 'error', value: { code: e.code, message: e.message } } };
    }
    try {
      const data = WorkResult.encode(result).finish();
      // Keep the claim alive while the report retries through a NATS failover; the resumer
      // counts the first result per item, so a repeat is harmless.
      await retryNats(() => this.state.js.publish(resultSubject(item.jobId), data), { what: `cannot report item ${item.itemId}` });
      await retryNats(() => m.ackAck(), { what: `cannot acknowledge item ${item.itemId}`, budgetMs: 10_000 });
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
