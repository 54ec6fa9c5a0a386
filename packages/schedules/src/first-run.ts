import { CairnError, ErrorCode } from '@cairn/errors';

// A TIMESTAMPTZ literal: date, optional time with fraction, optional zone offset.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Evaluates the `first_run` schedule option: `'now'` or a TIMESTAMPTZ such as
 * `'2024-03-01 10:00:00'`, `'2024-03-01T10:00:00Z'` or `'2024-03-01 10:00:00+02:00'`. A time
 * without an offset is read in UTC (the session time zone CockroachDB uses by default).
 * Returns ms since the epoch; throws InvalidArgument on anything else.
 */
export function parseFirstRun(text: string, nowMs: number): number {
  const s = text.trim();
  if (s.toLowerCase() === 'now') return nowMs;
  const m = TIMESTAMP.exec(s);
  const bad = () => new CairnError(ErrorCode.InvalidArgument, `invalid first_run "${text}": expected 'now' or a timestamp`);
  if (!m) throw bad();
  const num = (i: number) => (m[i] === undefined ? 0 : Number(m[i]));
  const [year, month, day, hour, minute, second] = [num(1), num(2), num(3), num(4), num(5), num(6)];
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw bad();
  }
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z' && zone.toUpperCase() !== 'UTC') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2)) : 0);
    utc -= sign * offsetMin * 60_000;
  }
  return utc;
}
