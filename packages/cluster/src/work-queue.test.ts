import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, createInbox, type NatsConnection } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
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

  // A delivery that ends with no outcome still counts at the server: the node holding it died,
  // drained, or never saw it (nats.js drops a message that reaches a fetch it has already
  // closed, which a loaded machine makes likely). The server must keep delivering the item until
  // a node reports it, or the job waits for its result forever.
  describe('deliveries that end without an outcome', () => {
    interface Node {
      state: ClusterState;
      claimer: WorkClaimer;
    }

    /** A node that takes one item and never finishes it; resolves with the node once it has. */
    async function nodeThatHangs(nodeId: number, kind: string): Promise<Node> {
      const s = await state();
      let started!: () => void;
      const gotItem = new Promise<void>((r) => (started = r));
      const claimer = new WorkClaimer(s, {
        nodeId,
        locality: [],
        concurrency: 1,
        handlers: {
          [kind]: async (_p, ctx) => {
            started();
            await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
            return enc('never');
          },
        },
      });
      await claimer.start();
      await gotItem;
      return { state: s, claimer };
    }

    /** The node's connection goes away: no more heartbeats, no ack, no nak. */
    async function die(node: Node): Promise<void> {
      await node.state.nc.close();
      await node.claimer.stop();
    }

    // The drained node hands the item back with a nak, so the next delivery comes at once, well
    // before the ack wait that a dead node's item waits out.
    it.each([
      { how: 'died with its node', kind: 'lost', ackWaitMs: 1000, end: die, withinMs: 15_000 },
      { how: 'was handed back by a draining node', kind: 'drained', ackWaitMs: 5000, end: (n: Node) => n.claimer.drain(0), withinMs: 4000 },
    ])('reports an item whose last attempt $how, from the next delivery', async ({ kind, ackWaitMs, end, withinMs }) => {
      const q = await WorkQueue.open(await state());
      const jobId = `job-last-attempt-${kind}`;
      await q.openJob(jobId, { kind, ackWaitMs, maxAttempts: 1 });
      await q.publish(jobId, 'only', enc('x'));
      await end(await nodeThatHangs(1, kind));
      const other = new WorkClaimer(await state(), { nodeId: 2, locality: [], handlers: { [kind]: async () => enc('done') } });
      await other.start();
      const results = await collect(q, jobId, 1, withinMs);
      expect(results.map((r) => [r.nodeId, r.attempt, r.outcome?.$case])).toEqual([[2, 2, 'payload']]);
      await q.closeJob(jobId);
      await other.stop();
    });

    it('fails an item, without running it again, once nodes keep dying on it', async () => {
      const q = await WorkQueue.open(await state());
      const jobId = 'job-kills-nodes';
      await q.openJob(jobId, { kind: 'deadly', ackWaitMs: 1000, maxAttempts: 1 });
      await q.publish(jobId, 'only', enc('x'));
      for (const nodeId of [1, 2]) await die(await nodeThatHangs(nodeId, 'deadly'));
      let ran = 0;
      const survivor = new WorkClaimer(await state(), { nodeId: 3, locality: [], handlers: { deadly: async () => (ran++, enc('done')) } });
      await survivor.start();
      const [r, ...more] = await collect(q, jobId, 1, 15_000);
      expect(more).toEqual([]);
      expect(r?.attempt).toBe(3);
      expect(workError(r!)?.code).toBe(ErrorCode.Unavailable);
      expect(workError(r!)?.message).toContain('delivered 3 times without an outcome');
      expect(ran).toBe(0);
      await q.closeJob(jobId);
      await survivor.stop();
    });

    it('reports an item whose redelivery went to a pull its client had given up (the CI flake)', async () => {
      const s = await state();
      const q = await WorkQueue.open(s);
      const jobId = 'job-dead-pull';
      await q.openJob(jobId, { kind: 'busy', ackWaitMs: 1000, maxAttempts: 2 });
      let slowStarted!: () => void;
      const busy = new Promise<void>((r) => (slowStarted = r));
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const c = new WorkClaimer(await state(), {
        nodeId: 1,
        locality: [],
        concurrency: 1,
        handlers: {
          busy: async (payload) => {
            if (dec(payload) === 'down') throw new CairnError(ErrorCode.Unavailable, 'bucket unreachable', { retryable: true });
            slowStarted();
            await released;
            return enc('ok');
          },
        },
      });
      await c.start();
      await q.publish(jobId, 'down', enc('down'));
      await q.publish(jobId, 'slow', enc('slow'));
      // 'down' failed and waits for its redelivery; the node works on 'slow' with no pull out.
      await busy;
      // The only pull on the server is then one whose client has given up on it, as a nats.js
      // fetch that timed out before the server expired its pull (on a loaded machine). The
      // server hands 'down' to it when its nak's delay ends, and nats-server 2.9 loses it
      // there. (Only the time passes meanwhile: reading the consumer's info would clear the pull.)
      const inbox = createInbox();
      const sub = s.nc.subscribe(inbox);
      s.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.CAIRN_WORK.work-${jobId}`, JSON.stringify({ batch: 1, expires: 30e9 }), { reply: inbox });
      await s.nc.flush();
      await sleep(200);
      sub.unsubscribe();
      await s.nc.flush();
      await sleep(2500);
      release();
      const results = await collect(q, jobId, 2, 15_000);
      const byId = new Map(results.map((r) => [r.itemId, r]));
      expect(byId.get('slow')?.outcome?.$case).toBe('payload');
      expect(workError(byId.get('down')!)?.code).toBe(ErrorCode.Unavailable);
      expect(byId.get('down')?.attempt).toBeGreaterThanOrEqual(2);
      await q.closeJob(jobId);
      await c.stop();
    });

    it('lifts the delivery limit of a queue an older cairn created with one', async () => {
      const s = await state();
      const q = await WorkQueue.open(s);
      const jobId = 'job-old-queue';
      await s.jsm.consumers.add('CAIRN_WORK', { durable_name: `work-${jobId}`, filter_subject: `cairn.work.${jobId}`, ack_policy: AckPolicy.Explicit, max_deliver: 3 });
      await q.openJob(jobId, { kind: 'any', maxAttempts: 3 });
      expect((await s.jsm.consumers.info('CAIRN_WORK', `work-${jobId}`)).config.max_deliver).toBe(-1);
      await q.closeJob(jobId);
    });
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

    it('a new leader closes the queues of jobs that finished before theirs were closed, and no other', async () => {
      await heartbeats({ 11: 'us-east1', 12: 'us-west1', 13: 'eu-west1' });
      const jsm = (await state()).jsm;
      const queuesOf = async (ids: string[]) => {
        const names: string[] = [];
        for await (const c of jsm.consumers.list('CAIRN_WORK')) if (ids.some((id) => c.name === `work-${id}` || c.name.startsWith(`work-${id}-n`))) names.push(c.name);
        return names.sort();
      };
      const [plain, routed, running] = ['7001', '7002', '7003'];
      const q = await WorkQueue.open(await state());
      await q.openJob(plain, { kind: 'echo' });
      await q.openJob(routed, { kind: 'echo', routed: true });
      await q.openJob(running, { kind: 'echo', routed: true });
      // An item nobody claimed: the close purges it with the queue.
      await q.publish(routed, 'i0', enc('x'), [11]);
      // One close got as far as the announcement and the shared queue: the queues left are
      // found by their names.
      await q.announcements.delete(routed);
      await jsm.consumers.delete('CAIRN_WORK', `work-${routed}`);
      q.close();
      expect(await queuesOf([plain, routed])).toEqual([`work-${plain}`, `work-${routed}-n11`, `work-${routed}-n12`, `work-${routed}-n13`]);

      // Their coordinator stored both successes and died before closing them.
      const next = await WorkQueue.open(await state());
      const asked = new Set<string>();
      const finished = new Set([plain, routed]);
      const closed = await next.closeFinishedJobs(async (id) => (asked.add(id), finished.has(id)));
      expect(closed.sort()).toEqual([plain, routed]);
      expect(asked).toContain(running);
      expect(await queuesOf([plain, routed])).toEqual([]);
      expect(await queuesOf([running])).toEqual([`work-${running}`, `work-${running}-n11`, `work-${running}-n12`, `work-${running}-n13`]);
      const announced: string[] = [];
      for await (const k of await next.announcements.keys()) announced.push(k);
      expect(announced).toContain(running);
      expect(announced).not.toContain(plain);
      expect(announced).not.toContain(routed);
      expect((await jsm.streams.info('CAIRN_WORK', { subjects_filter: `cairn.work.${routed}.>` })).state.subjects?.[`cairn.work.${routed}.n11`] ?? 0).toBe(0);
      // Nothing left to do on a second pass.
      expect(await next.closeFinishedJobs(async (id) => finished.has(id))).toEqual([]);
      await next.closeJob(running);
      next.close();
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
