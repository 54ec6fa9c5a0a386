/** CockroachDB's job retry backoff: 30 s at first, doubling each retry, at most 24 h. */
export const DEFAULT_INITIAL_BACKOFF_MS = 30_000;
export const DEFAULT_MAX_BACKOFF_MS = 24 * 60 * 60 * 1000;

/**
 * The delay before retry number `retryCount + 1`: `initialMs * 2^retryCount`, capped at
 * `maxMs`, and never shorter than what the error itself asked for (`retryAfterMs`).
 */
export function retryDelayMs(
  retryCount: number,
  initialMs: number = DEFAULT_INITIAL_BACKOFF_MS,
  maxMs: number = DEFAULT_MAX_BACKOFF_MS,
  retryAfterMs?: number,
): number {
  const exp = Math.min(initialMs * 2 ** Math.min(retryCount, 52), maxMs);
  return Math.max(exp, Math.min(retryAfterMs ?? 0, maxMs));
}
