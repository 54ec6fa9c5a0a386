import { describe, expect, it } from 'vitest';
import { cachedFor, checkWithin, evaluateReadiness, respondsWithin } from './readiness-checks.js';

describe('readiness checks', () => {
  it('reports every unmet condition, a throwing check as its message', async () => {
    expect(await evaluateReadiness([() => undefined, async () => undefined])).toEqual({ ready: true, reasons: [] });
    const r = await evaluateReadiness([
      () => 'not joined',
      async () => undefined,
      () => {
        throw new Error('store closed');
      },
    ]);
    expect(r).toEqual({ ready: false, reasons: ['not joined', 'store closed'] });
  });

  it('a probe that hangs or fails is not ready, promptly', async () => {
    const started = Date.now();
    const hang = respondsWithin(() => new Promise(() => undefined), 50, 'NATS not reachable');
    expect(await hang()).toBe('NATS not reachable (no answer in 50 ms)');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await respondsWithin(() => Promise.reject(new Error('DISCONNECT')), 50, 'NATS not reachable')()).toBe('NATS not reachable (DISCONNECT)');
    expect(await respondsWithin(() => Promise.resolve(3), 50, 'x')()).toBeUndefined();
    expect(await checkWithin(async () => 'behind', 50, 'x')()).toBe('behind');
  });

  it('caches a load for its ttl, shares one call, and does not cache failures', async () => {
    let calls = 0;
    let fail = false;
    const load = cachedFor(60, async () => {
      calls++;
      if (fail) throw new Error('down');
      return calls;
    });
    expect(await Promise.all([load(), load(), load()])).toEqual([1, 1, 1]);
    expect(await load()).toBe(1);
    await new Promise((r) => setTimeout(r, 80));
    fail = true;
    await expect(load()).rejects.toThrow('down');
    fail = false;
    expect(await load()).toBe(3);
  });
});
