import { describe, expect, it } from 'vitest';
import type { MvccRevision } from '@cairn/backup-format';
import { mergeRevisions, visibleAt } from './merge-revisions.js';

const enc = new TextEncoder();
const rev = (key: string, ts: number, value: string | null): MvccRevision => ({ key: enc.encode(key), ts: BigInt(ts), value: value === null ? null : enc.encode(value) });
const show = (r: { key: Uint8Array; ts?: bigint; value: Uint8Array | null }) =>
  `${Buffer.from(r.key).toString()}${r.ts === undefined ? '' : `@${r.ts}`}=${r.value === null ? '-' : Buffer.from(r.value).toString()}`;

/** A layer's revisions cut into blocks of `size` (empty blocks too, as a span filter leaves them). */
async function* blocks(revs: MvccRevision[], size: number): AsyncGenerator<MvccRevision[]> {
  yield [];
  for (let i = 0; i < revs.length; i += size) yield revs.slice(i, i + size);
  yield [];
}

async function all<T>(batches: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const b of batches) out.push(...b);
  return out;
}

describe('mergeRevisions and visibleAt over blocks', () => {
  // Each layer sorted (key asc, ts desc); keys spread over several blocks of each.
  const full = Array.from({ length: 3000 }, (_, i) => rev(`k${String(i).padStart(5, '0')}`, 10, `f${i}`));
  const inc1 = [rev('k00001', 20, null), rev('k00500', 20, 'i500'), rev('k02999', 20, 'i2999'), rev('k03000', 20, 'new')];
  const inc2 = [rev('k00001', 30, 'back'), rev('k00500', 25, 'j500'), rev('k00500', 20, 'dup-ts-newer-layer'), rev('k02999', 30, null)];

  it('merges layers in (key asc, ts desc, newer layer first) order, whatever the block sizes', async () => {
    const merged = await all(mergeRevisions([
      { layer: 0, blocks: blocks(full, 7) },
      { layer: 1, blocks: blocks(inc1, 1) },
      { layer: 2, blocks: blocks(inc2, 3) },
    ]));
    expect(merged).toHaveLength(full.length + inc1.length + inc2.length);
    expect(merged.slice(0, 5).map(show)).toEqual(['k00000@10=f0', 'k00001@30=back', 'k00001@20=-', 'k00001@10=f1', 'k00002@10=f2']);
    const at500 = merged.filter((r) => show(r).startsWith('k00500'));
    expect(at500.map(show)).toEqual(['k00500@25=j500', 'k00500@20=dup-ts-newer-layer', 'k00500@20=i500', 'k00500@10=f500']);
    for (let i = 1; i < merged.length; i++) {
      const c = Buffer.compare(merged[i - 1]!.key, merged[i]!.key);
      expect(c < 0 || (c === 0 && merged[i - 1]!.ts >= merged[i]!.ts)).toBe(true);
    }
  });

  it('keeps each key as of the restore time, deletions dropped, across batch edges', async () => {
    const at = (asOf: number) =>
      all(visibleAt(mergeRevisions([
        { layer: 0, blocks: blocks(full, 1000) },
        { layer: 1, blocks: blocks(inc1, 2) },
        { layer: 2, blocks: blocks(inc2, 2) },
      ]), BigInt(asOf)));
    const latest = await at(30);
    expect(latest).toHaveLength(3000); // k00001 back, k02999 deleted, k03000 added
    expect(latest.slice(0, 2).map(show)).toEqual(['k00000=f0', 'k00001=back']);
    expect(latest.filter((r) => show(r).startsWith('k00500')).map(show)).toEqual(['k00500=j500']);
    expect(latest.some((r) => show(r).startsWith('k02999'))).toBe(false);
    expect(show(latest[latest.length - 1]!)).toBe('k03000=new');
    const mid = await at(20);
    expect(mid.some((r) => show(r).startsWith('k00001'))).toBe(false);
    expect(mid.filter((r) => show(r).startsWith('k00500')).map(show)).toEqual(['k00500=dup-ts-newer-layer']);
    expect(await at(10)).toHaveLength(3000);
    expect((await at(5)).length).toBe(0);
  });

  it('passes a single layer through and ends on empty input', async () => {
    expect((await all(mergeRevisions([{ layer: 0, blocks: blocks(full, 64) }]))).map(show)).toEqual(full.map(show));
    expect(await all(mergeRevisions([{ layer: 0, blocks: blocks([], 4) }]))).toEqual([]);
    expect(await all(mergeRevisions([]))).toEqual([]);
  });
});
