import { CairnError, ErrorCode } from '@cairn/errors';

/** An MVCC timestamp: nanoseconds since the Unix epoch. */
export type Timestamp = bigint;

const NANOS_PER_MILLI = 1_000_000n;
const LOGICAL_ZERO = '0000000000';

/** CockroachDB's decimal form, `1700000000123456789.0000000000` (nanos `.` logical). */
export function formatTimestamp(ts: Timestamp): string {
  return `${ts}.${LOGICAL_ZERO}`;
}

export function timestampToDate(ts: Timestamp): Date {
  return new Date(Number(ts / NANOS_PER_MILLI));
}

export function dateToTimestamp(d: Date): Timestamp {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new CairnError(ErrorCode.InvalidArgument, 'invalid date');
  return BigInt(ms) * NANOS_PER_MILLI;
}

function bad(s: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, `could not parse ${JSON.stringify(s)} as a timestamp`);
}

const DECIMAL_FORM = /^(-?\d+)(?:\.(\d{1,10}))?$/;
// YYYY-MM-DD, then optional [T or space]HH:MM[:SS[.fraction]], then optional Z or ±HH[:MM].
const DATE_TIME_FORM =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * Parses a timestamp given as CockroachDB's decimal form (`1700000000123456789.0000000000`),
 * plain nanoseconds, or a date-time (`2023-11-14T22:13:20.123456Z`,
 * `2023-11-14 22:13:20.123456+00:00`, `2023-11-14`); a date-time without a zone is UTC.
 */
export function parseTimestamp(input: string): Timestamp {
  const s = input.trim();
  const dec = DECIMAL_FORM.exec(s);
  if (dec) return BigInt(dec[1] as string);
  const m = DATE_TIME_FORM.exec(s);
  if (!m) throw bad(input);
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zulu, sign, oh, om = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) throw bad(input);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over invalid days (Feb 30 -> Mar 2); reject those.
  if (new Date(ms).getUTCDate() !== day) throw bad(input);
  let nanos = BigInt(ms) * NANOS_PER_MILLI + BigInt(frac.padEnd(9, '0') || '0');
  if (zulu === undefined && sign !== undefined) {
    const offMin = Number(oh) * 60 + Number(om);
    if (Number(oh) > 23 || Number(om) > 59) throw bad(input);
    const offNanos = BigInt(offMin) * 60n * 1_000_000_000n;
    nanos = sign === '+' ? nanos - offNanos : nanos + offNanos;
  }
  return nanos;
}
