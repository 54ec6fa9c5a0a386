import type { MvccRevision } from '@cairn/backup-format';

/** Merged revisions per yielded batch. */
const MERGED_BATCH = 1024;

interface Head {
  layer: number;
  it: AsyncIterator<MvccRevision[]>;
  block: MvccRevision[];
  at: number;
}

/** (key asc, ts desc, newer layer first): the order in which a reader meets a key's history. */
function before(a: MvccRevision, aLayer: number, b: MvccRevision, bLayer: number): boolean {
  const c = Buffer.compare(a.key, b.key);
  if (c !== 0) return c < 0;
  if (a.ts !== b.ts) return a.ts > b.ts;
  return aLayer > bLayer;
}

/** Moves a head to its source's next non-empty block; false when the source is done. */
async function refill(h: Head): Promise<boolean> {
  for (;;) {
    const next = await h.it.next();
    if (next.done) return false;
    if (next.value.length > 0) {
      h.block = next.value;
      h.at = 0;
      return true;
    }
  }
}

/**
 * Merges sorted revision streams of several backup layers, each given block by block, into
 * one sorted stream of batches. The merge itself is synchronous: it awaits only when a layer
 * needs its next block, not once per revision (a restore of one layer passes its blocks
 * through). Layers are few (a full and its incrementals), so a linear scan for the smallest
 * head beats a heap.
 */
export async function* mergeRevisions(sources: Array<{ layer: number; blocks: AsyncIterable<MvccRevision[]> }>): AsyncGenerator<MvccRevision[]> {
  const heads: Head[] = [];
  for (const s of sources) {
    const h: Head = { layer: s.layer, it: s.blocks[Symbol.asyncIterator](), block: [], at: 0 };
    if (await refill(h)) heads.push(h);
  }
  let out: MvccRevision[] = [];
  while (heads.length > 1) {
    let min = heads[0] as Head;
    let minIndex = 0;
    for (let i = 1; i < heads.length; i++) {
      const h = heads[i] as Head;
      if (before(h.block[h.at] as MvccRevision, h.layer, min.block[min.at] as MvccRevision, min.layer)) {
        min = h;
        minIndex = i;
      }
    }
    out.push(min.block[min.at++] as MvccRevision);
    if (min.at >= min.block.length && !(await refill(min))) heads.splice(minIndex, 1);
    if (out.length >= MERGED_BATCH) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
  const last = heads[0];
  if (last === undefined) return;
  do yield last.at === 0 ? last.block : last.block.slice(last.at);
  while (await refill(last));
}

/**
 * The state of each key at `asOf`: its newest revision at or below that time, skipped when it
 * is a deletion. Input must be in merge order; a key's history may span batches.
 */
export async function* visibleAt(batches: AsyncIterable<MvccRevision[]>, asOf: bigint): AsyncGenerator<Array<{ key: Uint8Array; value: Uint8Array }>> {
  let decided: Uint8Array | undefined;
  for await (const batch of batches) {
    const out: Array<{ key: Uint8Array; value: Uint8Array }> = [];
    for (const r of batch) {
      if (decided && Buffer.compare(decided, r.key) === 0) continue;
      if (r.ts > asOf) continue;
      decided = r.key;
      if (r.value !== null) out.push({ key: r.key, value: r.value });
    }
    if (out.length > 0) yield out;
  }
}
