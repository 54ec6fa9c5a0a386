import { Readable } from 'node:stream';
import {
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  newPipeline,
  type ContainerClient,
} from '@azure/storage-blob';
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
import type { AzureLocation } from './storage-uri.js';

/** Tuning knobs of `AzureBlobStorage`. */
export interface AzureBlobStorageOptions {
  /** The URI shown in messages (redacted). */
  uri: string;
  retry?: Partial<RetryPolicy>;
  /** Block size of streamed uploads. Default 8 MiB. */
  blockSize?: number;
  /** Blocks uploaded concurrently. Default 4. */
  concurrency?: number;
}

const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
/** Deletes in flight at once under `deletePrefix`. */
const DELETE_CONCURRENCY = 16;

/** The service's error code (`BlobNotFound`, `AuthenticationFailed`, ...) and HTTP status. */
function restInfo(err: unknown): { code: string; status: number | undefined } {
  if (err instanceof RestError) return { code: err.code ?? '', status: err.statusCode };
  return { code: '', status: undefined };
}

/**
 * Storage under a prefix of an Azure Blob Storage container (`azure://` and `azure-blob://`),
 * with shared-key auth. Streamed writes are block uploads committed at the end (Put Block
 * List), so a file appears only once complete and a failed write leaves the old content.
 * Retries are the SDK's (exponential, on 5xx, 429 and dropped connections).
 */
export class AzureBlobStorage implements ExternalStorage {
  readonly uri: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly blockSize: number;
  private readonly concurrency: number;

  constructor(location: AzureLocation, options: AzureBlobStorageOptions) {
    this.uri = options.uri;
    this.prefix = location.prefix;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.concurrency = options.concurrency ?? 4;
    const retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    const credential = new StorageSharedKeyCredential(location.accountName, location.accountKey);
    const pipeline = newPipeline(credential, {
      retryOptions: {
        maxTries: retry.maxAttempts,
        retryDelayInMs: retry.initialBackoffMs,
        maxRetryDelayInMs: retry.maxBackoffMs,
      },
      userAgentOptions: { userAgentPrefix: 'cairn' },
    });
    const endpoint = location.endpoint ?? `https://${location.accountName}.blob.${location.environmentSuffix}`;
    this.container = new BlobServiceClient(endpoint, pipeline).getContainerClient(location.container);
  }

  private key(path: string): string {
    return joinPath(this.prefix, filePath(path, this.uri));
  }

  private rel(key: string): string {
    return this.prefix === '' ? key : key.slice(this.prefix.length + 1);
  }

  /** Maps a service error to a CairnError naming the provider and the redacted URI. */
  private error(err: unknown, op: string, path?: string): CairnError {
    if (err instanceof CairnError) return err;
    const { code, status } = restInfo(err);
    const what = path === undefined ? this.uri : `"${path}" in ${this.uri}`;
    if (code === 'BlobNotFound' && path !== undefined) return fileNotFound(path, this.uri, err);
    if (code === 'ContainerNotFound') {
      return new CairnError(ErrorCode.FailedPrecondition, `azure: container does not exist (${this.uri})`, { cause: err });
    }
    if (status === 401 || status === 403 || code === 'AuthenticationFailed' || code.startsWith('AuthorizationFailure')) {
      return new CairnError(
        ErrorCode.FailedPrecondition,
        `azure: access denied to ${this.uri} (${code !== '' ? code : `HTTP ${String(status)}`}): check AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY`,
        { cause: err },
      );
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (status === undefined || status >= 500 || status === 429) {
      return new CairnError(ErrorCode.Unavailable, `azure: ${op} ${what} failed: ${message}`, { cause: err, retryable: true });
    }
    return new CairnError(ErrorCode.InvalidArgument, `azure: ${op} ${what} failed: ${code || message}`, { cause: err });
  }

  async writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
    const blob = this.container.getBlockBlobClient(this.key(path));
    if (body instanceof Uint8Array) {
      await blob.upload(body, body.byteLength).catch((err: unknown) => {
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
          yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        }
      } catch (error) {
        sourceError = { error };
        throw error;
      }
    }
    try {
      // Blocks stay uncommitted (invisible, collected by the service after a week) until the
      // final block list is committed, which happens only when the source ended cleanly.
      // Bytes mode: the SDK's buffer scheduler counts Buffer lengths, not objects.
      await blob.uploadStream(Readable.from(counted(), { objectMode: false }), this.blockSize, this.concurrency);
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
    const blob = this.container.getBlobClient(this.key(path));
    let res;
    try {
      res = await blob.download(offset, stop - offset, { maxRetryRequests: 5 });
    } catch (err) {
      throw this.error(err, 'read', path);
    }
    const stream = res.readableStreamBody;
    if (stream === undefined) throw new CairnError(ErrorCode.Internal, `azure: no body reading "${path}" in ${this.uri}`);
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array>) yield chunk;
    } catch (err) {
      throw this.error(err, 'read', path);
    }
  }

  readAll(path: string): Promise<Uint8Array> {
    return collectBytes(this.readFile(path));
  }

  async size(path: string): Promise<number> {
    try {
      const props = await this.container.getBlobClient(this.key(path)).getProperties();
      return props.contentLength ?? 0;
    } catch (err) {
      // HEAD answers carry no error body: a 404 may be the file or the container.
      if (restInfo(err).status === 404) {
        if (!(await this.containerExists())) {
          throw new CairnError(ErrorCode.FailedPrecondition, `azure: container does not exist (${this.uri})`, { cause: err });
        }
        throw fileNotFound(path, this.uri, err);
      }
      throw this.error(err, 'stat', path);
    }
  }

  private async containerExists(): Promise<boolean> {
    try {
      return await this.container.exists();
    } catch (err) {
      throw this.error(err, 'stat');
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
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    const fullPrefix = `${root}${pfx}`;
    try {
      if (delimiter === undefined) {
        for await (const page of this.container.listBlobsFlat({ prefix: fullPrefix }).byPage({ maxPageSize: 1000 })) {
          const keys = page.segment.blobItems.map((b) => b.name).filter((k) => !k.endsWith('/'));
          for (const key of keys.sort(compareBytewise)) yield this.rel(key);
        }
        return;
      }
      const pages = this.container.listBlobsByHierarchy(delimiter, { prefix: fullPrefix }).byPage({ maxPageSize: 1000 });
      for await (const page of pages) {
        const files = page.segment.blobItems.map((b) => b.name).filter((k) => !k.endsWith('/'));
        const rolled = (page.segment.blobPrefixes ?? []).map((p) => p.name);
        for (const key of [...files, ...rolled].sort(compareBytewise)) yield this.rel(key);
      }
    } catch (err) {
      throw this.error(err, 'list');
    }
  }

  async delete(path: string): Promise<void> {
    try {
      await this.container.getBlobClient(this.key(path)).deleteIfExists();
    } catch (err) {
      throw this.error(err, 'delete', path);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const pfx = checkDeletePrefix(prefix, this.uri);
    return deleteEach(this.listKeys(pfx, undefined), (p) => this.delete(p), DELETE_CONCURRENCY);
  }

  async close(): Promise<void> {
    // The SDK keeps no connections that need closing beyond Node's keep-alive agent.
  }
}
