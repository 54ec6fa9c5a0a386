import { describe, expect, it } from 'vitest';
import { boundedMallocEnv } from './local-processes.js';

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
