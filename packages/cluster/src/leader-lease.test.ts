import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type KV, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { LeaderLease, type LeaderInfo } from './leader-lease.js';
import { connectNats } from './nats-connection.js';
import { ClusterState } from './state-buckets.js';

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
const leases: LeaderLease[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterEach(async () => {
  await Promise.allSettled(leases.splice(0).map((l) => l.stop()));
  await Promise.allSettled(connections.splice(0).map((nc) => nc.close()));
});
afterAll(async () => {
  await server?.stop();
});

/** A fresh lease bucket with `ttlMs`, opened from its own connection per contender. */
async function leaseBucket(ttlMs: number): Promise<{ name: string; open: () => Promise<{ nc: NatsConnection; kv: KV }> }> {
  const name = `lease_${randomUUID().slice(0, 8)}`;
  const open = async () => {
    const nc = await connectNats(server.url, `lease-test-${name}`);
    connections.push(nc);
    const kv = await nc.jetstream().views.kv(name, { ttl: ttlMs, history: 1 });
    return { nc, kv };
  };
  return { name, open };
}

interface Contender {
  lease: LeaderLease;
  nc: NatsConnection;
  elected: number[];
  lost: Array<{ at: number; reason: string }>;
}

async function contender(bucket: Awaited<ReturnType<typeof leaseBucket>>, id: string, ttlMs: number, o: { presence?: boolean } = {}): Promise<Contender> {
  const { nc, kv } = await bucket.open();
  const lease = new LeaderLease(kv, { coordinatorId: id, grpcAddress: `127.0.0.1:${id.charCodeAt(0)}` }, ttlMs, o.presence ? nc : undefined);
  const c: Contender = { lease, nc, elected: [], lost: [] };
  lease.on('elected', () => c.elected.push(Date.now()));
  lease.on('lost', (reason) => c.lost.push({ at: Date.now(), reason }));
  leases.push(lease);
  return c;
}

function tickOf(ttlMs: number): number {
  return Math.max(100, Math.floor(ttlMs / 4));
}

describe('LeaderLease', () => {
  it('elects exactly one of two contenders and keeps it through renewals', async () => {
    const ttl = 1000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    const b = await contender(bucket, 'b', ttl);
    a.lease.start();
    b.lease.start();

    await waitFor(async () => a.lease.isLeader || b.lease.isLeader, { what: 'a leader', timeoutMs: 5000, intervalMs: 20 });
    // Sample for well over a TTL: if renewals did not refresh the entry it would expire and
    // the standby would win a second, concurrent leadership.
    const deadline = Date.now() + 2.5 * ttl;
    while (Date.now() < deadline) {
      expect(Number(a.lease.isLeader) + Number(b.lease.isLeader)).toBe(1);
      await sleep(25);
    }
    expect(a.elected.length + b.elected.length).toBe(1);
    expect(a.lost.length + b.lost.length).toBe(0);

    const winner = a.lease.isLeader ? 'a' : 'b';
    const holder = await a.lease.current();
    expect(holder?.coordinatorId).toBe(winner);
    expect(holder?.grpcAddress).toBe(`127.0.0.1:${winner.charCodeAt(0)}`);
    // Both contenders read the same record.
    expect(await b.lease.current()).toEqual(holder);
  });

  it('advertises when the holder acquired the lease, unchanged by renewals', async () => {
    const ttl = 800;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    const before = Date.now();
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    const first = (await a.lease.current()) as LeaderInfo;
    expect(first.coordinatorId).toBe('a');
    expect(first.acquiredAtMs).toBeGreaterThanOrEqual(before);
    expect(first.acquiredAtMs).toBeLessThanOrEqual(Date.now());

    // Let several renewals happen (tick = 200 ms).
    await sleep(3 * tickOf(ttl) + 100);
    const later = (await a.lease.current()) as LeaderInfo;
    expect(later.coordinatorId).toBe('a');
    expect(later.acquiredAtMs).toBe(first.acquiredAtMs);
  });

  it('reports no holder when the bucket is empty', async () => {
    const bucket = await leaseBucket(1000);
    const a = await contender(bucket, 'a', 1000);
    expect(await a.lease.current()).toBeUndefined();
  });

  it('hands over promptly on stop(), without waiting for the TTL', async () => {
    const ttl = 4000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    const b = await contender(bucket, 'b', ttl);
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    b.lease.start();
    await sleep(tickOf(ttl) + 100);
    expect(b.lease.isLeader).toBe(false);

    const t0 = Date.now();
    await a.lease.stop();
    expect(a.lease.isLeader).toBe(false);
    await waitFor(async () => b.lease.isLeader, { what: 'b elected', timeoutMs: ttl * 2, intervalMs: 10 });
    const elapsed = Date.now() - t0;
    // Waiting for expiry would take at least TTL - tick (3 s); a released lease is taken at
    // the standby's next tick (1 s).
    expect(elapsed).toBeLessThan(tickOf(ttl) + 700);
    expect((await b.lease.current())?.coordinatorId).toBe('b');
    expect(a.lost).toEqual([]);
  });

  it('replaces a holder that dies without releasing within TTL + a tick, after it stepped down', async () => {
    const ttl = 2000;
    const tick = tickOf(ttl);
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    const b = await contender(bucket, 'b', ttl);
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    b.lease.start();
    await sleep(tick + 100);
    expect(b.lease.isLeader).toBe(false);

    // The process "dies": it stops renewing and never releases the lease.
    const t0 = Date.now();
    await a.nc.close();
    await waitFor(async () => b.lease.isLeader, { what: 'b elected', timeoutMs: 3 * ttl, intervalMs: 10 });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThanOrEqual(ttl + tick + 300);
    expect((await b.lease.current())?.coordinatorId).toBe('b');

    // The old holder, unable to renew, stepped down before the standby could take over.
    expect(a.lease.isLeader).toBe(false);
    expect(a.lost).toHaveLength(1);
    expect(a.lost[0]?.reason).toMatch(/not renewed/);
    expect(a.lost[0]!.at).toBeLessThan(b.elected[0]!);
  });

  it('with presence: replaces a holder whose process died within the presence grace, long before the TTL', async () => {
    const ttl = 10_000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl, { presence: true });
    const b = await contender(bucket, 'b', ttl, { presence: true });
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    b.lease.start();
    // A live holder answers its presence: the standby leaves it alone for well over the grace.
    await sleep(3000);
    expect(a.lost).toEqual([]);
    expect(b.lease.isLeader).toBe(false);
    expect(a.lease.isLeader).toBe(true);

    // The process dies: its connection goes from the server, and with it its presence.
    const t0 = Date.now();
    await a.nc.close();
    await waitFor(async () => b.lease.isLeader, { what: 'b elected', timeoutMs: ttl, intervalMs: 10 });
    const elapsed = Date.now() - t0;
    // Grace (3 s) plus a tick or two, against the 10 s an expiry would take.
    expect(elapsed).toBeLessThan(4500);
    expect((await b.lease.current())?.coordinatorId).toBe('b');
    // The old holder, its connection closed, steps down too (a dead process would not care).
    await waitFor(async () => !a.lease.isLeader, { what: 'a steps down', timeoutMs: ttl, intervalMs: 20 });
    expect(a.lost[0]?.reason).toMatch(/cut off from NATS|not renewed/);
  });

  it('with presence: a holder keeps the lease while renewals fail for less than most of the TTL', async () => {
    // What a NATS failover looks like to the holder: its connection is fine, the lease
    // stream answers nothing for a few seconds. Renewals are made to fail by a proxy.
    const ttl = 6000;
    const bucket = await leaseBucket(ttl);
    const { nc, kv } = await bucket.open();
    let failing = false;
    const flaky = new Proxy(kv, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'update' && typeof v === 'function') {
          return (...args: unknown[]) => (failing ? Promise.reject(Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' })) : (v as (...a: unknown[]) => Promise<unknown>).apply(target, args));
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const a = new LeaderLease(flaky, { coordinatorId: 'a', grpcAddress: 'a:1' }, ttl, nc);
    const lost: string[] = [];
    a.on('lost', (r) => lost.push(r));
    leases.push(a);
    a.start();
    await waitFor(async () => a.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    failing = true;
    await sleep(3000); // half the TTL: the old rule stepped down here
    expect(lost).toEqual([]);
    expect(a.isLeader).toBe(true);
    failing = false;
    await sleep(1000);
    expect(a.isLeader).toBe(true);
    expect(lost).toEqual([]);
    // And past 70% of the TTL without a renewal it does step down, before the entry expires.
    failing = true;
    await waitFor(async () => !a.isLeader, { what: 'a steps down', timeoutMs: ttl, intervalMs: 20 });
    expect(lost[0]).toMatch(/not renewed/);
  });

  it('keeps the lease when a write landed but its answer was lost (a timeout in a NATS election)', async () => {
    const ttl = 2000;
    const bucket = await leaseBucket(ttl);
    const { nc, kv } = await bucket.open();
    // The first create and the second update are applied by the server, then answered with a
    // timeout, as a request sent just before a stream's leader died can be.
    let creates = 0;
    let updates = 0;
    const lossy = new Proxy(kv, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'create')
          return async (...args: Parameters<KV['create']>) => {
            // The retry fails for real (the key exists), as on a server.
            if (++creates > 1) return target.create(...args);
            await target.create(...args);
            throw Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });
          };
        if (prop === 'update')
          return async (...args: Parameters<KV['update']>) => {
            const rev = await target.update(...args);
            if (++updates === 2) throw Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });
            return rev;
          };
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const lease = new LeaderLease(lossy, { coordinatorId: 'a', grpcAddress: '127.0.0.1:1' }, ttl, nc);
    leases.push(lease);
    const lost: string[] = [];
    lease.on('lost', (r) => lost.push(r));
    lease.start();
    await waitFor(async () => lease.isLeader, { what: 'the lease, from the create whose answer was lost', timeoutMs: 5000, intervalMs: 20 });
    expect(creates).toBeGreaterThanOrEqual(2);
    await waitFor(async () => updates >= 5, { what: 'renewals past the lost answer', timeoutMs: 10_000, intervalMs: 50 });
    expect(lost.join('; ')).toBe('');
    expect(lease.isLeader).toBe(true);
    expect((await lease.current())?.coordinatorId).toBe('a');
  });

  it('still steps down when another instance wrote the entry', async () => {
    const ttl = 2000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl, { presence: true });
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a leads', timeoutMs: 5000, intervalMs: 20 });
    // Someone else overwrites the entry (an operator, or a split): a's next renewal names a
    // stale revision and the entry is not a's own write.
    const { kv } = await bucket.open();
    const e = await kv.get('leader');
    await kv.update('leader', new TextEncoder().encode(JSON.stringify({ coordinatorId: 'z', grpcAddress: 'x', acquiredAtMs: Date.now() })), e!.revision);
    await waitFor(async () => a.lost.length > 0, { what: 'a steps down', timeoutMs: 5000, intervalMs: 20 });
    expect(a.lost[0]?.reason).toBe('lease taken by another coordinator');
  });

  it('competes again when started after stop()', async () => {
    // The coordinator does exactly this when it fails to start as leader: it releases the
    // lease and starts competing again.
    const ttl = 1000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a elected', timeoutMs: 5000, intervalMs: 20 });
    await a.lease.stop();
    expect(await a.lease.current()).toBeUndefined();

    a.lease.start();
    await waitFor(async () => a.lease.isLeader, { what: 'a re-elected', timeoutMs: 5000, intervalMs: 20 });
    expect(a.elected).toHaveLength(2);
    expect((await a.lease.current())?.coordinatorId).toBe('a');
  });

  it('does not keep or announce a lease whose acquisition completes after stop()', async () => {
    const ttl = 4000;
    const bucket = await leaseBucket(ttl);
    const a = await contender(bucket, 'a', ttl);
    const b = await contender(bucket, 'b', ttl);
    // start() sends the acquisition at once; stop() arrives while it is in flight.
    a.lease.start();
    await a.lease.stop();
    await sleep(200);
    expect(a.lease.isLeader).toBe(false);
    expect(a.elected).toEqual([]);
    // Nothing is left holding the lease, so another contender gets it at once.
    b.lease.start();
    await waitFor(async () => b.lease.isLeader, { what: 'b elected', timeoutMs: 1000, intervalMs: 10 });
  });
});

describe('LeaderLease on a 3-server NATS cluster', () => {
  it('steps down when cut off from NATS, before a standby breaks the lease it no longer answers for', async () => {
    const cluster = await startNatsCluster(3);
    try {
      const ttl = 2000;
      // The holder reaches only server 1 (it must not learn the others from cluster gossip),
      // the standby server 2: killing server 1 cuts the holder off, its renewal hanging until
      // the JetStream request timeout (10 s), while the R3 lease bucket stays available.
      const ncA = await connect({ servers: cluster.urls[0]!, ignoreClusterUpdates: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      const ncB = await connectNats(cluster.urls[1]!, 'lease-standby');
      connections.push(ncA, ncB);
      const stateA = await ClusterState.open(ncA, { replicas: 3, leaseTtlMs: ttl });
      const stateB = await ClusterState.open(ncB, { replicas: 3, leaseTtlMs: ttl });
      const a = new LeaderLease(stateA.lease, { coordinatorId: 'a', grpcAddress: 'a:1' }, ttl, ncA);
      const b = new LeaderLease(stateB.lease, { coordinatorId: 'b', grpcAddress: 'b:1' }, ttl, ncB);
      leases.push(a, b);
      a.start();
      await waitFor(async () => a.isLeader, { what: 'a elected', timeoutMs: 10_000, intervalMs: 20 });
      b.start();

      await cluster.servers[0]!.kill();
      const t0 = Date.now();
      // The holder must give up once it has been cut off for the presence grace less its
      // margin (2 s, plus a tick), even while its renewal request is still hanging on a dead
      // connection; the standby, seeing no presence, breaks the lease only after 3 s.
      await waitFor(async () => !a.isLeader, { what: 'a steps down', timeoutMs: 15_000, intervalMs: 20 });
      const steppedDownAfter = Date.now() - t0;
      const aWasLeaderWhenBWon = await waitFor(
        async () => (b.isLeader ? { aLeader: a.isLeader } : undefined),
        { what: 'b elected', timeoutMs: 30_000, intervalMs: 10 },
      );
      expect(aWasLeaderWhenBWon.aLeader).toBe(false);
      expect(steppedDownAfter).toBeLessThanOrEqual(2000 + 500 + 300);
      // Closing the connection fails the hung renewal, so stop() need not wait for its timeout.
      await ncA.close();
      await a.stop();
      expect(a.isLeader).toBe(false);
      expect(b.isLeader).toBe(true);
      await b.stop();
      expect(await b.current()).toBeUndefined();
    } finally {
      // Release while the servers still answer, or stop() waits out the request timeout.
      await Promise.allSettled(leases.splice(0).map((l) => l.stop()));
      await cluster.stop();
    }
  });
});
