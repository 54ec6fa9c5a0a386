/**
 * The shipped monitoring set-up against a running cluster, with the real `prometheus` binary
 * (Debian's prometheus package, which scripts/setup.sh installs):
 * - deploy/prometheus/prometheus.yml's http_sd job, pointed at both test coordinators, finds
 *   every coordinator and node once (two SD URLs, no duplicate targets) with their role, id
 *   and locality labels, and every target is up;
 * - SIGKILL of a node makes CairnTargetDown (deploy/prometheus/cairn-alerts.yml) fire for it,
 *   while no coordinator-leader alert fires.
 *
 * What the test's copy changes, and only that: intervals of 1 s (scrape, evaluation, SD
 * refresh) instead of 15-60 s, the SD URLs, and CairnTargetDown's `for:` from the shipped 1m
 * to 2s, so the alert fires within seconds. Everything else (relabeling, rules) is as shipped.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  ManagedProcess,
  ProcessCluster,
  freePort,
  repoRoot,
  startNatsServer,
  tempDir,
  waitFor,
  type NatsServerHandle,
} from '@cairn/testing';
import { at, nodeIdOf } from './support/cluster.js';

const SD_PATH = '/sd/prometheus';

interface ScrapeConfig {
  job_name: string;
  http_sd_configs?: Array<{ url: string; refresh_interval?: string }>;
  relabel_configs?: unknown[];
}
interface PrometheusConfig {
  global?: Record<string, string>;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
}
interface AlertRule {
  alert?: string;
  for?: string;
}
interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}
interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let prometheus: ManagedProcess | undefined;
let api = '';

/** GET on Prometheus' HTTP API; the `data` of a success. */
async function promApi<T>(path: string): Promise<T> {
  const res = await fetch(`http://${api}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? body.status}`);
  return body.data;
}

/** The shipped config and rules, made fast and pointed at this cluster's coordinators. */
async function writeTestConfig(dir: string, coordinatorHttp: string[]): Promise<string> {
  const shipped = join(repoRoot(), 'deploy/prometheus');
  const config = parse(await readFile(join(shipped, 'prometheus.yml'), 'utf8')) as PrometheusConfig;
  const sdJobs = config.scrape_configs.filter((j) => j.http_sd_configs !== undefined);
  expect(sdJobs.map((j) => j.job_name), 'the shipped config discovers targets over http_sd').toHaveLength(1);
  const job = sdJobs[0]!;
  // The shipped job asks coordinators' SD path; the test's asks the same path of its own.
  expect(job.http_sd_configs!.every((sd) => new URL(sd.url).pathname === SD_PATH)).toBe(true);
  expect(job.http_sd_configs!.length, 'two coordinators, so either can answer').toBeGreaterThanOrEqual(2);
  job.http_sd_configs = coordinatorHttp.map((a) => ({ url: `http://${a}${SD_PATH}`, refresh_interval: '1s' }));
  config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };

  const rules = parse(await readFile(join(shipped, 'cairn-alerts.yml'), 'utf8')) as { groups: Array<{ rules: AlertRule[] }> };
  const targetDown = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'CairnTargetDown');
  expect(targetDown?.for, 'the shipped CairnTargetDown waits a minute').toBe('1m');
  targetDown!.for = '2s';
  expect(config.rule_files).toEqual(['cairn-alerts.yml']);
  await writeFile(join(dir, 'cairn-alerts.yml'), stringify(rules));
  const file = join(dir, 'prometheus.yml');
  await writeFile(file, stringify(config));
  return file;
}

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 2,
    coordinatorArgs: ['--locality', 'region=us-east1'],
    nodes: [{ locality: 'region=us-east1,zone=us-east1-b' }, { locality: 'region=us-west1,zone=us-west1-a' }],
  });
  const dir = await tempDir('cairn-prometheus');
  await mkdir(join(dir, 'data'));
  const coordinatorHttp = cluster.coordinators.map((c) => String(c.readyInfo['metrics']));
  const configFile = await writeTestConfig(dir, coordinatorHttp);
  api = `127.0.0.1:${await freePort()}`;
  prometheus = await ManagedProcess.start({
    name: 'prometheus',
    command: 'prometheus',
    args: [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${api}`],
    logFile: join(dir, 'prometheus.log'),
    readyTimeoutMs: 20_000,
    ready: async (_proc, signal) => {
      await waitFor(async () => (await fetch(`http://${api}/-/ready`)).ok, { timeoutMs: 20_000, what: 'prometheus /-/ready', signal });
      return {};
    },
  });
});

afterAll(async () => {
  await prometheus?.kill('SIGKILL');
  await cluster?.stop();
  await nats?.stop();
});

describe('prometheus with the shipped configuration', () => {
  it('discovers every coordinator and node through the coordinators and scrapes them all', async () => {
    const targets = await waitFor(
      async () => {
        const { activeTargets } = await promApi<{ activeTargets: Target[] }>('/api/v1/targets?state=active');
        return activeTargets.length === 4 && activeTargets.every((t) => t.health === 'up') ? activeTargets : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'four targets, all up' },
    );
    const byRole = (role: string) =>
      targets
        .filter((t) => t.labels['cairn_role'] === role)
        .map((t) => t.labels)
        .sort((a, b) => (a['instance'] ?? '').localeCompare(b['instance'] ?? ''));
    // Labels kept from discovery, and the job relabeled by role.
    const coordinators = byRole('coordinator');
    expect(coordinators.map((l) => l['cairn_coordinator_id']).sort()).toEqual(['coordinator-0', 'coordinator-1']);
    for (const l of coordinators) expect(l).toMatchObject({ job: 'cairn-coordinator', locality_region: 'us-east1' });
    expect(coordinators.map((l) => l['instance']).sort()).toEqual(cluster.coordinators.map((c) => String(c.readyInfo['metrics'])).sort());
    const nodes = byRole('node');
    expect(nodes.map((l) => ({ job: l['job'], region: l['locality_region'], zone: l['locality_zone'] })).sort((a, b) => a.region!.localeCompare(b.region!))).toEqual([
      { job: 'cairn-node', region: 'us-east1', zone: 'us-east1-b' },
      { job: 'cairn-node', region: 'us-west1', zone: 'us-west1-a' },
    ]);
    expect(new Set(nodes.map((l) => l['cairn_node_id'])).size).toBe(2);
  });

  it('fires CairnTargetDown for a SIGKILLed node, and only for it', async () => {
    const victim = at(cluster.nodes, 1, 'node');
    const victimAddress = cluster.metricsAddresses.get(victim.name);
    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    const firing = await waitFor(
      async () => {
        const { alerts } = await promApi<{ alerts: Alert[] }>('/api/v1/alerts');
        const down = alerts.filter((a) => a.labels['alertname'] === 'CairnTargetDown' && a.state === 'firing');
        return down.length > 0 ? { down, alerts } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'CairnTargetDown firing' },
    );
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(firing.down).toHaveLength(1);
    expect(firing.down[0]!.labels).toMatchObject({
      severity: 'page',
      job: 'cairn-node',
      cairn_role: 'node',
      cairn_node_id: String(nodeIdOf(victim)),
      instance: victimAddress,
      locality_region: 'us-west1',
      locality_zone: 'us-west1-a',
    });
    // The node's record stays in discovery (it crashed, it did not drain): still a target, down.
    const { activeTargets } = await promApi<{ activeTargets: Target[] }>('/api/v1/targets?state=active');
    expect(activeTargets.find((t) => t.labels['instance'] === victimAddress)?.health).toBe('down');
    // A leader is still there.
    expect(firing.alerts.filter((a) => a.labels['alertname'] === 'CairnCoordinatorLeaderMissing')).toEqual([]);
  });
});
