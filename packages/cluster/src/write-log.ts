import type { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { DeliverPolicy } from 'nats';
import { LogEntry } from '@cairn/proto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { LOG_STREAM, LOG_SUBJECT } from './state-buckets.js';

/** Position of the last entry in the log (0 / 0n when empty). */
export interface LogPosition {
  seq: number;
  timestamp: bigint;
}

export async function readLogTail(jsm: JetStreamManager): Promise<LogPosition> {
  const info = await jsm.streams.info(LOG_STREAM);
  const seq = info.state.last_seq;
  if (seq === 0 || info.state.messages === 0) return { seq, timestamp: 0n };
  const m = await jsm.streams.getMessage(LOG_STREAM, { seq });
  return { seq, timestamp: LogEntry.decode(m.data).timestamp };
}

/** Room left in a message for the headers JetStream adds (expected sequence, message id). */
const ENTRY_HEADER_ALLOWANCE = 1024;

/**
 * The single writer of the replicated log (held by the coordinator leader).
 *
 * Every entry is stamped with a strictly increasing MVCC timestamp and published with the
 * stream's expected last sequence. That check fences a deposed leader: once another writer
 * has appended, every publish of the old one fails, so replicas never see interleaved writers
 * and timestamps stay monotonic along the log. Publishes are pipelined: sequence numbers are
 * predicted, which holds because this is the only writer.
 */
export class LogWriter {
  private lastSeq: number;
  private lastTs: bigint;
  private failed: CairnError | undefined;
  /** Wall time (ms) of the last append: the leader ticks an idle log (see `Leader.maintain`). */
  lastAppendAtMs = Date.now();

  private constructor(
    private readonly js: JetStreamClient,
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
    return new LogWriter(js, await readLogTail(jsm), maxPayloadBytes - ENTRY_HEADER_ALLOWANCE);
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
    const expected = this.lastSeq;
    const seq = ++this.lastSeq;
    this.lastAppendAtMs = Date.now();
    const stored = this.js
      .publish(LOG_SUBJECT, data, { expect: { lastSequence: expected }, timeout: 10_000 })
      .then((ack) => {
        if (ack.seq !== seq) throw new Error(`log sequence ${ack.seq} != expected ${seq}`);
      })
      .catch((err: unknown) => {
        // A failed append leaves a gap in the predicted sequence: the writer is unusable from
        // here on and the leader must step down and reopen.
        this.failed ??= new CairnError(
          ErrorCode.NotLeader,
          `write log append failed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err, retryable: true },
        );
        throw this.failed;
      });
    return { timestamp, seq, stored };
  }

  get broken(): CairnError | undefined {
    return this.failed;
  }
}

/** One decoded log entry with its stream sequence. */
export interface SequencedEntry {
  seq: number;
  entry: LogEntry;
}

/**
 * Reads the log from `fromSeq` on, in order, forever (an ordered consumer: no server-side
 * state to clean up, and it recreates itself after NATS restarts).
 */
export async function* tailLog(js: JetStreamClient, fromSeq: number, signal?: AbortSignal): AsyncGenerator<SequencedEntry> {
  const consumer = await js.consumers.get(LOG_STREAM, {
    opt_start_seq: Math.max(1, fromSeq),
    deliver_policy: DeliverPolicy.StartSequence,
  });
  const messages = await consumer.consume({ max_messages: 256 });
  signal?.addEventListener('abort', () => void messages.close());
  for await (const m of messages as AsyncIterable<JsMsg>) {
    yield { seq: m.seq, entry: LogEntry.decode(m.data) };
  }
}
