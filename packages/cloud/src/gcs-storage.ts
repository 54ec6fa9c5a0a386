import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { GoogleAuth, JWT, OAuth2Client, type AuthClient } from 'google-auth-library';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  applyDelimiter,
  checkDeletePrefix,
  deleteEach,
  checkRange,
  collectBytes,
  compareBytewise,
  fileNotFound,
  rangeBeyondEnd,
  type ExternalStorage,
  type ListOptions,
  type ReadRange,
} from './external-storage.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';
import { filePath, joinPath, listPrefix } from './storage-path.js';
import type { GcsLocation } from './storage-uri.js';

/** Tuning knobs of `GcsStorage`. */
export interface GcsStorageOptions {
  /** The URI shown in messages (redacted). */
  uri: string;
  retry?: Partial<RetryPolicy>;
}

const SCOPES = ['https://www.googleapis.com/auth/devstorage.read_write'];
const PAGE_SIZE = 1000;
const DELETE_CONCURRENCY = 16;

interface GcsErrorShape {
  code?: number | string;
  message?: string;
  errors?: Array<{ reason?: string }>;
}

function gcsStatus(err: unknown): number | undefined {
  const code = (err as GcsErrorShape | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A service-account key signs its own short-lived JWTs (RS256, scoped) and sends them as the
 * bearer token, as GCS accepts: no round trip to the OAuth token endpoint, which also lets a
 * private endpoint or a test stand-in authenticate the same way GCS does.
 */
function keyClient(credentialsJson: string): JWT {
  const key = JSON.parse(credentialsJson) as { client_email?: string; private_key?: string; private_key_id?: string };
  if (key.client_email === undefined || key.private_key === undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'gs: CREDENTIALS is not a service account key (no client_email or private_key)');
  }
  const jwt = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: SCOPES });
  jwt.useJWTAccessWithScope = true;
  return jwt;
}

/** The auth client for a location: its key, its bearer token, or application default credentials. */
async function authClientFor(loc: GcsLocation): Promise<AuthClient> {
  if (loc.credentials !== undefined) return keyClient(loc.credentials);
  if (loc.bearerToken !== undefined) {
    const c = new OAuth2Client();
    c.setCredentials({ access_token: loc.bearerToken });
    return c;
  }
  // AUTH=implicit: GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, or the metadata server.
  const client = await new GoogleAuth({ scopes: SCOPES }).getClient();
  if (client instanceof JWT) client.useJWTAccessWithScope = true;
  return client;
}

/**
 * Storage under a prefix of a Google Cloud Storage bucket (`gs://`), through the JSON API.
 * Writes are single-request multipart uploads checked by MD5: an object appears only when its
 * whole body arrived, so a failed write leaves the previous content. Retries are the client's
 * (exponential, on 5xx, 429 and dropped connections; writes are made idempotent by it).
 */
export class GcsStorage implements ExternalStorage {
  readonly uri: string;
  private readonly location: GcsLocation;
  private readonly retry: RetryPolicy;
  private bucketPromise: Promise<Bucket> | undefined;

  constructor(location: GcsLocation, options: GcsStorageOptions) {
    this.location = location;
    this.uri = options.uri;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  /** The client is made on first use: implicit auth looks around (files, metadata server) asynchronously. */
  private bucket(): Promise<Bucket> {
    this.bucketPromise ??= (async () => {
      const opts: StorageOptions = {
        authClient: await authClientFor(this.location),
        retryOptions: {
          autoRetry: true,
          maxRetries: this.retry.maxAttempts - 1,
          maxRetryDelay: this.retry.maxBackoffMs / 1000,
          retryDelayMultiplier: this.retry.multiplier,
          // Uploads carry no precondition; a retried one replaces the object whole, which is fine here.
          idempotencyStrategy: 0,
        },
      };
      if (this.location.endpoint !== undefined) {
        opts.apiEndpoint = this.location.endpoint;
        opts.useAuthWithCustomEndpoint = true;
      }
      return new Storage(opts).bucket(this.location.bucket);
    })();
    return this.bucketPromise;
  }

  private key(path: string): string {
    return joinPath(this.location.prefix, filePath(path, this.uri));
  }

  private rel(key: string): string {
    return this.location.prefix === '' ? key : key.slice(this.location.prefix.length + 1);
  }

  private error(err: unknown, op: string, path?: string): CairnError {
    if (err instanceof CairnError) return err;
    const status = gcsStatus(err);
    const message = ((err as GcsErrorShape | undefined)?.message ?? String(err)).split('\n')[0] ?? '';
    const what = path === undefined ? this.uri : `"${path}" in ${this.uri}`;
    if (status === 404) {
      if (/bucket/i.test(message)) {
        return new CairnError(ErrorCode.FailedPrecondition, `gs: bucket "${this.location.bucket}" does not exist (${this.uri})`, { cause: err });
      }
      if (path !== undefined) return fileNotFound(path, this.uri, err);
    }
    if (status === 401 || status === 403) {
      return new CairnError(
        ErrorCode.FailedPrecondition,
        `gs: access denied to ${this.uri} (HTTP ${String(status)}: ${message}): check CREDENTIALS (or the implicit credentials) and the bucket's IAM`,
        { cause: err },
      );
    }
    if (status === undefined || status >= 500 || status === 429) {
      return new CairnError(ErrorCode.Unavailable, `gs: ${op} ${what} failed: ${message}`, { cause: err, retryable: true });
    }
    return new CairnError(ErrorCode.InvalidArgument, `gs: ${op} ${what} failed: ${message}`, { cause: err });
  }

  async writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
    const file = (await this.bucket()).file(this.key(path));
    const opts = { resumable: false, validation: 'md5' as const, contentType: 'application/octet-stream' };
    if (body instanceof Uint8Array) {
      await file.save(Buffer.from(body.buffer, body.byteOffset, body.byteLength), opts).catch((err: unknown) => {
        throw this.error(err, 'write', path);
      });
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
    try {
      // A source failure destroys the upload stream, cutting the request short: no object.
      await pipeline(Readable.from(counted()), file.createWriteStream(opts));
    } catch (err) {
      if (sourceError !== undefined) throw sourceError.error;
      throw this.error(err, 'write', path);
    }
    return { bytes };
  }

  async *readFile(path: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    const { offset, end } = checkRange(range);
    const size = await this.size(path);
    if (offset > size) throw rangeBeyondEnd(path, offset, size, this.uri);
    const stop = Math.min(end ?? size, size);
    if (stop <= offset) return;
    const file = (await this.bucket()).file(this.key(path));
    // `end` is inclusive in the client; whole-file reads are checked against the stored MD5.
    const whole = offset === 0 && stop === size;
    const stream = file.createReadStream(whole ? { validation: 'md5' } : { start: offset, end: stop - 1, validation: false });
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array>) yield chunk;
    } catch (err) {
      throw this.error(err, 'read', path);
    } finally {
      stream.destroy();
    }
  }

  readAll(path: string): Promise<Uint8Array> {
    return collectBytes(this.readFile(path));
  }

  async size(path: string): Promise<number> {
    try {
      const [meta] = await (await this.bucket()).file(this.key(path)).getMetadata();
      return Number(meta.size ?? 0);
    } catch (err) {
      throw this.error(err, 'stat', path);
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

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<string> {
    const pfx = listPrefix(prefix);
    const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
    yield* applyDelimiter(this.listKeys(pfx, delimiter), pfx, delimiter);
  }

  private async *listKeys(pfx: string, delimiter: string | undefined): AsyncIterable<string> {
    const root = this.location.prefix === '' ? '' : `${this.location.prefix}/`;
    const bucket = await this.bucket();
    let pageToken: string | undefined;
    do {
      let files;
      let next;
      let raw;
      try {
        [files, next, raw] = await bucket.getFiles({
          prefix: `${root}${pfx}`,
          ...(delimiter === undefined ? {} : { delimiter }),
          autoPaginate: false,
          maxResults: PAGE_SIZE,
          ...(pageToken === undefined ? {} : { pageToken }),
        });
      } catch (err) {
        throw this.error(err, 'list');
      }
      const names = files.map((f) => f.name).filter((k) => !k.endsWith('/'));
      const rolled = ((raw as { prefixes?: string[] } | undefined)?.prefixes ?? []).filter((p) => p !== '');
      for (const key of [...names, ...rolled].sort(compareBytewise)) yield this.rel(key);
      pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
    } while (pageToken !== undefined);
  }

  async delete(path: string): Promise<void> {
    try {
      await (await this.bucket()).file(this.key(path)).delete({ ignoreNotFound: true });
    } catch (err) {
      throw this.error(err, 'delete', path);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const pfx = checkDeletePrefix(prefix, this.uri);
    return deleteEach(this.listKeys(pfx, undefined), (p) => this.delete(p), DELETE_CONCURRENCY);
  }

  async close(): Promise<void> {
    // Connections are the shared keep-alive agent's; nothing of ours to release.
  }
}
