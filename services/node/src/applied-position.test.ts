import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { AppliedPosition } from './applied-position.js';

/** Settles to 'resolved' / the error, or 'pending' if still waiting after a macrotask. */
async function state(p: Promise<void>): Promise<'resolved' | 'pending' | unknown> {
  const marker = Symbol('pending');
  const r = await Promise.race([
    p.then(
      () => 'resolved' as const,
      (e: unknown) => e,
    ),
    new Promise((res) => setImmediate(() => res(marker))),
  ]);
  return r === marker ? 'pending' : r;
}

describe('AppliedPosition', () => {
  it('resolves at once for a position already applied', async () => {
    const pos = new AppliedPosition(10);
    expect(pos.seq).toBe(10);
    expect(await state(pos.waitFor(10, 1000))).toBe('resolved');
    expect(await state(pos.waitFor(0, 1000))).toBe('resolved');
  });

  it('resolves a waiter once the position reaches it, not before', async () => {
    const pos = new AppliedPosition(0);
    const waiting = pos.waitFor(5, 10_000);
    expect(await state(waiting)).toBe('pending');
    pos.advance(4);
    expect(pos.seq).toBe(4);
    expect(await state(waiting)).toBe('pending');
    pos.advance(5);
    expect(await state(waiting)).toBe('resolved');
  });

  it('releases each waiter when its own position is reached', async () => {
    const pos = new AppliedPosition(0);
    const w3 = pos.waitFor(3, 10_000);
    const w7 = pos.waitFor(7, 10_000);
    const w9 = pos.waitFor(9, 10_000);
    pos.advance(7);
    expect(await state(w3)).toBe('resolved');
    expect(await state(w7)).toBe('resolved');
    expect(await state(w9)).toBe('pending');
    pos.advance(12);
    expect(await state(w9)).toBe('resolved');
  });

  it('times out with a retryable Unavailable error saying how far behind it is', async () => {
    const pos = new AppliedPosition(2);
    const t0 = Date.now();
    const err = await pos.waitFor(8, 50).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.Unavailable);
    expect((err as CairnError).retryable).toBe(true);
    expect((err as CairnError).message).toBe('replica is behind: applied 2, need 8');
    // A timed-out waiter is gone: advancing later touches nothing and later waits still work.
    pos.advance(8);
    expect(await state(pos.waitFor(8, 50))).toBe('resolved');
  });

  it('times out only the waiters still behind', async () => {
    const pos = new AppliedPosition(0);
    const soon = pos.waitFor(1, 60);
    const late = pos.waitFor(100, 60);
    pos.advance(1);
    expect(await state(soon)).toBe('resolved');
    await expect(late).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: 'replica is behind: applied 1, need 100' });
  });

  it('reached: true once the position gets there, false (and no longer waiting) after the timeout', async () => {
    const pos = new AppliedPosition(2);
    expect(await pos.reached(2, 10)).toBe(true);
    const early = pos.reached(6, 10_000);
    pos.advance(6);
    expect(await early).toBe(true);
    expect(await pos.reached(9, 20)).toBe(false);
    // The timed-out waiter is gone: advancing past it later resolves nothing twice.
    pos.advance(9);
    expect(await pos.reached(9, 10)).toBe(true);
  });
});
