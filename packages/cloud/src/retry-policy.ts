import { setTimeout as sleep } from 'node:timers/promises';

/** How often and how patiently a storage retries transient failures. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 100,
  maxBackoffMs: 5_000,
  multiplier: 2,
};

/** The pause before attempt `attempt + 1` (attempt counts from 1), with ±25% jitter. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** The last error of a retried operation and how many attempts were made. */
export class RetriesExhausted extends Error {
  override readonly name = 'RetriesExhausted';
  constructor(
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`failed after ${String(attempts)} attempts`, { cause: lastError });
  }
}

/**
 * Runs `fn` until it succeeds, fails with a non-transient error (rethrown as is), or runs out
 * of attempts (`RetriesExhausted` carrying the last error).
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  isTransient: (err: unknown) => boolean,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (attempt >= policy.maxAttempts) throw new RetriesExhausted(attempt, err);
      await sleep(backoffMs(policy, attempt));
    }
  }
}
