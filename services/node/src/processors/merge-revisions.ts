import type { MvccRevision } from '@cairn/backup-format';

interface Head {
  rev: MvccRevision;
  layer: number;
  it: AsyncIterator<MvccRevision>;
}

/** (key asc, ts desc, newer layer first): the order in which a reader meets a key's history. */
function before(a: Head, b: Head): boolean {
  const c = Buffer.compare(a.rev.key, b.rev.key);
  if (c !== 0) return c < 0;
  if (a.rev.ts !== b.rev.ts) return a.rev.ts > b.rev.ts;
  return a.layer > b.layer;
}

/**
 * Merges sorted revision streams of several backup layers into one sorted stream. Layers are
 * few (a full and its incrementals), so a linear scan for the smallest head beats a heap.
 */
export async function* mergeRevisions(sources: Array<{ layer: number; revisions: AsyncIterable<MvccRevision> }>): AsyncGenerator<MvccRevision> {
  const heads: Head[] = [];
  for (const s of sources) {
    const it = s.revisions[Symbol.asyncIterator]();
    const first = await it.next();
    if (!first.done) heads.push({ rev: first.value, layer: s.layer, it });
  }
  while (heads.length > 0) {
    let min = 0;
    for (let i = 1; i < heads.length; i++) if (before(heads[i]!, heads[min]!)) min = i;
    const h = heads[min]!;
    yield h.rev;
    const next = await h.it.next();
    if (next.done) heads.splice(min, 1);
    else h.rev = next.value;
  }
}

/**
 * The state of each key at `asOf`: its newest revision at or below that time, skipped when it
 * is a deletion. Input must be in merge order.
 */
export async function* visibleAt(revisions: AsyncIterable<MvccRevision>, asOf: bigint): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
  let decided: Uint8Array | undefined;
  for await (const r of revisions) {
    if (decided && Buffer.compare(decided, r.key) === 0) continue;
    if (r.ts > asOf) continue;
    decided = r.key;
    if (r.value !== null) yield { key: r.key, value: r.value };
  }
}
