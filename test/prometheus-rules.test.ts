/**
 * The shipped Prometheus material passes Prometheus' own checks: `promtool check rules` on
 * the alert rules, `promtool test rules` on their unit tests (deploy/prometheus/
 * cairn-alerts.test.yml: a node down, leader failover and every coordinator down, the
 * last-completed-backup gauge across a leader change, protected timestamp age, ...), and
 * `promtool check config` on the scrape config. promtool comes with Debian's prometheus
 * package, which scripts/setup.sh installs.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@cairn/testing';

const dir = join(repoRoot(), 'deploy/prometheus');

/** Runs promtool in deploy/prometheus; resolves with its exit code and everything it printed. */
function promtool(...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn('promtool', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run promtool (run scripts/setup.sh, which installs Debian's prometheus package): ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('deploy/prometheus', () => {
  it('alert rules pass promtool check rules', async () => {
    const run = await promtool('check', 'rules', 'cairn-alerts.yml');
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(run.code, run.output).toBe(0);
  });

  it('alert rules pass their unit tests (promtool test rules)', async () => {
    const run = await promtool('test', 'rules', 'cairn-alerts.test.yml');
    expect(run.output).toContain('SUCCESS');
    expect(run.output).not.toContain('FAILED');
    expect(run.code, run.output).toBe(0);
  });

  it('the scrape config passes promtool check config', async () => {
    const run = await promtool('check', 'config', 'prometheus.yml');
    expect(run.output).toContain('is valid prometheus config file syntax');
    expect(run.code, run.output).toBe(0);
  });
});
