import { compareKeys, spansOverlap, type Span } from '@cairn/keys';
import type { RangeDescriptor } from '@cairn/proto';

/**
 * The node's copy of every range descriptor, rebuilt from RangeUpdate entries of the log
 * (and persisted with the applied position), so a node knows, at each log position, exactly
 * which keys it must apply.
 */
export class RangeTable {
  private ranges: RangeDescriptor[] = [];
  /**
   * Ranges the entry being applied made this node a replica of: held from then on (the
   * entries after it apply to them), but their rows are still being copied in from another
   * replica until that entry commits, so they serve no read before `loaded`.
   */
  private loading: RangeDescriptor[] = [];

  constructor(private readonly nodeId: number, initial: RangeDescriptor[] = []) {
    this.ranges = [...initial].sort((a, b) => compareKeys(a.startKey, b.startKey));
  }

  all(): readonly RangeDescriptor[] {
    return this.ranges;
  }

  /** Every range's first key: the spans the store keeps counters for (`setStatsSpans`). */
  starts(): Uint8Array[] {
    return this.ranges.map((r) => r.startKey);
  }

  held(): RangeDescriptor[] {
    return this.ranges.filter((r) => r.replicas.includes(this.nodeId));
  }

  /** The range holding `key` (ranges cover the keyspace without gaps once bootstrapped). */
  find(key: Uint8Array): RangeDescriptor | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (compareKeys(key, r.startKey) < 0) hi = mid - 1;
      else if (r.endKey.length > 0 && compareKeys(key, r.endKey) >= 0) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  holdsKey(key: Uint8Array): boolean {
    return this.find(key)?.replicas.includes(this.nodeId) ?? false;
  }

  /**
   * `holdsKey` for a run of keys that are mostly in key order (a write batch, a restore's staged
   * rows): it keeps the range of the last key and asks whether the next one is inside it (two
   * compares) before searching the table again. Valid until the table changes.
   */
  holdsKeys(): (key: Uint8Array) => boolean {
    let range: RangeDescriptor | undefined;
    let held = false;
    return (key) => {
      if (range === undefined || compareKeys(key, range.startKey) < 0 || (range.endKey.length > 0 && compareKeys(key, range.endKey) >= 0)) {
        range = this.find(key);
        if (range === undefined) return false;
        held = range.replicas.includes(this.nodeId);
      }
      return held;
    };
  }

  /**
   * Whether this replica can serve a read of every key of `span` as of its applied position:
   * it holds every range from `span.start` to `span.end`, and none of them is still being
   * copied in. The coordinator routes by a range directory that names a new replica as soon
   * as the leader appends the change, while the replica is still loading its snapshot; a
   * read there would find the range empty, so it is refused and goes to another replica.
   */
  servesSpan(span: Span): boolean {
    if (this.loading.some((r) => spansOverlap({ start: r.startKey, end: r.endKey }, span))) return false;
    let key = span.start;
    for (;;) {
      const r = this.find(key);
      if (!r || !r.replicas.includes(this.nodeId)) return false;
      if (r.endKey.length === 0 || (span.end.length > 0 && compareKeys(span.end, r.endKey) <= 0)) return true;
      key = r.endKey;
    }
  }

  /** The ranges the last `apply` asked a snapshot for have their rows, committed with that entry. */
  loaded(): void {
    this.loading = [];
  }

  /**
   * Replaces the ranges overlapped by the update with the update's ranges. Returns the new
   * ranges this node holds that it did not hold before over some part of their span: those
   * need a snapshot from another replica before later writes apply on top, and serve no
   * read until `loaded`.
   */
  apply(update: readonly RangeDescriptor[]): RangeDescriptor[] {
    const needSnapshot: RangeDescriptor[] = [];
    const before = this.ranges;
    for (const r of update) {
      const overlapped = before.filter((o) => overlaps(o, r));
      const heldBefore = overlapped.length > 0 && overlapped.every((o) => o.replicas.includes(this.nodeId));
      const existedBefore = overlapped.length > 0;
      if (r.replicas.includes(this.nodeId) && existedBefore && !heldBefore) needSnapshot.push(r);
      this.ranges = this.ranges.filter((o) => !overlaps(o, r));
      this.ranges.push(r);
    }
    this.ranges.sort((a, b) => compareKeys(a.startKey, b.startKey));
    this.loading = needSnapshot;
    return needSnapshot;
  }
}

function overlaps(a: RangeDescriptor, b: RangeDescriptor): boolean {
  const aEndAfterBStart = a.endKey.length === 0 || compareKeys(a.endKey, b.startKey) > 0;
  const bEndAfterAStart = b.endKey.length === 0 || compareKeys(b.endKey, a.startKey) > 0;
  return aEndAfterBStart && bEndAfterAStart;
}
