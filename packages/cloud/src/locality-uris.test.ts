import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { parseLocalityAwareUris, pickUriForLocality } from './index.js';

const KEYS = 'AWS_ACCESS_KEY_ID=123&AWS_SECRET_ACCESS_KEY=456';

function refused(uris: string[]): string {
  try {
    parseLocalityAwareUris(uris);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.InvalidArgument);
    return (err as CairnError).message;
  }
  throw new Error('expected the URIs to be refused');
}

describe('parseLocalityAwareUris', () => {
  it('takes a single URI with or without COCKROACH_LOCALITY=default', () => {
    expect(parseLocalityAwareUris([`s3://foo?${KEYS}`])).toEqual({ defaultUri: `s3://foo?${KEYS}`, byLocality: new Map() });
    expect(parseLocalityAwareUris(['nodelocal://1/x?COCKROACH_LOCALITY=default'])).toEqual({
      defaultUri: 'nodelocal://1/x',
      byLocality: new Map(),
    });
  });

  it('splits a partitioned list and strips COCKROACH_LOCALITY, keeping the other parameters as typed', () => {
    const parsed = parseLocalityAwareUris([
      `s3://foo?${KEYS}&COCKROACH_LOCALITY=default`,
      `s3://bar?COCKROACH_LOCALITY=dc%3Ddc1&${KEYS}`,
      `s3://baz/p?AWS_ACCESS_KEY_ID=1%2B2&COCKROACH_LOCALITY=region=us-west1&AWS_SECRET_ACCESS_KEY=4`,
      'nodelocal://2/x?COCKROACH_LOCALITY=zone%3Dus-west1-b',
    ]);
    expect(parsed.defaultUri).toBe(`s3://foo?${KEYS}`);
    expect([...parsed.byLocality]).toEqual([
      ['dc=dc1', `s3://bar?${KEYS}`],
      ['region=us-west1', 's3://baz/p?AWS_ACCESS_KEY_ID=1%2B2&AWS_SECRET_ACCESS_KEY=4'],
      ['zone=us-west1-b', 'nodelocal://2/x'],
    ]);
  });

  it('refuses everything CockroachDB refuses', () => {
    expect(refused([])).toBe('no backup location URIs provided');
    expect(refused([`s3://foo?${KEYS}&COCKROACH_LOCALITY=dc%3Ddc1`])).toBe(
      'COCKROACH_LOCALITY dc=dc1 is invalid for a single BACKUP location',
    );
    expect(refused([`s3://foo?${KEYS}&COCKROACH_LOCALITY=default`, `s3://bar?${KEYS}`])).toBe(
      'multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified',
    );
    expect(
      refused([`s3://bar?${KEYS}&COCKROACH_LOCALITY=dc%3Ddc1`, `s3://baz?${KEYS}&COCKROACH_LOCALITY=dc%3Ddc2`]),
    ).toBe('no default URL provided for partitioned backup');
    expect(
      refused([`s3://a?COCKROACH_LOCALITY=default`, `s3://b?COCKROACH_LOCALITY=default`]),
    ).toBe('multiple default URLs provided for partition backup');
    expect(
      refused([
        `s3://foo?COCKROACH_LOCALITY=default`,
        `s3://bar?${KEYS}&COCKROACH_LOCALITY=dc%3Ddc1`,
        `s3://baz?${KEYS}&COCKROACH_LOCALITY=dc%3Ddc1`,
      ]),
    ).toBe('duplicate URIs for locality dc=dc1');
    for (const tier of ['us-west1', 'a=b=c', '=x', 'x=']) {
      expect(refused(['nodelocal://1/a?COCKROACH_LOCALITY=default', `nodelocal://1/b?COCKROACH_LOCALITY=${encodeURIComponent(tier)}`])).toBe(
        `failed to parse backup locality: tier must be in the form "key=value" not ${JSON.stringify(tier)}`,
      );
    }
    expect(refused(['nodelocal://1/a?COCKROACH_LOCALITY=default&COCKROACH_LOCALITY=default', 'nodelocal://1/b'])).toBe(
      'COCKROACH_LOCALITY is given more than once in one URI',
    );
  });
});

describe('pickUriForLocality', () => {
  const parsed = parseLocalityAwareUris([
    'nodelocal://1/default?COCKROACH_LOCALITY=default',
    'nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1',
    'nodelocal://1/west-b?COCKROACH_LOCALITY=zone%3Dus-west1-b',
  ]);

  it('takes the most specific tier that has a URI', () => {
    expect(
      pickUriForLocality(parsed, [
        { key: 'region', value: 'us-west1' },
        { key: 'zone', value: 'us-west1-b' },
      ]),
    ).toEqual({ uri: 'nodelocal://1/west-b', locality: 'zone=us-west1-b' });
    expect(
      pickUriForLocality(parsed, [
        { key: 'region', value: 'us-west1' },
        { key: 'zone', value: 'us-west1-a' },
      ]),
    ).toEqual({ uri: 'nodelocal://1/west', locality: 'region=us-west1' });
  });

  it('falls back to the default', () => {
    expect(pickUriForLocality(parsed, [{ key: 'region', value: 'us-east1' }])).toEqual({
      uri: 'nodelocal://1/default',
      locality: 'default',
    });
    expect(pickUriForLocality(parsed, [])).toEqual({ uri: 'nodelocal://1/default', locality: 'default' });
    // Keys and values must both match: a zone named like a region is not that region.
    expect(pickUriForLocality(parsed, [{ key: 'zone', value: 'us-west1' }]).locality).toBe('default');
  });
});
