import { describe, expect, it } from 'vitest';
import { CairnError } from '@cairn/errors';
import { dateToTimestamp, formatTimestamp, parseTimestamp, timestampToDate } from './timestamp.js';

describe('timestamps', () => {
  it('formats and parses the decimal form', () => {
    expect(formatTimestamp(1700000000123456789n)).toBe('1700000000123456789.0000000000');
    expect(parseTimestamp('1700000000123456789.0000000000')).toBe(1700000000123456789n);
    expect(parseTimestamp('1700000000123456789')).toBe(1700000000123456789n);
  });

  it('parses date-times with nanosecond precision and zones', () => {
    expect(parseTimestamp('2023-11-14T22:13:20Z')).toBe(1700000000000000000n);
    expect(parseTimestamp('2023-11-14 22:13:20.123456')).toBe(1700000000123456000n);
    expect(parseTimestamp('2023-11-14 22:13:20.123456789+00:00')).toBe(1700000000123456789n);
    expect(parseTimestamp('2023-11-15T00:13:20+02:00')).toBe(1700000000000000000n);
    expect(parseTimestamp('2023-11-14T17:13:20-05:00')).toBe(1700000000000000000n);
    expect(parseTimestamp('2023-11-14')).toBe(1699920000000000000n);
  });

  it('rejects garbage', () => {
    for (const s of ['', 'yesterday', '2023-02-30', '2023-13-01', '12:00']) {
      expect(() => parseTimestamp(s), s).toThrow(CairnError);
    }
  });

  it('converts to and from Date at millisecond precision', () => {
    const d = new Date('2024-01-02T03:04:05.678Z');
    expect(dateToTimestamp(d)).toBe(1704164645678000000n);
    expect(timestampToDate(1704164645678999999n).toISOString()).toBe('2024-01-02T03:04:05.678Z');
  });
});
