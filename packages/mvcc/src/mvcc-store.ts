import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type DatabaseOptions, type RootDatabase } from 'lmdb';
import { CairnError, ErrorCode } from '@cairn/errors';
import { formatTimestamp, spanContains, spansOverlap, type MvccRevision, type RevisionSlot, type Span, type Timestamp } from '@cairn/keys';
import { GcThresholds, belowGcThresholdError } from './gc-thresholds.js';
import {
  MVCC_TS_LEN,
  TOMBSTONE_FLAG,
  checkPrefixLength,
  decodeUserKey,
  encodeMvccKey,
  malformedKeyError,
  encodeRevisionPrefix,
  mvccKeyTs,
  revisionKey,
} from './mvcc-key.js';
import { putAppending, sortsAfterLast, strictlyAscending } from './append-puts.js';
import { PutScratch, storedValueSize } from './put-scratch.js';
import { RangeStats, StatsAccumulator, type SpanStats } from './range-stats.js';
import { RawRevisionCursor, openRawDataHandle } from './raw-revision-cursor.js';
import { RevisionCursor, sameUserKey } from './revision-cursor.js';
import { isSpanMarker, readSpanMarker, spanMarkerKey, spanMinus, widenedMarkerValue } from './span-markers.js';
import { ChangeWindow, ChangeWindows, type ChangedKey } from './change-windows.js';

export type { MvccRevision, RevisionSlot };

export type { SpanStats } from './range-stats.js';

/** One write of a batch; a null value writes a tombstone (delete). */
export interface MvccOp {
  key: Uint8Array;
  value: Uint8Array | null;
}

/** A live row as seen by a read at some timestamp. */
export interface MvccRow {
  key: Uint8Array;
  value: Uint8Array;
  /** The timestamp of the revision that was read. */
  ts: Timestamp;
}

export interface MvccStoreOptions {
  /** LMDB map size in bytes (the most the store can grow to). Default 64 GiB. */
  mapSize?: number;
}

const DEFAULT_MAP_SIZE = 64 * 1024 ** 3;
const DEFAULT_INGEST_BATCH = 1000;
const GC_DELETE_BATCH = 1000;
/** Meta names with this prefix belong to the store itself. */
const RESERVED_META_PREFIX = 'mvcc.';
const GC_THRESHOLDS_META = 'mvcc.gc-thresholds';
/** Set once the change index covers every revision in the store. */
const CHANGE_INDEX_META = 'mvcc.change-index';
/**
 * An incremental export collects the changed revisions of its span before reading them; past
 * this many it reads the span in full instead, so memory stays bounded whatever the window
 * holds.
 */
const CHANGED_KEYS_LIMIT = 100_000;
const CHANGE_ENTRY_VALUE = Buffer.of(1);
const UINT64_MAX = (1n << 64n) - 1n;

type Bin = Database<Buffer, Buffer>;

/**
 * Reads a `data` revision as its size, negative for a tombstone, straight from LMDB's shared
 * read buffer (decoderCopies): counting a span (spanStats, a split's pieces, split keys) then
 * copies no value. Read as binary, each value was its own malloc'd buffer, garbage at once:
 * 200 MB of 1 KB rows took 850 ms to count, 220 ms this way.
 */
const VALUE_SIZE_CODEC = {
  encode(): never {
    throw new CairnError(ErrorCode.Internal, 'the value-size view of the data is read-only');
  },
  decode(bytes: Uint8Array, size: number): number {
    return bytes[0] === TOMBSTONE_FLAG ? -size : size;
  },
  needsStableBuffer: false,
};

/**
 * The size of a value handed to a `decoderCopies` codec: range reads pass it, `get` passes
 * its options instead and sets the shared buffer's `length` to the value's size.
 */
function valueSize(bytes: Buffer, size: unknown): number {
  return typeof size === 'number' ? size : bytes.length;
}

/**
 * Reads a `data` value as a copy in Node's shared buffer pool (decoderCopies: the decoder is
 * handed LMDB's read buffer and copies what it keeps). lmdb-js's own copy of a binary value
 * is a fresh ArrayBuffer per value, each its own malloc'd backing store that only a full GC
 * frees: exporting 1 GiB, a node spent a fifth of its time collecting them. Pooled copies of
 * values under 4 KiB share 8 KiB slabs instead. The values are ordinary, stable Buffers.
 */
const VALUE_POOLED_CODEC = {
  encode(): never {
    throw new CairnError(ErrorCode.Internal, 'the pooled view of the data is read-only');
  },
  decode(bytes: Buffer, size: unknown): Buffer {
    return Buffer.from(bytes.subarray(0, valueSize(bytes, size)));
  },
  needsStableBuffer: false,
};

/**
 * Reads a `data` value as a view of LMDB's read buffer, which the next read on this thread
 * overwrites: for an export whose consumer copies each value before it asks for the next (a
 * data file writer). Even pooled copies of every value exported made a node's concurrent
 * marker run all through a backup (their slabs are external memory V8 counts towards its next
 * full collection): the in-process export of 255 MB through a data file took 2.5-2.7 CPU-s
 * with pooled copies, 1.3-1.4 with views.
 */
const VALUE_VIEW_CODEC = {
  encode(): never {
    throw new CairnError(ErrorCode.Internal, 'the transient view of the data is read-only');
  },
  decode(bytes: Buffer, size: unknown): Buffer {
    return bytes.subarray(0, valueSize(bytes, size));
  },
  needsStableBuffer: false,
};

function metaKey(name: string): Buffer {
  return Buffer.from(name, 'utf8');
}

function checkMetaName(name: string): void {
  if (name.length === 0 || name.startsWith(RESERVED_META_PREFIX)) {
    throw new CairnError(ErrorCode.InvalidArgument, `meta name ${JSON.stringify(name)} is empty or reserved`);
  }
}


function spanStart(span: Span): Buffer {
  return encodeRevisionPrefix(span.start);
}

function spanEnd(span: Span): Buffer | undefined {
  return span.end.length === 0 ? undefined : encodeRevisionPrefix(span.end);
}

/**
 * A change index key: the revision's timestamp (big-endian, so entries sort oldest first)
 * then the key's revision prefix. One per stored revision with a timestamp above the GC
 * threshold; what an incremental backup reads instead of every key of its span.
 */
function changeKey(ts: Timestamp, revisionPrefix: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(MVCC_TS_LEN + revisionPrefix.length);
  k.writeBigUInt64BE(ts, 0);
  k.set(revisionPrefix, MVCC_TS_LEN);
  return k;
}

function tsBound(ts: Timestamp): Buffer {
  const k = Buffer.allocUnsafe(MVCC_TS_LEN);
  k.writeBigUInt64BE(ts, 0);
  return k;
}

function inSpan(prefix: Buffer, start: Buffer, end: Buffer | undefined): boolean {
  return Buffer.compare(prefix, start) >= 0 && (end === undefined || Buffer.compare(prefix, end) < 0);
}

function inAnySpan(spans: readonly Span[], key: Uint8Array): boolean {
  for (const span of spans) if (spanContains(span, key)) return true;
  return false;
}

/** The value bytes after the flag byte, as a plain Uint8Array view (lmdb hands out copies). */
function payload(value: Buffer): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset + 1, value.length - 1);
}

const EMPTY = new Uint8Array(0);

function newSlot(): RevisionSlot {
  return { key: new Uint8Array(64), keyLength: 0, ts: 0n, hasValue: false, value: EMPTY, valueStart: 0, valueEnd: 0 };
}

/**
 * Revisions handed out one at a time through one reused slot, as `exportRevisionSlots`
 * hands out its own: for a consumer written against slots (a data file writer's
 * `writeSlot`) reading revisions that are objects already (an incremental's, a donor's).
 */
export function* revisionsInSlot(revisions: Iterable<MvccRevision>): Generator<RevisionSlot, void, undefined> {
  const slot = newSlot();
  for (const r of revisions) {
    slot.key = r.key;
    slot.keyLength = r.key.length;
    slot.ts = r.ts;
    slot.hasValue = r.value !== null;
    slot.value = r.value ?? EMPTY;
    slot.valueStart = 0;
    slot.valueEnd = r.value?.length ?? 0;
    yield slot;
  }
}

/**
 * Decodes the user key of the revision prefix `prefix[0, prefixLength)` (escaped key and
 * terminator, see mvcc-key.ts) into the slot's key buffer, grown when too short.
 */
function unescapeUserKey(slot: RevisionSlot, prefix: Uint8Array, prefixLength: number): void {
  const termAt = prefixLength - 2;
  if (termAt < 0 || prefix[termAt] !== 0 || prefix[termAt + 1] !== 1) throw malformedKeyError(prefix.subarray(0, prefixLength));
  if (slot.key.length < termAt) slot.key = new Uint8Array(Math.max(termAt, slot.key.length * 2));
  const out = slot.key;
  let n = 0;
  for (let i = 0; i < termAt; i++) {
    const c = prefix[i] as number;
    out[n++] = c;
    if (c === 0) {
      if (prefix[i + 1] !== 0xff) throw malformedKeyError(prefix.subarray(0, prefixLength));
      i++;
    }
  }
  slot.keyLength = n;
}

function isTombstone(value: Buffer): boolean {
  return value[0] === TOMBSTONE_FLAG;
}

/**
 * A node's MVCC key-value store on LMDB: every write carries a timestamp, deletes are
 * tombstones, and reads happen at a timestamp. One LMDB environment per store directory, with
 * a `data` sub-database of MVCC revisions and a `meta` sub-database of store metadata (such
 * as each replica's applied log position), so both can change in one transaction. A
 * `changes` sub-database indexes every revision by timestamp (see `changeKey`), written in
 * the same transactions as the data, so incremental exports find changed keys without
 * scanning their spans (CockroachDB gets the same from time-bound iteration over SSTs). A bulk
 * load (`applyBulkBatch`) indexes its rows by span markers instead (see span-markers.ts).
 */
export class MvccStore {
  private gcThresholds: GcThresholds;
  /** Where each put's stored value and change index key are assembled (see PutScratch). */
  private readonly scratch = new PutScratch();
  /** Incremental export windows read once for all their spans (see change-windows.ts). */
  private readonly changeWindows = new ChangeWindows();
  /**
   * Key and byte counts per tracked span (the node's ranges), kept as writes apply: every
   * transaction that puts to `data` calls `stats.notePuts` first, and removals go through
   * `stats.removeRevisions`, or the counters stop agreeing with `spanStats`.
   */
  private readonly stats: RangeStats;

  private constructor(
    /** The store directory. */
    readonly dir: string,
    private readonly root: RootDatabase<Buffer, Buffer>,
    private readonly data: Bin,
    private readonly meta: Bin,
    private readonly changes: Bin,
    /** `data` read as value sizes (VALUE_SIZE_CODEC). */
    private readonly dataSizes: Database<number, Buffer>,
    /** `data` read with pooled copies of values (VALUE_POOLED_CODEC), for scans and exports. */
    private readonly dataPooled: Bin,
    /** `data` read as views of LMDB's read buffer (VALUE_VIEW_CODEC), for exports with `transientValues`. */
    private readonly dataTransient: Bin,
    /** `data` read as lengths in lmdb-js's buffers, no object per entry (openRawDataHandle), for `exportRevisionSlots`. */
    private readonly dataRaw: ReturnType<typeof openRawDataHandle>,
  ) {
    this.gcThresholds = GcThresholds.decode(meta.get(metaKey(GC_THRESHOLDS_META)));
    this.stats = new RangeStats(root, data, dataSizes, meta);
  }

  /** Opens (creating if needed) the store in `dir`. */
  static async open(dir: string, opts: MvccStoreOptions = {}): Promise<MvccStore> {
    await mkdir(dir, { recursive: true });
    try {
      const root = open<Buffer, Buffer>({
        path: join(dir, 'mvcc.mdb'),
        keyEncoding: 'binary',
        encoding: 'binary',
        mapSize: opts.mapSize ?? DEFAULT_MAP_SIZE,
        maxDbs: 4,
      });
      const data = root.openDB<Buffer, Buffer>('data', { keyEncoding: 'binary', encoding: 'binary' });
      const meta = root.openDB<Buffer, Buffer>('meta', { keyEncoding: 'binary', encoding: 'binary' });
      const changes = root.openDB<Buffer, Buffer>('changes', { keyEncoding: 'binary', encoding: 'binary' });
      // lmdb-js takes an `encoder` per database (its types list it on root options only).
      const dataSizes = root.openDB<number, Buffer>('data', { keyEncoding: 'binary', encoder: VALUE_SIZE_CODEC } as DatabaseOptions);
      const dataPooled = root.openDB<Buffer, Buffer>('data', { keyEncoding: 'binary', encoder: VALUE_POOLED_CODEC } as DatabaseOptions);
      const dataTransient = root.openDB<Buffer, Buffer>('data', { keyEncoding: 'binary', encoder: VALUE_VIEW_CODEC } as DatabaseOptions);
      const dataRaw = openRawDataHandle(root, 'data');
      const store = new MvccStore(dir, root, data, meta, changes, dataSizes, dataPooled, dataTransient, dataRaw);
      await store.buildChangeIndex();
      if (!store.stats.load()) await store.stats.build();
      return store;
    } catch (err) {
      throw new CairnError(ErrorCode.Unavailable, `cannot open MVCC store in ${dir}: ${String(err)}`, { cause: err });
    }
  }

  /**
   * A store written before the change index existed gets one from its data, once, so an
   * incremental never misses a revision the index does not know.
   */
  private async buildChangeIndex(): Promise<void> {
    if (this.meta.get(metaKey(CHANGE_INDEX_META)) !== undefined) return;
    let batch: Buffer[] = [];
    const flush = async () => {
      const ks = batch;
      batch = [];
      await this.root.transaction(() => {
        for (const k of ks) this.changes.put(k, CHANGE_ENTRY_VALUE);
      });
    };
    for (const k of this.data.getKeys({})) {
      batch.push(changeKey(mvccKeyTs(k), k.subarray(0, k.length - MVCC_TS_LEN)));
      if (batch.length >= GC_DELETE_BATCH) await flush();
    }
    await flush();
    await this.root.transaction(() => this.meta.put(metaKey(CHANGE_INDEX_META), Buffer.of(1)));
  }

  /** Waits for pending writes and closes the environment. */
  async close(): Promise<void> {
    this.changeWindows.clear();
    await this.root.close();
  }

  /**
   * Writes `ops` at `ts`, and the `meta` entries, in one LMDB transaction: after a crash
   * either all of it is there or none (the replica apply loop stores its applied log
   * position in `meta` for exactly this reason). Later ops on the same key win. Writes are
   * not checked against the GC threshold, so replicas applying the same log stay identical.
   */
  async applyBatch(ops: ReadonlyArray<MvccOp>, ts: Timestamp, meta?: Record<string, Uint8Array>): Promise<void> {
    await this.writeBatch(ops, ts, meta, undefined);
  }

  /**
   * Writes `ops` at `ts` as `applyBatch` does, for a bulk load in many batches at one
   * timestamp whose rows all lie in `spans` (a restore's ingest): the change index gets a
   * marker per span (see span-markers.ts) instead of an entry per row, so an incremental whose
   * window holds `ts` reads those spans in full. Each batch puts the markers again (the same
   * entries), in its own transaction, so they are committed whenever any row they cover is.
   * A key outside `spans` (a caller's mistake) gets its own entry, so no export misses it.
   * A batch in key order past every key held is appended (LMDB's MDB_APPEND: full pages).
   */
  async applyBulkBatch(ops: ReadonlyArray<MvccOp>, ts: Timestamp, spans: readonly Span[]): Promise<void> {
    await this.writeBatch(ops, ts, undefined, spans);
  }

  /** `applyBatch`, or with `markers` `applyBulkBatch`: the change index gets those instead of a key per op. */
  private async writeBatch(
    ops: ReadonlyArray<MvccOp>,
    ts: Timestamp,
    meta: Record<string, Uint8Array> | undefined,
    markers: readonly Span[] | undefined,
  ): Promise<void> {
    // Keys are encoded outside the write transaction to keep the write lock short; values are
    // copied into their stored form only as each is put (PutScratch), not held as copies.
    const tsKey = encodeMvccKey(new Uint8Array(0), ts);
    const tsBytes = tsKey.subarray(tsKey.length - MVCC_TS_LEN);
    const keys = new Array<Buffer>(ops.length);
    const sizes = new Array<number>(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as MvccOp;
      const prefix = encodeRevisionPrefix(op.key);
      checkPrefixLength(prefix.length, op.key);
      const k = Buffer.allocUnsafe(prefix.length + MVCC_TS_LEN);
      prefix.copy(k, 0);
      tsBytes.copy(k, prefix.length);
      keys[i] = k;
      sizes[i] = storedValueSize(op.value);
    }
    const metaEntries: Array<[Buffer, Buffer]> = [];
    for (const [name, value] of Object.entries(meta ?? {})) {
      checkMetaName(name);
      metaEntries.push([metaKey(name), Buffer.from(value)]);
    }
    // A bulk batch in key order past every key held (a restore into a new table, when its
    // items' entries come in key order: about half of them in a 3-node restore) is appended,
    // which fills the pages instead of splitting them (see append-puts.ts).
    const mayAppend = markers !== undefined && keys.length > 1 && strictlyAscending(keys);
    await this.root.transaction(() => {
      this.stats.notePuts(keys, sizes);
      let appending = mayAppend && sortsAfterLast(this.data, keys[0] as Buffer);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as Buffer;
        const op = ops[i] as MvccOp;
        const value = this.scratch.storedValue(op.value);
        // A refused append wrote nothing: that key and the rest go in the ordinary way.
        if (appending) appending = putAppending(this.data, k, value);
        if (!appending) this.data.put(k, value);
        if (markers === undefined || !inAnySpan(markers, op.key)) this.changes.put(this.scratch.changeKey(ts, k), CHANGE_ENTRY_VALUE);
      }
      for (const span of markers ?? []) this.putSpanMarker(ts, span);
      for (const [k, v] of metaEntries) this.meta.put(k, v);
    }).finally(() => this.changeWindows.written(ts));
  }

  /**
   * Brings the pages where the revisions of `keys` are into memory on a worker thread (lmdb-js
   * `prefetch`), so that reads of them right after do not wait on the disk on the main thread:
   * in a store larger than the page cache each point read is a page fault, and one after
   * another they held the main thread for milliseconds each. A hint only: it reads nothing.
   */
  async prefetch(keys: readonly Uint8Array[]): Promise<void> {
    if (keys.length === 0) return;
    // A key's revision prefix sorts before all its revisions: the search for it walks to the
    // leaf page holding the newest one (found or not, the pages on the way are read).
    await this.data.prefetch(keys.map((k) => encodeRevisionPrefix(k)));
  }

  /** The value of `key` as of `ts`: its newest revision at or below `ts`, unless a tombstone. */
  get(key: Uint8Array, ts: Timestamp): Uint8Array | undefined {
    // [key, key 0x00) holds exactly this key.
    const pointEnd = new Uint8Array(key.length + 1);
    pointEnd.set(key);
    this.checkReadTs({ start: key, end: pointEnd }, ts);
    const start = encodeMvccKey(key, ts);
    const end = Buffer.from(start.subarray(0, start.length - MVCC_TS_LEN));
    end[end.length - 1] = 0x02;
    for (const { value } of this.data.getRange({ start, end, limit: 1 })) {
      return isTombstone(value) ? undefined : payload(value);
    }
    return undefined;
  }

  /**
   * The live rows of `span` as of `ts`, in key order, streamed from one LMDB snapshot.
   * Revisions newer than `ts` and older than the visible one are skipped by seeking.
   */
  scan(span: Span, ts: Timestamp, opts: { limit?: number } = {}): Generator<MvccRow, void, undefined> {
    // Checked here rather than in the generator so a refused read throws at the call.
    this.checkReadTs(span, ts);
    return this.scanRows(span, ts, opts.limit ?? Infinity);
  }

  private *scanRows(span: Span, ts: Timestamp, limit: number): Generator<MvccRow, void, undefined> {
    if (limit <= 0) return;
    let n = 0;
    const txn = this.root.useReadTransaction();
    const cur = new RevisionCursor(this.dataPooled, txn, spanStart(span), spanEnd(span));
    try {
      // Start at the first revision of the first key that a read at ts can see.
      while (cur.valid) {
        const revTs = mvccKeyTs(cur.key);
        if (revTs > ts) {
          cur.skipNewerThan(ts);
          continue;
        }
        if (!isTombstone(cur.value)) {
          yield { key: decodeUserKey(cur.key, cur.key.length - MVCC_TS_LEN), value: payload(cur.value), ts: revTs };
          if (++n >= limit) return;
        }
        cur.nextKey();
      }
    } finally {
      cur.close();
      txn.done();
    }
  }

  /**
   * Revisions of `span` with `startTs < ts <= endTs`, in (key asc, ts desc) order, for backups.
   *
   * - `allRevisions` false: the newest revision <= endTs of each key, if newer than startTs.
   *   Tombstones are included for incremental exports (startTs > 0), so a restore deletes the
   *   key, and omitted from full exports (startTs == 0), like CockroachDB.
   * - `allRevisions` true: every revision in the window, tombstones included.
   *
   * Refused (FailedPrecondition) when the window reaches below the span's GC threshold.
   * An incremental window (startTs > 0) reads only the keys the change index names, unless
   * `useChangeIndex` is false (the same result, by scanning every key of the span).
   *
   * With `transientValues`, each revision's value is a view of LMDB's read buffer, valid only
   * until the generator is resumed or anything else on this thread reads the store: the
   * consumer must copy it at once, before any await (a data file writer's `write` does).
   */
  exportRevisions(
    span: Span,
    startTs: Timestamp,
    endTs: Timestamp,
    allRevisions: boolean,
    opts: { useChangeIndex?: boolean; transientValues?: boolean } = {},
  ): Generator<MvccRevision, void, undefined> {
    this.checkExportWindow(span, startTs, endTs);
    const db = opts.transientValues === true ? this.dataTransient : this.dataPooled;
    return this.exportWindow(db, span, startTs, endTs, allRevisions, opts.useChangeIndex ?? true);
  }

  /**
   * `exportRevisions` with transient values, each revision put in one reused slot rather
   * than a fresh object: the slot's key, value and timestamp are valid only until the
   * generator is resumed or anything else on this thread reads the store (a data file
   * writer's `writeSlot` copies them at once). A full window's scan makes no object per
   * revision but the generator's step; an incremental one (point gets through the change
   * index) fills the slot from `exportRevisions`' revisions.
   */
  exportRevisionSlots(span: Span, startTs: Timestamp, endTs: Timestamp, allRevisions: boolean): Generator<RevisionSlot, void, undefined> {
    if (startTs > 0n) return revisionsInSlot(this.exportRevisions(span, startTs, endTs, allRevisions, { transientValues: true }));
    // Checked here rather than in the generator so a refused export throws at the call.
    this.checkExportWindow(span, startTs, endTs);
    return this.scanSlots(span, endTs, allRevisions);
  }

  /** Refuses an export window that is malformed or reaches below the GC threshold (FailedPrecondition). */
  private checkExportWindow(span: Span, startTs: Timestamp, endTs: Timestamp): void {
    if (startTs < 0n || endTs < startTs) {
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `invalid export window (${formatTimestamp(startTs)}, ${formatTimestamp(endTs)}]`,
      );
    }
    this.checkReadTs(span, endTs);
    // An incremental window reaching below the threshold would miss collapsed revisions.
    if (startTs > 0n) this.checkReadTs(span, startTs);
  }

  /**
   * `windowRevisions` of a full window, (0, endTs], over a raw cursor, into one slot: the
   * newest revision of each live key, or with `allRevisions` every revision (tombstones
   * included) at or below `endTs`.
   */
  private *scanSlots(span: Span, endTs: Timestamp, allRevisions: boolean): Generator<RevisionSlot, void, undefined> {
    if (endTs === 0n) return;
    const txn = this.root.useReadTransaction();
    const cur = new RawRevisionCursor(this.dataRaw, txn, spanStart(span), spanEnd(span));
    const slot = newSlot();
    const fill = (ts: Timestamp): RevisionSlot => {
      slot.ts = ts;
      slot.hasValue = cur.value[0] !== TOMBSTONE_FLAG;
      slot.value = cur.value;
      slot.valueStart = 1;
      slot.valueEnd = slot.hasValue ? cur.valueSize : 1;
      return slot;
    };
    try {
      while (cur.valid) {
        const revTs = cur.ts();
        if (revTs > endTs) {
          cur.skipNewerThan(endTs);
          continue;
        }
        unescapeUserKey(slot, cur.key, cur.keyLength - MVCC_TS_LEN);
        if (!allRevisions) {
          // A full export leaves tombstones out, as exportRevisions does.
          if (cur.value[0] !== TOMBSTONE_FLAG) yield fill(revTs);
          cur.nextKey();
          continue;
        }
        // Every revision of this key: the cursor is at the newest at or below endTs.
        yield fill(revTs);
        for (cur.next(); cur.valid && cur.sameUserKeyAsPrevious(); cur.next()) yield fill(cur.ts());
      }
    } finally {
      cur.close();
      txn.done();
    }
  }

  private *exportWindow(
    db: Bin,
    span: Span,
    startTs: Timestamp,
    endTs: Timestamp,
    allRevisions: boolean,
    useChangeIndex: boolean,
  ): Generator<MvccRevision, void, undefined> {
    if (startTs === endTs) return;
    const txn = this.root.useReadTransaction();
    try {
      const changed = startTs > 0n && useChangeIndex ? this.changedRevisions(span, startTs, endTs, allRevisions, txn) : undefined;
      if (changed === undefined) {
        yield* this.windowRevisions(new RevisionCursor(db, txn, spanStart(span), spanEnd(span)), startTs, endTs, allRevisions);
        return;
      }
      // The index names each revision exactly (its key and timestamp), so each is a point get
      // in the data: a cursor per changed key (lmdb-js opens a native cursor per range read)
      // cost 30-250 us a key where a get costs a few.
      for (const { prefix, stamps } of changed) {
        const key = decodeUserKey(prefix, prefix.length);
        for (const ts of stamps) {
          const value = db.get(revisionKey(prefix, ts), { transaction: txn });
          // Every revision above the GC threshold is in the data and the index alike.
          if (value === undefined) continue;
          yield { key, ts, value: isTombstone(value) ? null : payload(value) };
        }
      }
    } finally {
      txn.done();
    }
  }

  /**
   * The revisions of `span` written in `(startTs, endTs]`, from the change index (one read
   * transaction with the data): each changed key's revision prefix, in key order, with the
   * timestamps to export, newest first (only the newest unless `allRevisions`). Undefined,
   * to read the span in full instead, when more than `CHANGED_KEYS_LIMIT` are named or a
   * span marker in the window overlaps the span (a bulk load wrote rows there the index does
   * not name one by one; the full read's timestamp filter keeps the export exact).
   *
   * Without `allRevisions` the newest revision in the window is the key's newest at or below
   * `endTs`, which is what a scan exports: any newer one at or below `endTs` would be in the
   * window too.
   *
   * The window is read once and kept for the other spans that ask for it (change-windows.ts):
   * a node exports one item per table and more, all of one window, and each read the whole
   * window for its own keys. A window past CHANGE_WINDOW_LIMIT is read span by span.
   */
  private changedRevisions(
    span: Span,
    startTs: Timestamp,
    endTs: Timestamp,
    allRevisions: boolean,
    txn: ReturnType<RootDatabase['useReadTransaction']>,
  ): ChangedKey[] | undefined {
    const start = spanStart(span);
    const end = spanEnd(span);
    // Complete: an export waits until its replica applied the log up to endTs, and the log's
    // timestamps grow, so only what ChangeWindows watches for can change the window after.
    const window = this.changeWindows.window(startTs, endTs, () =>
      ChangeWindow.read(this.changes.getKeys(this.windowRange(startTs, endTs, txn)), (k) =>
        readSpanMarker(k, this.changes.get(k, { transaction: txn })),
      ),
    );
    if (window !== undefined) return window.changedKeys(span, start, end, allRevisions, CHANGED_KEYS_LIMIT);
    const seen = new Map<string, { prefix: Buffer; stamps: Timestamp[] }>();
    let named = 0;
    // Entries come oldest first: the last one seen of a key is its newest.
    for (const k of this.changes.getKeys(this.windowRange(startTs, endTs, txn))) {
      if (isSpanMarker(k)) {
        if (spansOverlap(readSpanMarker(k, this.changes.get(k, { transaction: txn })), span)) return undefined;
        continue;
      }
      const prefix = k.subarray(MVCC_TS_LEN);
      if (!inSpan(prefix, start, end)) continue;
      const ts = k.readBigUInt64BE(0);
      const id = prefix.toString('latin1');
      const entry = seen.get(id);
      if (entry !== undefined && !allRevisions) {
        entry.stamps[0] = ts;
        continue;
      }
      if (++named > CHANGED_KEYS_LIMIT) return undefined;
      if (entry !== undefined) entry.stamps.push(ts);
      else seen.set(id, { prefix: Buffer.from(prefix), stamps: [ts] });
    }
    const out = [...seen.values()].sort((a, b) => Buffer.compare(a.prefix, b.prefix));
    for (const e of out) e.stamps.reverse();
    return out;
  }

  /** The change index range of the window `(startTs, endTs]`. */
  private windowRange(startTs: Timestamp, endTs: Timestamp, txn: ReturnType<RootDatabase['useReadTransaction']>) {
    return { start: tsBound(startTs + 1n), end: endTs === UINT64_MAX ? undefined : tsBound(endTs + 1n), transaction: txn };
  }

  /** The export of `exportRevisions` over the keys `cur` walks (closed at the end). */
  private *windowRevisions(
    cur: RevisionCursor,
    startTs: Timestamp,
    endTs: Timestamp,
    allRevisions: boolean,
  ): Generator<MvccRevision, void, undefined> {
    try {
      while (cur.valid) {
        const revTs = mvccKeyTs(cur.key);
        if (revTs > endTs) {
          cur.skipNewerThan(endTs);
          continue;
        }
        if (revTs <= startTs) {
          cur.nextKey();
          continue;
        }
        const first = cur.key;
        const key = decodeUserKey(first, first.length - MVCC_TS_LEN);
        if (!allRevisions) {
          const tomb = isTombstone(cur.value);
          if (!tomb || startTs > 0n) yield { key, ts: revTs, value: tomb ? null : payload(cur.value) };
          cur.nextKey();
          continue;
        }
        // Every revision of this key down to startTs.
        for (;;) {
          const t = mvccKeyTs(cur.key);
          if (t <= startTs) {
            cur.nextKey();
            break;
          }
          yield { key, ts: t, value: isTombstone(cur.value) ? null : payload(cur.value) };
          cur.next();
          if (!cur.valid || !sameUserKey(first, cur.key)) break;
        }
      }
    } finally {
      cur.close();
    }
  }

  /**
   * Writes revisions as given (a restore), `batchSize` per transaction, with one transaction
   * committing while the next batch is read. Returns how many revisions were written.
   */
  async ingest(
    kvs: Iterable<MvccRevision> | AsyncIterable<MvccRevision>,
    opts: { batchSize?: number } = {},
  ): Promise<number> {
    const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_INGEST_BATCH);
    let count = 0;
    let keys: Buffer[] = [];
    let values: Array<Uint8Array | null> = [];
    let inFlight: Promise<void> | undefined;
    const flush = async (): Promise<void> => {
      if (keys.length === 0) return;
      const ks = keys;
      const vs = values;
      keys = [];
      values = [];
      const p = this.root.transaction(() => {
        this.stats.notePuts(ks, vs.map(storedValueSize));
        for (let i = 0; i < ks.length; i++) {
          const k = ks[i] as Buffer;
          this.data.put(k, this.scratch.storedValue(vs[i] as Uint8Array | null));
          this.changes.put(this.scratch.changeKey(mvccKeyTs(k), k), CHANGE_ENTRY_VALUE);
        }
      }).finally(() => this.changeWindows.clear());
      // Observed either by the next flush or by the final await; never left unhandled.
      p.catch(() => undefined);
      const prev = inFlight;
      inFlight = p;
      if (prev) await prev;
    };
    for await (const kv of kvs) {
      keys.push(encodeMvccKey(kv.key, kv.ts));
      values.push(kv.value);
      count++;
      if (keys.length >= batchSize) await flush();
    }
    await flush();
    if (inFlight) await inFlight;
    return count;
  }

  /**
   * Removes revisions no read at or after the GC threshold can see. The threshold is
   * `threshold`, held back to the oldest protected timestamp (as CockroachDB's protected
   * timestamps do), so every revision visible at or after a protected timestamp stays. For
   * each key the newest revision at or below the threshold stays unless it is a tombstone;
   * older ones go. The threshold is recorded first, so reads below it fail instead of
   * seeing partial history.
   */
  async gc(span: Span, threshold: Timestamp, protectedTs: ReadonlyArray<Timestamp> = []): Promise<{ removed: number }> {
    let effective = threshold;
    for (const p of protectedTs) if (p < effective) effective = p;
    if (effective <= 0n) return { removed: 0 };
    const thresholds = this.gcThresholds.advanced(span, effective);
    await this.root.transaction(() => this.meta.put(metaKey(GC_THRESHOLDS_META), thresholds.encode()));
    this.gcThresholds = thresholds;

    // Nothing to collect where every key has one revision, a live one (the kept counters say
    // so: bytes == liveBytes, no history and no tombstones): a loaded or restored range then
    // costs each GC round no scan. A write racing this read is newer than the threshold.
    const tracked = this.stats.statsOf(span);
    if (tracked !== undefined && tracked.bytes === tracked.liveBytes) {
      await this.trimChanges(span, effective);
      return { removed: 0 };
    }

    let removed = 0;
    let doomed: Buffer[] = [];
    const removeDoomed = async (): Promise<void> => {
      const batch = doomed;
      doomed = [];
      const gone = await this.root.transaction(() => this.stats.removeRevisions(batch));
      removed += gone;
    };
    const txn = this.root.useReadTransaction();
    const cur = new RevisionCursor(this.data, txn, spanStart(span), spanEnd(span));
    try {
      while (cur.valid) {
        if (mvccKeyTs(cur.key) > effective) {
          cur.skipNewerThan(effective);
          continue;
        }
        // cur is the newest revision <= threshold: a read at the threshold sees it.
        const visible = cur.key;
        if (isTombstone(cur.value)) doomed.push(visible);
        for (cur.next(); cur.valid && sameUserKey(visible, cur.key); cur.next()) doomed.push(cur.key);
        if (doomed.length >= GC_DELETE_BATCH) await removeDoomed();
      }
      if (doomed.length > 0) await removeDoomed();
    } finally {
      cur.close();
      txn.done();
    }
    await this.trimChanges(span, effective);
    return { removed };
  }

  /**
   * Drops the change index entries of `span` at or below its new GC threshold: no export may
   * start its window below the threshold, so nothing will ask for them. A span marker there
   * goes too, but for its part outside `span` (whose threshold may be lower): that part is
   * put back as its own marker in the same transaction.
   */
  private async trimChanges(span: Span, threshold: Timestamp): Promise<void> {
    const start = spanStart(span);
    const end = spanEnd(span);
    // In order: a marker's left remainder has the marker's own key, put after its removal.
    let edits: Array<{ remove: Buffer } | { ts: Timestamp; marker: Span }> = [];
    const apply = async () => {
      const batch = edits;
      edits = [];
      await this.root.transaction(() => {
        for (const e of batch) {
          if ('remove' in e) this.changes.remove(e.remove);
          else this.putSpanMarker(e.ts, e.marker);
        }
      }).finally(() => this.changeWindows.clear());
    };
    const txn = this.root.useReadTransaction();
    try {
      for (const k of this.changes.getKeys({ end: tsBound(threshold + 1n), transaction: txn })) {
        if (isSpanMarker(k)) {
          const marker = readSpanMarker(k, this.changes.get(k, { transaction: txn }));
          if (!spansOverlap(marker, span)) continue;
          edits.push({ remove: Buffer.from(k) });
          const ts = k.readBigUInt64BE(0);
          for (const rest of spanMinus(marker, span)) edits.push({ ts, marker: rest });
        } else {
          if (!inSpan(k.subarray(MVCC_TS_LEN), start, end)) continue;
          edits.push({ remove: Buffer.from(k) });
        }
        if (edits.length >= GC_DELETE_BATCH) await apply();
      }
      if (edits.length > 0) await apply();
    } finally {
      txn.done();
    }
  }

  /** Puts the span marker of `span` at `ts`; only inside a write transaction's callback. */
  private putSpanMarker(ts: Timestamp, span: Span): void {
    const key = spanMarkerKey(ts, span);
    this.changes.put(key, widenedMarkerValue(span, this.changes.get(key)));
  }

  /** Export windows kept for the spans still to ask for them (for tests). */
  keptChangeWindows(): number {
    return this.changeWindows.size();
  }

  /** Entries in the change index, span markers included (for tests and stats). */
  changeIndexSize(): number {
    return this.changes.getCount();
  }

  /**
   * The GC threshold of `span` (the highest of any GC'd span overlapping it), or of the whole
   * store when omitted; 0n when never GC'd. Reads below it are refused.
   */
  gcThreshold(span?: Span): Timestamp {
    return this.gcThresholds.forSpan(span);
  }

  /**
   * Key and byte counts of `span` by a full scan of it: what the kept counters
   * (`trackedStats`) must always agree with, for tests and verification.
   */
  spanStats(span: Span): SpanStats {
    const acc = new StatsAccumulator();
    const txn = this.root.useReadTransaction();
    try {
      for (const { key, value } of this.sizeRange(span, txn)) acc.add(key, value);
    } finally {
      txn.done();
    }
    return acc.stats;
  }

  /**
   * Makes the store keep counters for the spans starting at `starts` (a node's range
   * boundaries; they tile the keyspace). Spans are split (counting the new pieces once) and
   * joined as needed; the counters then follow every write, ingest and GC.
   */
  async setStatsSpans(starts: readonly Uint8Array[]): Promise<void> {
    await this.stats.setBoundaries(starts);
  }

  /**
   * The kept counters of `span`, without a scan, when it is a run of whole spans given to
   * `setStatsSpans` (else undefined). They equal `spanStats(span)`.
   */
  trackedStats(span: Span): SpanStats | undefined {
    return this.stats.statsOf(span);
  }

  /** How many spans the store keeps counters for (for tests). */
  trackedSpans(): number {
    return this.stats.spans();
  }

  /**
   * User keys that cut `span` into pieces of about `targetBytes` each (revision bytes, as
   * spanStats counts them), at most `maxKeys`, from one pass over the span. A key is never
   * separated from its revisions, and the span's first key is never one.
   */
  splitKeys(span: Span, targetBytes: number, maxKeys: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (maxKeys <= 0 || !(targetBytes > 0)) return out;
    const txn = this.root.useReadTransaction();
    try {
      let acc = 0;
      let prev: Buffer | undefined;
      for (const { key, value } of this.sizeRange(span, txn)) {
        if (prev !== undefined && acc >= targetBytes && !sameUserKey(prev, key)) {
          out.push(decodeUserKey(key, key.length - MVCC_TS_LEN));
          if (out.length >= maxKeys) break;
          acc = 0;
        }
        acc += key.length + Math.abs(value);
        prev = key;
      }
    } finally {
      txn.done();
    }
    return out;
  }

  /** `span`'s revisions as (key, signed value size), in one read transaction. */
  private sizeRange(span: Span, txn: ReturnType<RootDatabase['useReadTransaction']>): Iterable<{ key: Buffer; value: number }> {
    const end = spanEnd(span);
    return end === undefined
      ? this.dataSizes.getRange({ start: spanStart(span), transaction: txn })
      : this.dataSizes.getRange({ start: spanStart(span), end, transaction: txn });
  }

  /**
   * A user key near the middle of `span` by key count, to split a range at; a split there
   * never separates one key's revisions. Undefined when the span holds fewer than two keys.
   */
  approximateMidKey(span: Span, knownKeys?: number): Uint8Array | undefined {
    const txn = this.root.useReadTransaction();
    try {
      const range = (): Iterable<Buffer> => {
        const end = spanEnd(span);
        return end === undefined
          ? this.data.getKeys({ start: spanStart(span), transaction: txn })
          : this.data.getKeys({ start: spanStart(span), end, transaction: txn });
      };
      // A caller that just took spanStats passes its key count, which saves a pass (a count
      // gone stale in between only moves the split point, or finds none this time).
      let distinct = knownKeys ?? 0;
      let prev: Buffer | undefined;
      if (knownKeys === undefined) {
        for (const k of range()) {
          if (prev === undefined || !sameUserKey(prev, k)) distinct++;
          prev = k;
        }
      }
      if (distinct < 2) return undefined;
      const target = Math.floor(distinct / 2);
      let i = -1;
      prev = undefined;
      for (const k of range()) {
        if (prev === undefined || !sameUserKey(prev, k)) {
          if (++i === target) return decodeUserKey(k, k.length - MVCC_TS_LEN);
        }
        prev = k;
      }
      return undefined;
    } finally {
      txn.done();
    }
  }

  /** A store metadata value (names starting with `mvcc.` are reserved for the store). */
  getMeta(name: string): Uint8Array | undefined {
    const v = this.meta.get(metaKey(name));
    return v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.length);
  }

  async putMeta(name: string, value: Uint8Array): Promise<void> {
    checkMetaName(name);
    const v = Buffer.from(value);
    await this.root.transaction(() => this.meta.put(metaKey(name), v));
  }

  private checkReadTs(span: Span, ts: Timestamp): void {
    if (ts <= 0n || ts > UINT64_MAX) {
      throw new CairnError(ErrorCode.InvalidArgument, `invalid read timestamp ${String(ts)}`);
    }
    const threshold = this.gcThresholds.forSpan(span);
    if (ts < threshold) throw belowGcThresholdError(ts, threshold);
  }
}
