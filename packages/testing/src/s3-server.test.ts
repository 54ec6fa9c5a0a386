import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3ServerHandle } from './index.js';

async function listAll(s3: S3Client, bucket: string, prefix: string, maxKeys?: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: maxKeys, ContinuationToken: token }),
    );
    pages++;
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return { keys, pages };
}

describe('startS3Server', () => {
  let server: S3ServerHandle;
  let s3: S3Client;
  beforeAll(async () => {
    server = await startS3Server({ buckets: ['backups', 'other'] });
    s3 = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('describes itself as a self-contained URI', () => {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const uri = new URL(server.uri('backups', '/nightly/1'));
    expect(uri.protocol).toBe('s3:');
    expect(uri.host).toBe('backups');
    expect(uri.pathname).toBe('/nightly/1');
    expect(uri.searchParams.get('AWS_ENDPOINT')).toBe(server.endpoint);
    expect(uri.searchParams.get('AWS_ACCESS_KEY_ID')).toBe('S3RVER');
    expect(uri.searchParams.get('AWS_SECRET_ACCESS_KEY')).toBe('S3RVER');
    expect(uri.searchParams.get('AWS_REGION')).toBe('us-east-1');
  });

  it('puts and gets objects, including byte ranges and streamed bodies', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'a/plain', Body: '0123456789' }));
    const whole = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'a/plain' }));
    expect(await whole.Body?.transformToString()).toBe('0123456789');

    const range = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'a/plain', Range: 'bytes=2-5' }));
    expect(await range.Body?.transformToString()).toBe('2345');
    expect(range.ContentRange).toBe('bytes 2-5/10');

    // A stream with a known length must be stored as-is, not with aws-chunked framing.
    const body = Buffer.from('streamed-body');
    await s3.send(
      new PutObjectCommand({ Bucket: 'backups', Key: 'a/stream', Body: Readable.from([body]), ContentLength: body.length }),
    );
    const streamed = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'a/stream' }));
    expect(await streamed.Body?.transformToString()).toBe('streamed-body');
  });

  it('paginates listings (MaxKeys=2, and past the 1000-key page limit)', async () => {
    for (let i = 0; i < 5; i++) {
      await s3.send(new PutObjectCommand({ Bucket: 'other', Key: `small/k${i}`, Body: `${i}` }));
    }
    const small = await listAll(s3, 'other', 'small/', 2);
    expect(small.keys).toEqual(['small/k0', 'small/k1', 'small/k2', 'small/k3', 'small/k4']);
    expect(small.pages).toBe(3);

    const n = 1_005;
    const names = Array.from({ length: n }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket: 'other', Key, Body: 'x' }))),
      );
    }
    const many = await listAll(s3, 'other', 'many/');
    expect(many.pages).toBe(2);
    expect(many.keys).toEqual(names);
  }, 60_000);

  it('completes a multipart upload', async () => {
    const part1 = Buffer.alloc(5 * 1024 * 1024, 'a');
    const part2 = Buffer.from('tail');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'backups', Key: 'big' }));
    const etags: string[] = [];
    for (const [i, Body] of [part1, part2].entries()) {
      const res = await s3.send(
        new UploadPartCommand({ Bucket: 'backups', Key: 'big', UploadId, PartNumber: i + 1, Body }),
      );
      etags.push(res.ETag ?? '');
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'backups',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'big' }));
    const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    expect(bytes.length).toBe(part1.length + part2.length);
    expect(bytes.subarray(-4).toString()).toBe('tail');
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: 'backups', Key: 'big', Range: `bytes=${part1.length - 2}-${part1.length + 1}` }),
    );
    expect(await ranged.Body?.transformToString()).toBe('aata');
  });
});
