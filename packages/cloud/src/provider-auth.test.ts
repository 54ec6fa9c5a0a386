import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  startAzurite,
  startGcsStandIn,
  startS3Server,
  startStsStandIn,
  tempDir,
  type AzuriteHandle,
  type GcsStandIn,
  type S3ServerHandle,
  type StsStandIn,
} from '@cairn/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, parseStorageUri, redactStorageUri, type ExternalStorage } from './index.js';

const fast = { s3: { retry: { maxAttempts: 2, initialBackoffMs: 10 } } };
const payload = new TextEncoder().encode('cairn provider auth check');

async function roundTrip(uri: string): Promise<ExternalStorage> {
  const s = await openStorage(uri, fast);
  await s.writeFile('probe/a.bin', payload);
  expect(Buffer.from(await s.readAll('probe/a.bin')).toString()).toBe('cairn provider auth check');
  return s;
}

async function failure(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

/** The message names the provider, never carries the secret. */
function expectDenied(err: CairnError, provider: RegExp, secret: string): void {
  expect(err.code).toBe(ErrorCode.FailedPrecondition);
  expect(err.message).toMatch(provider);
  expect(err.message).toMatch(/access denied/);
  expect(err.message).not.toContain(secret);
}

describe('provider URIs', () => {
  it('parses azure:// and azure-blob:// alike and refuses what it cannot do', () => {
    const a = parseStorageUri('azure://c/p/q?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=k+ey%3D%3D');
    expect(a).toMatchObject({ scheme: 'azure', container: 'c', prefix: 'p/q', accountName: 'acct', accountKey: 'k+ey==' });
    expect(parseStorageUri('azure-blob://c?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=k')).toMatchObject({ scheme: 'azure', environmentSuffix: 'core.windows.net' });
    expect(() => parseStorageUri('azure://c?AZURE_ACCOUNT_NAME=a')).toThrow(/missing "AZURE_ACCOUNT_KEY"/);
    expect(() => parseStorageUri('azure://c?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=k&AZURE_ENVIRONMENT=Mars')).toThrow(/unknown AZURE_ENVIRONMENT/);
    expect(() => parseStorageUri('azure://c?AZURE_ACCOUNT_NAME=a&AZURE_CLIENT_ID=x&AZURE_CLIENT_SECRET=s')).toThrow(/not supported/);
  });

  it('parses gs:// with CREDENTIALS, BEARER_TOKEN or AUTH=implicit', () => {
    const creds = Buffer.from('{"type":"service_account"}').toString('base64');
    expect(parseStorageUri(`gs://b/x?AUTH=specified&CREDENTIALS=${encodeURIComponent(creds)}`)).toMatchObject({
      scheme: 'gs',
      bucket: 'b',
      prefix: 'x',
      auth: 'specified',
      credentials: '{"type":"service_account"}',
    });
    expect(parseStorageUri('gs://b/x?AUTH=implicit')).toMatchObject({ auth: 'implicit' });
    expect(() => parseStorageUri('gs://b/x?AUTH=specified')).toThrow(/needs "CREDENTIALS"/);
    expect(() => parseStorageUri('gs://b/x?CREDENTIALS=bm90IGpzb24=')).toThrow(/base64 encoding of a service account key/);
  });

  it('parses the S3 auth and encryption parameters', () => {
    const s3 = parseStorageUri(
      's3://b/p?AUTH=implicit&ASSUME_ROLE=arn:aws:iam::1:role/a,arn:aws:iam::2:role/b&AWS_USE_PATH_STYLE=true&AWS_SERVER_ENC_MODE=aws:kms&AWS_SERVER_KMS_ID=k1&S3_STORAGE_CLASS=STANDARD_IA',
    );
    expect(s3).toMatchObject({
      auth: 'implicit',
      assumeRoles: ['arn:aws:iam::1:role/a', 'arn:aws:iam::2:role/b'],
      usePathStyle: true,
      serverEncMode: 'aws:kms',
      serverKmsId: 'k1',
      storageClass: 'STANDARD_IA',
    });
    expect(() => parseStorageUri('s3://b?AUTH=implicit&AWS_SERVER_ENC_MODE=aws:kms')).toThrow(/AWS_SERVER_KMS_ID must be set/);
    expect(() => parseStorageUri('s3://b?AUTH=implicit&AWS_SERVER_ENC_MODE=rot13')).toThrow(/unsupported server encryption mode/);
  });

  it('redacts every provider secret', () => {
    expect(redactStorageUri('gs://b?CREDENTIALS=c2VjcmV0&BEARER_TOKEN=tok&x=1')).toBe('gs://b?CREDENTIALS=redacted&BEARER_TOKEN=redacted&x=1');
    expect(redactStorageUri('azure://c?AZURE_ACCOUNT_KEY=key1&AZURE_ACCOUNT_NAME=n')).toBe('azure://c?AZURE_ACCOUNT_KEY=redacted&AZURE_ACCOUNT_NAME=n');
    expect(redactStorageUri('s3://b?AWS_SESSION_TOKEN=tok2&AWS_ACCESS_KEY_ID=redacted')).toBe('s3://b?AWS_SESSION_TOKEN=redacted&AWS_ACCESS_KEY_ID=redacted');
  });
});

describe('azure:// against Azurite', () => {
  let az: AzuriteHandle;
  beforeAll(async () => {
    az = await startAzurite({ containers: ['auth'] });
  }, 60_000);
  afterAll(() => az.stop());

  it('writes and reads with the account key', async () => {
    await (await roundTrip(az.uri('auth', 'ok'))).close();
  });

  it('names azure and the checked parameters when the key is wrong', async () => {
    const badKey = Buffer.from('not the account key at all, 64 bytes long.......................').toString('base64');
    const s = await openStorage(az.uri('auth', 'bad', { accountKey: badKey }), fast);
    const err = await failure(s.writeFile('x', payload));
    expectDenied(err, /^azure: .*AZURE_ACCOUNT_KEY/, badKey);
  });

  it('says when the container does not exist', async () => {
    const s = await openStorage(az.uri('no-such-container', 'x'), fast);
    const err = await failure(s.size('f'));
    expect(err.message).toMatch(/azure: container does not exist/);
  });
});

describe('gs:// against the GCS stand-in', () => {
  let gcs: GcsStandIn;
  const saved = process.env['GOOGLE_APPLICATION_CREDENTIALS'];
  beforeAll(async () => {
    gcs = await startGcsStandIn({ buckets: ['auth'] });
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    else process.env['GOOGLE_APPLICATION_CREDENTIALS'] = saved;
    await gcs.stop();
  });
  const uri = (params: Record<string, string>): string =>
    `gs://auth/t-${randomUUID()}?${new URLSearchParams({ ...params, GCS_ENDPOINT: gcs.endpoint }).toString()}`;

  it('AUTH=specified with CREDENTIALS signs requests with the service account key', async () => {
    await roundTrip(uri({ AUTH: 'specified', CREDENTIALS: Buffer.from(gcs.credentials()).toString('base64') }));
  });

  it('BEARER_TOKEN is sent as is', async () => {
    await roundTrip(uri({ BEARER_TOKEN: gcs.issueAccessToken() }));
  });

  it('AUTH=implicit takes the application default credentials (GOOGLE_APPLICATION_CREDENTIALS)', async () => {
    const file = join(await tempDir('cairn-gcs-adc'), 'key.json');
    await writeFile(file, gcs.credentials());
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = file;
    await roundTrip(uri({ AUTH: 'implicit' }));
  });

  it('names gs and CREDENTIALS when the key is not accepted', async () => {
    const creds = Buffer.from(gcs.unknownCredentials()).toString('base64');
    const s = await openStorage(uri({ AUTH: 'specified', CREDENTIALS: creds }), fast);
    const err = await failure(s.writeFile('x', payload));
    expectDenied(err, /^gs: .*CREDENTIALS/, creds);
    expect(err.message).not.toContain('PRIVATE KEY');
  });
});

describe('s3:// auth against s3rver and the STS stand-in', () => {
  let s3: S3ServerHandle;
  let sts: StsStandIn;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    s3 = await startS3Server({ buckets: ['auth'] });
    sts = await startStsStandIn({
      baseKeys: [{ accessKeyId: 'AKIABASE', secretAccessKey: 'base-secret' }],
      roles: {
        'arn:aws:iam::111111111111:role/hop': 'random',
        // The last role of the chain hands out the keys s3rver accepts.
        'arn:aws:iam::222222222222:role/backup': { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    });
    process.env['AWS_ENDPOINT_URL_STS'] = sts.endpoint;
  }, 60_000);
  afterEach(() => {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });
  afterAll(async () => {
    delete process.env['AWS_ENDPOINT_URL_STS'];
    await sts.stop();
    await s3.stop();
  });
  const base = (q: Record<string, string>): string =>
    `s3://auth/t-${randomUUID()}?${new URLSearchParams({ AWS_ENDPOINT: s3.endpoint, AWS_REGION: s3.region, ...q }).toString()}`;

  it('ASSUME_ROLE chains roles through STS, each hop signed with the previous hop\'s temporary keys', async () => {
    const before = sts.calls.length;
    const uri = base({
      AWS_ACCESS_KEY_ID: 'AKIABASE',
      AWS_SECRET_ACCESS_KEY: 'base-secret',
      ASSUME_ROLE: 'arn:aws:iam::111111111111:role/hop,arn:aws:iam::222222222222:role/backup',
    });
    await roundTrip(uri);
    const calls = sts.calls.slice(before);
    expect(calls.map((c) => c.roleArn)).toEqual(['arn:aws:iam::111111111111:role/hop', 'arn:aws:iam::222222222222:role/backup']);
    expect(calls[0]).toMatchObject({ callerKeyId: 'AKIABASE', callerSessionToken: undefined });
    expect(calls[1]?.callerKeyId).toMatch(/^ASIA/);
    expect(calls[1]?.callerSessionToken).toMatch(/^FwoG/);
  });

  it('ASSUME_ROLE with AUTH=implicit starts from the default chain', async () => {
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIABASE';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'base-secret';
    await roundTrip(base({ AUTH: 'implicit', ASSUME_ROLE: 'arn:aws:iam::222222222222:role/backup' }));
  });

  it('a role STS refuses gives an access-denied error naming the redacted s3 URI', async () => {
    const s = await openStorage(
      base({ AWS_ACCESS_KEY_ID: 'AKIABASE', AWS_SECRET_ACCESS_KEY: 'base-secret', ASSUME_ROLE: 'arn:aws:iam::3:role/nope' }),
      fast,
    );
    const err = await failure(s.writeFile('x', payload));
    expectDenied(err, /s3:\/\/auth\/.*ASSUME_ROLE/, 'base-secret');
  });

  it('AUTH=implicit signs with the SDK default chain (environment keys here)', async () => {
    process.env['AWS_ACCESS_KEY_ID'] = s3.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = s3.secretAccessKey;
    await roundTrip(base({ AUTH: 'implicit' }));
    // s3rver checks the key ID it knows (S3RVER), so a key ID it does not know is refused.
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAUNKNOWN';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'wrong-secret';
    const s = await openStorage(base({ AUTH: 'implicit' }), fast);
    expectDenied(await failure(s.writeFile('x', payload)), /s3:\/\//, 'wrong-secret');
  });

  it('AWS_SESSION_TOKEN is carried with the keys (s3rver does not check tokens)', async () => {
    await roundTrip(
      base({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_SESSION_TOKEN: 'FwoGsession' }),
    );
  });

  it('S3_STORAGE_CLASS, AWS_SERVER_ENC_MODE / AWS_SERVER_KMS_ID and a checksum go with every write', async () => {
    // s3rver keeps the storage class but ignores encryption headers: a recording proxy in
    // front of it shows what the client sent.
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const proxy = createServer((req, res) => {
      if (req.method === 'PUT' || req.method === 'POST') seen.push(req.headers);
      const target = new URL(s3.endpoint);
      const fwd = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 500, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(fwd);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyEndpoint = `http://127.0.0.1:${String((proxy.address() as AddressInfo).port)}`;
    const prefix = `t-${randomUUID()}`;
    const kms = new URLSearchParams({
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_ENDPOINT: proxyEndpoint,
      AWS_REGION: s3.region,
      AWS_SERVER_ENC_MODE: 'aws:kms',
      AWS_SERVER_KMS_ID: 'arn:aws:kms:us-east-1:1:key/abc',
    });
    const sk = await openStorage(`s3://auth/${prefix}-kms?${kms.toString()}`, fast);
    await sk.writeFile('small.bin', payload);
    await sk.writeFile('streamed.bin', (async function* () {
      yield payload;
    })());
    proxy.closeAllConnections();
    proxy.close();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const h of seen) {
      // An integrity checksum on every upload: what Object Lock buckets require.
      expect(h['x-amz-checksum-crc32'] ?? h['x-amz-checksum-algorithm']).toBeDefined();
      expect(h['x-amz-server-side-encryption']).toBe('aws:kms');
      expect(h['x-amz-server-side-encryption-aws-kms-key-id']).toBe('arn:aws:kms:us-east-1:1:key/abc');
    }
    const q = new URLSearchParams({
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_ENDPOINT: s3.endpoint,
      AWS_REGION: s3.region,
      S3_STORAGE_CLASS: 'STANDARD_IA',
      AWS_SERVER_ENC_MODE: 'AES256',
    });
    const s = await openStorage(`s3://auth/${prefix}?${q.toString()}`, fast);
    await s.writeFile('small.bin', payload);
    await s.writeFile('streamed.bin', (async function* () {
      yield payload;
    })());
    const client = s3.client();
    for (const name of ['small.bin', 'streamed.bin']) {
      const head = await client.send(new HeadObjectCommand({ Bucket: 'auth', Key: `${prefix}/${name}` }));
      expect(head.StorageClass).toBe('STANDARD_IA');
    }
  });
});
