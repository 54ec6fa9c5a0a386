import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { Upload } from '@aws-sdk/lib-storage';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  applyDelimiter,
  checkDeletePrefix,
  checkRange,
  collectBytes,
  compareBytewise,
  rangeBeyondEnd,
  type ExternalStorage,
  type ListOptions,
  type ReadRange,
} from './external-storage.js';
import { backoffMs, DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './retry-policy.js';
import { isTransientS3Error, s3ErrorName, s3Status, toStorageError, TruncatedBody } from './s3-errors.js';
import { filePath, joinPath, listPrefix } from './storage-path.js';
import { redactStorageUri, type S3Location } from './storage-uri.js';

/** Tuning and test knobs of `S3Storage`. */
export interface S3StorageOptions {
  /** The URI shown in messages; built (redacted) from the location when absent. */
  uri?: string;
  retry?: Partial<RetryPolicy>;
  /**
   * How long a connection may sit idle (no bytes either way) before the request counts as
   * timed out. An idle limit, not a total one: reading a large file slowly is fine. Default 60 s.
   */
  idleTimeoutMs?: number;
  /** Time to establish a connection. Default 10 s. */
  connectionTimeoutMs?: number;
  /** Multipart part size. Default 8 MiB (S3's minimum is 5 MiB). */
  partSize?: number;
  /** Parts uploaded concurrently. Default 4. */
  queueSize?: number;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;
/** Keys per DeleteObjects request: S3's limit, and the size of a listing page. */
const DELETE_BATCH = 1000;

/** The object's full size, from `Content-Range: bytes a-b/size` or, for a whole-object GET, its length. */
function objectSize(res: GetObjectCommandOutput): number | undefined {
  if (res.ContentRange !== undefined) {
    const m = /\/(\d+)\s*$/.exec(res.ContentRange);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  }
  return res.ContentLength;
}

/** Rebuilds a redacted `s3://` URI from a parsed location, for messages. */
export function s3LocationUri(loc: S3Location): string {
  const q = new URLSearchParams();
  if (loc.accessKeyId !== undefined) q.set('AWS_ACCESS_KEY_ID', loc.accessKeyId);
  if (loc.secretAccessKey !== undefined) q.set('AWS_SECRET_ACCESS_KEY', loc.secretAccessKey);
  if (loc.sessionToken !== undefined) q.set('AWS_SESSION_TOKEN', loc.sessionToken);
  if (loc.endpoint !== undefined) q.set('AWS_ENDPOINT', loc.endpoint);
  if (loc.region !== undefined) q.set('AWS_REGION', loc.region);
  if (loc.auth === 'implicit') q.set('AUTH', 'implicit');
  if (loc.storageClass !== undefined) q.set('S3_STORAGE_CLASS', loc.storageClass);
  if (loc.assumeRoles.length > 0) q.set('ASSUME_ROLE', loc.assumeRoles.join(','));
  if (loc.serverEncMode !== undefined) q.set('AWS_SERVER_ENC_MODE', loc.serverEncMode);
  if (loc.serverKmsId !== undefined) q.set('AWS_SERVER_KMS_ID', loc.serverKmsId);
  const query = q.toString();
  return redactStorageUri(`s3://${loc.bucket}/${loc.prefix}${query === '' ? '' : `?${query}`}`);
}

/**
 * Storage under a prefix of an S3 bucket (AWS or any S3-compatible server). Streams are
 * uploaded with lib-storage's multipart `Upload`, so an object appears only once complete and
 * an aborted upload leaves nothing behind. Single requests are retried here with backoff;
 * multipart parts are retried by the SDK (they are buffered, so resending is safe).
 */
export class S3Storage implements ExternalStorage {
  readonly uri: string;
  readonly location: S3Location;
  private readonly client: S3Client;
  private readonly uploadClient: S3Client;
  private readonly retry: RetryPolicy;
  private readonly partSize: number;
  private readonly queueSize: number;
  /** Set once the bucket was seen to exist, to tell "no such file" from "no such bucket". */
  private bucketSeen = false;

  constructor(location: S3Location, options: S3StorageOptions = {}) {
    this.location = location;
    this.uri = options.uri ?? s3LocationUri(location);
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    const config: S3ClientConfig = {
      region: location.region ?? 'us-east-1',
      requestHandler: {
        socketTimeout: options.idleTimeoutMs ?? 60_000,
        connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      },
    };
    if (location.endpoint !== undefined) {
      // S3-compatible servers want path-style addressing, and with the SDK's default checksum
      // mode streamed bodies get aws-chunked framing that some (s3rver) store verbatim.
      config.endpoint = location.endpoint;
      config.forcePathStyle = true;
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    if (location.usePathStyle) config.forcePathStyle = true;
    if (location.auth === 'specified') {
      config.credentials = {
        accessKeyId: location.accessKeyId ?? '',
        secretAccessKey: location.secretAccessKey ?? '',
        ...(location.sessionToken === undefined ? {} : { sessionToken: location.sessionToken }),
      };
    }
    // ASSUME_ROLE=a,b,c: a is assumed with the base credentials (the URI's keys, or the SDK's
    // default chain under AUTH=implicit), b with a's, c with b's; S3 is then used as c. STS's
    // endpoint follows the SDK's own settings (AWS_ENDPOINT_URL_STS, the region).
    for (const [i, roleArn] of location.assumeRoles.entries()) {
      config.credentials = fromTemporaryCredentials({
        ...(config.credentials === undefined ? {} : { masterCredentials: config.credentials as never }),
        params: { RoleArn: roleArn, RoleSessionName: `cairn-backup-${String(i)}` },
        clientConfig: { region: config.region as string },
      });
    }
    this.client = new S3Client({ ...config, maxAttempts: 1 });
    this.uploadClient = new S3Client({ ...config, maxAttempts: this.retry.maxAttempts });
  }

  private key(path: string): string {
    return joinPath(this.location.prefix, filePath(path, this.uri));
  }

  private rel(key: string): string {
    return this.location.prefix === '' ? key : key.slice(this.location.prefix.length + 1);
  }

  private send<T>(op: string, path: string | undefined, fn: () => Promise<T>): Promise<T> {
    return withRetry(this.retry, isTransientS3Error, fn).catch((err: unknown) => {
      throw toStorageError(err, { op, path, bucket: this.location.bucket, uri: this.uri });
    });
  }

  private get storageClass(): StorageClass | undefined {
    return this.location.storageClass as StorageClass | undefined;
  }

  /**
   * Per-object write parameters: storage class, server-side encryption, and an integrity
   * checksum on every request. Buckets with Object Lock refuse uploads without one (Content-MD5
   * or x-amz-checksum-*); the SDK adds it by itself only against AWS's own endpoints.
   */
  private get putParams(): {
    StorageClass?: StorageClass;
    ServerSideEncryption?: 'AES256' | 'aws:kms';
    SSEKMSKeyId?: string;
    ChecksumAlgorithm: 'CRC32';
  } {
    const l = this.location;
    return {
      ChecksumAlgorithm: 'CRC32',
      ...(l.storageClass === undefined ? {} : { StorageClass: this.storageClass }),
      ...(l.serverEncMode === undefined ? {} : { ServerSideEncryption: l.serverEncMode }),
      ...(l.serverKmsId === undefined ? {} : { SSEKMSKeyId: l.serverKmsId }),
    };
  }

  async writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
    const Key = this.key(path);
    const Bucket = this.location.bucket;
    if (body instanceof Uint8Array) {
      await this.send('write', path, () =>
        this.client.send(
          new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.byteLength, ...this.putParams }),
        ),
      );
      this.bucketSeen = true;
      return { bytes: body.byteLength };
    }
    let bytes = 0;
    let sourceError: { error: unknown } | undefined;
    async function* counted(): AsyncIterable<Uint8Array> {
      try {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          bytes += chunk.byteLength;
          yield chunk;
        }
      } catch (error) {
        sourceError = { error };
        throw error;
      }
    }
    const upload = new Upload({
      client: this.uploadClient,
      params: { Bucket, Key, Body: Readable.from(counted()), ...this.putParams },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (sourceError !== undefined) throw sourceError.error;
      throw toStorageError(err, { op: 'write', path, bucket: Bucket, uri: this.uri });
    }
    this.bucketSeen = true;
    return { bytes };
  }

  async *readFile(path: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    const { offset, end } = checkRange(range);
    const Key = this.key(path);
    const Bucket = this.location.bucket;
    if (end === offset) {
      // Nothing to read, but a missing file or a start past the end must still fail.
      const size = await this.size(path);
      if (offset > size) throw rangeBeyondEnd(path, offset, size, this.uri);
      return;
    }
    let pos = offset;
    let etag: string | undefined;
    for (let resumes = 1; ; resumes++) {
      const Range = pos === 0 && end === undefined ? undefined : `bytes=${String(pos)}-${end === undefined ? '' : String(end - 1)}`;
      let res: GetObjectCommandOutput;
      try {
        res = await withRetry(this.retry, isTransientS3Error, () =>
          this.client.send(new GetObjectCommand({ Bucket, Key, Range, IfMatch: etag })),
        );
      } catch (err) {
        if (s3Status(err) === 416 || s3ErrorName(err) === 'InvalidRange') {
          // S3 refuses a range starting at or past the end; at the end it is an empty read.
          const size = await this.size(path);
          if (pos === size) return;
          throw rangeBeyondEnd(path, pos, size, this.uri);
        }
        throw await this.notFoundOrNoBucket(err, 'read', path);
      }
      this.bucketSeen = true;
      etag ??= res.ETag;
      const body = res.Body;
      if (!(body instanceof Readable)) {
        throw new CairnError(ErrorCode.Internal, `unexpected S3 response body for "${path}" in ${this.uri}`);
      }
      // Read no more than asked for and no more than the object holds, whatever the server
      // claims: some S3-compatible servers answer a range past an empty object's end with a
      // Content-Length they never send, or a range ending at byte 0 with the whole object.
      const total = objectSize(res);
      const stop = Math.min(end ?? Infinity, total ?? Infinity);
      if (total !== undefined && pos > total) {
        body.destroy();
        throw rangeBeyondEnd(path, pos, total, this.uri);
      }
      if (stop <= pos) {
        body.destroy();
        return;
      }
      try {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          const take = Math.min(chunk.byteLength, stop - pos);
          pos += take;
          yield take === chunk.byteLength ? chunk : chunk.subarray(0, take);
          if (pos >= stop) return;
        }
        if (stop !== Infinity) {
          throw new TruncatedBody(`response ended at byte ${String(pos)} before byte ${String(stop)}`);
        }
        return;
      } catch (err) {
        // A dropped connection mid-body: carry on from where the stream broke, pinned to the
        // same object version by its ETag.
        if (!isTransientS3Error(err) || resumes >= this.retry.maxAttempts) {
          throw toStorageError(err, { op: 'read', path, bucket: Bucket, uri: this.uri });
        }
        await sleep(backoffMs(this.retry, resumes));
      }
    }
  }

  readAll(path: string): Promise<Uint8Array> {
    return collectBytes(this.readFile(path));
  }

  async size(path: string): Promise<number> {
    const Key = this.key(path);
    try {
      const res = await withRetry(this.retry, isTransientS3Error, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key })),
      );
      this.bucketSeen = true;
      return res.ContentLength ?? 0;
    } catch (err) {
      throw await this.notFoundOrNoBucket(err, 'stat', path);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.size(path);
      return true;
    } catch (err) {
      if (err instanceof CairnError && err.code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  /**
   * HEAD answers 404 without a body, so a missing bucket looks like a missing file. Ask about
   * the bucket once; after it was seen, a 404 means the file.
   */
  private async notFoundOrNoBucket(err: unknown, op: string, path: string): Promise<CairnError> {
    const ctx = { op, path, bucket: this.location.bucket, uri: this.uri };
    if (s3Status(err) !== 404 || this.bucketSeen) return toStorageError(err, ctx);
    try {
      await withRetry(this.retry, isTransientS3Error, () =>
        this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket })),
      );
    } catch (bucketErr) {
      if (s3Status(bucketErr) === 404) return toStorageError({ name: 'NoSuchBucket', message: '' }, ctx);
      return toStorageError(bucketErr, ctx);
    }
    this.bucketSeen = true;
    return toStorageError(err, ctx);
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<string> {
    const pfx = listPrefix(prefix);
    const root = this.location.prefix === '' ? '' : `${this.location.prefix}/`;
    const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
    const keys = this.listKeys(`${root}${pfx}`, delimiter);
    // S3 already rolled keys up at the delimiter; this only drops folder-marker repeats.
    yield* applyDelimiter(keys, pfx, delimiter);
  }

  private async *listKeys(fullPrefix: string, delimiter: string | undefined): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.send('list', undefined, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: fullPrefix,
            Delimiter: delimiter,
            ContinuationToken: token,
          }),
        ),
      );
      this.bucketSeen = true;
      // Keys ending in '/' are folder markers some tools create, not files.
      const files = (page.Contents ?? []).map((o) => o.Key ?? '').filter((k) => k !== '' && !k.endsWith('/'));
      const rolled = (page.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter((p) => p !== '');
      // S3 returns each page in byte order with the roll-ups apart; merge them. Sorting also
      // fixes servers that walk their disk in another order (s3rver); across pages the
      // server's order stands, as holding a whole listing in memory is what this avoids.
      const merged = [...files, ...rolled].sort(compareBytewise);
      for (const key of merged) yield this.rel(key);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(path: string): Promise<void> {
    const Key = this.key(path);
    await this.send('delete', path, () => this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key })));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const pfx = checkDeletePrefix(prefix, this.uri);
    const root = this.location.prefix === '' ? '' : `${this.location.prefix}/`;
    let deleted = 0;
    let batch: string[] = [];
    // A page is deleted before the next is asked for: the continuation token names the last
    // key listed, not a position, so removing listed keys does not make the listing skip any.
    for await (const rel of this.listKeys(`${root}${pfx}`, undefined)) {
      batch.push(rel);
      if (batch.length < DELETE_BATCH) continue;
      deleted += await this.deleteBatch(batch);
      batch = [];
    }
    if (batch.length > 0) deleted += await this.deleteBatch(batch);
    return deleted;
  }

  /** One DeleteObjects request; S3 reports per-key failures in the answer, not as an error. */
  private async deleteBatch(paths: string[]): Promise<number> {
    const res = await this.send('delete', undefined, () =>
      this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.location.bucket,
          Delete: { Objects: paths.map((p) => ({ Key: this.key(p) })), Quiet: true },
        }),
      ),
    );
    const failed = res.Errors?.[0];
    if (failed !== undefined) {
      const path = failed.Key === undefined ? undefined : this.rel(failed.Key);
      // Mapped like a failed request: AccessDenied is terminal, InternalError or SlowDown retryable.
      throw toStorageError(
        { name: failed.Code ?? 'InternalError', message: failed.Message ?? '' },
        { op: 'delete', ...(path === undefined ? {} : { path }), bucket: this.location.bucket, uri: this.uri },
      );
    }
    return paths.length;
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.uploadClient.destroy();
  }
}
