import { randomUUID } from 'node:crypto';
import type { KV, KvEntry } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { readAllKeys } from './kv-read-all.js';
import { KvMirror } from './kv-mirror.js';
import type { ClusterState } from './state-buckets.js';

/** The bucket of protected timestamp records (CockroachDB's `system.protected_ts_records`). */
export const PROTECTED_TS_BUCKET = 'cairn_protected_ts';

/**
 * Who holds a record. A job's record goes when the job ends (succeeded, failed, canceled); a
 * schedule's chained record lives between the runs of a backup schedule and goes when the
 * schedule is dropped.
 */
export type ProtectedTimestampOwner =
  | { readonly kind: 'job'; readonly jobId: string }
  | { readonly kind: 'schedule'; readonly scheduleId: string };

/** A key span; an empty `end` runs to the end of the keyspace. */
export interface KeySpan {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
}

/**
 * A protected timestamp record: while it exists, no replica of its spans garbage-collects a
 * revision that a read at `timestamp` (or later) could need, whatever `gc.ttlseconds` says.
 */
export interface ProtectedTimestampRecord {
  readonly id: string;
  /** MVCC timestamp (nanoseconds since the epoch). */
  readonly timestamp: bigint;
  /** The protected spans, or the whole keyspace. */
  readonly spans: readonly KeySpan[] | 'all';
  readonly owner: ProtectedTimestampOwner;
  /** Wall time (ms) the record was first written. */
  readonly createdAtMs: number;
}

/** What `protect` takes: the id is generated when not given. */
export interface NewProtectedTimestampRecord {
  readonly id?: string;
  readonly timestamp: bigint;
  readonly spans: readonly KeySpan[] | 'all';
  readonly owner: ProtectedTimestampOwner;
}

/** The JSON stored under the record id (timestamps as decimal strings, keys as hex). */
interface StoredRecord {
  id: string;
  timestamp: string;
  spans: Array<{ start: string; end: string }> | 'all';
  owner: ProtectedTimestampOwner;
  createdAtMs: number;
}

/** NATS KV keys allow only these characters; record ids are UUIDs. */
const RECORD_ID = /^[A-Za-z0-9_-]+$/;

async function openBucket(state: ClusterState): Promise<KV> {
  return state.openKv(PROTECTED_TS_BUCKET);
}

function encodeRecord(r: ProtectedTimestampRecord): Uint8Array {
  const stored: StoredRecord = {
    id: r.id,
    timestamp: r.timestamp.toString(),
    spans: r.spans === 'all' ? 'all' : r.spans.map((s) => ({ start: Buffer.from(s.start).toString('hex'), end: Buffer.from(s.end).toString('hex') })),
    owner: r.owner,
    createdAtMs: r.createdAtMs,
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

function decodeRecord(key: string, value: Uint8Array): ProtectedTimestampRecord {
  try {
    const s = JSON.parse(new TextDecoder().decode(value)) as StoredRecord;
    return {
      id: s.id,
      timestamp: BigInt(s.timestamp),
      spans: s.spans === 'all' ? 'all' : s.spans.map((p) => ({ start: unhex(p.start), end: unhex(p.end) })),
      owner: s.owner,
      createdAtMs: s.createdAtMs,
    };
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, `unreadable protected timestamp record ${key}`, { cause: err });
  }
}

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function sameOwner(a: ProtectedTimestampOwner, b: ProtectedTimestampOwner): boolean {
  return a.kind === 'job' ? b.kind === 'job' && a.jobId === b.jobId : b.kind === 'schedule' && a.scheduleId === b.scheduleId;
}

/** `job 123` / `schedule 456`, for messages. */
export function describeOwner(o: ProtectedTimestampOwner): string {
  return o.kind === 'job' ? `job ${o.jobId}` : `schedule ${o.scheduleId}`;
}

function spansOverlap(a: KeySpan, b: KeySpan): boolean {
  const aEndsAfterBStarts = a.end.length === 0 || Buffer.compare(a.end, b.start) > 0;
  const bEndsAfterAStarts = b.end.length === 0 || Buffer.compare(b.end, a.start) > 0;
  return aEndsAfterBStarts && bEndsAfterAStarts;
}

/** Whether `record` protects any key of `span`. */
export function protectsSpan(record: ProtectedTimestampRecord, span: KeySpan): boolean {
  return record.spans === 'all' || record.spans.some((s) => spansOverlap(s, span));
}

/** NATS failures are transient from the caller's point of view: the operation can be retried. */
function unavailable(what: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new CairnError(ErrorCode.Unavailable, `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, retryable: true });
}

/**
 * The protected timestamp records in their NATS KV bucket, as the coordinator leader (their
 * only writer) manages them. Reads go to the bucket itself, so a record just released is not
 * listed any more.
 */
export class ProtectedTimestampStore {
  private constructor(
    private readonly kv: KV,
    private readonly clock: () => number,
  ) {}

  /** Opens (creating when missing) the bucket. `clock` stamps `createdAtMs` (default `Date.now`). */
  static async open(state: ClusterState, options: { clock?: () => number } = {}): Promise<ProtectedTimestampStore> {
    return new ProtectedTimestampStore(await openBucket(state), options.clock ?? Date.now);
  }

  /**
   * Writes a record. Protecting again under the id of an existing record of the same owner
   * returns that record unchanged (a resumed job protects again on every run); an id held by
   * another owner is refused.
   */
  async protect(r: NewProtectedTimestampRecord): Promise<ProtectedTimestampRecord> {
    const id = r.id ?? randomUUID();
    if (!RECORD_ID.test(id)) throw new CairnError(ErrorCode.InvalidArgument, `invalid protected timestamp record id "${id}"`);
    if (r.timestamp < 0n) throw new CairnError(ErrorCode.InvalidArgument, `invalid protected timestamp ${r.timestamp}`);
    const record: ProtectedTimestampRecord = { id, timestamp: r.timestamp, spans: r.spans, owner: r.owner, createdAtMs: this.clock() };
    try {
      await this.kv.create(id, encodeRecord(record));
      return record;
    } catch (err) {
      const existing = await this.get(id);
      if (!existing) throw unavailable(`cannot write protected timestamp record ${id}`, err);
      if (!sameOwner(existing.owner, r.owner)) {
        throw new CairnError(
          ErrorCode.DuplicateObject,
          `protected timestamp record ${id} is held by ${describeOwner(existing.owner)}, not ${describeOwner(r.owner)}`,
        );
      }
      return existing;
    }
  }

  /** The record with `id`, or undefined. */
  async get(id: string): Promise<ProtectedTimestampRecord | undefined> {
    return (await this.getEntry(id))?.record;
  }

  /** Moves a record to `timestamp` (and, when given, to new spans); NotFound when it is gone. */
  async update(id: string, timestamp: bigint, spans?: readonly KeySpan[] | 'all'): Promise<ProtectedTimestampRecord> {
    const entry = await this.getEntry(id);
    if (!entry) throw new CairnError(ErrorCode.NotFound, `protected timestamp record ${id} does not exist`);
    const record: ProtectedTimestampRecord = { ...entry.record, timestamp, spans: spans ?? entry.record.spans };
    try {
      await this.kv.update(id, encodeRecord(record), entry.revision);
    } catch (err) {
      throw unavailable(`cannot update protected timestamp record ${id}`, err);
    }
    return record;
  }

  /** Removes a record; false when there was none (releasing twice is harmless). */
  async release(id: string): Promise<boolean> {
    if (!(await this.getEntry(id))) return false;
    try {
      await this.kv.delete(id);
    } catch (err) {
      throw unavailable(`cannot release protected timestamp record ${id}`, err);
    }
    return true;
  }

  /** Removes every record of `owner`; returns how many there were. */
  async releaseOwnedBy(owner: ProtectedTimestampOwner): Promise<number> {
    let released = 0;
    for (const r of await this.list()) {
      if (sameOwner(r.owner, owner) && (await this.release(r.id))) released++;
    }
    return released;
  }

  /** Every record, oldest timestamp first. */
  async list(): Promise<ProtectedTimestampRecord[]> {
    let all: Map<string, Uint8Array>;
    try {
      all = await readAllKeys(this.kv);
    } catch (err) {
      throw unavailable('cannot read protected timestamp records', err);
    }
    return sortRecords([...all].map(([key, value]) => decodeRecord(key, value)));
  }

  /**
   * The chained record of a backup schedule (CockroachDB's `chained protected timestamp
   * record`): protects `spans` at `timestamp` on behalf of `scheduleId` (the incremental
   * schedule of a full/incremental pair), so the next incremental can read from there even
   * when it runs later than `gc.ttlseconds`. The schedule's existing record is moved (a later
   * incremental moves it forward, a new full replaces it), else one is created. Returns the
   * record id, to store on the schedule.
   */
  async protectScheduleChain(scheduleId: string, timestamp: bigint, spans: readonly KeySpan[] | 'all' = 'all'): Promise<string> {
    const owner: ProtectedTimestampOwner = { kind: 'schedule', scheduleId };
    const existing = (await this.list()).filter((r) => sameOwner(r.owner, owner));
    const [keep, ...extra] = existing;
    // A schedule holds one chained record; more can only be left over from a failover between writes.
    for (const r of extra) await this.release(r.id);
    if (keep) return (await this.update(keep.id, timestamp, spans)).id;
    return (await this.protect({ timestamp, spans, owner })).id;
  }

  /** Releases the chained record of `scheduleId` (DROP SCHEDULE); returns how many were held. */
  async releaseScheduleChain(scheduleId: string): Promise<number> {
    return this.releaseOwnedBy({ kind: 'schedule', scheduleId });
  }

  private async getEntry(id: string): Promise<{ record: ProtectedTimestampRecord; revision: number } | undefined> {
    let e: KvEntry | null;
    try {
      e = await this.kv.get(id);
    } catch (err) {
      throw unavailable(`cannot read protected timestamp record ${id}`, err);
    }
    if (!e || e.operation !== 'PUT') return undefined;
    return { record: decodeRecord(id, e.value), revision: e.revision };
  }
}

function sortRecords(records: ProtectedTimestampRecord[]): ProtectedTimestampRecord[] {
  return records.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id.localeCompare(b.id)));
}

/**
 * Every node's view of the records, kept current by a watch on the bucket: the GC of a
 * replica reads it before each round, without a round trip.
 */
export class ProtectedTimestampCache {
  private constructor(private readonly records: KvMirror<ProtectedTimestampRecord>) {}

  /** Opens the bucket and resolves once the records stored now are loaded. */
  static async watch(state: ClusterState, onError?: (err: unknown) => void): Promise<ProtectedTimestampCache> {
    const kv = await openBucket(state);
    return new ProtectedTimestampCache(await KvMirror.open(state.nc, kv, decodeRecord, onError ? { onError: (err) => onError(err) } : {}));
  }

  /** Every record known here, oldest timestamp first. */
  list(): ProtectedTimestampRecord[] {
    return sortRecords([...this.records.values()]);
  }

  /** The timestamps of the records protecting any key of `span`. */
  timestampsProtecting(span: KeySpan): bigint[] {
    return [...this.records.values()].filter((r) => protectsSpan(r, span)).map((r) => r.timestamp);
  }

  stop(): void {
    this.records.stop();
  }
}
