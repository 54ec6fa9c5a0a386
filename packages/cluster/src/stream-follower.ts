import type { ConsumerMessages, JetStreamClient, JsMsg, NatsConnection } from 'nats';
import { ConsumerDebugEvents, ConsumerEvents, DeliverPolicy } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { boundedConsume } from './bounded-consume.js';
import { CONSUME_EXPIRES_MS } from './jetstream-setup.js';
import { watchConnection } from './nats-connection.js';
import { JsApiCode, isJsApiError } from './nats-errors.js';

export interface FollowOptions {
  /** Only messages on these subjects. */
  filterSubjects?: string | string[];
  /** First stream sequence to deliver (default: the first message of the stream). */
  fromSeq?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Messages the client buffers ahead of the reader (default 256): what bounds its memory. */
  maxMessages?: number;
}

/**
 * A consumer that neither delivered nor answered a pull for this long is presumed lost. Not
 * shorter: on a starved machine a live consumer's answers come late, and restarting it over
 * and over would stall the reader for real. A lost server is noticed sooner, by reconnect,
 * and a consumer lost with its server (while this connection's server lives) by its missed
 * heartbeats.
 */
const STALL_MS = Math.max(10_000, 2.5 * CONSUME_EXPIRES_MS);

/**
 * How long setting up a consumer may take before the attempt starts over: short, so that a
 * follower whose stream was electing a leader asks the new one soon after the election
 * (nats.js's own set-up retries back off and can hang; an election takes 4-9 s). After
 * SETUP_STALLS_BEFORE_BACKOFF stalls in a row, longer than an election, the window doubles
 * with each further one, so that a machine too loaded to set one up that fast still gets there.
 */
const SETUP_STALL_MIN_MS = 2500;
const SETUP_STALL_MAX_MS = 20_000;
const SETUP_STALLS_BEFORE_BACKOFF = 4;

/**
 * The server sends an idle heartbeat every half pull period; after this many missed in a
 * row (3 s with the 2 s pulls) the consumer is presumed gone with the server that held it,
 * typically the stream's old leader. nats.js would try to re-create it in place, which can
 * hang; starting over from the next sequence does not.
 */
const MISSED_HEARTBEATS_TO_RESTART = 3;

/**
 * Every message of `stream` from `fromSeq` on, in order, each once, until `signal` aborts,
 * through the loss of the NATS server the connection is on.
 *
 * It reads with an ordered consumer (no server-side state to clean up). nats.js re-creates
 * an ordered consumer by itself in most failures, but not all: seen here, a consumer left on
 * a killed server stalls with no error and no event. So the follower starts over from the
 * message after the last one it delivered whenever the connection reconnects to another
 * server, when the consumer stalls (no message and no pull answered for 2.5 pull periods),
 * or when reading fails; it never skips or repeats a message.
 */
export async function* followStream(nc: NatsConnection, js: JetStreamClient, stream: string, o: FollowOptions = {}): AsyncGenerator<JsMsg> {
  let next = Math.max(0, o.fromSeq ?? 0);
  const signal = o.signal;
  let setupStalls = 0;
  while (!signal?.aborted) {
    // One attempt: ends on a reconnect, a stall, or the caller's signal, also while nats.js is
    // still setting the consumer up (it retries that internally and can hang there).
    const attempt = new AbortController();
    let messages: ConsumerMessages | undefined;
    const restart = () => {
      attempt.abort();
      void messages?.close().catch(() => undefined);
    };
    signal?.addEventListener('abort', restart, { once: true });
    const stopWatching = watchConnection(nc, (change) => change === 'reconnect' && restart());
    let lastActivity = Date.now();
    const stallCheck = setInterval(() => {
      // Setting the consumer up is a couple of requests: one that has not finished in a few
      // of their timeouts is stuck on a stream that changed leader, and a fresh attempt asks
      // the new one.
      const setupStallMs = Math.min(SETUP_STALL_MAX_MS, SETUP_STALL_MIN_MS * 2 ** Math.max(0, setupStalls - SETUP_STALLS_BEFORE_BACKOFF + 1));
      if (messages === undefined && Date.now() - lastActivity > setupStallMs) {
        setupStalls++;
        restart();
      } else if (messages !== undefined && Date.now() - lastActivity > STALL_MS) restart();
    }, 500);
    try {
      const consumer = await abortable(
        js.consumers.get(stream, {
          ...(o.filterSubjects !== undefined ? { filterSubjects: o.filterSubjects } : {}),
          ...(next > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next } : {}),
        }),
        attempt.signal,
      );
      const pending = boundedConsume(consumer, { max_messages: o.maxMessages ?? 256, expires: CONSUME_EXPIRES_MS });
      // Should the attempt end while nats.js still sets up, close what it sets up late.
      pending.then((m) => attempt.signal.aborted && void m.close().catch(() => undefined)).catch(() => undefined);
      messages = await abortable(pending, attempt.signal);
      setupStalls = 0;
      const live = messages;
      void (async () => {
        for await (const s of await live.status()) {
          if (s.type === ConsumerEvents.HeartbeatsMissed && typeof s.data === 'number' && s.data >= MISSED_HEARTBEATS_TO_RESTART) restart();
          else if (s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.ConsumerNotFound) restart();
          // A pull the server answered (expired, or an error status) shows it alive even when
          // idle; "next" is this client's own pull going out, and proves nothing.
          else if (s.type === ConsumerDebugEvents.Discard || s.type === ConsumerDebugEvents.DebugEvent) lastActivity = Date.now();
        }
      })().catch(() => undefined);
      for await (const m of live as AsyncIterable<JsMsg>) {
        lastActivity = Date.now();
        if (m.seq < next) continue;
        next = m.seq + 1;
        yield m;
      }
    } catch (err) {
      // A deleted stream cannot come back; anything else (a timeout, no responders, a
      // consumer lost with its server, an attempt ended above) passes once NATS has moved
      // the stream's leadership.
      if (isJsApiError(err, JsApiCode.StreamNotFound)) throw err;
    } finally {
      clearInterval(stallCheck);
      stopWatching();
      signal?.removeEventListener('abort', restart);
      void messages?.close().catch(() => undefined);
    }
    if (!signal?.aborted) await sleep(100);
  }
}

/** `p`, or a rejection as soon as `signal` aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('attempt ended'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('attempt ended'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
