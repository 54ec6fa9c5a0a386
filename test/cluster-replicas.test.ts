/**
 * Replicas under faults, with real processes: a 3-node cluster in three regions on one
 * nats-server runs the bank workload while one node is SIGKILLed and restarted. The bank's
 * invariant (the total balance never changes) must hold, every replica must end with the same
 * data at one timestamp, history must stay readable, and all of it must survive a restart of
 * every process including nats-server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { bankTotal, initBank, runBank } from '@cairn/cli';
import { callNode, connectNats } from '@cairn/cluster';
import { NodeRangeStatsRequest, NodeRangeStatsResponse, NodeStatsRequest, NodeStatsResponse } from '@cairn/proto';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { at, nodeIdOf, replicaFingerprints, showNodes, waitForReplicas } from './support/cluster.js';
import { scrapeMetric } from './support/metrics.js';

const ROWS = 2_000;
const TOTAL = BigInt(ROWS * 1_000);
const LOCALITIES = [
  'region=us-east1,zone=us-east1-b',
  'region=us-west1,zone=us-west1-a',
  'region=eu-west1,zone=eu-west1-c',
];

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
/** Node ids by process index, from the first ready lines. */
let nodeIds: number[];

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 1,
    nodes: LOCALITIES.map((locality) => ({ locality })),
  });
  nodeIds = cluster.nodes.map(nodeIdOf);
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await nats?.stop();
});

/** `SHOW FINGERPRINTS FROM TABLE bank.bank [AS OF SYSTEM TIME ts]`: the one fingerprint. */
async function showFingerprint(asOf?: bigint): Promise<string> {
  const r = await client.execute(
    `SHOW FINGERPRINTS FROM TABLE bank.bank${asOf === undefined ? '' : ` AS OF SYSTEM TIME '${asOf}.0000000000'`}`,
  );
  expect(r.columns).toEqual(['index_name', 'fingerprint']);
  expect(r.rows).toHaveLength(1);
  expect(at(r.rows, 0)[0]).toBe('bank_pkey');
  const fp = at(r.rows, 0)[1];
  if (typeof fp !== 'string' || fp === '') throw new Error(`empty fingerprint: ${JSON.stringify(r.rows)}`);
  return fp;
}

/** Asserts one fingerprint across the given per-node map, and returns it. */
function theOneFingerprint(byNode: Map<number, string>): string {
  const distinct = new Set(byNode.values());
  expect(distinct.size, `replicas disagree: ${JSON.stringify([...byNode])}`).toBe(1);
  return [...distinct][0] ?? '';
}

/** State recorded by one test for the next (they run in order, on one cluster). */
const recorded = { beforeWorkload: { timestamp: 0n, fingerprint: '' }, afterWorkload: { timestamp: 0n, fingerprint: '' } };

describe('3-node cluster in three regions', () => {
  it('SHOW NODES lists three live nodes with their localities, each holding ranges', async () => {
    expect(new Set(nodeIds).size).toBe(3);
    const rows = await waitFor(
      async () => {
        const nodes = await showNodes(client);
        return nodes.length === 3 && nodes.every((n) => n['is_live'] === 'true' && Number(n['ranges']) > 0) ? nodes : undefined;
      },
      { what: 'three live nodes holding ranges in SHOW NODES', timeoutMs: 15_000, intervalMs: 250 },
    );
    const byId = new Map(rows.map((n) => [Number(n['id']), n]));
    expect([...byId.keys()].sort()).toEqual([...nodeIds].sort());
    nodeIds.forEach((id, i) => {
      expect(byId.get(id)?.['locality'], `locality of node ${id}`).toBe(LOCALITIES[i]);
      expect(byId.get(id)?.['address']).toBe(cluster.nodes[i]?.readyInfo['address']);
    });
  });

  it('keeps the bank total and identical replicas while a node is SIGKILLed and restarted mid-workload', async () => {
    const load = await initBank(client, { rows: ROWS, payloadBytes: 64 });
    expect(load.rows).toBe(ROWS);
    await waitForReplicas(client, 'bank.bank', nodeIds);
    expect(await bankTotal(client)).toBe(TOTAL);
    const before = await replicaFingerprints(client, nodeIds, 'bank', 'bank');
    recorded.beforeWorkload = { timestamp: before.timestamp, fingerprint: theOneFingerprint(before.byNode) };

    const victim = at(cluster.nodes, 1, 'node');
    const victimId = nodeIdOf(victim);
    let transfers = 0;
    const workload = runBank(client, { durationMs: 15_000, concurrency: 4, onTick: (t) => (transfers = t) });

    await sleep(4_000);
    const transfersBeforeKill = transfers;
    await victim.kill();
    expect(victim.exitStatus?.signal).toBe('SIGKILL');
    await sleep(3_000);
    const transfersWhileDown = transfers - transfersBeforeKill;
    await victim.restart();
    expect(nodeIdOf(victim)).toBe(victimId);
    const result = await workload;
    console.log(
      `bank: ${result.transfers} transfers, ${result.errors} errors in ${result.seconds.toFixed(1)} s ` +
        `(${transfersBeforeKill} before the kill, ${transfersWhileDown} while node ${victimId} was down)`,
    );

    expect(transfersBeforeKill).toBeGreaterThan(0);
    // Two live replicas of three are enough to keep serving the workload.
    expect(transfersWhileDown).toBeGreaterThan(0);
    expect(result.transfers).toBeGreaterThan(transfersBeforeKill + transfersWhileDown);
    expect(await bankTotal(client)).toBe(TOTAL);
    expect((await client.execute('SELECT count(*) FROM bank.bank')).rows).toEqual([[String(ROWS)]]);

    // All three replicas, the restarted one included, agree at one timestamp.
    const after = await replicaFingerprints(client, nodeIds, 'bank', 'bank');
    const fp = theOneFingerprint(after.byNode);
    expect(after.byNode.get(victimId)).toBe(fp);
    expect(fp).not.toBe(recorded.beforeWorkload.fingerprint);
    recorded.afterWorkload = { timestamp: after.timestamp, fingerprint: fp };
    expect(await showFingerprint(after.timestamp)).toBe(fp);

    // The restarted node has applied the whole log, like the others.
    const seqs = await Promise.all(
      cluster.nodes.map((n) => scrapeMetric(String(n.readyInfo['address']), 'cairn_node_applied_log_seq')),
    );
    expect(seqs.every((s) => s !== undefined && s > 0)).toBe(true);
    expect(new Set(seqs).size, `applied log positions: ${JSON.stringify(seqs)}`).toBe(1);
  });

  it('reads the table as of a timestamp before the workload, on every replica', async () => {
    const { timestamp, fingerprint } = recorded.beforeWorkload;
    expect(timestamp).toBeGreaterThan(0n);
    expect(await showFingerprint(timestamp)).toBe(fingerprint);
    const old = await replicaFingerprints(client, nodeIds, 'bank', 'bank', timestamp);
    expect(theOneFingerprint(old.byNode)).toBe(fingerprint);
    expect(await bankTotal(client, `${timestamp}.0000000000`)).toBe(TOTAL);
    // Every balance was untouched at that time.
    const r = await client.execute(`SELECT count(*) FROM bank.bank AS OF SYSTEM TIME '${timestamp}.0000000000' WHERE balance = 1000`);
    expect(r.rows).toEqual([[String(ROWS)]]);
  });

  it('keeps every node id and fingerprint across a full restart of every process', async () => {
    const { timestamp, fingerprint } = recorded.afterWorkload;
    expect(timestamp).toBeGreaterThan(0n);

    await cluster.stop();
    for (const p of cluster.all()) expect(p.exitStatus, p.name).toEqual({ code: 0, signal: null });
    await nats.stop();
    expect(nats.running).toBe(false);

    await nats.restart();
    for (const c of cluster.coordinators) await c.restart();
    for (const n of cluster.nodes) await n.restart();
    expect(cluster.nodes.map(nodeIdOf)).toEqual(nodeIds);

    await waitFor(
      async () => {
        const nodes = await showNodes(client);
        return nodes.length === 3 && nodes.every((n) => n['is_live'] === 'true');
      },
      { what: 'three live nodes after the restart', timeoutMs: 30_000, intervalMs: 250 },
    );
    const same = await replicaFingerprints(client, nodeIds, 'bank', 'bank', timestamp);
    expect(theOneFingerprint(same.byNode)).toBe(fingerprint);
    const now = await replicaFingerprints(client, nodeIds, 'bank', 'bank');
    expect(now.timestamp).toBeGreaterThan(timestamp);
    expect(theOneFingerprint(now.byNode)).toBe(fingerprint);
    expect(await showFingerprint()).toBe(fingerprint);
    expect(await bankTotal(client)).toBe(TOTAL);
    expect(await showFingerprint(recorded.beforeWorkload.timestamp)).toBe(recorded.beforeWorkload.fingerprint);

    // And the cluster takes writes again, on every replica.
    const more = await runBank(client, { durationMs: 2_000, concurrency: 2 });
    expect(more.transfers).toBeGreaterThan(0);
    expect(await bankTotal(client)).toBe(TOTAL);
    const last = await replicaFingerprints(client, nodeIds, 'bank', 'bank');
    expect(theOneFingerprint(last.byNode)).not.toBe(fingerprint);
  });

  it("keeps each replica's range sizes equal to a full scan, through the SIGKILL, the restarts and the splits", async () => {
    // Small ranges, so the bank table splits while the workload writes.
    await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64KiB'`);
    await runBank(client, { durationMs: 3_000, concurrency: 2 });
    await waitFor(async () => ((await client.execute('SHOW RANGES FROM TABLE bank.bank')).rows.length >= 3 ? true : undefined), {
      what: 'bank.bank split by size',
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    const nc = await connectNats(nats.url, 'cluster-replicas-test');
    try {
      for (const nodeId of nodeIds) {
        // The kept sizes (no scan), then a full scan of the same spans on the same node. No
        // write runs in between (the leader's idle ticks write no keys, and GC keeps 4 h of history).
        const kept = await callNode(nc, nodeId, 'rangeStats', NodeRangeStatsRequest, NodeRangeStatsResponse, {});
        expect(kept.ranges.length, `node ${nodeId}`).toBeGreaterThan(3);
        for (const r of kept.ranges) {
          const scanned = await callNode(nc, nodeId, 'stats', NodeStatsRequest, NodeStatsResponse, { startKey: r.startKey, endKey: r.endKey });
          const { keys, liveKeys, bytes, liveBytes } = scanned;
          expect({ keys: r.keys, liveKeys: r.liveKeys, bytes: r.bytes, liveBytes: r.liveBytes }, `node ${nodeId} range ${r.rangeId}`).toEqual({ keys, liveKeys, bytes, liveBytes });
        }
      }
    } finally {
      await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64MiB'`);
      await nc.close();
    }
  });
});
