import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { headers } from 'nats';
import { WriteBatch, type IngestRef, type KeyValueOp } from '@cairn/proto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { ensureStream } from './jetstream-setup.js';
import { retryNats } from './nats-retry.js';
import type { LocalStagedBatches } from './local-staged-batches.js';
import { followStream } from './stream-follower.js';

/**
 * Restored rows staged for replicas to load, outside the write log: a restore processor
 * publishes its rows here under a subject of its own, then has the leader log a small
 * `IngestRef` naming the subject. The data never passes through the leader.
 */
export const INGEST_STREAM = 'CAIRN_INGEST';
/** The leader appends an `IngestRef` sent here to the log and answers once it is stored. */
export const LEADER_INGEST_REF_SUBJECT = 'cairn.leader.ingest-ref';
/**
 * How long staged rows stay at most. The leader purges a subject as soon as every node has
 * applied its entry; this only bounds what a leader failover leaves behind. A replica that
 * applies the entry later finds the rows gone and copies the span from another replica.
 */
const INGEST_MAX_AGE_NS = 24 * 3600 * 1e9;
/** Staged publishes in flight per processor: reading and decoding overlap the publishes. */
const STAGE_IN_FLIGHT = 4;

/** The subject of one attempt at one restore item: a retried attempt never mixes with an earlier one. */
export function ingestSubject(jobId: string, itemId: string, attempt: number): string {
  return `cairn.ingest.${jobId}.${itemId.replace(/[.*> ]/g, '_')}.${attempt}`;
}

export async function ensureIngestStream(jsm: JetStreamManager, replicas: number): Promise<void> {
  await ensureStream(jsm, {
    name: INGEST_STREAM,
    subjects: ['cairn.ingest.>'],
    num_replicas: replicas,
    max_age: INGEST_MAX_AGE_NS,
    max_msg_size: 8 * 1024 * 1024,
  });
}

/**
 * Publishes one restore item's rows, a batch per message, a few in flight. `finish` waits for
 * every publish and returns how many messages the subject holds.
 */
export class IngestStager {
  private messages = 0;
  private readonly inFlight: Promise<unknown>[] = [];

  constructor(
    private readonly js: JetStreamClient,
    readonly subject: string,
    /** Where this process's own replica finds the batches without reading the stream. */
    private readonly here?: LocalStagedBatches,
  ) {}

  async add(ops: KeyValueOp[]): Promise<void> {
    const n = ++this.messages;
    const h = headers();
    // A re-sent publish (NATS failover) is dropped as a duplicate instead of staged twice.
    h.set('Nats-Msg-Id', `${this.subject}/${n}`);
    const data = encodeStagedBatch(ops);
    this.here?.keep(this.subject, data);
    const p = retryNats(() => this.js.publish(this.subject, data, { headers: h }), { what: `cannot stage restored rows on ${this.subject}` });
    p.catch(() => undefined);
    this.inFlight.push(p);
    if (this.inFlight.length >= STAGE_IN_FLIGHT) await this.inFlight.shift();
  }

  async finish(): Promise<number> {
    try {
      await Promise.all(this.inFlight.splice(0));
    } catch (err) {
      this.here?.drop(this.subject);
      throw err;
    }
    this.here?.seal(this.subject);
    return this.messages;
  }
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Bytes of one KeyValueOp's encoding (field 1 key unless empty, field 2 value unless absent). */
function opLength(op: KeyValueOp): number {
  let n = 0;
  if (op.key.length > 0) n += 1 + varintLength(op.key.length) + op.key.length;
  if (op.value !== undefined) n += 1 + varintLength(op.value.length) + op.value.length;
  return n;
}

/**
 * `WriteBatch.encode({ ops })`'s bytes, written once into a buffer of their exact size. The
 * generated encoder forks a writer per op and grows its buffer by doubling (each growth a copy
 * of everything so far): a quarter-megabyte batch of restored rows cost four copies of its
 * values and as much garbage.
 */
export function encodeStagedBatch(ops: readonly KeyValueOp[]): Uint8Array {
  let size = 0;
  for (const op of ops) {
    const n = opLength(op);
    size += 1 + varintLength(n) + n;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const op of ops) {
    out[at++] = 0x0a; // WriteBatch.ops, length-delimited
    at = writeVarint(out, at, opLength(op));
    if (op.key.length > 0) {
      out[at++] = 0x0a; // KeyValueOp.key
      at = writeVarint(out, at, op.key.length);
      out.set(op.key, at);
      at += op.key.length;
    }
    if (op.value !== undefined) {
      out[at++] = 0x12; // KeyValueOp.value
      at = writeVarint(out, at, op.value.length);
      out.set(op.value, at);
      at += op.value.length;
    }
  }
  return out;
}

/** Messages the stream holds on `subject` (0 once purged or expired). */
export async function stagedMessages(jsm: JetStreamManager, subject: string): Promise<number> {
  return retryNats(
    async () => {
      const info = await jsm.streams.info(INGEST_STREAM, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    },
    { what: `cannot look up staged rows on ${subject}` },
  );
}

/**
 * The staged batches of `ref`, in order, exactly `ref.messages` of them: from `here` when this
 * process staged them and still keeps them all, else from the stream. Throws a NotFound
 * CairnError when the stream holds fewer (purged or expired), so the caller copies instead.
 */
export async function* readStaged(
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  ref: IngestRef,
  signal?: AbortSignal,
  here?: LocalStagedBatches,
): AsyncGenerator<KeyValueOp[]> {
  const kept = here?.take(ref.subject, ref.messages);
  if (kept !== undefined) {
    for (const data of kept) yield WriteBatch.decode(data).ops;
    return;
  }
  const held = await stagedMessages(jsm, ref.subject);
  if (held < ref.messages) {
    throw new CairnError(ErrorCode.NotFound, `staged rows on ${ref.subject} are gone (${held} of ${ref.messages} messages)`);
  }
  if (ref.messages === 0) return;
  let n = 0;
  // A small read-ahead (batches are ~256 kB): the replica's memory stays bounded.
  for await (const m of followStream(nc, js, INGEST_STREAM, { filterSubjects: ref.subject, maxMessages: 8, ...(signal ? { signal } : {}) })) {
    yield WriteBatch.decode(m.data).ops;
    if (++n >= ref.messages) return;
  }
  // The follower only ends early when told to stop: the rows are not all loaded.
  throw new CairnError(ErrorCode.Canceled, `stopped reading staged rows on ${ref.subject} after ${n} of ${ref.messages} messages`);
}

/** Removes staged rows (their entry is applied everywhere, or their job is gone). */
export async function purgeStaged(jsm: JetStreamManager, subject: string): Promise<void> {
  await retryNats(() => jsm.streams.purge(INGEST_STREAM, { filter: subject }), { what: `cannot purge staged rows on ${subject}` });
}

