import { CairnError, ErrorCode } from '@cairn/errors';
import { listPrefix } from './storage-path.js';

/** A byte range of a file: `length` bytes from `offset` (to the end when `length` is absent). */
export interface ReadRange {
  offset: number;
  length?: number;
}

/** Options of `ExternalStorage.list`. */
export interface ListOptions {
  /**
   * As in S3: keys whose remainder after the prefix contains the delimiter are rolled up into
   * one entry, the key up to and including the first delimiter (`data/` for `data/1.sst`).
   */
  delimiter?: string;
}

/**
 * A place backup files live (a local dir, a bucket prefix, another node's dir), addressed by
 * storage-relative paths. Implementations stream: no method holds a whole file in memory
 * except `readAll`, which is meant for small files such as manifests.
 */
export interface ExternalStorage {
  /** The storage's URI with secrets redacted, for messages and job descriptions. */
  readonly uri: string;
  /**
   * Writes a file atomically: after a failure (including one thrown by `body`) the file is
   * either absent or still has its previous content, never partly written. Chunks must not be
   * changed by the caller after they were yielded. Errors thrown by `body` are rethrown as is.
   */
  writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }>;
  /**
   * True when `writeFile` is done with each chunk of an iterable body by the time it asks for
   * the next one (or ends), holding none afterwards: a producer may then reuse the chunk's
   * memory (openWritePipe's `onChunkDone`). Unset for storages that keep chunks in flight
   * (an upload's parts, the nodelocal relay's messages).
   */
  readonly releasesChunksOnPull?: boolean;
  /** Streams a file or a range of it; a missing file fails with `NotFound`. */
  readFile(path: string, range?: ReadRange): AsyncIterable<Uint8Array>;
  /** Reads a whole (small) file. */
  readAll(path: string): Promise<Uint8Array>;
  /** The file's size in bytes; `NotFound` when missing. */
  size(path: string): Promise<number>;
  exists(path: string): Promise<boolean>;
  /** Paths (relative to the storage root) of the files starting with `prefix`, in byte order. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<string>;
  /** Deletes a file; deleting a missing file succeeds. */
  delete(path: string): Promise<void>;
  /**
   * Deletes every file `list(prefix)` would return (a backup layer's directory, say
   * `2024/03/01-100000.00/`) and returns how many there were; none is no error, so a retried
   * call finishes what an interrupted one began. An empty prefix is refused: it would empty
   * the whole storage.
   */
  deletePrefix(prefix: string): Promise<number>;
  /** Releases connections; the storage must not be used afterwards. */
  close(): Promise<void>;
}

/** Concatenates a stream of chunks (for small files). */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    total += chunk.byteLength;
  }
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Checks a read range; returns the offset and the exclusive end (undefined: to the end). */
export function checkRange(range: ReadRange | undefined): { offset: number; end: number | undefined } {
  const offset = range?.offset ?? 0;
  const length = range?.length;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `read offset must be a non-negative integer, got ${String(offset)}`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new CairnError(ErrorCode.InvalidArgument, `read length must be a non-negative integer, got ${String(length)}`);
  }
  return { offset, end: length === undefined ? undefined : offset + length };
}

/** The error for a read that starts past the end of a file. */
export function rangeBeyondEnd(path: string, offset: number, size: number, uri: string): CairnError {
  return new CairnError(
    ErrorCode.InvalidArgument,
    `read offset ${String(offset)} is beyond the end of "${path}" (${String(size)} bytes) in ${uri}`,
  );
}

/** The error for a file that does not exist. */
export function fileNotFound(path: string, uri: string, cause?: unknown): CairnError {
  return new CairnError(ErrorCode.NotFound, `file "${path}" does not exist in ${uri}`, { cause });
}

/**
 * The normalized prefix `deletePrefix` works under (as `list` normalizes it); refuses `..`
 * and a prefix that selects the whole storage.
 */
export function checkDeletePrefix(prefix: string, uri: string): string {
  const normalized = listPrefix(prefix);
  if (normalized === '') {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `refusing to delete everything in ${uri}: the prefix ${JSON.stringify(prefix)} selects the whole storage`,
    );
  }
  return normalized;
}

/** Compares paths in byte (UTF-8) order, the order S3 lists keys in. */
export function compareBytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Rolls keys up at `delimiter` after `prefix` (see `ListOptions.delimiter`), dropping repeats:
 * keys arrive sorted, so the keys of one roll-up are adjacent.
 */
export async function* applyDelimiter(
  keys: AsyncIterable<string>,
  prefix: string,
  delimiter: string | undefined,
): AsyncIterable<string> {
  let last: string | undefined;
  for await (const key of keys) {
    let out = key;
    if (delimiter !== undefined && delimiter !== '') {
      const i = key.indexOf(delimiter, prefix.length);
      if (i >= 0) out = key.slice(0, i + delimiter.length);
    }
    if (out !== last) yield out;
    last = out;
  }
}

/**
 * Deletes every key `keys` yields with `remove`, `concurrency` at a time, and counts them:
 * for stores whose API deletes one object per request (Azure, GCS).
 */
export async function deleteEach(keys: AsyncIterable<string>, remove: (key: string) => Promise<void>, concurrency: number): Promise<number> {
  let deleted = 0;
  let batch: string[] = [];
  const flush = async (): Promise<void> => {
    const paths = batch;
    batch = [];
    await Promise.all(paths.map(remove));
    deleted += paths.length;
  };
  for await (const key of keys) {
    batch.push(key);
    if (batch.length >= concurrency) await flush();
  }
  await flush();
  return deleted;
}
