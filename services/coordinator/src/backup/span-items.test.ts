import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { ClusterState, WorkClaimer, WorkQueue, connectNats, type WorkHandler } from '@cairn/cluster';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { runSpanItems, type SpanItem } from './span-items.js';

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
const claimers: WorkClaimer[] = [];

async function state(): Promise<ClusterState> {
  const nc = await connectNats(server.url, 'span-items-test');
  connections.push(nc);
  return ClusterState.open(nc);
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A node that answers each item of `kind` with `done:<payload>`, after `delayMs`, noting the
 * payloads it handled in `handled`.
 */
async function startEchoNode(nodeId: number, o: { delayMs?: number; kind?: string; handled?: string[] } = {}): Promise<void> {
  const echo: WorkHandler = async (payload) => {
    o.handled?.push(dec(payload));
    if ((o.delayMs ?? 0) > 0) await new Promise((r) => setTimeout(r, o.delayMs));
    return enc(`done:${dec(payload)}`);
  };
  const c = new WorkClaimer(await state(), { nodeId, locality: [], handlers: { [o.kind ?? 'echo']: echo }, concurrency: 4 });
  await c.start();
  claimers.push(c);
}

beforeAll(async () => {
  server = await startNatsServer();
  await startEchoNode(1);
});

afterAll(async () => {
  for (const c of claimers) await c.stop();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server.stop();
});

describe('runSpanItems', () => {
  it('yields every item not done once, in more than one window of publishes', async () => {
    const q = await WorkQueue.open(await state());
    // More items than publishes in flight: nodes report the first ones while later ones are queued.
    const items: SpanItem[] = Array.from({ length: 100 }, (_, i) => ({ id: String(i), payload: enc(`item-${i}`) }));
    const done = new Set(['3', '40']);
    const seen = new Map<string, string>();
    const signal = AbortSignal.timeout(60_000);
    for await (const r of runSpanItems(q, 'job-span-items', { kind: 'echo', ackWaitMs: 5000 }, items, done, signal)) {
      expect(seen.has(r.itemId)).toBe(false);
      seen.set(r.itemId, dec(r.payload));
    }
    expect(signal.aborted).toBe(false);
    expect(seen.size).toBe(98);
    expect(seen.has('3') || seen.has('40')).toBe(false);
    expect(seen.get('99')).toBe('done:item-99');
    await q.closeJob('job-span-items');
    q.close();
  }, 90_000);

  it('ends with the error of a publish that fails, without waiting for results that cannot come', async () => {
    const q = await WorkQueue.open(await state());
    // Larger than any message nats-server takes: refused by the client, not retried.
    const items: SpanItem[] = [
      { id: '0', payload: enc('small') },
      { id: '1', payload: new Uint8Array(16 * 1024 * 1024) },
    ];
    const started = Date.now();
    const run = (async () => {
      // A kind no node handles: no result ever comes, so the run can only end on the publish error.
      for await (const r of runSpanItems(q, 'job-span-items-fail', { kind: 'unhandled', ackWaitMs: 5000 }, items, new Set(), AbortSignal.timeout(60_000))) void r;
    })();
    await expect(run).rejects.toThrow(/payload/i);
    // Nothing waits for results of a run that could not queue its items.
    expect(Date.now() - started).toBeLessThan(10_000);
    await q.closeJob('job-span-items-fail');
    q.close();
  }, 90_000);

  it('queues nothing before beforePublish has settled (a backup protection record)', async () => {
    const handled: string[] = [];
    await startEchoNode(2, { kind: 'counted-ok', handled });
    const q = await WorkQueue.open(await state());
    const items: SpanItem[] = [{ id: '0', payload: enc('a') }, { id: '1', payload: enc('b') }];
    let settle!: () => void;
    let settled = false;
    const before = new Promise<void>((r) => (settle = r)).then(() => void (settled = true));
    const run = (async () => {
      const out: string[] = [];
      for await (const r of runSpanItems(q, 'job-span-items-before', { kind: 'counted-ok' }, items, new Set(), AbortSignal.timeout(30_000), before)) {
        // Every result is of an item queued after the record was in place.
        expect(settled).toBe(true);
        out.push(r.itemId);
      }
      return out.sort();
    })();
    await new Promise((r) => setTimeout(r, 300));
    expect(handled).toEqual([]);
    settle();
    await expect(run).resolves.toEqual(['0', '1']);
    expect(handled.sort()).toEqual(['a', 'b']);
    await q.closeJob('job-span-items-before');
    q.close();
  }, 60_000);

  it('ends with the error of beforePublish, ahead of the queue and with nothing queued', async () => {
    const handled: string[] = [];
    await startEchoNode(3, { kind: 'counted-fail', handled });
    const q = await WorkQueue.open(await state());
    const failure = new Error('protected timestamp record refused');
    const before = new Promise<never>((_, reject) => setTimeout(() => reject(failure), 50));
    const run = (async () => {
      for await (const r of runSpanItems(q, 'job-span-items-before-fail', { kind: 'counted-fail' }, [{ id: '0', payload: enc('x') }], new Set(), AbortSignal.timeout(30_000), before)) void r;
    })();
    await expect(run).rejects.toBe(failure);
    await new Promise((r) => setTimeout(r, 300));
    expect(handled).toEqual([]);
    await q.closeJob('job-span-items-before-fail');
    q.close();
  }, 60_000);

  it('returns at once when every item is done, after (re)opening the queue', async () => {
    const q = await WorkQueue.open(await state());
    const items: SpanItem[] = [{ id: '0', payload: enc('a') }];
    const out: string[] = [];
    for await (const r of runSpanItems(q, 'job-span-items-done', { kind: 'echo' }, items, new Set(['0']), AbortSignal.timeout(10_000))) out.push(r.itemId);
    expect(out).toEqual([]);
    await q.closeJob('job-span-items-done');
    q.close();
  });
});
