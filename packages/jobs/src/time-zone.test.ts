import { describe, expect, it } from 'vitest';
import { formatTimestampIn, parseShownTimestamp, resolveTimeZone } from './time-zone.js';
import { formatJobTimestamp } from './show-jobs.js';

describe('session time zones', () => {
  it('canonicalises what SET TIME ZONE takes', () => {
    expect(resolveTimeZone(undefined)).toBe('UTC');
    expect(resolveTimeZone('utc')).toBe('UTC');
    expect(resolveTimeZone('america/new_york')).toBe('America/New_York');
    expect(resolveTimeZone('-5')).toBe('-05:00');
    expect(resolveTimeZone('5.5')).toBe('+05:30');
    expect(resolveTimeZone('+05:30')).toBe('+05:30');
    expect(() => resolveTimeZone('Mars/Olympus')).toThrow('invalid value for parameter "timezone": "Mars/Olympus"');
    expect(() => resolveTimeZone('+25')).toThrow(/invalid value/);
  });

  it('prints a timestamp in the zone, daylight saving included', () => {
    const jan = Date.UTC(2024, 0, 15, 12, 0, 0, 250);
    const jul = Date.UTC(2024, 6, 15, 12, 0, 0);
    expect(formatTimestampIn('UTC', jan, 7)).toBe('2024-01-15 12:00:00.250007+00:00');
    expect(formatTimestampIn('America/New_York', jan)).toBe('2024-01-15 07:00:00.25-05:00');
    expect(formatTimestampIn('America/New_York', jul)).toBe('2024-07-15 08:00:00-04:00');
    expect(formatTimestampIn('+05:30', jan)).toBe('2024-01-15 17:30:00.25+05:30');
    expect(formatTimestampIn('Asia/Tokyo', Date.UTC(2024, 11, 31, 20))).toBe('2025-01-01 05:00:00+09:00');
  });

  it('reads back what it printed, in any zone, and what SHOW JOBS prints in UTC', () => {
    const ms = Date.UTC(2024, 2, 10, 6, 59, 59, 999);
    for (const zone of ['UTC', 'America/New_York', '-03:30', 'Asia/Kolkata']) {
      expect(parseShownTimestamp(formatTimestampIn(zone, ms, 123))).toEqual({ ms, micros: 123 });
    }
    expect(parseShownTimestamp(formatJobTimestamp(ms, 5))).toEqual({ ms, micros: 5 });
    expect(parseShownTimestamp('not a time')).toBeUndefined();
  });
});
