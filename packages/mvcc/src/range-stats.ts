import type { Database, RootDatabase } from 'lmdb';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Span } from '@cairn/keys';
import { MVCC_TS_LEN, TOMBSTONE_FLAG, encodeRevisionPrefix } from './mvcc-key.js';
import { sameUserKey } from './revision-cursor.js';

export interface SpanStats {
  /** Distinct user keys with at least one revision (including deleted keys). */
  keys: number;
  /** Keys whose newest revision is a value. */
  liveKeys: number;
  /** Bytes of every revision (MVCC key + value). */
  bytes: number;
  /** Bytes of the newest revision of each live key. */
  liveBytes: number;
}

type Bin = Database<Buffer, Buffer>;
/** `data` read as value sizes, negative for a tombstone (see MvccStore's VALUE_SIZE_CODEC). */
type Sizes = Database<number, Buffer>;

/** Meta keys of the tracked spans: this prefix, then the span's first revision prefix. */
const STATS_META_PREFIX = Buffer.from('mvcc.stats/', 'utf8');
const STATS_META_END = Buffer.from('mvcc.stats0', 'utf8');
/** The first tracked span starts at the keyspace's start, whatever the boundaries given. */
const KEYSPACE_START = Buffer.alloc(0);
/** A split's sides are scanned in turns of this many revisions (see `splitScan`). */
const SCAN_TURN = 256;
/** Steps a forward walk takes before it seeks instead (as RevisionCursor does). */
const STEPS_BEFORE_SEEK = 8;

export function zeroStats(): SpanStats {
  return { keys: 0, liveKeys: 0, bytes: 0, liveBytes: 0 };
}

function addInto(into: SpanStats, s: SpanStats, sign = 1): void {
  into.keys += sign * s.keys;
  into.liveKeys += sign * s.liveKeys;
  into.bytes += sign * s.bytes;
  into.liveBytes += sign * s.liveBytes;
}

function encodeStats(s: SpanStats): Buffer {
  const b = Buffer.allocUnsafe(32);
  b.writeDoubleBE(s.keys, 0);
  b.writeDoubleBE(s.liveKeys, 8);
  b.writeDoubleBE(s.bytes, 16);
  b.writeDoubleBE(s.liveBytes, 24);
  return b;
}

function decodeStats(b: Buffer | undefined): SpanStats {
  if (b === undefined) return zeroStats();
  if (b.length !== 32) throw new CairnError(ErrorCode.Corruption, `unreadable range stats metadata (${b.length} bytes)`);
  return { keys: b.readDoubleBE(0), liveKeys: b.readDoubleBE(8), bytes: b.readDoubleBE(16), liveBytes: b.readDoubleBE(24) };
}

function metaKeyOf(boundary: Buffer): Buffer {
  return Buffer.concat([STATS_META_PREFIX, boundary]);
}

/** A span start as a tracked boundary: its revision prefix, the keyspace's start as empty. */
export function boundaryOf(start: Uint8Array): Buffer {
  return start.length === 0 ? KEYSPACE_START : encodeRevisionPrefix(start);
}

/** A stored value's size, negative for a tombstone (VALUE_SIZE_CODEC's reading). */
function signedSize(value: Buffer): number {
  return value[0] === TOMBSTONE_FLAG ? -value.length : value.length;
}

/** What one key's newest revision adds to the key-level figures (keys, liveKeys, liveBytes). */
function addNewest(into: SpanStats, newest: { key: Buffer; size: number } | undefined, sign: number): void {
  if (newest === undefined) return;
  into.keys += sign;
  if (newest.size > 0) {
    into.liveKeys += sign;
    into.liveBytes += sign * (newest.key.length + newest.size);
  }
}

/** Sums revisions (in key order, as LMDB returns them) into stats; spanStats's arithmetic. */
export class StatsAccumulator {
  readonly stats = zeroStats();
  private prev: Buffer | undefined;

  add(key: Buffer, size: number): void {
    const bytes = key.length + Math.abs(size);
    this.stats.bytes += bytes;
    if (this.prev === undefined || !sameUserKey(this.prev, key)) {
      this.stats.keys++;
      if (size > 0) {
        this.stats.liveKeys++;
        this.stats.liveBytes += bytes;
      }
    }
    this.prev = key;
  }
}

/**
 * The newest revision of each of a sorted run of user keys, read with one forward walk over
 * `data` (inside a write transaction, before anything is written): a batch of new keys at the
 * end of a table costs one seek, not one per key.
 */
class NewestWalk {
  private iter: Iterator<{ key: Buffer; value: number }> | undefined;
  private cur: { key: Buffer; value: number } | undefined;
  private started = false;
  /**
   * Steps to try before seeking. Once stepping did not reach a key, the batch's keys lie far
   * apart (updates spread over a table): the next key is sought at once.
   */
  private stepBudget = STEPS_BEFORE_SEEK;

  constructor(private readonly sizes: Sizes) {}

  /** The newest stored revision of `key`'s user key (`key` is any revision key of it). */
  newest(key: Buffer): { key: Buffer; size: number } | undefined {
    const prefix = key.subarray(0, key.length - MVCC_TS_LEN);
    if (!this.started) this.seek(prefix);
    for (let steps = 0; this.cur !== undefined && Buffer.compare(this.cur.key, prefix) < 0; steps++) {
      if (steps >= this.stepBudget) {
        this.seek(prefix);
        this.stepBudget = 0;
        break;
      }
      this.step();
    }
    const c = this.cur;
    return c !== undefined && sameUserKey(c.key, key) ? { key: c.key, size: c.value } : undefined;
  }

  close(): void {
    this.iter?.return?.();
    this.iter = undefined;
  }

  private seek(prefix: Buffer): void {
    this.close();
    this.started = true;
    this.iter = this.sizes.getRange({ start: prefix })[Symbol.iterator]() as Iterator<{ key: Buffer; value: number }>;
    this.step();
  }

  private step(): void {
    const r = this.iter?.next();
    this.cur = r === undefined || r.done === true ? undefined : r.value;
  }
}

/**
 * Indices of `keys` in key order, the last of equal keys only (a later write of one MVCC key
 * wins); undefined when `keys` are already strictly ascending (a load's batches are), so that
 * common case allocates nothing.
 */
function keyOrder(keys: readonly Buffer[]): number[] | undefined {
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = Buffer.compare(keys[i - 1] as Buffer, keys[i] as Buffer) < 0;
  if (sorted) return undefined;
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  idx.sort((a, b) => Buffer.compare(keys[a] as Buffer, keys[b] as Buffer) || a - b);
  return idx.filter((i, n) => n + 1 === idx.length || !(keys[idx[n + 1] as number] as Buffer).equals(keys[i] as Buffer));
}

/**
 * Key and byte counts of the store's data, kept per tracked span (a node's ranges) as writes
 * apply, as CockroachDB keeps MVCCStats: every write, ingest and GC adds its change to the
 * counters of the span it touches, in the same LMDB transaction (`meta`, one entry per span),
 * so the size of a range is known without scanning it, and stays right across a crash.
 * The spans always tile the keyspace; `setBoundaries` splits and joins them.
 *
 * Every method that takes part in a write runs inside an LMDB write transaction callback
 * (reads there see the transaction's own writes), so counters and data never disagree.
 */
export class RangeStats {
  /** Sorted starts (revision prefixes) of the tracked spans; the first is the keyspace's start. */
  private boundaries: Buffer[] = [KEYSPACE_START];

  constructor(
    private readonly root: RootDatabase<Buffer, Buffer>,
    private readonly data: Bin,
    private readonly sizes: Sizes,
    private readonly meta: Bin,
  ) {}

  /** Reads the tracked spans; false when the store keeps none yet (a new or older store). */
  load(): boolean {
    const found: Buffer[] = [];
    for (const k of this.meta.getKeys({ start: STATS_META_PREFIX, end: STATS_META_END })) {
      found.push(Buffer.from(k.subarray(STATS_META_PREFIX.length)));
    }
    if (found.length === 0 || (found[0] as Buffer).length !== 0) return false;
    this.boundaries = found;
    return true;
  }

  /** Counts the whole store into one span, once (a store written before stats were kept). */
  async build(): Promise<void> {
    await this.root.transaction(() => {
      const acc = new StatsAccumulator();
      for (const { key, value } of this.sizes.getRange({})) acc.add(key, value);
      for (const k of this.meta.getKeys({ start: STATS_META_PREFIX, end: STATS_META_END })) this.meta.remove(k);
      this.meta.put(metaKeyOf(KEYSPACE_START), encodeStats(acc.stats));
    });
    this.boundaries = [KEYSPACE_START];
  }

  /** The counters of `span` when it is a run of whole tracked spans; undefined otherwise. */
  statsOf(span: Span): SpanStats | undefined {
    const first = this.indexOf(boundaryOf(span.start));
    const end = span.end.length === 0 ? this.boundaries.length : this.indexOf(encodeRevisionPrefix(span.end));
    if (first === undefined || end === undefined || end <= first) return undefined;
    const total = zeroStats();
    for (let i = first; i < end; i++) {
      // Missing while a repartition's transaction has run but not committed yet.
      const stored = this.meta.get(metaKeyOf(this.boundaries[i] as Buffer));
      if (stored === undefined) return undefined;
      addInto(total, decodeStats(stored));
    }
    return total;
  }

  /** Tracked spans (for tests). */
  spans(): number {
    return this.boundaries.length;
  }

  /**
   * Adds to the counters what putting a value of `sizes[i]` stored bytes (negative for a
   * tombstone, as `signedSize`) at `keys[i]` (MVCC keys; the last of equal keys wins)
   * changes. Call inside the write transaction, before the puts.
   */
  notePuts(keys: readonly Buffer[], sizes: readonly number[]): void {
    if (keys.length === 0) return;
    const order = keyOrder(keys);
    const at = order === undefined ? (n: number) => n : (n: number) => order[n] as number;
    const count = order === undefined ? keys.length : order.length;
    const deltas = new Map<number, SpanStats>();
    const walk = new NewestWalk(this.sizes);
    // The keys come in ascending order, so the span of the previous key holds the next one
    // until the next span's start: one compare per key instead of a binary search (a restore
    // batch lies in one span, and each search was ~6 compares per row on every replica).
    let span = -1;
    let spanEnd: Buffer | undefined;
    let d = zeroStats();
    try {
      for (let g = 0; g < count; ) {
        // One user key's revisions in this batch, newest first: at(g) .. at(h - 1).
        const first = keys[at(g)] as Buffer;
        let h = g + 1;
        while (h < count && sameUserKey(first, keys[at(h)] as Buffer)) h++;
        if (span < 0 || (spanEnd !== undefined && Buffer.compare(first, spanEnd) >= 0)) {
          span = this.spanIndex(first);
          spanEnd = this.boundaries[span + 1];
          d = this.deltaAt(deltas, span);
        }
        const stored = walk.newest(first);
        for (let n = g; n < h; n++) {
          const i = at(n);
          const k = keys[i] as Buffer;
          d.bytes += k.length + Math.abs(sizes[i] as number);
          // An older revision than the stored newest may already be there (a restore or a
          // snapshot written again after a crash): it is replaced, not added.
          const c = stored === undefined ? -1 : Buffer.compare(k, stored.key);
          const old = c < 0 ? undefined : c === 0 ? stored?.size : this.sizeOf(k);
          if (old !== undefined) d.bytes -= k.length + Math.abs(old);
        }
        // The key's newest revision after the batch: the batch's newest unless the stored one is newer.
        const batchNewest = { key: first, size: sizes[at(g)] as number };
        const after = stored === undefined || Buffer.compare(first, stored.key) <= 0 ? batchNewest : stored;
        addNewest(d, stored, -1);
        addNewest(d, after, 1);
        g = h;
      }
    } finally {
      walk.close();
    }
    this.addDeltas(deltas);
  }

  /**
   * Removes the revisions `keys` (MVCC keys in key order, as GC finds them) and takes them off
   * the counters; revisions already gone are skipped. Call inside the write transaction.
   * Returns how many were removed.
   */
  removeRevisions(keys: readonly Buffer[]): number {
    const deltas = new Map<number, SpanStats>();
    let removed = 0;
    for (let g = 0; g < keys.length; ) {
      const first = keys[g] as Buffer;
      let h = g + 1;
      while (h < keys.length && sameUserKey(first, keys[h] as Buffer)) h++;
      const d = this.deltaFor(deltas, first);
      const before = this.newestOf(first);
      let newestGone = false;
      for (let n = g; n < h; n++) {
        const k = keys[n] as Buffer;
        const size = this.sizeOf(k);
        if (size === undefined) continue;
        this.data.remove(k);
        removed++;
        d.bytes -= k.length + Math.abs(size);
        if (before !== undefined && k.equals(before.key)) newestGone = true;
      }
      if (newestGone) {
        addNewest(d, before, -1);
        addNewest(d, this.newestOf(first), 1);
      }
      g = h;
    }
    this.addDeltas(deltas);
    return removed;
  }

  /**
   * Makes the tracked spans start at `starts` (user keys; the keyspace's start is always one):
   * spans that lose a boundary are added up, and a span cut in pieces is counted once, in
   * one write transaction. Its pieces are scanned in turns until all but one are done; that
   * one is the span's counters minus theirs, so a split reads about its smaller sides only.
   */
  async setBoundaries(starts: readonly Uint8Array[]): Promise<void> {
    const wanted = [KEYSPACE_START, ...starts.filter((s) => s.length > 0).map((s) => encodeRevisionPrefix(s))].sort(Buffer.compare);
    const next = wanted.filter((b, i) => i === 0 || !b.equals(wanted[i - 1] as Buffer));
    if (next.length === this.boundaries.length && next.every((b, i) => b.equals(this.boundaries[i] as Buffer))) return;
    try {
      await this.root.transaction(() => this.repartition(next));
    } catch (err) {
      // The counters are what the store holds: read the spans they are kept for again.
      this.load();
      throw err;
    }
  }

  private repartition(next: Buffer[]): void {
    const old = this.boundaries;
    const all = [...old, ...next].sort(Buffer.compare);
    const cuts = all.filter((b, i) => i === 0 || !b.equals(all[i - 1] as Buffer));
    // The counters of each piece between consecutive cuts; each lies in one old span.
    const pieces: SpanStats[] = new Array<SpanStats>(cuts.length);
    let c = 0;
    for (let o = 0; o < old.length; o++) {
      const oldEnd = old[o + 1];
      const first = c;
      while (c < cuts.length && (oldEnd === undefined || Buffer.compare(cuts[c] as Buffer, oldEnd) < 0)) c++;
      const total = decodeStats(this.meta.get(metaKeyOf(old[o] as Buffer)));
      if (c - first === 1) pieces[first] = total;
      else this.splitScan(cuts, first, c, total, pieces);
    }
    for (const b of old) this.meta.remove(metaKeyOf(b));
    let p = 0;
    for (let n = 0; n < next.length; n++) {
      const end = next[n + 1];
      const sum = zeroStats();
      while (p < cuts.length && (end === undefined || Buffer.compare(cuts[p] as Buffer, end) < 0)) addInto(sum, pieces[p++] as SpanStats);
      this.meta.put(metaKeyOf(next[n] as Buffer), encodeStats(sum));
    }
    this.boundaries = next;
  }

  /**
   * Counts the pieces `cuts[from..to)` of one span whose counters are `total`: each piece is
   * scanned `SCAN_TURN` revisions at a time in turn, until one piece is left.
   */
  private splitScan(cuts: readonly Buffer[], from: number, to: number, total: SpanStats, out: SpanStats[]): void {
    const scans = [];
    for (let i = from; i < to; i++) {
      const end = cuts[i + 1];
      const range = end === undefined ? this.sizes.getRange({ start: cuts[i] }) : this.sizes.getRange({ start: cuts[i], end });
      scans.push({ at: i, iter: range[Symbol.iterator]() as Iterator<{ key: Buffer; value: number }>, acc: new StatsAccumulator(), done: false });
    }
    let open = scans.length;
    try {
      while (open > 1) {
        for (const s of scans) {
          if (s.done || open === 1) continue;
          for (let n = 0; n < SCAN_TURN; n++) {
            const r = s.iter.next();
            if (r.done === true) {
              s.done = true;
              open--;
              break;
            }
            s.acc.add(r.value.key, r.value.value);
          }
        }
      }
    } finally {
      for (const s of scans) if (!s.done) s.iter.return?.();
    }
    const rest = { ...total };
    for (const s of scans) {
      if (!s.done) continue;
      out[s.at] = s.acc.stats;
      addInto(rest, s.acc.stats, -1);
    }
    const last = scans.find((s) => !s.done);
    if (last !== undefined) out[last.at] = rest;
  }

  /**
   * The stored size of one revision (negative for a tombstone), if it is there. A point read
   * of the plain view: lmdb-js hands a point read's decoder no size, only a range's.
   */
  private sizeOf(key: Buffer): number | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : signedSize(v);
  }

  /** The newest stored revision of `key`'s user key (one seek). */
  private newestOf(key: Buffer): { key: Buffer; size: number } | undefined {
    const prefix = key.subarray(0, key.length - MVCC_TS_LEN);
    for (const { key: k, value } of this.sizes.getRange({ start: prefix, limit: 1 })) {
      return sameUserKey(k, key) ? { key: k, size: value } : undefined;
    }
    return undefined;
  }

  /** The index of the tracked span holding `key`. */
  private spanIndex(key: Buffer): number {
    let lo = 0;
    let hi = this.boundaries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (Buffer.compare(this.boundaries[mid] as Buffer, key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private indexOf(boundary: Buffer): number | undefined {
    const i = this.spanIndex(boundary);
    return (this.boundaries[i] as Buffer).equals(boundary) ? i : undefined;
  }

  private deltaFor(deltas: Map<number, SpanStats>, key: Buffer): SpanStats {
    return this.deltaAt(deltas, this.spanIndex(key));
  }

  private deltaAt(deltas: Map<number, SpanStats>, i: number): SpanStats {
    let d = deltas.get(i);
    if (d === undefined) {
      d = zeroStats();
      deltas.set(i, d);
    }
    return d;
  }

  private addDeltas(deltas: Map<number, SpanStats>): void {
    for (const [i, d] of deltas) {
      const k = metaKeyOf(this.boundaries[i] as Buffer);
      const s = decodeStats(this.meta.get(k));
      addInto(s, d);
      this.meta.put(k, encodeStats(s));
    }
  }
}
