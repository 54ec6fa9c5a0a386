import { createInbox, ErrorCode as NatsErrorCode, headers, NatsError, type KV, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { compareAndSet, KV_REQUEST_TIMEOUT_MS } from './jetstream-setup.js';

/** One key to create, with its value. */
export interface KvCreate {
  readonly key: string;
  readonly value: Uint8Array;
}

export interface KvCreatesOptions {
  /** Creates in flight at once (default 1024). */
  readonly window?: number;
  /** Called as each key is stored, with its index in `entries` and its revision. */
  readonly onCreated?: (index: number, revision: number) => void;
}

/** nats.js's KV key rule: what a subject token may hold, dots splitting tokens. */
const KEY_RE = /^[-/=.\w]+$/;
/** How often answers older than the request timeout are looked for. */
const SWEEP_MS = 200;

interface Waiting {
  readonly sentAt: number;
  resolve(revision: number): void;
  reject(err: unknown): void;
}

/**
 * Creates many keys of a KV bucket at once, as `kv.create` would one by one (the bucket's
 * `resilientKv` retry and recognition of a write whose answer was lost included), at a
 * sixth of nats.js's client CPU per create: a burst of 10,000 due schedules is bound by the
 * leader's CPU, and each `kv.create` is a JetStream request with its own reply
 * subscription entry, timer, promise chain and, on success, an Error built to cancel it.
 * Here each create is a plain publish with a shared header and a reply subject under one
 * inbox the batch subscribes to once; a single sweep times out the unanswered ones.
 *
 * `entry(i)` gives the i-th of `count` keys when its turn comes (so the first go out before
 * the last are encoded). Resolves with, per entry in order, the revision stored or the error
 * `kv.create` would have raised (JetStream's "wrong last sequence" when the key exists; a
 * retryable Unavailable CairnError when NATS did not answer within retryNats' budget; an
 * InvalidArgument CairnError for a key KV refuses).
 */
export async function createKvEntries(
  nc: NatsConnection,
  bucket: string,
  kv: KV,
  count: number,
  entry: (i: number) => KvCreate,
  o: KvCreatesOptions = {},
): Promise<Array<number | Error>> {
  const results: Array<number | Error> = new Array(count);
  if (count === 0) return results;
  const pipe = new Pipe(nc, bucket);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        try {
          const { key, value } = entry(i);
          if (!KEY_RE.test(key) || key.startsWith('.') || key.endsWith('.')) throw new CairnError(ErrorCode.InvalidArgument, `invalid key "${key}" for bucket ${bucket}`);
          results[i] = await compareAndSet(kv, (k: unknown, v: unknown) => pipe.create(k as string, v as Uint8Array), [key, value], `cannot create ${bucket}/${key}`);
          o.onCreated?.(i, results[i] as number);
        } catch (err) {
          results[i] = err instanceof Error ? err : new Error(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.window ?? 1024, count) }, worker));
  } finally {
    pipe.close();
  }
  return results;
}

/** Publishes creates with reply subjects under one inbox, and matches the answers to them. */
class Pipe {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly waiting = new Map<number, Waiting>();
  private readonly header: MsgHdrs = headers();
  private readonly timer: NodeJS.Timeout;
  private token = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
  ) {
    // The one header of a KV create, encoded once: nats.js calls its (internal) `encode()` at
    // each publish, 22 ms of a 10,000-create burst's CPU for the same bytes every time. Should
    // a later nats.js not call it, publishes encode the header themselves: slower, still right.
    this.header.set('Nats-Expected-Last-Subject-Sequence', '0');
    const h = this.header as MsgHdrs & { encode?: () => Uint8Array };
    if (typeof h.encode === 'function') {
      const encoded = h.encode();
      h.encode = () => encoded;
    }
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.answer(msg)) });
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  /** One attempt: the stream's sequence of the new message, or the error the answer says. */
  create(key: string, value: Uint8Array): Promise<number> {
    const token = ++this.token;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(token, { sentAt: Date.now(), resolve, reject });
      try {
        this.nc.publish(`$KV.${this.bucket}.${key}`, value, { reply: `${this.inbox}.${token}`, headers: this.header });
      } catch (err) {
        this.waiting.delete(token);
        reject(err);
      }
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
    this.failAll(NatsError.errorForCode(NatsErrorCode.Cancelled));
  }

  private answer(msg: Msg): void {
    const token = Number(msg.subject.slice(this.inbox.length + 1));
    const w = this.waiting.get(token);
    // An answer after its attempt timed out: the retry's answer is the one that counts.
    if (!w) return;
    this.waiting.delete(token);
    // No stream leader listens on the subject (an election): NATS answers 503 at once.
    if (msg.headers?.code === 503) return w.reject(NatsError.errorForCode(NatsErrorCode.NoResponders));
    let ack: { seq?: number; error?: { code?: number; err_code?: number; description?: string } };
    try {
      ack = JSON.parse(new TextDecoder().decode(msg.data)) as typeof ack;
    } catch (err) {
      return w.reject(err);
    }
    // The shape nats.js gives a JetStream API error, which nats-errors reads.
    if (ack.error) return w.reject(Object.assign(new Error(ack.error.description ?? 'JetStream error'), { api_error: ack.error }));
    if (typeof ack.seq !== 'number') return w.reject(new Error(`unexpected answer to a create: ${bodyOf(msg)}`));
    w.resolve(ack.seq);
  }

  private sweep(): void {
    const before = Date.now() - KV_REQUEST_TIMEOUT_MS;
    for (const [token, w] of this.waiting) {
      // Sent in token order, so the rest are younger.
      if (w.sentAt > before) break;
      this.waiting.delete(token);
      w.reject(NatsError.errorForCode(NatsErrorCode.Timeout));
    }
  }

  private failAll(err: unknown): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}

function bodyOf(msg: Msg): string {
  return new TextDecoder().decode(msg.data).slice(0, 200);
}
