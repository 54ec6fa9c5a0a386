/**
 * The operators' material in deploy/ only queries metrics the processes export: every metric
 * named by a Grafana panel or a Prometheus alert rule appears (`# TYPE`) on the /metrics
 * endpoint of a running coordinator or node.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, repoRoot, startNatsServer, type NatsServerHandle } from '@cairn/testing';

let nats: NatsServerHandle;
let cluster: ProcessCluster;

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, nodes: [{ locality: 'region=us-east1,zone=us-east1-b' }] });
});

afterAll(async () => {
  await cluster?.stop();
  await nats?.stop();
});

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

/** Metric names in PromQL expressions: cairn's own and CockroachDB's families. */
function referenced(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\b((?:schedules|jobs|cairn)_[A-Za-z0-9_]+)\b/g)) out.add(m[1]!);
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
    for (const n of ['schedules_BACKUP_started', 'schedules_BACKUP_succeeded', 'schedules_BACKUP_failed', 'schedules_round_reschedule_wait',
      'schedules_round_reschedule_skip', 'schedules_round_jobs_started', 'jobs_backup_currently_running', 'jobs_backup_currently_paused',
      'jobs_backup_resume_completed', 'jobs_backup_resume_failed', 'jobs_backup_resume_retry_error', 'jobs_restore_resume_completed']) {
      expect(available.has(n), n).toBe(true);
    }
  });
});
