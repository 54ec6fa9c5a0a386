import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import type { WorkResult } from '@cairn/proto';
import { connectNats } from './nats-connection.js';
import { ClusterState } from './state-buckets.js';
import { WorkClaimer, WorkQueue, workError, type WorkHandler } from './work-queue.js';
import { NodeRegistry } from './node-registry.js';

let server: NatsServerHandle;
const connections: NatsConnection[] = [];

async function state(): Promise<ClusterState> {
  const nc = await connectNats(server.url, 'work-queue-test');
  connections.push(nc);
  return ClusterState.open(nc);
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function collect(q: WorkQueue, jobId: string, count: number, timeoutMs = 30_000): Promise<WorkResult[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const out: WorkResult[] = [];
  const seen = new Set<string>();
  for await (const r of q.results(jobId, ctl.signal)) {
    out.push(r);
    seen.add(r.itemId);
    if (seen.size >= count) break;
  }
  clearTimeout(timer);
  return out;
}

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server.stop();
});

describe('WorkQueue and WorkClaimer', () => {
  it('spreads items over eligible nodes, reports each once, and ignores republished items', async () => {
    const q = await WorkQueue.open(await state());
    const jobId = 'job-spread';
    await q.openJob(jobId, { kind: 'echo', ackWaitMs: 2000 });
    const handled: Record<number, number> = { 1: 0, 2: 0, 3: 0 };
    const claimers = [1, 2, 3].map(async (nodeId) => {
      const handler: WorkHandler = async (payload) => {
        handled[nodeId]!++;
        await new Promise((r) => setTimeout(r, 20));
        return enc(`${nodeId}:${dec(payload)}`);
      };
      const locality = nodeId === 3 ? [{ key: 'region', value: 'eu-west1' }] : [{ key: 'region', value: 'us-east1' }];
      const c = new WorkClaimer(await state(), { nodeId, locality, handlers: { echo: handler } });
      await c.start();
      return c;
    });
    const started = await Promise.all(claimers);
    for (let i = 0; i < 30; i++) await q.publish(jobId, `item-${i}`, enc(String(i)));
    // The same ids again (a coordinator that failed over republishes): deduplicated.
    for (let i = 0; i < 30; i++) await q.publish(jobId, `item-${i}`, enc(String(i)));
    const results = await collect(q, jobId, 30);
    expect(new Set(results.map((r) => r.itemId)).size).toBe(30);
    expect(results.every((r) => r.outcome?.$case === 'payload')).toBe(true);
    const total = handled[1]! + handled[2]! + handled[3]!;
    expect(total).toBe(30);
    for (const n of [1, 2, 3]) expect(handled[n]!).toBeGreaterThan(0);
    await q.closeJob(jobId);
    await Promise.all(started.map((c) => c.stop()));
  });

  it('only nodes matching the locality filter claim work', async () => {
    const q = await WorkQueue.open(await state());
    const jobId = 'job-locality';
    await q.openJob(jobId, { kind: 'echo', localityFilter: [{ key: 'region', value: 'us-west1' }] });
    const nodesThatWorked = new Set<number>();
    const mk = async (nodeId: number, region: string) => {
      const c = new WorkClaimer(await state(), {
        nodeId,
        locality: [{ key: 'region', value: region }, { key: 'zone', value: `${region}-b` }],
        handlers: {
          echo: async (p) => {
            nodesThatWorked.add(nodeId);
            return p;
          },
        },
      });
      await c.start();
      return c;
    };
    const cs = [await mk(1, 'us-east1'), await mk(2, 'us-west1'), await mk(3, 'eu-west1')];
    for (let i = 0; i < 10; i++) await q.publish(jobId, `i${i}`, enc('x'));
    const results = await collect(q, jobId, 10);
    expect(results.every((r) => r.nodeId === 2)).toBe(true);
    expect([...nodesThatWorked]).toEqual([2]);
    await q.closeJob(jobId);
    await Promise.all(cs.map((c) => c.stop()));
  });

  it('redelivers the item of a node that died mid-work to another node', async () => {
    const q = await WorkQueue.open(await state());
    const jobId = 'job-redeliver';
    await q.openJob(jobId, { kind: 'slow', ackWaitMs: 1000 });
    const doomedState = await state();
    let doomedStarted!: () => void;
    const doomedGotItem = new Promise<void>((r) => (doomedStarted = r));
    const doomed = new WorkClaimer(doomedState, {
      nodeId: 1,
      locality: [],
      concurrency: 1,
      handlers: {
        slow: async () => {
          doomedStarted();
          await new Promise(() => undefined); // never finishes: the node "dies" holding it
          return enc('never');
        },
      },
    });
    await doomed.start();
    await q.publish(jobId, 'only', enc('x'));
    await doomedGotItem;
    // Death: its connection goes away, so no more heartbeats and no ack.
    await doomedState.nc.close();
    const survivor = new WorkClaimer(await state(), { nodeId: 2, locality: [], handlers: { slow: async () => enc('done') } });
    await survivor.start();
    const [r] = await collect(q, jobId, 1);
    expect(r?.nodeId).toBe(2);
    expect(r?.attempt).toBeGreaterThanOrEqual(2);
    await q.closeJob(jobId);
    await survivor.stop();
  });

  it('retries retryable failures and reports terminal ones as error results', async () => {
    const q = await WorkQueue.open(await state());
    const jobId = 'job-errors';
    await q.openJob(jobId, { kind: 'flaky', ackWaitMs: 2000, maxAttempts: 3 });
    const attempts = new Map<string, number>();
    const c = new WorkClaimer(await state(), {
      nodeId: 7,
      locality: [],
      handlers: {
        flaky: async (payload, ctx) => {
          attempts.set(ctx.itemId, ctx.attempt);
          const mode = dec(payload);
          if (mode === 'flaky' && ctx.attempt < 2) throw new CairnError(ErrorCode.Unavailable, 'storage hiccup', { retryable: true });
          if (mode === 'broken') throw new CairnError(ErrorCode.Corruption, 'checksum mismatch in data file x.sst');
          if (mode === 'always-down') throw new CairnError(ErrorCode.Unavailable, 'bucket unreachable', { retryable: true });
          return enc('ok');
        },
      },
    });
    await c.start();
    await q.publish(jobId, 'flaky', enc('flaky'));
    await q.publish(jobId, 'broken', enc('broken'));
    await q.publish(jobId, 'always-down', enc('always-down'));
    const results = await collect(q, jobId, 3, 60_000);
    const byId = new Map(results.map((r) => [r.itemId, r]));
    expect(byId.get('flaky')?.outcome?.$case).toBe('payload');
    expect(attempts.get('flaky')).toBe(2);
    expect(workError(byId.get('broken')!)?.code).toBe(ErrorCode.Corruption);
    expect(workError(byId.get('broken')!)?.message).toContain('checksum mismatch');
    expect(attempts.get('broken')).toBe(1);
    expect(workError(byId.get('always-down')!)?.code).toBe(ErrorCode.Unavailable);
    expect(attempts.get('always-down')).toBe(3);
    await q.closeJob(jobId);
    await c.stop();
  });

  describe('routed jobs', () => {
    // Node records as heartbeats write them: live ones refreshed every 500 ms, a dead one stale.
    const heartbeating = new Map<number, boolean>();
    let beat: NodeJS.Timeout | undefined;
    async function heartbeats(nodes: Record<number, string>): Promise<void> {
      const registry = new NodeRegistry((await state()).nodes);
      const put = async () => {
        for (const [id, region] of Object.entries(nodes)) {
          const nodeId = Number(id);
          const live = heartbeating.get(nodeId) ?? true;
          await registry.put({
            nodeId, address: '', locality: [{ key: 'region', value: region }], startedAtMs: 0n,
            heartbeatAtMs: BigInt(live ? Date.now() : Date.now() - 60_000), ranges: 0, appliedSeq: 0n, draining: false, buildVersion: '',
          });
        }
      };
      await put();
      beat = setInterval(() => void put(), 500);
    }
    afterAll(() => clearInterval(beat));

    it('sends each item to a live holder, spread over the holders', async () => {
      await heartbeats({ 11: 'us-east1', 12: 'us-west1', 13: 'eu-west1' });
      const q = await WorkQueue.open(await state());
      const jobId = 'job-routed';
      await q.openJob(jobId, { kind: 'echo', ackWaitMs: 2000, routed: true });
      const byNode = new Map<number, string[]>();
      const cs = await Promise.all([11, 12, 13].map(async (nodeId) => {
        const c = new WorkClaimer(await state(), {
          nodeId,
          locality: [],
          handlers: { echo: async (_p, ctx) => (byNode.set(nodeId, [...(byNode.get(nodeId) ?? []), ctx.itemId]), enc('ok')) },
        });
        await c.start();
        return c;
      }));
      // Even items live on 11 and 12, odd ones on 13 alone.
      const holders = (i: number) => (i % 2 === 0 ? [11, 12] : [13]);
      for (let i = 0; i < 20; i++) await q.publish(jobId, `i${i}`, enc('x'), holders(i));
      const results = await collect(q, jobId, 20);
      expect(new Set(results.map((r) => r.itemId)).size).toBe(20);
      for (const r of results) expect(holders(Number(r.itemId.slice(1)))).toContain(r.nodeId);
      // Balanced: the ten even items split five and five.
      expect(byNode.get(11)?.length).toBe(5);
      expect(byNode.get(12)?.length).toBe(5);
      expect(byNode.get(13)?.length).toBe(10);
      await q.closeJob(jobId);
      const left = [];
      for await (const c of (await state()).jsm.consumers.list('CAIRN_WORK')) if (c.name.startsWith(`work-${jobId}`)) left.push(c.name);
      expect(left).toEqual([]);
      q.close();
      await Promise.all(cs.map((c) => c.stop()));
    });

    it('falls back to another node when the holder dies, its claimed item included', async () => {
      const q = await WorkQueue.open(await state());
      const jobId = 'job-routed-fallback';
      await q.openJob(jobId, { kind: 'work', ackWaitMs: 1500, routed: true });
      const holderState = await state();
      let holderStarted!: () => void;
      const holderGotItem = new Promise<void>((r) => (holderStarted = r));
      const holder = new WorkClaimer(holderState, {
        nodeId: 11,
        locality: [],
        concurrency: 1,
        handlers: {
          work: async () => {
            holderStarted();
            await new Promise(() => undefined); // never finishes: the node dies holding it
            return enc('never');
          },
        },
      });
      const handledBy12: string[] = [];
      const other = new WorkClaimer(await state(), {
        nodeId: 12,
        locality: [],
        handlers: { work: async (_p, ctx) => (handledBy12.push(ctx.itemId), enc('done')) },
      });
      await holder.start();
      await other.start();
      for (let i = 0; i < 6; i++) await q.publish(jobId, `i${i}`, enc('x'), [11]);
      await holderGotItem;
      // While the holder lives, nobody else takes its items.
      await new Promise((r) => setTimeout(r, 1500));
      expect(handledBy12).toEqual([]);
      // Death: its connection goes, its heartbeat goes stale.
      await holderState.nc.close();
      heartbeating.set(11, false);
      const results = await collect(q, jobId, 6);
      expect(new Set(results.map((r) => r.itemId)).size).toBe(6);
      expect(results.every((r) => r.nodeId === 12 && r.outcome?.$case === 'payload')).toBe(true);
      expect(handledBy12.sort()).toEqual(['i0', 'i1', 'i2', 'i3', 'i4', 'i5']);
      await q.closeJob(jobId);
      q.close();
      await other.stop();
      await holder.stop();
    });
  });
});
