import { ConsumerDebugEvents, type Consumer, type ConsumerMessages, type ConsumerStatus, type FetchOptions, type JsMsg } from 'nats';

export interface BoundedConsumeOptions {
  /** Messages held at most: pulled, not yet read. */
  max_messages: number;
  /** How long each pull waits on the server for messages. */
  expires: number;
}

/** While the reader holds a message longer than this, the series says it is alive. */
const READER_BUSY_NOTICE_MS = 1000;

/**
 * `consumer.consume()` with the buffer bounded by the reader: nats.js 2.x refills a consume's
 * pull as messages *arrive*, not as they are read (an ordered consumer forwards each one to its
 * iterator at once), so `max_messages` bounds one pull, not what waits in memory. A reader
 * slower than the stream, such as a replica's apply loop behind a load, then holds every
 * message it has not reached: a node 2,000 log entries behind had 2.2 GiB of them, retained by
 * the ordered consumer's iterator (heap snapshot, `pnpm bench backup --mb 4096`).
 *
 * This reads with one `fetch()` of `max_messages` at a time, the next only once the reader has
 * taken every message of the last, so at most `max_messages` wait. A fetch on an ordered
 * consumer keeps its server-side consumer and sequence across fetches, and recreates it on a
 * gap as consume does. Its messages go to a callback into this series' own queue: an ordered
 * fetch's iterator ends as soon as the last message arrives and drops those its reader has
 * not taken yet. Statuses of every fetch come out of one `status()`, plus a `DebugEvent` each
 * second the reader holds a message, since no pull is out then to show the consumer alive.
 */
export async function boundedConsume(consumer: Consumer, opts: BoundedConsumeOptions): Promise<ConsumerMessages> {
  const series = new FetchSeries(consumer, opts);
  await series.fetchNext();
  return series;
}

class FetchSeries implements ConsumerMessages {
  private done = false;
  private readonly queue: JsMsg[] = [];
  private current: ConsumerMessages | undefined;
  /** The current fetch has ended (all its messages are in the queue), with its error if any. */
  private fetchEnded = false;
  private fetchError: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly listeners: StatusQueue[] = [];
  private readonly ended: Promise<void>;
  private end!: () => void;
  private received = 0;
  private processed = 0;
  /** Since when the reader holds the message last yielded (undefined between messages). */
  private heldSince: number | undefined;
  /** One timer for the series, not one per message: this is every replica's apply path. */
  private busyCheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly opts: BoundedConsumeOptions,
  ) {
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  /** Pulls the next `max_messages`; resolves once the pull is out. */
  async fetchNext(): Promise<void> {
    this.fetchEnded = false;
    this.fetchError = undefined;
    const onMessage = (m: JsMsg): void => {
      this.received++;
      this.queue.push(m);
      this.signal();
    };
    // `callback` is honoured by fetch (nats.js types list it for consume only).
    const batch = await this.consumer.fetch({ ...this.opts, callback: onMessage } as FetchOptions);
    this.current = batch;
    // Closed while that pull was being set up: end it now rather than at its expiry.
    if (this.done) {
      await batch.close();
      return;
    }
    this.forwardStatus(batch);
    void batch.closed().then((err) => {
      if (batch !== this.current) return;
      this.fetchEnded = true;
      if (err instanceof Error) this.fetchError = err;
      this.signal();
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<JsMsg> {
    try {
      while (!this.done) {
        const m = this.queue.shift();
        if (m !== undefined) {
          this.heldSince = Date.now();
          this.busyCheck ??= setInterval(() => this.noticeBusyReader(), READER_BUSY_NOTICE_MS / 2);
          try {
            yield m;
          } finally {
            this.heldSince = undefined;
          }
          this.processed++;
        } else if (!this.fetchEnded) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
        } else if (this.fetchError) {
          throw this.fetchError;
        } else {
          await this.fetchNext();
        }
      }
    } finally {
      this.finish();
    }
  }

  push(): void {
    // Messages come from the fetches only.
  }

  stop(err?: Error): void {
    this.current?.stop(err);
    this.finish();
  }

  async close(): Promise<void | Error> {
    this.done = true;
    const r = await this.current?.close();
    this.finish();
    return r;
  }

  closed(): Promise<void | Error> {
    return this.ended;
  }

  getProcessed(): number {
    return this.processed;
  }

  getPending(): number {
    return this.queue.length;
  }

  getReceived(): number {
    return this.received;
  }

  status(): Promise<AsyncIterable<ConsumerStatus>> {
    const q = new StatusQueue();
    if (this.done) q.close();
    else this.listeners.push(q);
    return Promise.resolve(q);
  }

  private signal(): void {
    this.wake?.();
  }

  private forwardStatus(batch: ConsumerMessages): void {
    void (async () => {
      for await (const s of await batch.status()) this.notify(s);
    })().catch(() => undefined);
  }

  private noticeBusyReader(): void {
    if (this.heldSince !== undefined && Date.now() - this.heldSince >= READER_BUSY_NOTICE_MS) {
      this.notify({ type: ConsumerDebugEvents.DebugEvent, data: 'reader busy' });
    }
  }

  private notify(s: ConsumerStatus): void {
    for (const l of this.listeners) l.push(s);
  }

  private finish(): void {
    this.done = true;
    clearInterval(this.busyCheck);
    this.busyCheck = undefined;
    this.queue.length = 0;
    for (const l of this.listeners.splice(0)) l.close();
    this.signal();
    this.end();
  }
}

/** An async iterable of pushed statuses that ends once closed. */
class StatusQueue implements AsyncIterable<ConsumerStatus> {
  private readonly items: ConsumerStatus[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(s: ConsumerStatus): void {
    this.items.push(s);
    this.wake?.();
  }

  close(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerStatus> {
    for (;;) {
      const s = this.items.shift();
      if (s !== undefined) {
        yield s;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
