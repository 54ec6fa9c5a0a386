import { CairnError, ErrorCode } from '@cairn/errors';
import type { JobId } from './job.js';

const COUNTER_BITS = 15n;
const COUNTER_LIMIT = 1 << 15;
const MAX_INT8 = (1n << 63n) - 1n;

/**
 * Generates CockroachDB-style INT8 unique ids, `(unixMs << 15) | counter`: they sort by
 * creation time and print like CockroachDB job ids. Ids from one generator are strictly
 * increasing even if the clock steps back; uniqueness across coordinators is enforced by the
 * store (`kv.create()` refuses an existing id and the registry takes the next one).
 */
export class JobIdGenerator {
  private lastMs = 0;
  private counter = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): JobId {
    const ms = Math.max(Math.floor(this.now()), this.lastMs);
    if (ms === this.lastMs) {
      this.counter++;
      if (this.counter >= COUNTER_LIMIT) {
        // 32768 ids in one millisecond: borrow the next millisecond rather than wrap.
        this.lastMs = ms + 1;
        this.counter = 0;
      }
    } else {
      this.lastMs = ms;
      this.counter = 0;
    }
    return ((BigInt(this.lastMs) << COUNTER_BITS) | BigInt(this.counter)).toString();
  }
}

/** Validates a job id given by a user (e.g. `PAUSE JOB 590205481558802434`) and normalizes it. */
export function parseJobId(text: string): JobId {
  const s = text.trim();
  if (!/^\d{1,19}$/.test(s) || BigInt(s) > MAX_INT8 || BigInt(s) === 0n) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid job id "${text}"`);
  }
  return BigInt(s).toString();
}

/** The creation time encoded in an id made by `JobIdGenerator`. */
export function jobIdTimestampMs(id: JobId): number {
  return Number(BigInt(id) >> COUNTER_BITS);
}
