import { describe, expect, it } from 'vitest';
import { boundedMallocEnv } from './local-processes.js';

describe('boundedMallocEnv', () => {
  it('caps glibc malloc arenas at two for the processes start-local spawns', () => {
    const env = boundedMallocEnv({ PATH: '/usr/bin' });
    expect(env['MALLOC_ARENA_MAX']).toBe('2');
    expect(env['PATH']).toBe('/usr/bin');
  });

  it("keeps an operator's own setting", () => {
    expect(boundedMallocEnv({ MALLOC_ARENA_MAX: '8' })['MALLOC_ARENA_MAX']).toBe('8');
  });
});
