import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HEAP_LIMIT_MIB, MIN_SEMI_SPACE_MIB } from '@cairn/metrics';
import { cliPath, ProcessCluster, ProcessStartError, repoRoot, tempDir, WaitTimeoutError } from './index.js';

const FAKE_CLI = fileURLToPath(new URL('../fixtures/fake-cairn-cli.mjs', import.meta.url));
// The fake CLI never connects; any URL will do.
const NATS = 'nats://127.0.0.1:1';

const clusters: ProcessCluster[] = [];
afterEach(async () => {
  await Promise.allSettled(clusters.splice(0).map((c) => c.stop()));
});

async function start(options: Partial<Parameters<typeof ProcessCluster.start>[0]> = {}): Promise<ProcessCluster> {
  const cluster = await ProcessCluster.start({
    nats: NATS,
    nodes: [{ locality: 'region=eu,zone=a' }, { locality: 'region=eu,zone=b' }],
    cliPath: FAKE_CLI,
    ...options,
  });
  clusters.push(cluster);
  return cluster;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('repo paths', () => {
  it('finds the workspace root and the CLI entry point', () => {
    expect(existsSync(join(repoRoot(), 'pnpm-workspace.yaml'))).toBe(true);
    expect(cliPath()).toBe(join(repoRoot(), 'packages/cli/dist/bin.js'));
  });
});

describe('ProcessCluster', () => {
  it('starts coordinators then nodes and reports their ready lines', async () => {
    const cluster = await start({ coordinators: 2 });
    expect(cluster.coordinators).toHaveLength(2);
    expect(cluster.nodes).toHaveLength(2);
    const grpc = cluster.grpcAddresses();
    expect(grpc).toHaveLength(2);
    for (const address of grpc) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(new Set(grpc).size).toBe(2);
    expect(cluster.coordinators[1]?.readyInfo).toMatchObject({ role: 'coordinator', id: 'coordinator-1' });
    expect(cluster.nodes[1]?.readyInfo).toMatchObject({ role: 'node', locality: 'region=eu,zone=b' });
    expect(typeof cluster.nodes[0]?.readyInfo['nodeId']).toBe('number');
    expect(existsSync(join(cluster.dataDir, 'node-0', 'node-id'))).toBe(true);
    for (const p of cluster.all()) expect(alive(p.pid)).toBe(true);
  });

  it("runs every process with its role's V8 heap limit and young generation, unless the cluster's env names a limit", async () => {
    const cluster = await start();
    // heap_size_limit is the old-space limit plus the young generation (48 MiB by default).
    for (const p of cluster.all()) {
      const role = p.readyInfo['role'] as 'node' | 'coordinator';
      expect(p.readyInfo['heapLimitMiB'], p.name).toBeGreaterThanOrEqual(HEAP_LIMIT_MIB[role]);
      expect(p.readyInfo['heapLimitMiB'], p.name).toBeLessThanOrEqual(HEAP_LIMIT_MIB[role] + 64);
      // An idle process without --min-semi-space-size has a 1 MiB new space.
      expect(p.readyInfo['newSpaceMiB'], p.name).toBeGreaterThanOrEqual(MIN_SEMI_SPACE_MIB[role] ?? 1);
    }
    expect(cluster.nodes.length).toBeGreaterThan(0);
    // Between the two roles' limits, so that neither role's own could pass for it.
    const own = await start({ env: { NODE_OPTIONS: '--max-old-space-size=300' } });
    for (const p of own.all()) {
      expect(p.readyInfo['heapLimitMiB'], p.name).toBeGreaterThanOrEqual(300);
      expect(p.readyInfo['heapLimitMiB'], p.name).toBeLessThanOrEqual(364);
    }
  });

  it('SIGKILLs a node and restarts it with the same arguments', async () => {
    const cluster = await start();
    const node = cluster.nodes[0];
    if (node === undefined) throw new Error('no node');
    const { pid, readyInfo } = node;
    await node.kill();
    expect(node.running).toBe(false);
    expect(node.exitStatus?.signal).toBe('SIGKILL');
    expect(alive(pid)).toBe(false);

    await node.restart();
    expect(node.pid).not.toBe(pid);
    expect(node.readyInfo['nodeId']).toBe(readyInfo['nodeId']);
    const line = await node.waitForLog((l) => l.json?.['msg'] === 'tick', 5_000, { fromNow: true });
    expect(line.json?.['pid']).toBe(node.pid);
    expect(node.logs()).toContain('restarting node-0');

    // The log file keeps both incarnations.
    const file = readFileSync(join(cluster.dataDir, 'logs', 'node-0.log'), 'utf8');
    expect(file.match(/"event":"ready"/g)).toHaveLength(2);
  });

  it('starts listeners on port 0 and restarts them on the port they got, where clients dial them', async () => {
    const cluster = await start();
    const coordinator = cluster.coordinators[0]!;
    const node = cluster.nodes[0]!;
    const before = { grpc: cluster.grpcAddresses(), metrics: new Map(cluster.metricsAddresses) };
    expect(before.grpc[0]).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    expect(before.metrics.get(node.name)).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    await coordinator.restart();
    await node.restart();
    expect(cluster.grpcAddresses()).toEqual(before.grpc);
    expect(coordinator.readyInfo['httpListen']).toBe(before.metrics.get(coordinator.name));
    expect(node.readyInfo['httpListen']).toBe(before.metrics.get(node.name));
  });

  it('waits for log lines by substring and times out naming the process', async () => {
    const cluster = await start({ nodes: [] });
    const coordinator = cluster.coordinators[0];
    if (coordinator === undefined) throw new Error('no coordinator');
    const seen = await coordinator.waitForLog('"msg":"starting"', 1_000);
    expect(seen.json?.['msg']).toBe('starting');
    const err = await coordinator.waitForLog('never printed', 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(String((err as Error).message)).toContain('coordinator-0');
  });

  it('stops gracefully, and SIGKILLs processes that ignore SIGTERM', async () => {
    const polite = await start();
    const pids = polite.all().map((p) => p.pid);
    await polite.stop();
    for (const p of polite.all()) expect(p.exitStatus).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);

    const stubborn = await start({ env: { FAKE_CLI_IGNORE_SIGTERM: '1' }, stopTimeoutMs: 300 });
    const t0 = Date.now();
    await stubborn.stop();
    expect(Date.now() - t0).toBeLessThan(3_000);
    for (const p of stubborn.all()) expect(p.exitStatus?.signal).toBe('SIGKILL');
  });

  it('fails with the output tail when a process dies before ready', async () => {
    const dataDir = await tempDir('cairn-cluster-fail');
    const err = await start({ env: { FAKE_CLI_FAIL: '1' }, dataDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessStartError);
    const message = (err as Error).message;
    expect(message).toContain('coordinator-0');
    expect(message).toContain('exited before ready (code 3');
    expect(message).toContain('cannot reach NATS');
    expect(readFileSync(join(dataDir, 'logs', 'coordinator-0.log'), 'utf8')).toContain('cannot reach NATS');
  });

  it('fails with a timeout when the ready line never comes', async () => {
    const err = await start({ env: { FAKE_CLI_DELAY_MS: '60000' }, readyTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessStartError);
    expect((err as Error).message).toContain('not ready after 500 ms');
    expect((err as ProcessStartError).outputTail).toContain('"msg":"starting"');
  });
});
