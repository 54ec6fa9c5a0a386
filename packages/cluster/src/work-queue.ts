import type { Consumer, JetStreamManager, JsMsg, KV } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, DeliverPolicy, RetentionPolicy, headers } from 'nats';
import { CairnError, ErrorCode, isRetryable, sideBySide, type ErrorCode as Code } from '@cairn/errors';
import { WorkAnnouncement, WorkItem, WorkResult, type LocalityTier } from '@cairn/proto';
import type { ClusterState } from './state-buckets.js';
import { localityMatches } from './locality.js';
import { NodeRegistry, isLive, type NodeDirectory } from './node-registry.js';
import { ensureConsumer, ensureStream } from './jetstream-setup.js';
import { followStream } from './stream-follower.js';
import { JsApiCode, isJsApiError, jsApiCode } from './nats-errors.js';
import { retryNats } from './nats-retry.js';

export const WORK_STREAM = 'CAIRN_WORK';
export const RESULTS_STREAM = 'CAIRN_RESULTS';
export const WORK_BUCKET = 'cairn_work';
const DEDUP_WINDOW_NS = 3600 * 1e9;
/** JetStream's `max_deliver` for "no limit". */
const UNLIMITED_DELIVERIES = -1;

const workSubject = (jobId: string) => `cairn.work.${jobId}`;
const nodeWorkSubject = (jobId: string, nodeId: number) => `cairn.work.${jobId}.n${nodeId}`;
const resultSubject = (jobId: string) => `cairn.results.${jobId}`;
const consumerName = (jobId: string) => `work-${jobId}`;
const nodeConsumerName = (jobId: string, nodeId: number) => `work-${jobId}-n${nodeId}`;
/** The job id in a job queue's name (`consumerName`, `nodeConsumerName`) of a cairn job (ids are digits). */
const JOB_QUEUE_NAME = /^work-(\d+)(?:-n\d+)?$/;

export interface OpenJobOptions {
  kind: string;
  localityFilter?: LocalityTier[];
  /** How long a claimed item may go without a heartbeat before it is redelivered. */
  ackWaitMs?: number;
  /**
   * Deliveries of one item before a failure is final: a retryable failure is retried at a later
   * delivery, and what the item's `maxAttempts`-th delivery (or any later one) comes to is
   * reported. A delivery that ends with no outcome (its node died) counts as an attempt; an
   * item delivered twice this often without one fails without running again.
   */
  maxAttempts?: number;
  /**
   * Route each item to a live node holding its data (see `publish`'s `holders`), as
   * CockroachDB plans a span on its leaseholder, instead of to whichever node asks first.
   */
  routed?: boolean;
}

/** A routed job's state on this coordinator: which node queues exist, how much each got. */
interface JobRoute {
  readonly localityFilter: LocalityTier[];
  readonly consumer: { ackWaitMs: number };
  readonly queued: Map<number, number>;
  readonly consumers: Set<number>;
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
  private readonly routes = new Map<string, JobRoute>();

  private constructor(
    private readonly state: ClusterState,
    readonly announcements: KV,
    private readonly nodes: NodeDirectory,
  ) {}

  static async open(state: ClusterState): Promise<WorkQueue> {
    await ensureStreams(state.jsm, state.options.replicas);
    const nodes = await new NodeRegistry(state.nodes).watch(state.nc);
    return new WorkQueue(state, await state.openKv(WORK_BUCKET), nodes);
  }

  /** Stops following node liveness (the leader that owned this queue stopped). */
  close(): void {
    this.nodes.stop();
  }

  /**
   * Creates the job's shared queue (and for a routed job one queue per node matching the
   * locality filter) and announces the job. A resumed job calls it again: everything is
   * created only when missing.
   */
  async openJob(jobId: string, o: OpenJobOptions): Promise<void> {
    const ackWaitMs = o.ackWaitMs ?? 15_000;
    const maxAttempts = o.maxAttempts ?? 5;
    const localityFilter = o.localityFilter ?? [];
    // Side by side: each create waits for the JetStream meta leader, which after a NATS
    // server loss may be electing; one after another, they would wait it out in turn.
    const creates = [this.ensureJobConsumer(jobId, undefined, { ackWaitMs })];
    if (o.routed) {
      const route: JobRoute = { localityFilter, consumer: { ackWaitMs }, queued: new Map(), consumers: new Set() };
      this.routes.set(jobId, route);
      for (const n of this.nodes.list()) {
        if (!localityMatches(n.locality, localityFilter)) continue;
        creates.push(this.ensureJobConsumer(jobId, n.nodeId, route.consumer).then(() => void route.consumers.add(n.nodeId)));
      }
    }
    await Promise.all(creates);
    const a: WorkAnnouncement = { jobId, kind: o.kind, localityFilter, ackWaitMs, maxAttempts, routed: o.routed ?? false };
    await this.announcements.put(jobId, WorkAnnouncement.encode(a).finish());
  }

  /**
   * The queue redelivers an item for as long as it is not acknowledged: no `max_deliver`. The
   * server counts deliveries, not attempts: one that ends with no outcome counts too (its node
   * died or drained, the fetch it went to had ended, or nats-server < 2.10.14 lost it, see
   * `retryDelayMs`), and at `max_deliver` the server drops the item without a word, so the job
   * would wait for its result forever. The claimer ends every item with a result instead (see
   * `WorkClaimer.process`); queues an older cairn created with a limit lose it here.
   */
  private async ensureJobConsumer(jobId: string, nodeId: number | undefined, c: { ackWaitMs: number }): Promise<void> {
    const name = nodeId === undefined ? consumerName(jobId) : nodeConsumerName(jobId, nodeId);
    const jsm = this.state.jsm;
    const info = await ensureConsumer(jsm, WORK_STREAM, {
      durable_name: name,
      filter_subject: nodeId === undefined ? workSubject(jobId) : nodeWorkSubject(jobId, nodeId),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: c.ackWaitMs * 1_000_000,
      max_deliver: UNLIMITED_DELIVERIES,
      max_ack_pending: 10_000,
    });
    if (info.config.max_deliver !== UNLIMITED_DELIVERIES) {
      await retryNats(() => jsm.consumers.update(WORK_STREAM, name, { max_deliver: UNLIMITED_DELIVERIES }), { what: `cannot update the work queue of job ${jobId}` });
    }
  }

  /**
   * Queues one item. In a routed job, `holders` (the nodes holding the item's data) picks its
   * queue: the live holder matching the job's locality filter with the fewest items so far,
   * so the work spreads across replicas; with no such holder the item goes to the shared
   * queue, which every eligible node claims from.
   */
  async publish(jobId: string, itemId: string, payload: Uint8Array, holders: readonly number[] = []): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', `${jobId}/${itemId}`);
    const data = WorkItem.encode({ jobId, itemId, payload }).finish();
    const target = await this.routeTo(jobId, holders);
    const subject = target === undefined ? workSubject(jobId) : nodeWorkSubject(jobId, target);
    // The message id makes a repeat harmless: JetStream drops a duplicate within the window
    // (whichever queue the repeat was routed to).
    await retryNats(() => this.state.js.publish(subject, data, { headers: h }), { what: `cannot queue work item ${itemId} of job ${jobId}` });
  }

  private async routeTo(jobId: string, holders: readonly number[]): Promise<number | undefined> {
    const route = this.routes.get(jobId);
    if (!route) return undefined;
    let best: number | undefined;
    for (const n of holders) {
      const r = this.nodes.get(n);
      if (!r || !isLive(r) || !localityMatches(r.locality, route.localityFilter)) continue;
      if (best === undefined || (route.queued.get(n) ?? 0) < (route.queued.get(best) ?? 0)) best = n;
    }
    if (best === undefined) return undefined;
    if (!route.consumers.has(best)) {
      // A node that joined after the job opened.
      await this.ensureJobConsumer(jobId, best, route.consumer);
      route.consumers.add(best);
    }
    route.queued.set(best, (route.queued.get(best) ?? 0) + 1);
    return best;
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

  /**
   * Removes the job's queue, results and announcement (after success, failure or cancel). The
   * steps are independent NATS round trips run in two rounds (nodes stop claiming once the
   * announcement is gone; a purge and a queue delete do not depend on each other): one after
   * another they were 11-28 ms at the end of every small incremental backup. A failure is
   * the one the steps in this order would have met first.
   */
  async closeJob(jobId: string): Promise<void> {
    this.routes.delete(jobId);
    const jsm = this.state.jsm;
    // Node queues: named from the job id, also those a previous leader created.
    const nodeQueue = new RegExp(`^${consumerName(jobId)}-n\\d+$`);
    const [, all] = await sideBySide([this.announcements.delete(jobId), this.queueNames(`cannot list the work queues of job ${jobId}`)]);
    const names = all.filter((name) => nodeQueue.test(name));
    await sideBySide([
      ...[consumerName(jobId), ...names].map((name) => deleteJobQueue(jsm, name, jobId)),
      retryNats(() => jsm.streams.purge(WORK_STREAM, { filter: workSubject(jobId) }), { what: `cannot purge the work of job ${jobId}` }),
      retryNats(() => jsm.streams.purge(WORK_STREAM, { filter: `${workSubject(jobId)}.>` }), { what: `cannot purge the work of job ${jobId}` }),
      retryNats(() => jsm.streams.purge(RESULTS_STREAM, { filter: resultSubject(jobId) }), { what: `cannot purge the results of job ${jobId}` }),
    ]);
  }

  /**
   * Closes the queues of jobs that ended without closing them, and returns their ids. A job's
   * queue is closed after its success is stored (so its statement is answered first), and a
   * coordinator that died in between, or whose close failed, leaves the queue behind; a new
   * leader runs this once it has adopted the unfinished jobs. `isFinished` says whether a job
   * is over (terminal, or gone): a running job's queue is never touched.
   */
  async closeFinishedJobs(isFinished: (jobId: string) => Promise<boolean>): Promise<string[]> {
    const [names, announced] = await sideBySide([
      this.queueNames('cannot list the work queues'),
      retryNats(
        async () => {
          const found: string[] = [];
          for await (const k of await this.announcements.keys()) found.push(k);
          return found;
        },
        { what: 'cannot list the announced jobs' },
      ),
    ]);
    const jobIds = new Set(announced);
    for (const name of names) {
      const m = JOB_QUEUE_NAME.exec(name);
      if (m) jobIds.add(m[1]!);
    }
    const closed: string[] = [];
    for (const jobId of jobIds) {
      if (!(await isFinished(jobId))) continue;
      await this.closeJob(jobId);
      closed.push(jobId);
    }
    return closed;
  }

  /** The names of every queue (consumer) on the work stream. */
  private queueNames(what: string): Promise<string[]> {
    return retryNats(
      async () => {
        const found: string[] = [];
        for await (const c of this.state.jsm.consumers.list(WORK_STREAM)) found.push(c.name);
        return found;
      },
      { what },
    );
  }
}

/**
 * Deletes one of a closed job's queues. Best effort beyond NATS's own failovers: nats-server
 * 2.9 sometimes fails a consumer delete with an error of its own (seen: "unlinkat
 * .../obs/work-...: directory not empty", fixed in later servers), which a later attempt
 * usually gets past; should it persist, the job must not fail for it: a closed job's queue
 * holds nothing (its subjects are purged and never published to again).
 */
export async function deleteJobQueue(jsm: JetStreamManager, name: string, jobId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await retryNats(() => jsm.consumers.delete(WORK_STREAM, name), { what: `cannot close the work queue of job ${jobId}` });
      return;
    } catch (err) {
      if (isJsApiError(err, JsApiCode.ConsumerNotFound)) return;
      // NATS unreachable past the retries: the caller retries the close as a whole.
      if (jsApiCode(err) === undefined) throw err;
      // The server's own error persists: leave the empty queue behind.
      if (attempt >= 3) return;
      await sleep(500 * attempt);
    }
  }
}

/** How long a claim loop's pull for the next item waits on the server (a rescue loop's: shorter). */
const CLAIM_EXPIRES_MS = 2000;
const RESCUE_EXPIRES_MS = 1000;

/**
 * How long a retryable failure waits before its item is delivered again: doubling from 1 s up
 * to 10 s, plus half the shorter pull expiry. The half keeps a redelivery from coming due just
 * as the pull it would go to expires: the claim loop that naks pulls again at once, so with a
 * delay that is a multiple of the expiry the two coincide, and nats-server before 2.10.14
 * (nats-server#5305) mishandles that: it drops the redelivery (counting it) and delivers the
 * stream's last new message a second time with a delivery count of 1. Seen as 1 CI run in 8 on
 * a loaded machine, where the item's count then ran past the old `max_deliver` unreported.
 */
function retryDelayMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** attempt) + RESCUE_EXPIRES_MS / 2;
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
 * others, and the last attempt, are reported as error results. Every item ends with a result,
 * since the job waits for one: the queue redelivers until a node reports (see `ensureJobConsumer`).
 *
 * In a routed job each node claims from its own queue (items whose data it holds) and the
 * shared one, and rescues the queue of any node that is dead or draining, as the node
 * directory shows it: that node's unclaimed items, and its claimed ones once their ack wait
 * runs out, go to another node, which streams the data from a replica if it holds none.
 */
export class WorkClaimer {
  private readonly jobs = new Map<string, AbortController>();
  private readonly stopAll = new AbortController();
  private readonly inFlight = new Set<InFlightItem>();
  private draining = false;
  private watchDone: Promise<void> | undefined;
  private nodes: NodeDirectory | undefined;

  constructor(
    private readonly state: ClusterState,
    private readonly o: WorkClaimerOptions,
  ) {}

  async start(): Promise<void> {
    await ensureStreams(this.state.jsm, this.state.options.replicas);
    const kv = await this.state.openKv(WORK_BUCKET);
    this.nodes = await new NodeRegistry(this.state.nodes).watch(this.state.nc);
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
    this.nodes?.stop();
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
    const concurrency = this.o.concurrency ?? 2;
    if (!a.routed) {
      for (let i = 0; i < concurrency; i++) void this.claimLoop(a, handler, ctl.signal, consumerName(a.jobId), 'leave');
      return;
    }
    // Own queue at full concurrency; the shared queue (items no live holder could take) and
    // rescued queues one item at a time each, as they carry the exceptions.
    for (let i = 0; i < concurrency; i++) void this.claimLoop(a, handler, ctl.signal, nodeConsumerName(a.jobId, this.o.nodeId), 'wait');
    void this.claimLoop(a, handler, ctl.signal, consumerName(a.jobId), 'leave');
    void this.rescueLoop(a, handler, ctl.signal);
  }

  private leave(jobId: string): void {
    this.jobs.get(jobId)?.abort();
    this.jobs.delete(jobId);
  }

  /**
   * Claims from one queue of the job. `onMissing`: the shared queue is gone when the job
   * closed it (also while this node's watch was down and missed the announcement's removal),
   * so the node leaves the job; a node's own queue may not exist yet (the node joined after
   * the job opened and no item was routed to it), so it looks again later.
   */
  private async claimLoop(a: WorkAnnouncement, handler: WorkHandler, signal: AbortSignal, name: string, onMissing: 'leave' | 'wait'): Promise<void> {
    let consumer: Consumer | undefined;
    while (!signal.aborted && !this.draining) {
      try {
        consumer ??= await this.state.js.consumers.get(WORK_STREAM, name);
        await this.claimBatch(consumer, a, handler, signal, CLAIM_EXPIRES_MS);
      } catch (err) {
        if (isJsApiError(err, JsApiCode.ConsumerNotFound)) {
          if (onMissing === 'leave') {
            this.leave(a.jobId);
            return;
          }
          consumer = undefined;
          await sleep(1000);
          continue;
        }
        // Otherwise the server this node is connected to died or JetStream is electing a
        // leader: look the consumer up again.
        consumer = undefined;
        await sleep(500);
      }
    }
  }

  private async claimBatch(consumer: Consumer, a: WorkAnnouncement, handler: WorkHandler, signal: AbortSignal, expires: number): Promise<number> {
    let n = 0;
    const batch = await consumer.fetch({ max_messages: 1, expires });
    for await (const m of batch) {
      n++;
      if (this.draining) {
        // Claimed just as the drain began: give it straight back.
        m.nak();
        continue;
      }
      await this.track(a, handler, m, signal);
    }
    return n;
  }

  /**
   * Takes over the queues of nodes that are dead or draining (a heartbeat older than the
   * liveness threshold, or the draining mark): the fallback that keeps a routed job going
   * when the holder it picked goes away.
   */
  private async rescueLoop(a: WorkAnnouncement, handler: WorkHandler, signal: AbortSignal): Promise<void> {
    const consumers = new Map<number, Consumer>();
    while (!signal.aborted && !this.draining) {
      const now = Date.now();
      const gone = (this.nodes?.list() ?? []).filter((r) => r.nodeId !== this.o.nodeId && !isLive(r, now)).map((r) => r.nodeId);
      let claimed = 0;
      for (const nodeId of gone) {
        if (signal.aborted || this.draining) return;
        try {
          let c = consumers.get(nodeId);
          if (!c) {
            c = await this.state.js.consumers.get(WORK_STREAM, nodeConsumerName(a.jobId, nodeId));
            consumers.set(nodeId, c);
          }
          claimed += await this.claimBatch(c, a, handler, signal, RESCUE_EXPIRES_MS);
        } catch {
          // No queue for that node in this job, or NATS is failing over: look again next round.
          consumers.delete(nodeId);
        }
      }
      if (claimed === 0) await sleep(1000);
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
      // Past its last attempt the item is redelivered only when deliveries end with no outcome,
      // as when it kills the node working on it: after as many such deliveries again, stop.
      if (attempt > 2 * a.maxAttempts) {
        throw new CairnError(ErrorCode.Unavailable, `item ${item.itemId} was delivered ${attempt} times without an outcome: the nodes working on it died or lost it`);
      }
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
        m.nak(retryDelayMs(attempt));
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
