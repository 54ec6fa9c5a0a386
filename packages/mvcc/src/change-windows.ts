import { spansOverlap, type Span, type Timestamp } from '@cairn/keys';
import { MVCC_TS_LEN } from './mvcc-key.js';
import { isSpanMarker } from './span-markers.js';

/*
 * The change index is ordered by timestamp (see `changeKey` in mvcc-store.ts), so the entries
 * of one span in a window are found only by reading the whole window and keeping the span's.
 * An incremental backup's items on one node are spans of the same window (about one per table
 * the node holds): read span by span, the node read the whole window once per item (one read
 * of a 10,000-change window cost a node 30-90 ms of its main thread in a 1 GiB incremental,
 * the largest item of its profile). A `ChangeWindow` is one read of the window, kept sorted by
 * key, that every span export of the window then slices.
 */

/** Revisions a kept window may name at most (~100 bytes each while kept); a larger one is read per span. */
export const CHANGE_WINDOW_LIMIT = 200_000;
/** A window unused this long is dropped: its backup has ended. */
const CHANGE_WINDOW_IDLE_MS = 30_000;
/** Windows kept at once: two backups of different windows running together each keep theirs. */
const MAX_WINDOWS = 2;

/** One changed key of a span: its revision prefix and the timestamps to export, newest first. */
export interface ChangedKey {
  prefix: Buffer;
  stamps: Timestamp[];
}

/** The change index entries of one window, by key; span markers kept aside (ChangeWindows knows which window). */
export class ChangeWindow {
  private constructor(
    /** Revision prefixes as latin1 strings (one char per byte, so `<` is byte order), sorted. */
    private readonly keys: string[],
    /** `stamps[stampStart[i] .. stampStart[i + 1])` are key i's timestamps, newest first. */
    private readonly stampStart: Uint32Array,
    private readonly stamps: BigUint64Array,
    private readonly markers: Span[],
  ) {}

  /**
   * Reads the window from `entries` (the change index keys of the window in index order,
   * views lmdb-js may reuse) and `markerSpan` (a span marker's span). Undefined when the
   * window names more than `limit` revisions: it is then read span by span, as before.
   */
  static read(
    entries: Iterable<Buffer>,
    markerSpan: (changeKey: Buffer) => Span,
    limit = CHANGE_WINDOW_LIMIT,
  ): ChangeWindow | undefined {
    const byKey = new Map<string, Timestamp[]>();
    const markers: Span[] = [];
    let named = 0;
    for (const k of entries) {
      if (isSpanMarker(k)) {
        markers.push(markerSpan(k));
        continue;
      }
      if (++named > limit) return undefined;
      const id = k.toString('latin1', MVCC_TS_LEN);
      const ts = k.readBigUInt64BE(0);
      // Oldest first along the index: pushed in ascending time.
      const seen = byKey.get(id);
      if (seen === undefined) byKey.set(id, [ts]);
      else seen.push(ts);
    }
    const keys = [...byKey.keys()].sort();
    const stampStart = new Uint32Array(keys.length + 1);
    const stamps = new BigUint64Array(named);
    let at = 0;
    for (let i = 0; i < keys.length; i++) {
      stampStart[i] = at;
      const ts = byKey.get(keys[i] as string) as Timestamp[];
      for (let j = ts.length - 1; j >= 0; j--) stamps[at++] = ts[j] as Timestamp;
    }
    stampStart[keys.length] = at;
    return new ChangeWindow(keys, stampStart, stamps, markers);
  }

  /**
   * The changed keys in the revision-prefix range `[start, end)` (end undefined: to the
   * keyspace's end), in key order, each with every timestamp (`allRevisions`) or its newest.
   * Undefined, so the caller reads the span in full, when a span marker overlaps `span` or
   * more than `limit` revisions would be named.
   */
  changedKeys(span: Span, start: Buffer, end: Buffer | undefined, allRevisions: boolean, limit: number): ChangedKey[] | undefined {
    for (const m of this.markers) if (spansOverlap(m, span)) return undefined;
    const lo = this.lowerBound(start.toString('latin1'));
    const hi = end === undefined ? this.keys.length : this.lowerBound(end.toString('latin1'));
    if (hi <= lo) return [];
    const named = allRevisions ? (this.stampStart[hi] as number) - (this.stampStart[lo] as number) : hi - lo;
    if (named > limit) return undefined;
    const out = new Array<ChangedKey>(hi - lo);
    for (let i = lo; i < hi; i++) {
      const from = this.stampStart[i] as number;
      const to = allRevisions ? (this.stampStart[i + 1] as number) : from + 1;
      const stamps = new Array<Timestamp>(to - from);
      for (let j = from; j < to; j++) stamps[j - from] = this.stamps[j] as Timestamp;
      out[i - lo] = { prefix: Buffer.from(this.keys[i] as string, 'latin1'), stamps };
    }
    return out;
  }

  /** The first index whose key is at or after `key`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A window too large to keep, remembered so its spans do not each try to keep it again. */
const TOO_LARGE = 'too-large';

/**
 * The windows a store keeps, and when they stop being true. A window read after the store
 * applied every log entry up to its end stays true while only later timestamps are written
 * (the log's timestamps grow); what writes a timestamp at or below a kept window's end drops
 * it: a replica snapshot (`ingest`, old revisions), GC's trim of the index, or any batch at
 * such a timestamp (`written`).
 */
export class ChangeWindows {
  private kept: Array<{ startTs: Timestamp; endTs: Timestamp; window: ChangeWindow | typeof TOO_LARGE; usedAt: number }> = [];
  private idleTimer: NodeJS.Timeout | undefined;

  /** The kept window `(startTs, endTs]`, else reads it with `read` and keeps it. Undefined when too large. */
  window(startTs: Timestamp, endTs: Timestamp, read: () => ChangeWindow | undefined): ChangeWindow | undefined {
    const now = Date.now();
    this.kept = this.kept.filter((k) => now - k.usedAt < CHANGE_WINDOW_IDLE_MS);
    let entry = this.kept.find((k) => k.startTs === startTs && k.endTs === endTs);
    if (entry === undefined) {
      entry = { startTs, endTs, window: read() ?? TOO_LARGE, usedAt: now };
      this.kept.push(entry);
      if (this.kept.length > MAX_WINDOWS) this.kept.shift();
    }
    entry.usedAt = now;
    this.dropWhenIdle();
    return entry.window === TOO_LARGE ? undefined : entry.window;
  }

  /** A batch at `ts` committed: windows ending at or after it may lack its entries. */
  written(ts: Timestamp): void {
    if (this.kept.length === 0) return;
    this.kept = this.kept.filter((k) => k.endTs < ts);
  }

  /** Entries at any timestamp were added or removed (a snapshot, GC's trim), or the store closes. */
  clear(): void {
    this.kept = [];
    clearTimeout(this.idleTimer);
  }

  /** Kept windows (for tests). */
  size(): number {
    return this.kept.length;
  }

  private dropWhenIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.clear(), CHANGE_WINDOW_IDLE_MS);
    // Never what keeps a process (or a test's worker) alive.
    this.idleTimer.unref();
  }
}
