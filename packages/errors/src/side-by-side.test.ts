import { describe, expect, it } from 'vitest';
import { sideBySide } from './index.js';

const later = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));
const failLater = (ms: number, err: Error): Promise<never> => new Promise((_, rej) => setTimeout(() => rej(err), ms));

describe('sideBySide', () => {
  it('resolves with every value, in the order given', async () => {
    await expect(sideBySide([later(20, 'a'), later(1, 2), Promise.resolve(true)])).resolves.toEqual(['a', 2, true]);
  });

  it("fails with the first step's error in list order, not the first to fail in time", async () => {
    const first = new Error('first in order');
    const second = new Error('first in time');
    await expect(sideBySide([later(5, 1), failLater(30, first), failLater(1, second)])).rejects.toBe(first);
  });

  it('throws only once every step has settled', async () => {
    let slowDone = false;
    const slow = later(30, 0).then(() => (slowDone = true));
    await expect(sideBySide([Promise.reject(new Error('at once')), slow])).rejects.toThrow('at once');
    expect(slowDone).toBe(true);
  });
});
