import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * A session time zone (`SET TIME ZONE`): an IANA name (`America/New_York`, canonical case) or
 * a fixed offset from UTC written `+HH:MM` / `-HH:MM`. `UTC` is the default.
 */
export type TimeZone = string;

export const UTC: TimeZone = 'UTC';

const OFFSET = /^([+-])(\d{1,2})(?::?(\d{2}))?$/;

/**
 * Checks and canonicalises what `SET TIME ZONE` was given: a zone name in any case, `UTC`, a
 * signed hour offset (`-5`, `5.5`) or an ISO offset (`'+05:30'`). Throws INVALID_ARGUMENT
 * with CockroachDB's message for anything else.
 */
export function resolveTimeZone(text: string | undefined): TimeZone {
  if (text === undefined || text === '' || text.toLowerCase() === 'utc' || text.toLowerCase() === 'local') return UTC;
  const hours = /^([+-]?)(\d{1,2}(?:\.\d+)?)$/.exec(text);
  if (hours !== null) {
    const minutes = Math.round(Number(hours[2]) * 60);
    if (minutes <= 14 * 60) return offsetName(hours[1] === '-' ? -minutes : minutes);
  }
  const iso = OFFSET.exec(text);
  if (iso !== null) {
    const minutes = Number(iso[2]) * 60 + Number(iso[3] ?? '0');
    if (minutes <= 14 * 60 && Number(iso[3] ?? '0') < 60) return offsetName(iso[1] === '-' ? -minutes : minutes);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: text }).resolvedOptions().timeZone;
  } catch {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid value for parameter "timezone": "${text}": cannot find time zone "${text}"`);
  }
}

function offsetName(minutes: number): TimeZone {
  if (minutes === 0) return UTC;
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The zone's offset from UTC in minutes at instant `ms` (daylight saving included). */
export function offsetMinutesAt(zone: TimeZone, ms: number): number {
  if (zone === UTC) return 0;
  const fixed = OFFSET.exec(zone);
  if (fixed !== null) {
    const m = Number(fixed[2]) * 60 + Number(fixed[3] ?? '0');
    return fixed[1] === '-' ? -m : m;
  }
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(ms))
    .find((p) => p.type === 'timeZoneName')?.value;
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  if (m === null) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -minutes : minutes;
}

/**
 * A TIMESTAMPTZ as CockroachDB prints it in a session's zone: `2024-01-01 07:00:00.5-05:00`
 * (local wall time, microseconds without trailing zeros, the zone's offset at that instant).
 */
export function formatTimestampIn(zone: TimeZone, ms: number, micros = 0): string {
  const whole = Math.floor(ms);
  const offset = offsetMinutesAt(zone, whole);
  const d = new Date(whole + offset * 60_000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const date = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const usec = d.getUTCMilliseconds() * 1000 + micros;
  const frac = usec === 0 ? '' : `.${String(usec).padStart(6, '0').replace(/0+$/, '')}`;
  const abs = Math.abs(offset);
  return `${date} ${time}${frac}${offset < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
}

const SHOWN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2}):(\d{2})$/;

/**
 * Reads a timestamp printed by `formatTimestampIn` (or `formatJobTimestamp`) back into
 * milliseconds and the microseconds beyond them; undefined for any other text.
 */
export function parseShownTimestamp(text: string): { ms: number; micros: number } | undefined {
  const m = SHOWN.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', sign, oh, om] = m;
  const usec = Number(frac.padEnd(6, '0'));
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.floor(usec / 1000));
  const offset = (Number(oh) * 60 + Number(om)) * (sign === '-' ? -1 : 1);
  return { ms: local - offset * 60_000, micros: usec % 1000 };
}
