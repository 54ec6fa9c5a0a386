import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_LIMIT_MIB, MIN_OLD_SPACE_MIB, MIN_SEMI_SPACE_MIB, heapLimitWarning, nodeCommandLineFlags, nodeOptionsWithHeapLimit } from './heap-limit.js';

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
    expect(nodeCommandLineFlags('node')).toEqual([`--min-semi-space-size=${MIN_SEMI_SPACE_MIB.node}`, `--initial-old-space-size=${MIN_OLD_SPACE_MIB.node}`]);
    const flagged = childNewSpace(nodeCommandLineFlags('node'));
    expect(flagged.status, flagged.stderr).toBe(0);
    expect(flagged.newSpaceMiB).toBeGreaterThanOrEqual(MIN_SEMI_SPACE_MIB.node!);
    expect(childNewSpace([]).newSpaceMiB).toBeLessThan(MIN_SEMI_SPACE_MIB.node!);
    const refused = childNewSpace([], nodeCommandLineFlags('node').join(' '));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/not allowed in NODE_OPTIONS/);
  });
  /**
   * Major collections a child run with `argv` (and the node's heap limit) starts while, after one
   * full collection, it promotes ~40 MiB of objects that then die: chunks of small objects, each
   * kept alive through a few scavenges, as messages in flight are. V8's GCProfiler reports every
   * collection synchronously; a mark-compact V8 begins incrementally counts once begun, whether or
   * not it finished before the loop did (on a loaded machine its concurrent markers may lag).
   */
  function childMajorCollections(argv: string[]): number {
    const script = [
      "const v8 = require('node:v8');",
      'global.gc();',
      'const profiler = new v8.GCProfiler(); profiler.start();',
      'const inFlight = []; let sink = 0;',
      'for (let i = 0; i < 60; i++) {',
      '  inFlight.push(Array.from({ length: 16384 }, (_, j) => ({ i, j })));',
      '  if (inFlight.length > 24) inFlight.shift();',
      '  for (let k = 0; k < 40000; k++) sink += [k, k + 1].length;',
      '}',
      "const major = profiler.stop().statistics.filter((s) => s.gcType === 'IncrementalMarking' || s.gcType === 'MarkSweepCompact');",
      'process.stdout.write(String(sink > 0 ? major.length : -1));',
    ].join('\n');
    const env = { ...process.env, NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MIB.node}` };
    const r = spawnSync(process.execPath, ['--expose-gc', ...argv, '-e', script], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return Number(r.stdout);
  }

  it("keeps a node's heap from starting a mark-compact while its old space is below the floor", () => {
    const semiSpaceOnly = nodeCommandLineFlags('node').filter((f) => !f.startsWith('--initial-old-space-size'));
    // Without the floor V8's threshold follows the small live heap: the promoted garbage
    // brings mark-compacts. With it, the same garbage stays until the floor is reached.
    expect(childMajorCollections(semiSpaceOnly)).toBeGreaterThan(0);
    expect(childMajorCollections(nodeCommandLineFlags('node'))).toBe(0);
  });
});
