import { describe, expect, it } from 'vitest';
import { enumLabel, formatDateTime, formatDays, formatDuration, formatExpiresIn, formatMinutes } from './format.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-06T07:00:00Z');
const at = (ms: number) => new Date(now + ms).toISOString();

describe('console formatting', () => {
  it('counts Expires In down rounding up, so a fresh 30-day backup reads 30 days', () => {
    expect(formatExpiresIn(at(30 * DAY - 5000), now)).toBe('30 days');
    expect(formatExpiresIn(at(7 * DAY), now)).toBe('7 days');
    expect(formatExpiresIn(at(DAY + 1), now)).toBe('2 days');
    expect(formatExpiresIn(at(DAY), now)).toBe('24 hours');
    expect(formatExpiresIn(at(90 * 60_000), now)).toBe('2 hours');
    expect(formatExpiresIn(at(61_000), now)).toBe('2 minutes');
    expect(formatExpiresIn(at(1000), now)).toBe('1 minute');
    expect(formatExpiresIn(at(0), now)).toBe('Expired');
    expect(formatExpiresIn(null, now)).toBe('—');
  });

  it('shows times in UTC and durations in their two largest units', () => {
    expect(formatDateTime('2026-12-06T07:05:09.123Z')).toBe('Dec 6, 2026, 07:05:09 UTC');
    expect(formatDateTime(null)).toBe('—');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(192_000)).toBe('3m 12s');
    expect(formatDuration(3_600_000 + 4 * 60_000 + 9000)).toBe('1h 4m');
    expect(formatDuration(3_600_000)).toBe('1h');
  });

  it("names Cloud's frequency and retention choices and the API's enums", () => {
    expect([5, 10, 30, 60, 240, 1440].map(formatMinutes)).toEqual(['5 minutes', '10 minutes', '30 minutes', '1 hour', '4 hours', '24 hours']);
    expect([2, 7, 30, 90, 365].map(formatDays)).toEqual(['2 days', '7 days', '30 days', '90 days', '1 year']);
    expect(enumLabel('IN_PROGRESS')).toBe('In progress');
    expect(enumLabel('FULL')).toBe('Full');
  });
});
