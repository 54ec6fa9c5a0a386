import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_LIMIT_MIB, MIN_SEMI_SPACE_MIB, heapLimitWarning, nodeCommandLineFlags, nodeOptionsWithHeapLimit } from './heap-limit.js';

describe('nodeOptionsWithHeapLimit', () => {
  it("adds the role's old-space limit to the caller's options", () => {
    expect(nodeOptionsWithHeapLimit('node', undefined)).toBe(`--max-old-space-size=${HEAP_LIMIT_MIB.node}`);
    expect(nodeOptionsWithHeapLimit('coordinator', ' --enable-source-maps ')).toBe(`--enable-source-maps --max-old-space-size=${HEAP_LIMIT_MIB.coordinator}`);
  });

  it('keeps a limit the caller already set, in either spelling', () => {
    expect(nodeOptionsWithHeapLimit('node', '--max-old-space-size=600')).toBe('--max-old-space-size=600');
    expect(nodeOptionsWithHeapLimit('node', '--cpu-prof --max_old_space_size 600')).toBe('--cpu-prof --max_old_space_size 600');
  });
});

describe('heapLimitWarning', () => {
  it('warns a process started without a limit, naming the flag to add', () => {
    expect(heapLimitWarning('node', [], undefined)).toContain(`NODE_OPTIONS=--max-old-space-size=${HEAP_LIMIT_MIB.node}`);
    expect(heapLimitWarning('coordinator', ['--enable-source-maps'], '--cpu-prof')).toContain('V8 heap limit is');
  });

  it('is silent when the command line or NODE_OPTIONS set one, whatever its value', () => {
    expect(heapLimitWarning('node', ['--max-old-space-size=4096'], undefined)).toBeUndefined();
    expect(heapLimitWarning('node', [], '--max-old-space-size=160')).toBeUndefined();
  });
});

describe('nodeCommandLineFlags', () => {
  /** A child's new space (MiB) right after start, run with `argv` before its script and `nodeOptions`. */
  function childNewSpace(argv: string[], nodeOptions?: string): { status: number | null; newSpaceMiB: number; stderr: string } {
    const script = "const s = require('node:v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); process.stdout.write(String(s.space_size / 2 ** 20));";
    const env = { ...process.env, NODE_OPTIONS: nodeOptions ?? '' };
    const r = spawnSync(process.execPath, [...argv, '-e', script], { env, encoding: 'utf8' });
    return { status: r.status, newSpaceMiB: Number(r.stdout), stderr: r.stderr };
  }

  it("gives a node its young-generation floor, which node takes on its command line but refuses in NODE_OPTIONS", () => {
    expect(nodeCommandLineFlags('node')).toEqual([`--min-semi-space-size=${MIN_SEMI_SPACE_MIB.node}`]);
    const flagged = childNewSpace(nodeCommandLineFlags('node'));
    expect(flagged.status, flagged.stderr).toBe(0);
    expect(flagged.newSpaceMiB).toBeGreaterThanOrEqual(MIN_SEMI_SPACE_MIB.node!);
    expect(childNewSpace([]).newSpaceMiB).toBeLessThan(MIN_SEMI_SPACE_MIB.node!);
    const refused = childNewSpace([], nodeCommandLineFlags('node').join(' '));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/not allowed in NODE_OPTIONS/);
  });
});
