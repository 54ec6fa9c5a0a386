import { setTimeout as sleep } from 'node:timers/promises';
import { WaitTimeoutError } from './harness-errors.js';

export interface WaitForOptions {
  /** Give up after this long; default 10 s. */
  timeoutMs?: number;
  /** Pause between attempts; default 100 ms. */
  intervalMs?: number;
  /** What is awaited, named in the timeout error ("JetStream on nats://..."). */
  what?: string;
  /** Stops polling early; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `fn` until it returns something other than `undefined` or `false`, and returns it.
 * A throw counts as "not yet"; the last one becomes the `cause` of the timeout error, so a
 * condition that keeps failing the same way says why.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const what = options.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const result = await fn();
      if (result !== undefined && result !== false) return result;
    } catch (err) {
      lastError = err;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new WaitTimeoutError(what, timeoutMs, lastError);
    await sleep(Math.min(intervalMs, remaining));
  }
}
