import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const BUF = join(ROOT, 'packages', 'proto', 'node_modules', '.bin', 'buf');

function buf(args: string[], cwd = ROOT) {
  return spawnSync(BUF, args, { cwd, encoding: 'utf8' });
}

/** The commit before HEAD, when the clone has one (a shallow CI clone may not). */
function previousCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--verify', '--quiet', 'HEAD~1'], { cwd: ROOT, encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('proto hygiene (buf)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cairn-buf-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes buf lint with the STANDARD rules', () => {
    const r = buf(['lint']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('has no wire-breaking change against HEAD and the commit before it', () => {
    // The messages are formats at rest (NATS KV, backup files): old bytes must still decode.
    for (const ref of ['HEAD', previousCommit()].filter((r) => r !== undefined)) {
      const r = buf(['breaking', 'proto', '--against', `.git#ref=${ref},subdir=proto`]);
      expect(r.stdout + r.stderr, `against ${ref}`).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('catches a renumbered field (the check is not vacuous)', () => {
    const copy = join(tmp, 'proto');
    cpSync(join(ROOT, 'proto'), copy, { recursive: true });
    const jobs = join(copy, 'cairn', 'v1', 'jobs.proto');
    writeFileSync(jobs, readFileSync(jobs, 'utf8').replace('string user_name = 5;', 'string user_name = 55;'));
    const r = buf(['breaking', copy, '--against', join(ROOT, 'proto')]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/JobSpecRecord/);
  });
});
