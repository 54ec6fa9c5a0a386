import type { Readiness } from './metrics-server.js';

/** One condition of readiness: undefined when met, else the reason it is not (yet). */
export type ReadinessCheck = () => string | undefined | Promise<string | undefined>;

/**
 * Runs every check (all of them, so `/health?ready=1` names every reason at once); a check
 * that throws counts as not ready with its message.
 */
export async function evaluateReadiness(checks: readonly ReadinessCheck[]): Promise<Readiness> {
  const outcomes = await Promise.all(
    checks.map(async (check) => {
      try {
        return await check();
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    }),
  );
  const reasons = outcomes.filter((r): r is string => r !== undefined);
  return { ready: reasons.length === 0, reasons };
}

/**
 * A check that `probe` answers within `timeoutMs`: a server that has gone silent must turn a
 * probe not-ready promptly rather than hang the health endpoint until the client times out.
 */
export function respondsWithin(probe: () => Promise<unknown>, timeoutMs: number, reason: string): ReadinessCheck {
  return checkWithin(
    () =>
      probe().then(
        () => undefined,
        (err: unknown) => `${reason} (${err instanceof Error ? err.message : String(err)})`,
      ),
    timeoutMs,
    reason,
  );
}

/** `check`, but not ready with `reason` when it has not decided within `timeoutMs`. */
export function checkWithin(check: ReadinessCheck, timeoutMs: number, reason: string): ReadinessCheck {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`${reason} (no answer in ${timeoutMs} ms)`), timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * `load` at most once per `ttlMs`, sharing one call among concurrent callers: probes hit
 * health endpoints every few seconds from several places and must not each cost a NATS request.
 * A failed load is not cached.
 */
export function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let value: { at: number; v: T } | undefined;
  let inflight: Promise<T> | undefined;
  return async () => {
    if (value && Date.now() - value.at < ttlMs) return value.v;
    inflight ??= load()
      .then((v) => {
        value = { at: Date.now(), v };
        return v;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
}
