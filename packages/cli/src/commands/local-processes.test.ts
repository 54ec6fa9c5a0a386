import { describe, expect, it } from 'vitest';
import { HEAP_LIMIT_MIB, MIN_OLD_SPACE_MIB, MIN_SEMI_SPACE_MIB } from '@cairn/metrics';
import { binPath, boundedMallocEnv, cairnProcessArgv, cairnProcessEnv } from './local-processes.js';

describe('boundedMallocEnv', () => {
  it('caps glibc malloc arenas at two and fixes the mmap threshold for the processes start-local spawns', () => {
    const env = boundedMallocEnv({ PATH: '/usr/bin' });
    expect(env['MALLOC_ARENA_MAX']).toBe('2');
    expect(env['MALLOC_MMAP_THRESHOLD_']).toBe('131072');
    expect(env['PATH']).toBe('/usr/bin');
  });

  it("keeps an operator's own setting", () => {
    const env = boundedMallocEnv({ MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '65536' });
    expect(env['MALLOC_ARENA_MAX']).toBe('8');
    expect(env['MALLOC_MMAP_THRESHOLD_']).toBe('65536');
  });
});

describe('cairnProcessEnv', () => {
  it("gives `start node|coordinator` its role's heap limit beside bounded malloc, and other commands neither limit", () => {
    const node = cairnProcessEnv(['start', 'node', '--store', 'n1'], { NODE_OPTIONS: '--enable-source-maps' });
    expect(node['NODE_OPTIONS']).toBe(`--enable-source-maps --max-old-space-size=${HEAP_LIMIT_MIB.node}`);
    expect(node['MALLOC_ARENA_MAX']).toBe('2');
    expect(cairnProcessEnv(['start', 'coordinator'], {})['NODE_OPTIONS']).toBe(`--max-old-space-size=${HEAP_LIMIT_MIB.coordinator}`);
    expect(cairnProcessEnv(['sql', '-e', 'SELECT 1'], {})['NODE_OPTIONS']).toBeUndefined();
  });

  it("keeps a heap limit the caller's NODE_OPTIONS already sets (a benchmark's CAIRN_BENCH_CLUSTER_NODE_OPTIONS)", () => {
    expect(cairnProcessEnv(['start', 'node'], { NODE_OPTIONS: '--max-old-space-size=4096' })['NODE_OPTIONS']).toBe('--max-old-space-size=4096');
  });
});

describe('cairnProcessArgv', () => {
  it("puts a role's V8 command-line flags before the CLI script, and none for other commands", () => {
    expect(cairnProcessArgv(['start', 'node', '--store', 'n1'])).toEqual([`--min-semi-space-size=${MIN_SEMI_SPACE_MIB.node}`, `--initial-old-space-size=${MIN_OLD_SPACE_MIB.node}`, binPath(), 'start', 'node', '--store', 'n1']);
    expect(cairnProcessArgv(['start', 'coordinator'])).toEqual([...(MIN_SEMI_SPACE_MIB.coordinator === undefined ? [] : [`--min-semi-space-size=${MIN_SEMI_SPACE_MIB.coordinator}`]), binPath(), 'start', 'coordinator']);
    expect(cairnProcessArgv(['sql', '-e', 'SELECT 1'])).toEqual([binPath(), 'sql', '-e', 'SELECT 1']);
  });
});
