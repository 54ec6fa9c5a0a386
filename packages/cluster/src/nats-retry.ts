import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, ErrorCode } from '@cairn/errors';
import { isNoResponders, isTimeout, isTransientNatsError, reasonOf } from './nats-errors.js';

export interface NatsRetryOptions {
  /** What is being done, for the error raised when retries run out ("cannot update job 7"). */
  what: string;
  /** Give up this long after the first attempt; default 30 s (a NATS leader election takes a few). */
  budgetMs?: number;
  /** First pause; doubles up to `maxDelayMs`, with jitter so restarted processes spread out. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stops retrying at once. */
  signal?: AbortSignal;
  /** Called before each pause, e.g. to log. */
  onRetry?: (err: unknown, attempt: number) => void;
}

export const DEFAULT_NATS_RETRY_BUDGET_MS = 30_000;

/** Where a process reports NATS operations that wait out a failover (its logger, in practice). */
export interface NatsRetryReporter {
  /** An operation has been retrying for `elapsedMs` (reported once, after the first second). */
  stalled(what: string, elapsedMs: number, reason: string): void;
  /** An operation reported as stalled succeeded after all. */
  recovered(what: string, elapsedMs: number, attempts: number): void;
}

/** The reporter that writes to a pino-style logger: a warning when stalled, info when recovered. */
export function natsRetryLog(log: { warn(o: object, msg: string): void; info(o: object, msg: string): void }): NatsRetryReporter {
  return {
    stalled: (what, elapsedMs, reason) => log.warn({ what, ms: elapsedMs, reason }, 'NATS operation waiting out a failover'),
    recovered: (what, elapsedMs, attempts) => log.info({ what, ms: elapsedMs, attempts }, 'NATS operation recovered'),
  };
}

/**
 * Pause cap after "no responders" or a timeout. "No responders" comes at once while a stream
 * has no leader (nobody subscribes to its subjects during the election), so asking often
 * costs little; a timeout has already waited its whole length. Either way the doubling
 * pause would add up to `maxDelayMs` after the election ends; this finds the new leader
 * within this of it.
 */
const ELECTION_MAX_DELAY_MS = 250;

/** Operations retried for less than this go unreported: a leader election takes longer. */
const REPORT_AFTER_MS = 1000;
let reporter: NatsRetryReporter | undefined;

/**
 * Sets the process's reporter. One per process, set at start-up, because the retries happen
 * deep inside every part that talks to NATS and what an operator needs after a failover is
 * the list of what waited and for how long, not a logger threaded through each of them.
 */
export function reportNatsRetries(r: NatsRetryReporter | undefined): void {
  reporter = r;
}

/**
 * Runs `attempt` until it succeeds or fails with a non-transient error, pausing with
 * exponential backoff in between. The one retry convention for NATS requests in cairn: a
 * JetStream leader election or a NATS server dying makes requests time out or find no
 * responder for a few seconds, and R3 state comes back by itself.
 *
 * When the budget runs out the last error becomes one retryable Unavailable CairnError
 * naming `what`, so callers higher up (a job's resumer) can retry later as a whole. Errors
 * that are not transient are rethrown unchanged for the caller to interpret.
 */
export async function retryNats<T>(attempt: (n: number) => Promise<T>, o: NatsRetryOptions): Promise<T> {
  const budget = o.budgetMs ?? DEFAULT_NATS_RETRY_BUDGET_MS;
  const started = Date.now();
  const deadline = started + budget;
  let reported = false;
  let delay = o.initialDelayMs ?? 100;
  const maxDelay = o.maxDelayMs ?? 2000;
  for (let n = 1; ; n++) {
    try {
      const v = await attempt(n);
      if (reported) reporter?.recovered(o.what, Date.now() - started, n);
      return v;
    } catch (err) {
      if (!isTransientNatsError(err) || o.signal?.aborted) throw err;
      if (!reported && Date.now() - started >= REPORT_AFTER_MS) {
        reported = true;
        reporter?.stalled(o.what, Date.now() - started, reasonOf(err));
      }
      if (Date.now() + delay > deadline) {
        throw new CairnError(ErrorCode.Unavailable, `${o.what}: NATS did not answer for ${Math.round(budget / 1000)} s (${reasonOf(err)})`, {
          cause: err,
          retryable: true,
        });
      }
      o.onRetry?.(err, n);
      const pause = isNoResponders(err) || isTimeout(err) ? Math.min(delay, ELECTION_MAX_DELAY_MS) : delay;
      await sleep(pause * (0.75 + Math.random() * 0.5), undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
