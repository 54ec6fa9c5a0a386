/**
 * The processes' /metrics, as Prometheus and operators see them:
 * - the operators' material in deploy/ only queries metrics the processes export: every metric
 *   named by a Grafana panel or a Prometheus alert rule appears (`# TYPE`) on the /metrics
 *   endpoint of a running coordinator or node;
 * - each process type's /metrics, with the series a BACKUP and a RESTORE create, passes
 *   `promtool check metrics` (Prometheus' own linter: names, `_total` on counters only, units,
 *   help text) with no problem reported.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, repoRoot, startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { col, queryOne } from './support/backup.js';
import { at } from './support/cluster.js';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, nodes: [{ locality: 'region=us-east1,zone=us-east1-b' }] });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await nats?.stop();
});

/** How `promtool check metrics` ended on one input, with everything it printed. */
interface PromtoolRun {
  code: number | null;
  output: string;
}

/**
 * Pipes `text` through `promtool check metrics` (Debian's prometheus package, installed by
 * scripts/setup.sh). promtool prints one line per problem and exits non-zero when it finds
 * any.
 */
function promtoolCheckMetrics(text: string): Promise<PromtoolRun> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run promtool (run scripts/setup.sh, which installs Debian's prometheus package): ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

/** Names declared on an endpoint, with a histogram's series names (_bucket, _sum, _count). */
async function exported(address: string): Promise<Set<string>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!m) continue;
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
  }
  return names;
}

/**
 * Metric names in PromQL expressions: cairn's own and CockroachDB's families. Label matchers
 * (`up{cairn_role!=""}`) are left out first: their label names are not metrics.
 */
function referenced(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.replace(/\{[^}]*\}/g, '').matchAll(/\b((?:schedules|jobs|cairn)_[A-Za-z0-9_]+)\b/g)) out.add(m[1]!);
  return out;
}

describe('deploy/ material', () => {
  it('queries only metrics the coordinator and nodes export, including CockroachDB-named ones', async () => {
    const root = repoRoot();
    const dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/cairn-backups.json'), 'utf8')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const panelExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const alerts = await readFile(join(root, 'deploy/prometheus/cairn-alerts.yml'), 'utf8');
    const alertExprs = [...alerts.matchAll(/expr:\s*(.+)/g)].map((m) => m[1]!);
    const wanted = referenced([...panelExprs, ...alertExprs]);
    expect(wanted.size).toBeGreaterThan(15);

    const available = new Set<string>();
    const addresses = [...cluster.metricsAddresses.values()];
    expect(addresses.length).toBe(2);
    for (const a of addresses) for (const n of await exported(a)) available.add(n);
    const missing = [...wanted].filter((n) => !available.has(n));
    expect(missing, `queried but not exported: ${missing.join(', ')}`).toEqual([]);

    // CockroachDB's schedule and job metric names are all there for its dashboards to carry over.
    // Counters carry Prometheus' `_total` suffix; gauges keep CockroachDB's name as it is.
    for (const n of ['schedules_BACKUP_started_total', 'schedules_BACKUP_succeeded_total', 'schedules_BACKUP_failed_total',
      'schedules_round_reschedule_wait_total', 'schedules_round_reschedule_skip_total', 'schedules_round_jobs_started_total',
      'schedules_BACKUP_last_completed_time', 'jobs_backup_currently_running', 'jobs_backup_currently_paused',
      'jobs_backup_resume_completed_total', 'jobs_backup_resume_failed_total', 'jobs_backup_resume_retry_error_total',
      'jobs_restore_resume_completed_total']) {
      expect(available.has(n), n).toBe(true);
    }
  });
});

describe('promtool check metrics', () => {
  it("passes on the coordinator's and the node's /metrics after a BACKUP and a RESTORE", async () => {
    // The labelled series (bytes and files per locality, work items by kind and outcome, job
    // durations by type and status) appear only once a job has run.
    await client.execute('CREATE DATABASE lint');
    await client.execute('CREATE TABLE lint.t (id INT PRIMARY KEY, v STRING)');
    await client.execute("INSERT INTO lint.t (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    expect(col(await queryOne(client, "BACKUP DATABASE lint INTO 'nodelocal://1/lint'"), 'status')).toBe('succeeded');
    const restored = await queryOne(client, "RESTORE DATABASE lint FROM LATEST IN 'nodelocal://1/lint' WITH new_db_name = 'lint_restored'");
    expect(col(restored, 'status')).toBe('succeeded');

    const endpoints = [
      { process: at(cluster.coordinators, 0, 'coordinator'), series: 'cairn_job_duration_seconds_count{job_type="RESTORE"' },
      { process: at(cluster.nodes, 0, 'node'), series: 'cairn_backup_bytes_written_total{locality=' },
    ];
    for (const { process: { name: process }, series } of endpoints) {
      const address = cluster.metricsAddresses.get(process);
      if (address === undefined) throw new Error(`no metrics address for ${process}`);
      const text = await (await fetch(`http://${address}/metrics`)).text();
      // The check covers the job series, not an endpoint that has not seen the jobs yet.
      expect(text, `${process} /metrics`).toContain(series);
      const run = await promtoolCheckMetrics(text);
      expect(run.output.trim(), `promtool check metrics on the ${process}'s /metrics`).toBe('');
      expect(run.code, `promtool's exit code on the ${process}'s /metrics`).toBe(0);
    }
  });
});
