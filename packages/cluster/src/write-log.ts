import type { JetStreamClient, JetStreamManager, NatsConnection, PubAck } from 'nats';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogEntry } from '@cairn/proto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { LOG_STREAM, LOG_SUBJECT } from './state-buckets.js';
import { retryNats } from './nats-retry.js';
import { followStream } from './stream-follower.js';
import { JsApiCode, isJsApiError, isTransientNatsError } from './nats-errors.js';

/** Position of the last entry in the log (0 / 0n when empty). */
export interface LogPosition {
  seq: number;
  timestamp: bigint;
}

export async function readLogTail(jsm: JetStreamManager): Promise<LogPosition> {
  return retryNats(
    async () => {
      const info = await jsm.streams.info(LOG_STREAM);
      const seq = info.state.last_seq;
      if (seq === 0 || info.state.messages === 0) return { seq, timestamp: 0n };
      const m = await jsm.streams.getMessage(LOG_STREAM, { seq });
      return { seq, timestamp: LogEntry.decode(m.data).timestamp };
    },
    { what: 'cannot read the end of the write log' },
  );
}

/** Log entries a tail buffers ahead of its reader. */
const LOG_READ_AHEAD = 32;

/** Room left in a message for the headers JetStream adds (expected sequence, message id). */
const ENTRY_HEADER_ALLOWANCE = 1024;

/** An appended entry until JetStream confirms it at its sequence. */
interface PendingEntry {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  /** A publish of it is on the wire. */
  sending: boolean;
  /** A publish of it went unanswered or was refused for now: it must be sent again. */
  unsent: boolean;
}

/** How long the writer keeps re-sending through a NATS failover before it gives up. */
const RECOVERY_BUDGET_MS = 30_000;
/**
 * A publish to a log whose stream leader died goes unanswered until this timeout, and only
 * then is re-sent (to the new leader, with its message id, so a stored one answers as a
 * duplicate): short, so a failover costs about the election. Not much shorter: a large
 * entry on a loaded machine can take a second or two to be stored on the replicas, and each
 * false alarm costs a round of re-sends.
 */
const PUBLISH_TIMEOUT_MS = 3000;

/**
 * The single writer of the replicated log (held by the coordinator leader).
 *
 * Every entry is stamped with a strictly increasing MVCC timestamp and published with the
 * stream's expected last sequence. That check fences a deposed leader: once another writer
 * has appended, every publish of the old one fails, so replicas never see interleaved writers
 * and timestamps stay monotonic along the log. Publishes are pipelined: sequence numbers are
 * predicted, which holds because this is the only writer.
 *
 * When a publish fails for a reason that passes (its NATS server died, the stream is
 * electing a leader), the writer stops sending and, once every publish in flight has settled,
 * sends the unconfirmed entries again one at a time, in order. Each carries a message id, so
 * an entry that was stored after all is answered as a duplicate at its sequence, not stored
 * twice. Only an error that does not pass, another writer's entry in the log, or a failover
 * longer than 30 s breaks the writer.
 */
export class LogWriter {
  private lastSeq: number;
  private lastTs: bigint;
  private failed: CairnError | undefined;
  private signalBroken!: (err: CairnError) => void;
  /** Entries not yet confirmed, in sequence order. */
  private readonly pending: PendingEntry[] = [];
  private recovering: Promise<void> | undefined;
  /** Message ids: this writer's epoch and the entry's sequence. */
  private readonly epoch = randomUUID().slice(0, 8);
  /**
   * Settles (never rejects) with the error that broke the writer. Its owner must then stop
   * writing and start over from the log's real end.
   */
  readonly whenBroken: Promise<CairnError> = new Promise((resolve) => (this.signalBroken = resolve));
  /** Wall time (ms) of the last append: the leader ticks an idle log (see `Leader.maintain`). */
  lastAppendAtMs = Date.now();

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    tail: LogPosition,
    private readonly maxEntryBytes: number,
  ) {
    this.lastSeq = tail.seq;
    this.lastTs = tail.timestamp;
  }

  /**
   * `maxPayloadBytes` is the server's `max_payload` (`nc.info.max_payload`): an entry that
   * cannot fit is refused before it takes a sequence number, so it never breaks the writer.
   */
  static async open(js: JetStreamClient, jsm: JetStreamManager, maxPayloadBytes = Number.POSITIVE_INFINITY): Promise<LogWriter> {
    return new LogWriter(js, jsm, await readLogTail(jsm), maxPayloadBytes - ENTRY_HEADER_ALLOWANCE);
  }

  /** Sequence of the last entry handed to the log (may still be in flight). */
  get assignedSeq(): number {
    return this.lastSeq;
  }

  /** A timestamp above every one assigned so far; readers at it see every prior write. */
  now(): bigint {
    const wall = BigInt(Date.now()) * 1_000_000n;
    this.lastTs = wall > this.lastTs ? wall : this.lastTs + 1n;
    return this.lastTs;
  }

  /**
   * Appends one entry. The timestamp and sequence are assigned synchronously (so callers
   * holding a lock get log order = call order); the returned promise settles when JetStream
   * has stored the entry.
   */
  append(build: (timestamp: bigint) => LogEntry): { timestamp: bigint; seq: number; stored: Promise<void> } {
    if (this.failed) {
      return { timestamp: 0n, seq: 0, stored: Promise.reject(this.failed) };
    }
    const timestamp = this.now();
    const data = LogEntry.encode(build(timestamp)).finish();
    if (data.length > this.maxEntryBytes) {
      const err = new CairnError(
        ErrorCode.InvalidArgument,
        `a statement may write at most ${this.maxEntryBytes} bytes at once (the NATS server's max_payload); this one writes ${data.length}: write fewer rows per statement`,
      );
      return { timestamp, seq: 0, stored: Promise.reject(err) };
    }
    const seq = ++this.lastSeq;
    this.lastAppendAtMs = Date.now();
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const stored = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: PendingEntry = { seq, data, resolve, reject, sending: false, unsent: true };
    this.pending.push(entry);
    // While recovering, the recovery loop sends it in its turn.
    if (!this.recovering) this.send(entry);
    return { timestamp, seq, stored };
  }

  get broken(): CairnError | undefined {
    return this.failed;
  }

  /**
   * Stops writing for good (the leader stepped down): pending appends fail with NOT_LEADER
   * and nothing more is sent, not even a re-send of an entry whose first attempt went
   * unanswered. That entry may still land, but only right behind the entries before it,
   * before any successor has read the log's end: a successor waits out the lease TTL.
   */
  close(): void {
    // Not a breakage: `whenBroken` stays unsettled, so its owner does not react to its own stop.
    this.breakWith(new CairnError(ErrorCode.NotLeader, 'this coordinator is no longer the leader'), false);
  }

  private publish(entry: PendingEntry): Promise<PubAck> {
    return this.js.publish(LOG_SUBJECT, entry.data, {
      expect: { lastSequence: entry.seq - 1 },
      msgID: `${this.epoch}-${entry.seq}`,
      timeout: PUBLISH_TIMEOUT_MS,
    });
  }

  /** Pipelined send: no waiting for the entries before it. */
  private send(entry: PendingEntry): void {
    entry.sending = true;
    entry.unsent = false;
    this.publish(entry).then(
      (ack) => {
        entry.sending = false;
        this.confirm(entry, ack.seq);
      },
      (err: unknown) => {
        entry.sending = false;
        entry.unsent = true;
        if (this.failed) return;
        if (isTransientNatsError(err) || isJsApiError(err, JsApiCode.WrongLastSequence)) {
          // A refusal on sequence while recovery may be re-sending earlier entries is expected:
          // recovery sends this one again after them and judges the answer then.
          this.startRecovery();
        } else {
          this.breakWith(err);
        }
      },
    );
  }

  private confirm(entry: PendingEntry, ackSeq: number): void {
    if (ackSeq !== entry.seq) {
      this.breakWith(new Error(`log sequence ${ackSeq} != expected ${entry.seq}`));
      return;
    }
    const i = this.pending.indexOf(entry);
    if (i >= 0) this.pending.splice(i, 1);
    entry.resolve();
  }

  private startRecovery(): void {
    this.recovering ??= this.recover()
      .catch((err: unknown) => this.breakWith(err))
      .finally(() => {
        this.recovering = undefined;
        // Entries appended after the loop's last look go out now, pipelined again.
        if (!this.failed) for (const e of this.pending) if (e.unsent && !e.sending) this.send(e);
      });
  }

  /**
   * Waits for every publish on the wire to settle, then sends each unconfirmed entry again,
   * one at a time, in order, until none is left (entries appended meanwhile included).
   */
  private async recover(): Promise<void> {
    const deadline = Date.now() + RECOVERY_BUDGET_MS;
    await waitUntil(() => this.pending.every((e) => !e.sending) || this.failed !== undefined);
    while (this.pending.length > 0 && !this.failed) {
      const entry = this.pending[0]!;
      if (!entry.unsent) {
        // Confirmed by its first publish while others failed; nothing to do.
        await waitUntil(() => !this.pending.includes(entry) || this.failed !== undefined);
        continue;
      }
      const ack = await retryNats(
        async () => {
          // Closed or broken meanwhile: stop at once (not retryable, so retryNats gives up).
          if (this.failed) throw new CairnError(ErrorCode.NotLeader, 'write log closed');
          try {
            return (await this.publish(entry)).seq;
          } catch (err) {
            if (!isJsApiError(err, JsApiCode.WrongLastSequence)) throw err;
            // The log moved past our expected sequence: our own entry stored by an attempt
            // whose answer was lost (beyond the duplicate window), or another writer's.
            const stored = await this.jsm.streams.getMessage(LOG_STREAM, { seq: entry.seq }).catch(() => undefined);
            if (stored && Buffer.from(stored.data).equals(entry.data)) return entry.seq;
            // Not retryable here: no repeat can undo another writer's entry (breakWith makes
            // it a retryable NotLeader for the statements waiting on this writer).
            throw new CairnError(ErrorCode.NotLeader, `another writer appended to the log at sequence ${entry.seq}`, { cause: err });
          }
        },
        { what: 'cannot append to the write log', budgetMs: Math.max(1000, deadline - Date.now()) },
      );
      entry.unsent = false;
      this.confirm(entry, ack);
    }
  }

  private breakWith(err: unknown, signal = true): void {
    if (!this.failed) {
      // Retryable for the statements that wrote: they succeed once a leader has a new writer.
      this.failed = new CairnError(ErrorCode.NotLeader, `write log append failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        retryable: true,
      });
      if (signal) this.signalBroken(this.failed);
    }
    for (const e of this.pending.splice(0)) e.reject(this.failed);
  }
}

/** Polls `done` every 20 ms (publishes settle in milliseconds to a few seconds). */
async function waitUntil(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

/** One decoded log entry with its stream sequence. */
export interface SequencedEntry {
  seq: number;
  entry: LogEntry;
}

/**
 * Reads the log from `fromSeq` on, in order, until `signal` aborts, through NATS server
 * failures (see `followStream`): never skipping or repeating an entry.
 */
export async function* tailLog(nc: NatsConnection, js: JetStreamClient, fromSeq: number, signal?: AbortSignal): AsyncGenerator<SequencedEntry> {
  // A bounded read-ahead: a load's entries are up to a few hundred kB each, and 256 of them
  // buffered per follower (the default) would be the largest thing in a replica's memory.
  for await (const m of followStream(nc, js, LOG_STREAM, { fromSeq: Math.max(1, fromSeq), maxMessages: LOG_READ_AHEAD, ...(signal ? { signal } : {}) })) {
    yield { seq: m.seq, entry: LogEntry.decode(m.data) };
  }
}
