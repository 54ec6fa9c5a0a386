import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { MIN_RETENTION_MS, normalizeRetention, parseRetention } from './retention.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function errorOf(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('parseRetention', () => {
  it.each([
    ['720h', 720 * HOUR],
    ['30d', 30 * DAY],
    ['2w', 14 * DAY],
    ['90m', 90 * MIN],
    ['1m', MIN],
    ['60s', MIN],
    ['1d12h', 36 * HOUR],
    ['1w2d3h4m5s', 9 * DAY + 3 * HOUR + 4 * MIN + 5_000],
    [' 30D ', 30 * DAY],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseRetention(text)).toBe(ms);
  });

  it.each(['', '  ', '30', 'd', '30x', '1.5h', '-1h', '30 d', '1h 30m', 'h1', '30days', "'30d'", '9999999999999999999w'])(
    'refuses %j naming the option',
    (text) => {
      const err = errorOf(() => parseRetention(text));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toBe(
        `invalid retention ${JSON.stringify(text)}: expected a duration such as '720h', '30d' or '2w' (units s, m, h, d, w)`,
      );
    },
  );

  it.each(['59s', '0m', '0s', '30s'])('refuses %j as shorter than a minute', (text) => {
    const err = errorOf(() => parseRetention(text));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe(`retention ${JSON.stringify(text)} is too short: it must be at least 1m`);
    expect(MIN_RETENTION_MS).toBe(MIN);
  });

  it('normalizes what it stores: trimmed and lower-cased, otherwise as written', () => {
    expect(normalizeRetention(' 720H ')).toBe('720h');
    expect(normalizeRetention('1d12h')).toBe('1d12h');
    expect(() => normalizeRetention('soon')).toThrow(/^invalid retention "soon"/);
  });
});
