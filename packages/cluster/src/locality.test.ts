import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { formatLocality, localityMatches, parseLocality } from './locality.js';

function parseError(text: string): CairnError {
  try {
    parseLocality(text);
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error(`parseLocality(${JSON.stringify(text)}) did not throw`);
}

describe('parseLocality', () => {
  it('parses ordered tiers, trimming blanks', () => {
    expect(parseLocality('region=us-east1,zone=us-east1-b')).toEqual([
      { key: 'region', value: 'us-east1' },
      { key: 'zone', value: 'us-east1-b' },
    ]);
    expect(parseLocality(' region = eu , zone = eu-b ')).toEqual([
      { key: 'region', value: 'eu' },
      { key: 'zone', value: 'eu-b' },
    ]);
  });

  it('reads an empty or blank flag as no locality', () => {
    expect(parseLocality('')).toEqual([]);
    expect(parseLocality('   ')).toEqual([]);
  });

  it('keeps everything after the first "=" as the value', () => {
    expect(parseLocality('rack=a=b')).toEqual([{ key: 'rack', value: 'a=b' }]);
  });

  it.each(['region', '=us', 'region=', 'region=us,', 'region=us,,zone=a', ' = '])('rejects the malformed tier in %j', (text) => {
    const err = parseError(text);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/invalid locality tier ".*": tier must be in the form "key=value"/);
  });

  it('names the offending tier', () => {
    expect(parseError('region=us,zone').message).toContain('"zone"');
  });

  it('rejects a repeated key', () => {
    const err = parseError('region=us,zone=a,region=eu');
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe('duplicate locality key "region" in "region=us,zone=a,region=eu"');
  });
});

describe('formatLocality', () => {
  it('is the inverse of parseLocality', () => {
    const text = 'region=us-east1,zone=us-east1-b,rack=7';
    expect(formatLocality(parseLocality(text))).toBe(text);
    expect(formatLocality([])).toBe('');
  });
});

describe('localityMatches', () => {
  const tiers = parseLocality('region=us-east1,zone=us-east1-b');

  it('matches any subset of the tiers, in any order', () => {
    expect(localityMatches(tiers, parseLocality('region=us-east1'))).toBe(true);
    expect(localityMatches(tiers, parseLocality('zone=us-east1-b'))).toBe(true);
    expect(localityMatches(tiers, parseLocality('zone=us-east1-b,region=us-east1'))).toBe(true);
  });

  it('matches everything with an empty filter', () => {
    expect(localityMatches(tiers, [])).toBe(true);
    expect(localityMatches([], [])).toBe(true);
  });

  it('does not match a different value, a missing key, or a locality-less node', () => {
    expect(localityMatches(tiers, parseLocality('region=us-west1'))).toBe(false);
    expect(localityMatches(tiers, parseLocality('region=us-east1,rack=1'))).toBe(false);
    expect(localityMatches([], parseLocality('region=us-east1'))).toBe(false);
    // Keys and values are compared whole, not by prefix.
    expect(localityMatches(tiers, parseLocality('region=us-east'))).toBe(false);
    expect(localityMatches(tiers, [{ key: 'us-east1', value: 'region' }])).toBe(false);
  });
});
