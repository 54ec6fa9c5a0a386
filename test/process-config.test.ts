/**
 * Process configuration and health, with real processes on one nats-server (a coordinator
 * and two nodes) plus a lone coordinator on a second nats-server:
 * - a coordinator and a node configured by CAIRN_* environment variables alone, advertising a
 *   host name other than the one they bind; clients reach the cluster through the coordinator,
 *   SHOW NODES lists the node under its advertised address;
 * - bad flag values are refused before anything starts, with one `ERROR (CODE): ...` line;
 * - a node's `/health?ready=1` says 503 while it (re)joins and catches up with the write log,
 *   then 200;
 * - the gRPC health service and `/health?ready=1` follow a coordinator's NATS connection:
 *   NOT_SERVING while its nats-server is down, SERVING again once it is back; a stop stuck on
 *   a NATS that is gone ends at once on a second signal.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ManagedProcess, ProcessCluster, cliPath, freePort, startNatsServer, tempDir, waitFor, type NatsServerHandle } from '@cairn/testing';
import { at, showNodes } from './support/cluster.js';
import { lines, runCli } from './support/cli.js';
import { grpcHealth } from './support/grpc-health.js';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
const clients: CairnClient[] = [];
const extra: ManagedProcess[] = [];
const otherServers: NatsServerHandle[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    nodes: [{ locality: 'region=us-east1,zone=us-east1-b' }, { locality: 'region=us-west1,zone=us-west1-a' }],
  });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  clients.push(client);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled(extra.map((p) => p.stop()));
  await cluster?.stop();
  await Promise.allSettled([nats, ...otherServers].map((s) => s?.stop()));
});

/** GET `/health[?ready=1]` on `address`: status (0 when nothing answers) and body. */
async function health(address: string, ready: boolean): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`http://${address}/health${ready ? '?ready=1' : ''}`, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

describe('process configuration', () => {
  it('a coordinator configured by CAIRN_* environment variables alone', async () => {
    const port = await freePort();
    const httpPort = await freePort();
    const dataDir = await tempDir('cairn-env-coordinator');
    const proc = await ManagedProcess.start({
      name: 'env-coordinator',
      command: process.execPath,
      args: [cliPath(), 'start', 'coordinator'],
      env: {
        CAIRN_NATS: nats.url,
        CAIRN_NATS_REPLICAS: '1',
        CAIRN_LISTEN_ADDR: `127.0.0.1:${port}`,
        // Bound to 127.0.0.1, advertised under another name that reaches it.
        CAIRN_ADVERTISE_ADDR: 'localhost',
        CAIRN_HTTP_ADDR: `127.0.0.1:${httpPort}`,
        CAIRN_ID: 'from-env',
        CAIRN_INSECURE: 'true',
        CAIRN_LOCALITY: 'region=eu-west1,zone=eu-west1-c',
        CAIRN_DRAIN_TIMEOUT: '5s',
      },
      logFile: join(dataDir, 'env-coordinator.log'),
    });
    extra.push(proc);
    expect(proc.readyInfo).toMatchObject({
      role: 'coordinator',
      id: 'from-env',
      listen: `127.0.0.1:${port}`,
      grpc: `localhost:${port}`,
      httpListen: `127.0.0.1:${httpPort}`,
      metrics: `localhost:${httpPort}`,
      locality: 'region=eu-west1,zone=eu-west1-c',
    });
    expect(await health(`127.0.0.1:${httpPort}`, false)).toEqual({ status: 200, body: 'ok\n' });
    // A standby is ready once it knows the leader it forwards to.
    await waitFor(async () => ((await health(`127.0.0.1:${httpPort}`, true)).status === 200 ? true : undefined), {
      what: 'the env-configured coordinator ready',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    await waitFor(async () => ((await grpcHealth(`localhost:${port}`)) === 'SERVING' ? true : undefined), {
      what: 'gRPC health SERVING',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    // Statements through its advertised address reach the leader.
    const viaEnv = new CairnClient({ addresses: [`localhost:${port}`], retryForMs: 20_000 });
    clients.push(viaEnv);
    expect((await showNodes(viaEnv)).map((n) => n['locality'])).toEqual([
      'region=us-east1,zone=us-east1-b',
      'region=us-west1,zone=us-west1-a',
    ]);

    // SIGTERM: a clean stop, exit 0.
    await proc.kill('SIGTERM');
    expect(proc.exitStatus?.code).toBe(0);
  });

  it('a node configured by CAIRN_* environment variables alone records its advertised address', async () => {
    const httpPort = await freePort();
    const store = await tempDir('cairn-env-node');
    const proc = await ManagedProcess.start({
      name: 'env-node',
      command: process.execPath,
      args: [cliPath(), 'start', 'node'],
      env: {
        CAIRN_NATS: nats.url,
        CAIRN_LOCALITY: 'region=eu-west1,zone=eu-west1-c',
        CAIRN_STORE: store,
        CAIRN_INSECURE: 'true',
        CAIRN_HTTP_ADDR: `127.0.0.1:${httpPort}`,
        CAIRN_ADVERTISE_ADDR: 'localhost',
        CAIRN_DRAIN_TIMEOUT: '2s',
      },
      logFile: join(store, 'env-node.log'),
    });
    extra.push(proc);
    expect(proc.readyInfo).toMatchObject({ role: 'node', address: `localhost:${httpPort}`, httpListen: `127.0.0.1:${httpPort}` });
    const nodeId = String(proc.readyInfo['nodeId']);
    const row = await waitFor(async () => (await showNodes(client)).find((n) => n['id'] === nodeId), {
      what: `node ${nodeId} in SHOW NODES`,
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(row).toMatchObject({ address: `localhost:${httpPort}`, locality: 'region=eu-west1,zone=eu-west1-c', is_live: 'true' });
    await waitFor(async () => ((await health(`localhost:${httpPort}`, true)).status === 200 ? true : undefined), {
      what: 'the env-configured node ready',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await proc.kill('SIGTERM');
    expect(proc.exitStatus?.code).toBe(0);
    expect(proc.logs()).toContain('"drainTimeoutMs":2000');
  });

  it('refuses bad values before starting anything, with one ERROR line naming the flag', async () => {
    const store = await tempDir('cairn-bad-flags');
    const node = ['start', 'node', '--insecure', '--nats', nats.url, '--locality', 'region=us-east1', '--store', store];
    const coordinator = ['start', 'coordinator', '--insecure', '--nats', nats.url, '--http-addr', '127.0.0.1:0'];
    const cases: Array<{ args: string[]; env?: Record<string, string>; error: RegExp }> = [
      { args: [...coordinator, '--listen-addr', 'nope'], error: /^ERROR \(INVALID_ARGUMENT\): invalid --listen-addr "nope": expected host:port/ },
      { args: [...coordinator, '--nats-replicas=-1'], error: /^ERROR \(INVALID_ARGUMENT\): invalid --nats-replicas "-1": expected an integer from 1 to 5/ },
      { args: coordinator, env: { CAIRN_NATS_REPLICAS: 'three' }, error: /^ERROR \(INVALID_ARGUMENT\): invalid --nats-replicas "three"/ },
      { args: [...coordinator, '--advertise-addr', 'http://c1:26257'], error: /^ERROR \(INVALID_ARGUMENT\): invalid --advertise-addr "http:\/\/c1:26257"/ },
      { args: node, env: { CAIRN_HTTP_ADDR: 'localhost' }, error: /^ERROR \(INVALID_ARGUMENT\): invalid --http-addr "localhost": expected host:port/ },
      { args: [...node, '--advertise-addr', 'node-1:9000'], error: /^ERROR \(INVALID_ARGUMENT\): invalid --advertise-addr "node-1:9000": expected a host name or IP address/ },
      { args: [...node, '--drain-timeout', 'soon'], error: /^ERROR \(INVALID_ARGUMENT\): invalid --drain-timeout "soon": expected a duration/ },
      { args: ['start', 'node', '--insecure', '--nats', 'nats://no host', '--locality', 'region=x', '--store', store], error: /^ERROR \(INVALID_ARGUMENT\): invalid --nats "nats:\/\/no host"/ },
      { args: [...node.slice(0, 5), '--locality', 'us-east1', '--store', store], error: /^ERROR \(INVALID_ARGUMENT\): invalid locality tier "us-east1"/ },
      // As cockroach start: neither certificates nor an explicit --insecure is refused.
      { args: node.filter((a) => a !== '--insecure'), error: /^ERROR \(INVALID_ARGUMENT\): cairn start node needs --certs-dir <dir> .* or --insecure/ },
      { args: coordinator, env: { CAIRN_CERTS_DIR: '/nonexistent' }, error: /^ERROR \(INVALID_ARGUMENT\): give either --certs-dir or --insecure to cairn start coordinator, not both/ },
      { args: coordinator.filter((a) => a !== '--insecure'), env: { CAIRN_INSECURE: 'false' }, error: /^ERROR \(INVALID_ARGUMENT\): invalid CAIRN_INSECURE "false": expected true/ },
    ];
    // What starting the CLI costs right now (it loads the same modules): on a loaded machine
    // the refusals take longer too, so the bound scales with it.
    const help = await runCli(['start', 'coordinator', '--help'], { timeoutMs: 20_000 });
    expect(help.code).toBe(0);
    const refusedWithinMs = Math.max(5_000, 3 * help.ms);
    for (const c of cases) {
      const run = await runCli(c.args, { timeoutMs: 20_000, ...(c.env ? { env: c.env } : {}) });
      const what = `${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}`;
      expect(run.code, what).toBe(1);
      expect(run.stdout, what).not.toContain('"event":"ready"');
      expect(lines(run.stderr), what).toHaveLength(1);
      expect(lines(run.stderr)[0], what).toMatch(c.error);
      // Refused up front, not after connecting and timing out.
      expect(run.ms, `${what} (help took ${help.ms} ms)`).toBeLessThan(refusedWithinMs);
    }
  });
});

describe('health', () => {
  it("a node's /health?ready=1 is 503 while it rejoins and catches up with the write log, then 200", async () => {
    const node = at(cluster.nodes, 1, 'node');
    const address = cluster.metricsAddresses.get(node.name);
    if (!address) throw new Error(`no http address for ${node.name}`);
    expect((await health(address, true)).status).toBe(200);

    // While it is down, the log grows by a few thousand entries it must apply on return.
    await node.stop();
    expect(node.exitStatus?.code).toBe(0);
    await client.execute('CREATE DATABASE IF NOT EXISTS health');
    await client.execute('CREATE TABLE health.t (id INT PRIMARY KEY, v STRING)');
    const ENTRIES = 3_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ENTRIES) {
          const id = next++;
          await client.execute(`INSERT INTO health.t (id, v) VALUES (${id}, 'row ${id}')`);
        }
      }),
    );

    const seen: Array<{ status: number; body: string }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(await health(address, true));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      await node.restart();
      await waitFor(async () => (seen.at(-1)?.status === 200 ? true : undefined), {
        what: `${node.name} ready again`,
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      polling = false;
      await poller;
    }
    const answered = seen.filter((s) => s.status !== 0);
    const firstReady = answered.findIndex((s) => s.status === 200);
    const before = answered.slice(0, firstReady);
    console.log(`${node.name}: ${before.length} not-ready answers before ready; reasons: ${[...new Set(before.map((s) => s.body.trim()))].slice(0, 4).join(' | ')}`);
    expect(firstReady).toBeGreaterThan(0);
    expect(before.every((s) => s.status === 503)).toBe(true);
    expect(before.some((s) => s.body.includes('catching up with the write log'))).toBe(true);
    // Once ready it stays ready.
    expect(answered.slice(firstReady).every((s) => s.status === 200)).toBe(true);
    const rows = await client.execute('SELECT count(*) FROM health.t');
    expect(rows.rows).toEqual([[String(ENTRIES)]]);
  });

  it("gRPC health and /health?ready=1 follow a coordinator's NATS (NOT_SERVING while it is down, SERVING once back); a second signal ends a stuck stop", async () => {
    const lonelyNats = await startNatsServer();
    otherServers.push(lonelyNats);
    const dataDir = await tempDir('cairn-lonely-coordinator');
    const grpc = `127.0.0.1:${await freePort()}`;
    const http = `127.0.0.1:${await freePort()}`;
    const proc = await ManagedProcess.start({
      name: 'lonely-coordinator',
      command: process.execPath,
      args: [cliPath(), 'start', 'coordinator', '--insecure', '--nats', lonelyNats.url, '--listen-addr', grpc, '--http-addr', http, '--id', 'lonely'],
      logFile: join(dataDir, 'lonely-coordinator.log'),
    });
    extra.push(proc);
    const statusBecomes = (want: string, timeoutMs: number) =>
      waitFor(async () => ((await grpcHealth(grpc)) === want ? true : undefined), { what: `gRPC health ${want}`, timeoutMs, intervalMs: 100 });

    await statusBecomes('SERVING', 15_000);
    expect((await health(http, true)).status).toBe(200);

    await lonelyNats.kill();
    await statusBecomes('NOT_SERVING', 5_000);
    const down = await health(http, true);
    expect(down.status).toBe(503);
    expect(down.body).toContain('NATS not reachable');
    // Alive all the while: a liveness probe must not restart a process waiting for NATS.
    expect((await health(http, false)).status).toBe(200);
    expect(await grpcHealth(grpc, 'cairn.v1.SqlService')).toBe('NOT_SERVING');

    await lonelyNats.restart();
    await statusBecomes('SERVING', 30_000);
    expect((await health(http, true)).status).toBe(200);

    // A stop that waits on a NATS that is gone: a second signal ends the process at once.
    await lonelyNats.kill();
    await statusBecomes('NOT_SERVING', 5_000);
    const exited = proc.waitForExit();
    process.kill(proc.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(proc.running, 'the first SIGTERM stops cleanly, waiting on NATS').toBe(true);
    const secondAt = performance.now();
    process.kill(proc.pid, 'SIGTERM');
    const exit = await exited;
    expect(performance.now() - secondAt).toBeLessThan(1_000);
    expect(exit.code).toBe(1);
    expect(proc.logs()).toContain('SIGTERM: exiting at once');
  });
});
