import { CairnError, ErrorCode } from '@cairn/errors';
import { JobIdGenerator } from '@cairn/jobs';

const MAX_INT8 = (1n << 63n) - 1n;

/**
 * A source of CockroachDB-style INT8 unique schedule ids (`(unixMs << 15) | counter`, the
 * scheme job ids use): they sort by creation time. Uniqueness across coordinators is enforced
 * by `ScheduleStore.create` (`kv.create()` refuses a taken id).
 */
export function scheduleIdGenerator(now: () => number = Date.now): () => string {
  const gen = new JobIdGenerator(now);
  return () => gen.next();
}

/** Validates a schedule id given by a user (`PAUSE SCHEDULE 589963390487363585`) and normalizes it. */
export function parseScheduleId(text: string): string {
  const s = text.trim();
  if (!/^\d{1,19}$/.test(s) || BigInt(s) > MAX_INT8 || BigInt(s) === 0n) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid schedule id "${text}"`);
  }
  return BigInt(s).toString();
}

/** Orders ids numerically (creation order). */
export function compareScheduleIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
