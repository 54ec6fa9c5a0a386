import { CairnError, ErrorCode } from '@cairn/errors';
import { parseTimestamp } from '@cairn/keys';
import type { AsOf } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { resolveAsOf } from './as-of.js';

const SECOND = 1_000_000_000n;
// 2023-11-14T22:13:20Z, with some sub-second part so arithmetic is visible.
const NOW = 1_700_000_000_123_456_789n;

function asOf(kind: AsOf['kind'], text: string, pos = 42): AsOf {
  return { kind, text, pos };
}

function resolveError(a: AsOf, now = NOW): CairnError {
  try {
    resolveAsOf(a, now);
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error(`resolveAsOf(${JSON.stringify(a)}) did not throw`);
}

describe('resolveAsOf intervals', () => {
  it.each([
    ['-10s', -10n * SECOND],
    ['-1m', -60n * SECOND],
    ['-2h', -7200n * SECOND],
    ['-500ms', -500_000_000n],
    ['-250us', -250_000n],
    ['-250µs', -250_000n],
    ['-1.5s', -1_500_000_000n],
    ['-10 s', -10n * SECOND],
    [' -10s ', -10n * SECOND],
    // Each number carries its own sign, as in CockroachDB and PostgreSQL: '-1m30s' is
    // -1 minute +30 seconds. Ninety seconds ago is '-1m-30s' or '-90s'.
    ['-1m30s', -30n * SECOND],
    ['-1m-30s', -90n * SECOND],
    ['-1h-30m-15s', -(3600n + 1800n + 15n) * SECOND],
  ])('reads %j as an offset of %d ns from now', (text, offset) => {
    expect(resolveAsOf(asOf('interval', text), NOW)).toBe(NOW + offset);
  });

  it.each(['10s', '0s', '-0s', '-1m60s', '-1m90s'])('refuses the non-negative interval %j', (text) => {
    const err = resolveError(asOf('interval', text));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe(`AS OF SYSTEM TIME: interval value "${text}" must be negative`);
  });

  it.each(['', 'abc', '-10', '-10x', '-10s garbage', '--10s', '-1m 30s', '-1d'])('refuses the malformed interval %j', (text) => {
    const err = resolveError(asOf('interval', text));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe(`AS OF SYSTEM TIME: invalid interval "${text}"`);
  });
});

describe('resolveAsOf timestamps', () => {
  it('takes a decimal HLC timestamp as nanoseconds, ignoring the logical part', () => {
    expect(resolveAsOf(asOf('decimal', '1700000000000000000.0000000000'), NOW)).toBe(1_700_000_000_000_000_000n);
    expect(resolveAsOf(asOf('decimal', '1699999999000000001'), NOW)).toBe(1_699_999_999_000_000_001n);
  });

  it('takes a wall-clock timestamp (UTC unless zoned)', () => {
    expect(resolveAsOf(asOf('timestamp', '2023-11-14 22:13:20'), NOW)).toBe(1_700_000_000n * SECOND);
    expect(resolveAsOf(asOf('timestamp', '2023-11-14T22:13:20.1Z'), NOW)).toBe(1_700_000_000n * SECOND + SECOND / 10n);
    expect(resolveAsOf(asOf('timestamp', '2023-11-14 23:13:20+01:00'), NOW)).toBe(1_700_000_000n * SECOND);
    expect(resolveAsOf(asOf('timestamp', '2023-11-14'), NOW)).toBe(parseTimestamp('2023-11-14T00:00:00Z'));
  });

  it('accepts exactly now', () => {
    expect(resolveAsOf(asOf('decimal', String(NOW)), NOW)).toBe(NOW);
  });

  it('rejects a time in the future, pointing at the expression', () => {
    const future = asOf('decimal', String(NOW + 1n), 17);
    const err = resolveError(future);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe(`AS OF SYSTEM TIME: cannot specify timestamp in the future (${NOW + 1n} > ${NOW})`);
    expect(err.position).toBe(17);
    expect(resolveError(asOf('timestamp', '2030-01-01 00:00:00')).message).toMatch(/in the future/);
  });

  it('rejects text that is not a timestamp, pointing at the expression', () => {
    const err = resolveError(asOf('timestamp', '2023-02-30 00:00:00', 9));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe('AS OF SYSTEM TIME: invalid timestamp "2023-02-30 00:00:00"');
    expect(err.position).toBe(9);
    expect(err.cause).toBeInstanceOf(CairnError);
    expect(resolveError(asOf('decimal', '12.34.56')).code).toBe(ErrorCode.InvalidArgument);
  });
});

describe('resolveAsOf follower_read_timestamp()', () => {
  it('is 4.8 s before now', () => {
    expect(resolveAsOf(asOf('follower', 'follower_read_timestamp()'), NOW)).toBe(NOW - 4_800_000_000n);
  });
});
