import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { startNatsCluster, startNatsServer, waitFor, type NatsClusterHandle, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { ClusterState } from './state-buckets.js';
import { ensureKv, stateReplicas } from './jetstream-setup.js';
import { createKvEntries } from './kv-creates.js';
import { retryNats } from './nats-retry.js';
import { SettingsView } from './settings-view.js';
import { LogWriter, tailLog } from './write-log.js';
import { WorkClaimer, WorkQueue } from './work-queue.js';

/**
 * The NATS layer on the shape users run: a 3-server JetStream cluster with R3 state, where
 * processes start all at once on a fresh cluster and one server dies under them.
 */
let cluster: NatsClusterHandle;
const connections: NatsConnection[] = [];

/** A connection pinned to server `i` first (it fails over to the others). */
async function connectTo(i: number): Promise<NatsConnection> {
  const urls = [cluster.urls[i]!, ...cluster.urls.filter((_, j) => j !== i)];
  const nc = await connectNats(urls.join(','), `failover-test-${i}`);
  connections.push(nc);
  return nc;
}

function serverOf(nc: NatsConnection): NatsServerHandle {
  const s = cluster.servers.find((x) => x.name === nc.info?.server_name);
  if (!s) throw new Error(`connection is on unknown server ${nc.info?.server_name}`);
  return s;
}

beforeAll(async () => {
  // Not waiting for JetStream: the processes below start while the cluster elects its leaders.
  cluster = await startNatsCluster(3, { waitForJetStream: false });
});

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await cluster.stop();
});

describe('the NATS layer on a 3-server JetStream cluster', () => {
  it('opens the cluster state from five processes at once on a fresh cluster, with R3 by default', async () => {
    const states = await Promise.all([0, 1, 2, 0, 1].map(async (i) => ClusterState.open(await connectTo(i))));
    for (const s of states) expect(s.options.replicas).toBe(3);
    const info = await states[0]!.jsm.streams.info('KV_cairn_meta');
    expect(info.config.num_replicas).toBe(3);
    expect(info.config.allow_direct).toBe(false);
  });

  it('reads back every write at once from any server (no stale replica reads)', async () => {
    const writer = await connectTo(0);
    const reader = await connectTo(2);
    const name = `rw_${randomUUID().slice(0, 8)}`;
    const w = await ensureKv(writer, name, { replicas: 3 });
    const r = await ensureKv(reader, name, { replicas: 3 });
    let stale = 0;
    for (let i = 0; i < 300; i++) {
      await w.put('k', new TextEncoder().encode(String(i)));
      const e = await r.get('k');
      if (e?.string() !== String(i)) stale++;
    }
    expect(stale).toBe(0);
  });

  it('keeps KV reads and writes, watches, the log tail and work claims going when a server dies', async () => {
    const nc = await connectTo(1);
    const victim = serverOf(nc);
    const state = await ClusterState.open(nc);
    const other = await ClusterState.open(await connectTo(victim === cluster.servers[0] ? 2 : 0));

    // A settings mirror (as every node keeps) and a log tail opened before the failure, on
    // the connection that loses its server.
    const view = await SettingsView.open(state.nc, state.settings);
    const writer = await LogWriter.open(other.js, other.jsm);
    const tailAbort = new AbortController();
    const tailed: number[] = [];
    const start = (await other.jsm.streams.info('CAIRN_LOG')).state.last_seq + 1;
    void (async () => {
      for await (const { seq } of tailLog(state.nc, state.js, start, tailAbort.signal)) tailed.push(seq);
    })();

    // Work claimed by a node on the dying server, queued by a coordinator elsewhere.
    const queue = await WorkQueue.open(other);
    const jobId = `job-${randomUUID().slice(0, 8)}`;
    await queue.openJob(jobId, { kind: 'echo', ackWaitMs: 3000 });
    const claimer = new WorkClaimer(state, {
      nodeId: 1,
      locality: [],
      handlers: { echo: async (p) => p },
    });
    await claimer.start();

    await other.settings.put('failover.before', new TextEncoder().encode('before'));
    await writer.append((ts) => ({ timestamp: ts, kind: { $case: 'write', value: { ops: [] } } })).stored;
    await waitFor(async () => view.get('failover.before') === 'before' && tailed.length === 1, { what: 'watch and tail before the kill', timeoutMs: 10_000 });

    await victim.kill('SIGKILL');
    const killedAt = Date.now();

    // Writes through the connection that lost its server go through once it reconnects.
    await state.settings.put('failover.after', new TextEncoder().encode('after'));
    expect((await state.settings.get('failover.after'))?.string()).toBe('after');
    await other.settings.put('failover.late', new TextEncoder().encode('late'));
    await writer.append((ts) => ({ timestamp: ts, kind: { $case: 'write', value: { ops: [] } } })).stored;
    await waitFor(async () => view.get('failover.after') === 'after' && view.get('failover.late') === 'late', { what: 'the settings mirror after the kill', timeoutMs: 20_000 });
    await waitFor(async () => tailed.length === 2, { what: 'the log tail after the kill', timeoutMs: 20_000 });

    const results: string[] = [];
    const resultsAbort = new AbortController();
    const collecting = (async () => {
      for await (const r of queue.results(jobId, resultsAbort.signal)) {
        results.push(r.itemId);
        if (results.length === 5) break;
      }
    })();
    for (let i = 0; i < 5; i++) await queue.publish(jobId, `item-${i}`, new TextEncoder().encode(String(i)));
    await Promise.race([collecting, new Promise((_, rej) => setTimeout(() => rej(new Error(`only ${results.length} results`)), 30_000))]);
    expect(new Set(results).size).toBe(5);
    const recoveredInMs = Date.now() - killedAt;
    expect(recoveredInMs).toBeLessThan(30_000);

    resultsAbort.abort();
    tailAbort.abort();
    view.stop();
    await claimer.stop();
    await queue.closeJob(jobId);
    await victim.restart();
  });

  it('pipelined KV creates land once each when the server of their connection dies mid-batch', async () => {
    // Creates in flight when the server goes are unanswered; retried, some find their own
    // write there already (the answer was lost, not the write) and must count as created.
    const nc = await connectTo(1);
    const victim = serverOf(nc);
    const bucket = `creates_failover_${randomUUID().slice(0, 8)}`;
    const kv = await ensureKv(nc, bucket, { replicas: 3 });
    const n = 4000;
    const entries = Array.from({ length: n }, (_, i) => ({ key: `k.${i}`, value: new TextEncoder().encode(`v${i}`) }));
    let stored = 0;
    let killed: Promise<void> | undefined;
    try {
      const results = await createKvEntries(nc, bucket, kv, n, (i) => entries[i]!, {
        window: 256,
        onCreated: () => {
          if (++stored === 500) killed = victim.kill('SIGKILL');
        },
      });
      await killed;
      expect(results.filter((r) => typeof r !== 'number')).toEqual([]);
      expect(stored).toBe(n);
      // The creates needed only the stream's leader; binding the bucket and its status ask the
      // JetStream meta leader, which may still be in its own election (a CI run timed out here).
      const survivor = await connectTo(victim === cluster.servers[0] ? 2 : 0);
      const reader = await retryNats(() => ensureKv(survivor, bucket, { replicas: 3 }), { what: 'bind the bucket after the kill' });
      expect((await retryNats(() => reader.status(), { what: 'the bucket status after the kill' })).values).toBe(n);
      for (const i of [0, 499, 500, 1000, n - 1]) expect((await reader.get(`k.${i}`))?.string()).toBe(`v${i}`);
    } finally {
      // The rest of the file wants all three servers, whatever failed here.
      await killed;
      if (killed) await victim.restart();
    }
  });

  it('follows the cluster size for replicas and refuses more than the cluster holds', async () => {
    const single = await startNatsServer();
    try {
      const nc = await connectNats(single.url, 'single');
      expect(await stateReplicas(nc)).toBe(1);
      await expect(stateReplicas(nc, 3)).rejects.toThrow(/--nats-replicas 3 needs a NATS cluster of at least 3 servers/);
      await expect(ClusterState.open(nc, { replicas: 3 })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await nc.close();
    } finally {
      await single.stop();
    }
    const onCluster = await connectTo(0);
    expect(await stateReplicas(onCluster)).toBe(3);
    expect(await stateReplicas(onCluster, 1)).toBe(1);
  });
});
