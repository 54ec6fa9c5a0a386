import { describe, expect, it } from 'vitest';
import { LocalStagedBatches } from './local-staged-batches.js';

const batch = (size: number, fill: number) => new Uint8Array(size).fill(fill);

describe('LocalStagedBatches', () => {
  it('hands out a sealed subject once, the very buffers kept, in order', () => {
    const here = new LocalStagedBatches();
    const a = batch(10, 1);
    const b = batch(20, 2);
    here.keep('s', a);
    here.keep('s', b);
    expect(here.keptBytes()).toBe(30);
    // Not sealed yet: the stager has not seen every publish stored.
    expect(here.take('s', 2)).toBeUndefined();
    // ... and taking dropped it, so sealing later hands nothing out.
    here.seal('s');
    expect(here.take('s', 2)).toBeUndefined();
    expect(here.keptBytes()).toBe(0);

    here.keep('t', a);
    here.keep('t', b);
    here.seal('t');
    const got = here.take('t', 2);
    expect(got).toHaveLength(2);
    expect(got![0]).toBe(a);
    expect(got![1]).toBe(b);
    expect(here.take('t', 2)).toBeUndefined();
    expect(here.keptBytes()).toBe(0);
  });

  it('hands out nothing when the count differs from the logged one', () => {
    const here = new LocalStagedBatches();
    here.keep('s', batch(10, 1));
    here.seal('s');
    expect(here.take('s', 2)).toBeUndefined();
    expect(here.keptBytes()).toBe(0);
  });

  it('keeps no part of a subject that does not fit, and the others stay', () => {
    const here = new LocalStagedBatches({ maxBytes: 100 });
    here.keep('small', batch(30, 1));
    here.keep('big', batch(40, 2));
    here.keep('big', batch(40, 3)); // 110 > 100: the whole subject goes
    here.keep('big', batch(10, 4)); // would fit now, but a part is no use
    here.seal('big');
    here.seal('small');
    expect(here.keptBytes()).toBe(30);
    expect(here.take('big', 3)).toBeUndefined();
    expect(here.take('small', 1)).toHaveLength(1);
  });

  it('drops what nobody took after a while, and on request', () => {
    let now = 0;
    const here = new LocalStagedBatches({ maxAgeMs: 1000, now: () => now });
    here.keep('old', batch(10, 1));
    here.seal('old');
    here.keep('gone', batch(5, 1));
    here.drop('gone');
    expect(here.keptBytes()).toBe(10);
    now = 1500;
    here.keep('new', batch(20, 2));
    expect(here.keptBytes()).toBe(20);
    expect(here.take('old', 1)).toBeUndefined();
  });
});
