/**
 * `cairn start-local` as a user runs it, with real processes:
 * - `--nats-servers 3` brings up a 3-server JetStream cluster with R3 state, a coordinator and
 *   nodes; SHOW NODES lists them; Ctrl-C stops every child; a second run on the same --data
 *   dir comes back with the same data.
 * - Ctrl-C (SIGINT) during start-up, while a child is still starting, leaves no process.
 * - SIGKILL of start-local itself leaves no child behind within a few seconds (children watch
 *   a pipe from it; nats-server runs under a guard that does).
 * - Without --secure it says it runs insecure; --secure makes certificates and a NATS password
 *   under the data dir: root's client certificate connects, plaintext and password-less NATS
 *   connections are refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as natsConnect } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ManagedProcess, cliPath, tempDir, waitFor } from '@cairn/testing';
import { showNodes } from './support/cluster.js';
import { isAlive, watchDescendants } from './support/process-tree.js';

const clients: CairnClient[] = [];
const started: ManagedProcess[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled(started.map((p) => p.stop(20_000)));
});

/** start-local on a fresh or given data dir, ready once it prints its gRPC address. */
async function startLocal(dataDir: string, extra: string[], ready = true): Promise<ManagedProcess> {
  const proc = await ManagedProcess.start({
    name: 'start-local',
    command: process.execPath,
    args: [cliPath(), 'start-local', '--data', dataDir, '--listen-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', ...extra],
    logFile: `${dataDir}.start-local.log`,
    readyTimeoutMs: 90_000,
    stopTimeoutMs: 30_000,
    ready: ready
      ? async (p) => {
          const line = await p.waitForLog('cairn is running. gRPC: ', 90_000);
          return { grpc: line.text.split('gRPC: ')[1]?.trim() };
        }
      : async () => ({}),
  });
  started.push(proc);
  return proc;
}

/** Waits until none of `pids` is alive and returns how long that took. */
async function allGone(pids: number[], timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await waitFor(
    async () => {
      const alive = [];
      for (const pid of pids) if (await isAlive(pid)) alive.push(pid);
      return alive.length === 0 ? true : undefined;
    },
    { what: `processes ${pids.join(', ')} gone`, timeoutMs, intervalMs: 100 },
  );
  return performance.now() - t0;
}

describe('start-local', () => {
  it('--secure: certificates and a NATS password under --data; root connects with its certificate, plaintext and bare NATS are refused', async () => {
    const dataDir = await tempDir('cairn-start-local-secure');
    const sl = await startLocal(dataDir, ['--nodes', '1', '--secure']);
    expect(sl.logs()).toContain(`secure mode      certificates in ${join(dataDir, 'certs')}`);
    // The connect hint is printed right after the ready line.
    await sl.waitForLog(`--certs-dir ${join(dataDir, 'certs')} --host`, 10_000);
    const grpc = String(sl.readyInfo['grpc']);
    const certs = join(dataDir, 'certs');
    const root = new CairnClient({
      addresses: [grpc],
      retryForMs: 30_000,
      tls: { ca: await readFile(join(certs, 'ca.crt')), cert: await readFile(join(certs, 'client.root.crt')), key: await readFile(join(certs, 'client.root.key')) },
    });
    clients.push(root);
    expect((await showNodes(root)).map((n) => n['is_live'])).toEqual(['true']);
    const plain = new CairnClient({ addresses: [grpc], retryForMs: 300 });
    clients.push(plain);
    await expect(plain.listNodes()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const natsUrl = /nats-server {6}(nats:\/\/\S+)/.exec(sl.logs())![1]!;
    await expect(natsConnect({ servers: natsUrl, reconnect: false, timeout: 3_000 })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    const password = (await readFile(join(dataDir, 'nats-config', 'cairn-nats.password'), 'utf8')).trim();
    expect(sl.logs()).not.toContain(password);
    await sl.stop(30_000);
  });

  it('without --secure says it runs insecure', async () => {
    const dataDir = await tempDir('cairn-start-local-insecure');
    const sl = await startLocal(dataDir, ['--nodes', '0']);
    expect(sl.logs()).toContain('insecure mode    no TLS, no authentication');
    await sl.waitForLog('cairn sql --insecure --host', 10_000);
    // Managed backups default to node 1's nodelocal; an insecure cluster's API takes no key.
    const http = /metrics http:\/\/(\S+)\/metrics/.exec(sl.logs())![1]!;
    // The API answers 503 (retryable) until the coordinator has finished taking the lead.
    const clusters = await waitFor(
      async () => {
        const res = await fetch(`http://${http}/api/v1/clusters`);
        return res.ok ? ((await res.json()) as { clusters: Array<{ id: string; secure: boolean }> }) : undefined;
      },
      { what: 'GET /api/v1/clusters of the start-local cluster', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(clusters.clusters[0]?.secure).toBe(false);
    const config = await waitFor(
      async () => {
        const res = await fetch(`http://${http}/api/v1/clusters/${clusters.clusters[0]!.id}/backups-config`);
        return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
      },
      { what: 'the backups-config of the start-local cluster', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(config).toMatchObject({ enabled: false, collection_uri: 'nodelocal://1/managed-backups' });
    await sl.stop(30_000);
  });

  it('--nats-servers 3: a 3-server JetStream cluster, SHOW NODES, Ctrl-C stops all, a re-run keeps the data', async () => {
    const dataDir = await tempDir('cairn-start-local-3');
    const sl = await startLocal(dataDir, ['--nodes', '3', '--nats-servers', '3']);
    const tree = watchDescendants(sl.pid);
    const client = new CairnClient({ addresses: [String(sl.readyInfo['grpc'])], retryForMs: 30_000 });
    clients.push(client);
    expect(sl.logs().match(/nats-server {6}nats:\/\//g)).toHaveLength(3);
    const nodes = await showNodes(client);
    expect(nodes.map((n) => n['locality'])).toEqual([
      'region=us-east1,zone=us-east1-b',
      'region=us-west1,zone=us-west1-b',
      'region=eu-west1,zone=eu-west1-b',
    ]);
    expect(nodes.every((n) => n['is_live'] === 'true')).toBe(true);
    await client.execute('CREATE DATABASE keep');
    await client.execute('CREATE TABLE keep.t (id INT PRIMARY KEY, v STRING)');
    await client.execute(`INSERT INTO keep.t (id, v) VALUES (1, 'one'), (2, 'two')`);
    await sleep(200);
    const children = [...(await tree.stop(), tree.seen.keys())];
    // 3 nats-servers under 3 guards, 1 coordinator, 3 nodes.
    expect(children.length, [...tree.seen.values()].join('\n')).toBeGreaterThanOrEqual(10);
    expect([...tree.seen.values()].filter((c) => c.includes('nats-server -c'))).toHaveLength(6);

    await sl.kill('SIGINT');
    expect(sl.exitStatus?.code).toBe(0);
    await allGone(children, 5_000);

    const again = await startLocal(dataDir, ['--nodes', '3', '--nats-servers', '3']);
    const client2 = new CairnClient({ addresses: [String(again.readyInfo['grpc'])], retryForMs: 30_000 });
    clients.push(client2);
    const rows = await client2.execute('SELECT id, v FROM keep.t');
    expect(rows.rows).toEqual([['1', 'one'], ['2', 'two']]);
    expect((await showNodes(client2)).map((n) => n['id'])).toEqual(['1', '2', '3']);
    await again.kill('SIGINT');
    expect(again.exitStatus?.code).toBe(0);
  });

  it('Ctrl-C during start-up, while a node is starting, leaves no process behind', async () => {
    const dataDir = await tempDir('cairn-start-local-int');
    const sl = await startLocal(dataDir, ['--nodes', '2'], false);
    const tree = watchDescendants(sl.pid, 10);
    // Interrupt as soon as the first node process exists: it is still starting (no ready line).
    await waitFor(async () => ([...tree.seen.values()].some((c) => c.includes('start node')) ? true : undefined), {
      what: 'a node process spawned',
      timeoutMs: 60_000,
      intervalMs: 10,
    });
    expect(sl.logs()).not.toContain('node 1 ');
    await sl.kill('SIGINT');
    await tree.stop();
    const pids = [...tree.seen.keys()];
    expect([...tree.seen.values()].some((c) => c.includes('nats-server'))).toBe(true);
    expect([...tree.seen.values()].some((c) => c.includes('start coordinator'))).toBe(true);
    expect(sl.exitStatus?.code, sl.logs()).toBe(130);
    // start-local waited for its children before exiting.
    for (const pid of pids) expect(await isAlive(pid), `${pid}: ${tree.seen.get(pid)}`).toBe(false);
  });

  it('SIGKILL of start-local: no child outlives it by more than a few seconds', async () => {
    const dataDir = await tempDir('cairn-start-local-kill');
    const sl = await startLocal(dataDir, ['--nodes', '2']);
    const tree = watchDescendants(sl.pid);
    await sleep(300);
    await tree.stop();
    const pids = [...tree.seen.keys()];
    expect(pids.length).toBeGreaterThanOrEqual(5);
    await sl.kill('SIGKILL');
    const ms = await allGone(pids, 15_000);
    console.log(`after SIGKILL of start-local, its ${pids.length} children were gone in ${Math.round(ms)} ms`);
  });
});
