import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { appendUriPath, joinPath, parseStorageUri, redactStorageUri } from './index.js';

function parseError(uri: string): CairnError {
  try {
    parseStorageUri(uri);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as CairnError).retryable).toBe(false);
    return err as CairnError;
  }
  throw new Error(`expected ${uri} to be refused`);
}

describe('parseStorageUri', () => {
  it('parses nodelocal URIs with a node ID or self', () => {
    expect(parseStorageUri('nodelocal://1/backups/nightly')).toEqual({
      scheme: 'nodelocal',
      nodeId: 1,
      path: 'backups/nightly',
    });
    expect(parseStorageUri('nodelocal://self/a//b/')).toEqual({ scheme: 'nodelocal', nodeId: 'self', path: 'a/b' });
    expect(parseStorageUri('nodelocal://12')).toEqual({ scheme: 'nodelocal', nodeId: 12, path: '' });
    expect(parseStorageUri('NODELOCAL://2/x%20y')).toEqual({ scheme: 'nodelocal', nodeId: 2, path: 'x y' });
  });

  it('refuses bad nodelocal hosts', () => {
    for (const uri of ['nodelocal:///backups', 'nodelocal://0/x', 'nodelocal://node1/x', 'nodelocal://-1/x', 'nodelocal://1.5/x']) {
      expect(parseError(uri).message).toMatch(/^host component of nodelocal URI must be a node ID or "self"/);
    }
    expect(parseError('nodelocal://abc/x').message).toContain('got "abc"');
  });

  it('parses file URIs as absolute paths', () => {
    expect(parseStorageUri('file:///var/backups/one')).toEqual({ scheme: 'file', path: '/var/backups/one' });
    expect(parseStorageUri('file://localhost/tmp/x/')).toEqual({ scheme: 'file', path: '/tmp/x' });
    expect(parseStorageUri('file:///')).toEqual({ scheme: 'file', path: '/' });
    expect(parseError('file://relative/path').message).toBe(
      'file URI must name an absolute path as file:///abs/path, got host "relative" in file://relative/path',
    );
  });

  it('parses s3 URIs with every supported parameter', () => {
    const uri =
      's3://my-bucket/backups/2024?AWS_ACCESS_KEY_ID=AKIA1&AWS_SECRET_ACCESS_KEY=se%2Bcret&AWS_SESSION_TOKEN=tok' +
      '&AWS_ENDPOINT=http%3A%2F%2F127.0.0.1%3A9000&AWS_REGION=eu-west-1&AUTH=specified&S3_STORAGE_CLASS=STANDARD_IA';
    expect(parseStorageUri(uri)).toEqual({
      scheme: 's3',
      bucket: 'my-bucket',
      prefix: 'backups/2024',
      auth: 'specified',
      accessKeyId: 'AKIA1',
      secretAccessKey: 'se+cret',
      sessionToken: 'tok',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      storageClass: 'STANDARD_IA',
      assumeRoles: [],
      usePathStyle: false,
    });
  });

  it('recovers a "+" in an unescaped secret, as CockroachDB does', () => {
    const loc = parseStorageUri('s3://b?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=a+b/c');
    expect(loc).toMatchObject({ secretAccessKey: 'a+b/c', prefix: '' });
  });

  it('needs both keys unless AUTH=implicit', () => {
    expect(parseError('s3://b/p').message).toBe('s3 uri missing "AWS_ACCESS_KEY_ID" parameter');
    expect(parseError('s3://b/p?AUTH=specified&AWS_SECRET_ACCESS_KEY=s').message).toBe(
      's3 uri missing "AWS_ACCESS_KEY_ID" parameter',
    );
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k').message).toBe('s3 uri missing "AWS_SECRET_ACCESS_KEY" parameter');
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=').message).toBe(
      's3 uri missing "AWS_SECRET_ACCESS_KEY" parameter',
    );
    expect(parseStorageUri('s3://b/p?AUTH=implicit&AWS_REGION=us-east-2')).toMatchObject({
      scheme: 's3',
      bucket: 'b',
      prefix: 'p',
      auth: 'implicit',
      region: 'us-east-2',
    });
    expect(parseError('s3://b/p?AUTH=magic').message).toBe('unsupported value "magic" for AUTH (use "specified" or "implicit")');
  });

  it('refuses a missing bucket, unknown or repeated parameters and bad endpoints', () => {
    expect(parseError('s3:///p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s').message).toBe(
      's3 uri missing bucket name: s3:///p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted',
    );
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s&AWS_REGON=x&FOO=1').message).toBe(
      'unknown S3 query parameters: AWS_REGON, FOO',
    );
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s&COCKROACH_LOCALITY=default').message).toBe(
      'unknown S3 query parameters: COCKROACH_LOCALITY',
    );
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_ACCESS_KEY_ID=k2&AWS_SECRET_ACCESS_KEY=s').message).toBe(
      'duplicate query parameter AWS_ACCESS_KEY_ID in s3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted',
    );
    expect(parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s&AWS_ENDPOINT=localhost:9000').message).toBe(
      'AWS_ENDPOINT must be an http:// or https:// URL, got "localhost:9000"',
    );
    expect(parseError('nodelocal://1/x?AWS_REGION=x').message).toBe('unknown nodelocal query parameters: AWS_REGION');
    expect(parseError('file:///x?y=1').message).toBe('unknown file query parameters: y');
  });

  it('parses external connection URIs', () => {
    expect(parseStorageUri('external://backup_s3')).toEqual({ scheme: 'external', name: 'backup_s3', path: '' });
    expect(parseStorageUri('external://backup_s3/cluster/a')).toEqual({
      scheme: 'external',
      name: 'backup_s3',
      path: 'cluster/a',
    });
    expect(parseError('external:///x').message).toBe('external URI missing the connection name: external:///x');
  });

  it('refuses unknown schemes and malformed URIs without showing secrets', () => {
    expect(parseError('ftp://bucket/path?AUTH=specified').message).toBe(
      'unsupported storage scheme "ftp" in ftp://bucket/path?AUTH=specified: use nodelocal://, file://, s3://, gs://, azure:// or external://',
    );
    expect(parseError('/just/a/path').message).toBe(
      'invalid storage URI "/just/a/path": expected <scheme>://<host>/<path>',
    );
    expect(parseError('s3:bucket?AWS_SECRET_ACCESS_KEY=hunter2').message).not.toContain('hunter2');
    const fragment = parseError('s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=ab#cd');
    expect(fragment.message).toContain('percent-encode "#"');
    expect(fragment.message).not.toContain('ab#cd');
    expect(fragment.message).not.toContain('cd');
  });

  it('refuses ".." in paths, encoded or not', () => {
    for (const uri of ['nodelocal://1/../etc', 'nodelocal://self/a/%2E%2E/%2e%2e/etc', 'file:///tmp/../etc', 'nodelocal://1/a%2F..%2F..%2Fx']) {
      expect(parseError(uri).message).toMatch(/^storage URI path must not contain "\.\." segments/);
    }
    expect(parseError('nodelocal://1/%zz').message).toBe('invalid percent-encoding in the path of nodelocal://1/%zz');
  });
});

describe('redactStorageUri', () => {
  it('redacts secrets and keeps everything else as typed', () => {
    expect(
      redactStorageUri(
        's3://b/p?AWS_ACCESS_KEY_ID=AKIA&AWS_SECRET_ACCESS_KEY=s%2Bx&AWS_SESSION_TOKEN=t&AWS_ENDPOINT=http%3A%2F%2Fh&AWS_REGION=r',
      ),
    ).toBe('s3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_SESSION_TOKEN=redacted&AWS_ENDPOINT=http%3A%2F%2Fh&AWS_REGION=r');
    expect(redactStorageUri('azure://c/p?AZURE_ACCOUNT_NAME=n&AZURE_ACCOUNT_KEY=k')).toBe(
      'azure://c/p?AZURE_ACCOUNT_NAME=n&AZURE_ACCOUNT_KEY=redacted',
    );
    expect(redactStorageUri('gs://b/p?AUTH=specified&CREDENTIALS=eyJ')).toBe('gs://b/p?AUTH=specified&CREDENTIALS=redacted');
    expect(redactStorageUri('nodelocal://1/x')).toBe('nodelocal://1/x');
    expect(redactStorageUri('http://user:pw@host/x?a=1')).toBe('http://user:redacted@host/x?a=1');
    // A '#' inside a secret must not leave the secret's tail visible.
    expect(redactStorageUri('s3://b?AWS_SECRET_ACCESS_KEY=ab#cd&X=1')).toBe('s3://b?AWS_SECRET_ACCESS_KEY=redacted&X=1');
    expect(redactStorageUri('not a uri %zz?%zz=1&aws_secret_access_key=x')).toBe(
      'not a uri %zz?%zz=1&aws_secret_access_key=redacted',
    );
  });
});

describe('joinPath', () => {
  it('joins parts without leading slash or empty segments', () => {
    expect(joinPath('a', 'b/c')).toBe('a/b/c');
    expect(joinPath('/a/', '/b//c/', '')).toBe('a/b/c');
    expect(joinPath('', '')).toBe('');
    expect(joinPath('./a/./b')).toBe('a/b');
    expect(joinPath('a/b', '../c')).toBe('a/c');
  });

  it('refuses paths that climb out of the root', () => {
    expect(() => joinPath('a', '../../etc')).toThrow(/escapes the storage root/);
    expect(() => joinPath('..')).toThrow(CairnError);
  });
});

describe('appendUriPath', () => {
  it('appends to the path and keeps the query', () => {
    expect(appendUriPath('s3://b/base?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s', '2024/01')).toBe(
      's3://b/base/2024/01?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s',
    );
    expect(appendUriPath('nodelocal://1', 'x y')).toBe('nodelocal://1/x%20y');
    expect(appendUriPath('file:///', 'tmp/x')).toBe('file:///tmp/x');
    expect(appendUriPath('file:///tmp/', '')).toBe('file:///tmp/');
    expect(parseStorageUri(appendUriPath('nodelocal://1/a', 'b%/c'))).toEqual({ scheme: 'nodelocal', nodeId: 1, path: 'a/b%/c' });
  });
});
