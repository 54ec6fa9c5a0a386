import type { KV } from 'nats';
import { readAllKeys } from '@cairn/cluster';
import { compareKeys, KEY_MIN, tablePrefix, FIRST_USER_ID, type Span } from '@cairn/keys';
import { RangeDescriptor, type LocalityTier, type NodeRecord } from '@cairn/proto';

/**
 * The coordinator leader's map of ranges: contiguous spans covering the whole keyspace, each
 * with its replica set. Mutations return the changed descriptors; the leader publishes them
 * to the write log (so replicas learn them in log order) and saves them in the ranges bucket.
 */
export class RangeDirectory {
  private ranges: RangeDescriptor[] = [];
  private nextRangeId = 1;

  private constructor(private readonly kv: KV) {}

  static async load(kv: KV): Promise<RangeDirectory> {
    const d = new RangeDirectory(kv);
    const stored: RangeDescriptor[] = [];
    for (const value of (await readAllKeys(kv)).values()) stored.push(RangeDescriptor.decode(value));
    d.ranges = tileRanges(stored);
    d.nextRangeId = d.ranges.reduce((m, r) => Math.max(m, r.rangeId), 0) + 1;
    return d;
  }

  get isBootstrapped(): boolean {
    return this.ranges.length > 0;
  }

  all(): readonly RangeDescriptor[] {
    return this.ranges;
  }

  /** The first ranges: the system span (descriptors, namespace, settings) and user data. */
  bootstrap(nodes: readonly NodeRecord[], replicationFactor: number): RangeDescriptor[] {
    const split = tablePrefix(FIRST_USER_ID);
    const replicas = this.place([], nodes, replicationFactor);
    this.ranges = [
      { rangeId: this.nextRangeId++, startKey: KEY_MIN, endKey: split, replicas, generation: 1 },
      { rangeId: this.nextRangeId++, startKey: split, endKey: new Uint8Array(0), replicas: [...replicas], generation: 1 },
    ];
    return [...this.ranges];
  }

  /** Ranges overlapping `span`, in key order. */
  overlapping(span: Span): RangeDescriptor[] {
    return this.ranges.filter(
      (r) =>
        (r.endKey.length === 0 || compareKeys(r.endKey, span.start) > 0) &&
        (span.end.length === 0 || compareKeys(r.startKey, span.end) < 0),
    );
  }

  find(key: Uint8Array): RangeDescriptor | undefined {
    return this.ranges.find(
      (r) => compareKeys(r.startKey, key) <= 0 && (r.endKey.length === 0 || compareKeys(key, r.endKey) < 0),
    );
  }

  /**
   * Splits at every key of `keys` (those not already boundaries); returns each changed range
   * once, as it ends up (a range cut twice is in the list once, with its final span).
   */
  splitAtKeys(keys: readonly Uint8Array[]): RangeDescriptor[] {
    const changed = new Map<number, RangeDescriptor>();
    for (const k of keys) for (const r of this.splitAt(k)) changed.set(r.rangeId, r);
    return [...changed.values()];
  }

  /** Splits the ranges containing `key` (unless it is already a boundary). Replicas are kept. */
  splitAt(key: Uint8Array): RangeDescriptor[] {
    const r = this.find(key);
    if (!r || compareKeys(r.startKey, key) === 0) return [];
    const left: RangeDescriptor = { ...r, endKey: key, generation: r.generation + 1 };
    const right: RangeDescriptor = {
      rangeId: this.nextRangeId++,
      startKey: key,
      endKey: r.endKey,
      replicas: [...r.replicas],
      generation: r.generation + 1,
    };
    this.ranges = this.ranges.filter((x) => x !== r).concat(left, right);
    this.sort();
    return [left, right];
  }

  /**
   * Adds replicas to ranges below the replication factor (capped by live nodes), choosing
   * nodes in localities the range does not use yet, then the least loaded.
   */
  upreplicate(live: readonly NodeRecord[], replicationFactor: number): RangeDescriptor[] {
    const want = Math.min(replicationFactor, live.length);
    const changed: RangeDescriptor[] = [];
    for (let i = 0; i < this.ranges.length; i++) {
      const r = this.ranges[i]!;
      const liveReplicas = r.replicas.filter((n) => live.some((l) => l.nodeId === n));
      if (liveReplicas.length >= want) continue;
      const replicas = this.place(r.replicas, live, want - liveReplicas.length + r.replicas.length);
      if (replicas.length === r.replicas.length) continue;
      const updated = { ...r, replicas, generation: r.generation + 1 };
      this.ranges[i] = updated;
      changed.push(updated);
    }
    return changed;
  }

  replicaCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const r of this.ranges) for (const n of r.replicas) counts.set(n, (counts.get(n) ?? 0) + 1);
    return counts;
  }

  async persist(changed: readonly RangeDescriptor[]): Promise<void> {
    await Promise.all(changed.map((r) => this.kv.put(String(r.rangeId), RangeDescriptor.encode(r).finish())));
  }

  private place(existing: readonly number[], nodes: readonly NodeRecord[], target: number): number[] {
    const out = [...existing];
    const counts = this.replicaCounts();
    const regionOf = (n: number) => region(nodes.find((x) => x.nodeId === n)?.locality ?? []);
    while (out.length < target) {
      const used = new Set(out.map(regionOf));
      const candidates = nodes
        .filter((n) => !out.includes(n.nodeId))
        .sort(
          (a, b) =>
            Number(used.has(region(a.locality))) - Number(used.has(region(b.locality))) ||
            (counts.get(a.nodeId) ?? 0) - (counts.get(b.nodeId) ?? 0) ||
            a.nodeId - b.nodeId,
        );
      const pick = candidates[0];
      if (!pick) break;
      out.push(pick.nodeId);
    }
    return out;
  }

  private sort(): void {
    this.ranges.sort((a, b) => compareKeys(a.startKey, b.startKey));
  }
}

function region(tiers: readonly LocalityTier[]): string {
  return tiers.map((t) => `${t.key}=${t.value}`).join(',').split(',')[0] ?? '';
}

/**
 * The stored ranges made into a tiling of the keyspace again. A split writes two keys (the
 * shrunk left range and the new right one) without a transaction; a leader that dies
 * between the two writes leaves the left range at its old end, overlapping the right one,
 * and every read of the overlap would count it twice. Only splits change ranges, so an
 * overlap always means "this range was split at the next range's start": the left range is
 * cut there, as the split intended. (The leader re-publishes the whole directory on
 * election, so replicas and the store follow.)
 */
export function tileRanges(stored: readonly RangeDescriptor[]): RangeDescriptor[] {
  const sorted = [...stored].sort((a, b) => compareKeys(a.startKey, b.startKey) || a.rangeId - b.rangeId);
  const out: RangeDescriptor[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && compareKeys(prev.startKey, r.startKey) === 0) {
      // Two ranges starting at one key: keep the one split most recently (higher generation).
      if (r.generation > prev.generation || (r.generation === prev.generation && r.rangeId > prev.rangeId)) out[out.length - 1] = r;
      continue;
    }
    if (prev && (prev.endKey.length === 0 || compareKeys(prev.endKey, r.startKey) > 0)) {
      out[out.length - 1] = { ...prev, endKey: r.startKey, generation: Math.max(prev.generation, r.generation) };
    }
    out.push(r);
  }
  return out;
}
