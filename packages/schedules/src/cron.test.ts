import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { cronFrequencyMs, nextCronTime, validateCron, validateTimezone } from './cron.js';
import { parseFirstRun } from './first-run.js';

const T0 = Date.UTC(2024, 2, 1, 10, 30); // Friday 2024-03-01 10:30 UTC
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe('nextCronTime', () => {
  it.each([
    ['@hourly', Date.UTC(2024, 2, 1, 11)],
    ['@daily', Date.UTC(2024, 2, 2)],
    ['@midnight', Date.UTC(2024, 2, 2)],
    ['@weekly', Date.UTC(2024, 2, 3)], // Sunday
    ['@monthly', Date.UTC(2024, 3, 1)],
    ['@yearly', Date.UTC(2025, 0, 1)],
    ['@annually', Date.UTC(2025, 0, 1)],
    ['0 */2 * * *', Date.UTC(2024, 2, 1, 12)],
    ['*/15 * * * *', Date.UTC(2024, 2, 1, 10, 45)],
    ['0 0 * * 1-5', Date.UTC(2024, 2, 4)],
  ])('%s fires next at the right time', (cron, expected) => {
    expect(nextCronTime(cron, T0)).toBe(expected);
  });

  it('is strictly after the given time', () => {
    expect(nextCronTime('@daily', Date.UTC(2024, 2, 2))).toBe(Date.UTC(2024, 2, 3));
  });

  it('evaluates fields in the given time zone', () => {
    // 02:00 in New York (EST, UTC-5) is 07:00 UTC.
    expect(nextCronTime('0 2 * * *', T0, 'America/New_York')).toBe(Date.UTC(2024, 2, 2, 7));
  });

  it('takes a CRON_TZ= (or TZ=) prefix as the zone to evaluate in, as robfig/cron does', () => {
    expect(nextCronTime('CRON_TZ=America/New_York 0 2 * * *', T0)).toBe(Date.UTC(2024, 2, 2, 7));
    // Summer time: 02:00 EDT (UTC-4) is 06:00 UTC.
    expect(nextCronTime('TZ=America/New_York 0 2 * * *', Date.UTC(2024, 6, 1, 12))).toBe(Date.UTC(2024, 6, 2, 6));
    expect(nextCronTime('CRON_TZ=Asia/Tokyo @daily', T0)).toBe(Date.UTC(2024, 2, 1, 15));
    expect(cronFrequencyMs('CRON_TZ=Europe/Paris @hourly', T0)).toBe(HOUR);
  });

  it.each([
    ['CRON_TZ=Nowhere/Special 0 2 * * *', 'unknown time zone Nowhere/Special'],
    ['bogus', 'expected 5 fields, found 1'],
    ['* * * * * *', 'expected 5 fields, found 6'],
    ['61 * * * *', '61'],
    ['@every 1h', 'unknown descriptor @every'],
    ['@fortnightly', 'unknown descriptor'],
    ['0 0 30 2 *', ''],
    ['', 'expected 5 fields, found 0'],
  ])('rejects %j with an error naming it', (cron, detail) => {
    let err: unknown;
    try {
      nextCronTime(cron, T0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as CairnError).message).toContain(`error parsing schedule expression: "${cron}"`);
    expect((err as CairnError).message).toContain(detail);
  });

  it('validates time zones', () => {
    expect(validateTimezone('Europe/Paris')).toBe('Europe/Paris');
    expect(() => validateTimezone('Nowhere/Special')).toThrow(/invalid time zone "Nowhere\/Special"/);
    expect(() => validateCron('@daily', 'Nowhere/Special')).toThrow(CairnError);
  });
});

describe('cronFrequencyMs', () => {
  it.each([
    ['*/5 * * * *', 5 * MIN],
    ['@hourly', HOUR],
    ['0 */2 * * *', 2 * HOUR],
    ['@daily', DAY],
    ['@weekly', 7 * DAY],
    // Irregular: takes the longest gap whatever the creation time.
    ['0 1,23 * * *', 22 * HOUR],
  ])('%s → %d ms', (cron, freq) => {
    expect(cronFrequencyMs(cron, T0)).toBe(freq);
    expect(cronFrequencyMs(cron, T0 + 13 * HOUR)).toBe(freq);
  });

  it('sees a month as at least 28 days', () => {
    expect(cronFrequencyMs('@monthly', T0)).toBeGreaterThanOrEqual(28 * DAY);
  });
});

describe('parseFirstRun', () => {
  it.each([
    ['now', T0],
    ['NOW', T0],
    ['2024-03-05 10:00:00', Date.UTC(2024, 2, 5, 10)],
    ['2024-03-05T10:00:00Z', Date.UTC(2024, 2, 5, 10)],
    ['2024-03-05 10:00:00+00:00', Date.UTC(2024, 2, 5, 10)],
    ['2024-03-05 12:00:00+02:00', Date.UTC(2024, 2, 5, 10)],
    ['2024-03-05 05:30-0430', Date.UTC(2024, 2, 5, 10)],
    ['2024-03-05 10:00:00.25', Date.UTC(2024, 2, 5, 10, 0, 0, 250)],
    ['2024-03-05', Date.UTC(2024, 2, 5)],
  ])('%s', (text, expected) => {
    expect(parseFirstRun(text, T0)).toBe(expected);
  });

  it.each(['tomorrow', '2024-02-30 10:00:00', '2024-03-05 25:00:00', ''])('rejects %j', (text) => {
    expect(() => parseFirstRun(text, T0)).toThrow(/invalid first_run/);
  });
});
