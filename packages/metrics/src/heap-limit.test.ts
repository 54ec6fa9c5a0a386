import { describe, expect, it } from 'vitest';
import { HEAP_LIMIT_MIB, heapLimitWarning, nodeOptionsWithHeapLimit } from './heap-limit.js';

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
