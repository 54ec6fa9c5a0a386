import { createHash, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  startAzurite,
  startGcsStandIn,
  startS3Server,
  tempDir,
  type AzuriteHandle,
  type GcsStandIn,
  type S3ServerHandle,
} from '@cairn/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalDirStorage, openStorage, type ExternalStorage } from './index.js';

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift), so big payloads need no memory to compare. */
function* pattern(total: number, chunk: number, seed = 1): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let done = 0; done < total; done += chunk) {
    const buf = new Uint8Array(Math.min(chunk, total - done));
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x & 0xff;
    }
    yield buf;
  }
}

async function* stream(chunks: Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for (const c of chunks) {
    await Promise.resolve();
    yield c;
  }
}

/** `Array.fromAsync` (not in Node 20). */
async function fromAsync<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function concat(chunks: Iterable<Uint8Array>): Buffer {
  return Buffer.concat([...chunks]);
}

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: number; sha: string; count: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  let count = 0;
  for await (const c of chunks) {
    h.update(c);
    bytes += c.byteLength;
    count++;
  }
  return { bytes, sha: h.digest('hex'), count };
}

function sha(chunks: Iterable<Uint8Array>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function listAll(s: ExternalStorage, prefix: string, delimiter?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of s.list(prefix, delimiter === undefined ? undefined : { delimiter })) out.push(p);
  return out;
}

async function failure(p: Promise<unknown> | (() => Promise<unknown>)): Promise<CairnError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a failure');
}

class SourceBroke extends Error {}

/** Yields `good` bytes then throws, like a backup writer that dies mid-file. */
async function* breaksAfter(good: number, chunk: number): AsyncIterable<Uint8Array> {
  yield* stream(pattern(good, chunk));
  throw new SourceBroke('source broke');
}

interface Backend {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A fresh, empty storage for one test. */
  make(): Promise<ExternalStorage>;
  /** Anything a failed write may have left behind outside the listing (temp files, uploads). */
  leftovers(s: ExternalStorage): Promise<string[]>;
}

let s3: S3ServerHandle | undefined;
let azurite: AzuriteHandle | undefined;
let gcs: GcsStandIn | undefined;
const fastRetry = { s3: { retry: { maxAttempts: 2, initialBackoffMs: 10 } } };

const backends: Backend[] = [
  {
    name: 'LocalDirStorage',
    async setup() {},
    async teardown() {},
    async make() {
      return new LocalDirStorage(join(await tempDir('cairn-cloud'), 'root'));
    },
    async leftovers(s) {
      const root = (s as LocalDirStorage).root;
      return readdir(root, { recursive: true }).catch(() => []);
    },
  },
  {
    name: 'S3Storage',
    async setup() {
      s3 = await startS3Server({ buckets: ['contract'] });
    },
    async teardown() {
      await s3?.stop();
    },
    async make() {
      if (s3 === undefined) throw new Error('s3rver not started');
      return openStorage(s3.uri('contract', `t-${randomUUID()}/root`), { s3: { retry: { maxAttempts: 2, initialBackoffMs: 10 } } });
    },
    async leftovers() {
      // s3rver implements neither ListMultipartUploads nor AbortMultipartUpload, so parts of
      // an aborted upload cannot be checked here; that nothing became visible is checked above.
      return [];
    },
  },
  {
    name: 'AzureBlobStorage (Azurite)',
    async setup() {
      azurite = await startAzurite({ containers: ['contract'] });
    },
    async teardown() {
      await azurite?.stop();
    },
    async make() {
      if (azurite === undefined) throw new Error('Azurite not started');
      return openStorage(azurite.uri('contract', `t-${randomUUID()}/root`), fastRetry);
    },
    async leftovers() {
      // Uncommitted blocks are invisible by design and Azurite offers no listing of them.
      return [];
    },
  },
  {
    name: 'GcsStorage (stand-in)',
    async setup() {
      gcs = await startGcsStandIn({ buckets: ['contract'] });
    },
    async teardown() {
      await gcs?.stop();
    },
    async make() {
      if (gcs === undefined) throw new Error('GCS stand-in not started');
      const q = new URLSearchParams({
        AUTH: 'specified',
        CREDENTIALS: Buffer.from(gcs.credentials()).toString('base64'),
        GCS_ENDPOINT: gcs.endpoint,
      });
      return openStorage(`gs://contract/t-${randomUUID()}/root?${q.toString()}`, fastRetry);
    },
    async leftovers() {
      // The stand-in stores an upload only once its whole body arrived; nothing else to see.
      return [];
    },
  },
];

describe.each(backends)('$name contract', (backend) => {
  let storage: ExternalStorage;
  beforeAll(() => backend.setup(), 60_000);
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    storage = await backend.make();
    return () => storage.close();
  });

  it('writes an async iterable of many small chunks and reads it back', async () => {
    const chunks = [...pattern(300_000, 997, 7)];
    expect(await storage.writeFile('data/1.sst', stream(chunks))).toEqual({ bytes: 300_000 });
    expect(Buffer.from(await storage.readAll('data/1.sst')).equals(concat(chunks))).toBe(true);
    expect(await storage.size('data/1.sst')).toBe(300_000);
    expect(await storage.exists('data/1.sst')).toBe(true);
  });

  it('writes a Uint8Array, an empty stream and an empty array', async () => {
    expect(await storage.writeFile('BACKUP_MANIFEST', new TextEncoder().encode('manifest'))).toEqual({ bytes: 8 });
    expect(new TextDecoder().decode(await storage.readAll('BACKUP_MANIFEST'))).toBe('manifest');
    expect(await storage.writeFile('empty-stream', stream([]))).toEqual({ bytes: 0 });
    expect(await storage.writeFile('empty-array', new Uint8Array())).toEqual({ bytes: 0 });
    expect((await storage.readAll('empty-stream')).byteLength).toBe(0);
    expect(await storage.size('empty-array')).toBe(0);
    expect((await drain(storage.readFile('empty-stream', { offset: 0, length: 10 }))).bytes).toBe(0);
  });

  it('streams a file larger than 16 MiB (multipart on S3) and reads ranges across part boundaries', async () => {
    const total = 20 * MiB + 12_345;
    const written = await storage.writeFile('big/file.sst', stream(pattern(total, 64 * 1024, 3)));
    expect(written.bytes).toBe(total);
    expect(await storage.size('big/file.sst')).toBe(total);
    const whole = await drain(storage.readFile('big/file.sst'));
    expect(whole.bytes).toBe(total);
    expect(whole.sha).toBe(sha(pattern(total, 64 * 1024, 3)));
    // Reads are streamed: many chunks, not one buffer.
    expect(whole.count).toBeGreaterThan(10);

    const expected = concat(pattern(total, MiB, 3));
    const across = Buffer.concat(
      await fromAsync(storage.readFile('big/file.sst', { offset: 8 * MiB - 100, length: 200 })),
    );
    expect(across.equals(expected.subarray(8 * MiB - 100, 8 * MiB + 100))).toBe(true);
    const tail = Buffer.concat(await fromAsync(storage.readFile('big/file.sst', { offset: total - 10 })));
    expect(tail.equals(expected.subarray(total - 10))).toBe(true);
  }, 120_000);

  it('reads ranges: offset only, offset + length, zero length, past the end', async () => {
    await storage.writeFile('r', new TextEncoder().encode('0123456789'));
    const read = async (offset: number, length?: number): Promise<string> =>
      Buffer.concat(await fromAsync(storage.readFile('r', { offset, length }))).toString();
    expect(await read(0)).toBe('0123456789');
    expect(await read(3)).toBe('3456789');
    expect(await read(2, 4)).toBe('2345');
    expect(await read(0, 1)).toBe('0');
    expect(await read(9, 1)).toBe('9');
    expect(await read(5, 0)).toBe('');
    expect(await read(7, 100)).toBe('789');
    expect(await read(10)).toBe('');
    expect(await read(10, 5)).toBe('');
    const beyond = await failure(() => read(11));
    expect(beyond.code).toBe(ErrorCode.InvalidArgument);
    expect(beyond.message).toMatch(/^read offset 11 is beyond the end of "r" \(10 bytes\) in /);
    expect((await failure(() => read(-1))).code).toBe(ErrorCode.InvalidArgument);
    expect((await failure(() => read(0, 1.5))).code).toBe(ErrorCode.InvalidArgument);
  });

  it('lets a reader stop early', async () => {
    await storage.writeFile('early', stream(pattern(3 * MiB, 64 * 1024)));
    for await (const chunk of storage.readFile('early')) {
      expect(chunk.byteLength).toBeGreaterThan(0);
      break;
    }
    expect(await storage.size('early')).toBe(3 * MiB);
  });

  it('lists recursively in byte order, with prefixes and a delimiter', async () => {
    const files = ['b', 'a/2', 'a-c', 'a/1', 'a/b/3', 'data/x.sst', 'data/y/z.sst', 'Z', 'a/b/c/4'];
    for (const f of files) await storage.writeFile(f, new TextEncoder().encode(f));
    // Byte order: 'Z' (0x5a) < 'a'; 'a-c' ('-' 0x2d) < 'a/...' ('/' 0x2f).
    expect(await listAll(storage, '')).toEqual(['Z', 'a-c', 'a/1', 'a/2', 'a/b/3', 'a/b/c/4', 'b', 'data/x.sst', 'data/y/z.sst']);
    expect(await listAll(storage, 'a/')).toEqual(['a/1', 'a/2', 'a/b/3', 'a/b/c/4']);
    expect(await listAll(storage, 'a')).toEqual(['a-c', 'a/1', 'a/2', 'a/b/3', 'a/b/c/4']);
    expect(await listAll(storage, 'a/b')).toEqual(['a/b/3', 'a/b/c/4']);
    expect(await listAll(storage, 'data/x')).toEqual(['data/x.sst']);
    expect(await listAll(storage, 'nothing/')).toEqual([]);
    expect(await listAll(storage, '', '/')).toEqual(['Z', 'a-c', 'a/', 'b', 'data/']);
    expect(await listAll(storage, 'a/', '/')).toEqual(['a/1', 'a/2', 'a/b/']);
    expect(await listAll(storage, 'a', '/')).toEqual(['a-c', 'a/']);
    expect(await listAll(storage, 'data/', '/')).toEqual(['data/x.sst', 'data/y/']);
    await expect(listAll(storage, '../x')).rejects.toThrow(/must not contain/);
  });

  it('lists an empty storage as empty', async () => {
    expect(await listAll(storage, '')).toEqual([]);
    expect(await listAll(storage, '', '/')).toEqual([]);
  });

  it('reports missing files as NotFound', async () => {
    for (const attempt of [
      () => storage.readAll('missing'),
      () => fromAsync(storage.readFile('missing', { offset: 2, length: 3 })),
      () => fromAsync(storage.readFile('missing', { offset: 0, length: 0 })),
      () => storage.size('dir/missing'),
    ]) {
      const err = await failure(attempt);
      expect(err.code).toBe(ErrorCode.NotFound);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/^file "(dir\/)?missing" does not exist in /);
      expect(err.message).toContain(storage.uri);
    }
    expect(await storage.exists('missing')).toBe(false);
    await storage.writeFile('dir/x', new Uint8Array([1]));
    // A directory (or S3 "folder") is not a file.
    expect(await storage.exists('dir')).toBe(false);
  });

  it('deletes files, and deleting a missing file succeeds', async () => {
    await storage.writeFile('d/1', new Uint8Array([1]));
    await storage.writeFile('d/2', new Uint8Array([2]));
    await storage.delete('d/1');
    expect(await storage.exists('d/1')).toBe(false);
    expect(await listAll(storage, '')).toEqual(['d/2']);
    await storage.delete('d/1');
    await storage.delete('never/was');
  });

  it('deletes every file under a prefix and nothing else; a repeat finds nothing to delete', async () => {
    const files = ['keep/1', 'chain/BACKUP_MANIFEST', 'chain/data/1.sst', 'chain/progress/x/2', 'chain-other/3', 'chainx'];
    for (const f of files) await storage.writeFile(f, new TextEncoder().encode(f));
    expect(await storage.deletePrefix('chain/')).toBe(3);
    expect(await listAll(storage, '')).toEqual(['chain-other/3', 'chainx', 'keep/1']);
    expect(await storage.exists('chain/data/1.sst')).toBe(false);
    // Nothing of the deleted tree is left behind (LocalDirStorage: its now-empty directories).
    expect(await backend.leftovers(storage)).not.toContainEqual(expect.stringMatching(/^chain($|\/)/));
    expect(await storage.deletePrefix('chain/')).toBe(0);
    expect(await storage.deletePrefix('never/')).toBe(0);
    // Like list, a prefix need not end at a '/'.
    expect(await storage.deletePrefix('/chain')).toBe(2);
    expect(await listAll(storage, '')).toEqual(['keep/1']);
  });

  it('refuses to delete the whole storage or outside it', async () => {
    await storage.writeFile('x', new Uint8Array([1]));
    for (const prefix of ['', '/', '//']) {
      const err = await failure(storage.deletePrefix(prefix));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(/^refusing to delete everything in /);
    }
    expect((await failure(storage.deletePrefix('../x'))).code).toBe(ErrorCode.InvalidArgument);
    expect(await listAll(storage, '')).toEqual(['x']);
  });

  it('deletes a prefix holding more files than one listing page or one batch delete', async () => {
    const n = 1_005;
    for (let from = 0; from < n; from += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - from) }, (_, i) => storage.writeFile(`many/${String(from + i).padStart(4, '0')}`, new Uint8Array([1]))),
      );
    }
    await storage.writeFile('other', new Uint8Array([2]));
    expect(await storage.deletePrefix('many/')).toBe(n);
    expect(await listAll(storage, '')).toEqual(['other']);
  }, 120_000);

  it('overwrites a file as a whole', async () => {
    await storage.writeFile('f', stream(pattern(100_000, 1000, 1)));
    await storage.writeFile('f', new TextEncoder().encode('short'));
    expect(new TextDecoder().decode(await storage.readAll('f'))).toBe('short');
  });

  it('leaves no file behind when the source fails midway', async () => {
    const err = await storage.writeFile('partial/small.sst', breaksAfter(100_000, 10_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceBroke);
    expect(await storage.exists('partial/small.sst')).toBe(false);
    expect(await listAll(storage, '')).toEqual([]);
    expect(await backend.leftovers(storage)).not.toContainEqual(expect.stringContaining('small.sst'));
  });

  it('leaves no file behind when a multipart-sized source fails after parts were uploaded', async () => {
    const err = await storage.writeFile('partial/big.sst', breaksAfter(18 * MiB, 256 * 1024)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceBroke);
    expect(await storage.exists('partial/big.sst')).toBe(false);
    expect(await listAll(storage, '')).toEqual([]);
    expect(await backend.leftovers(storage)).not.toContainEqual(expect.stringContaining('big.sst'));
  }, 60_000);

  it('keeps the previous content when an overwrite fails', async () => {
    await storage.writeFile('keep', new TextEncoder().encode('v1'));
    await expect(storage.writeFile('keep', breaksAfter(50_000, 5_000))).rejects.toBeInstanceOf(SourceBroke);
    expect(new TextDecoder().decode(await storage.readAll('keep'))).toBe('v1');
  });

  it('refuses paths outside the storage root and the root itself', async () => {
    for (const p of ['../escape', 'a/../../escape']) {
      const err = await failure(storage.writeFile(p, new Uint8Array([1])));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(/escapes the storage root/);
    }
    expect((await failure(storage.writeFile('/', new Uint8Array([1])))).message).toMatch(/^empty file path in /);
    expect((await failure(() => storage.readAll('../x'))).code).toBe(ErrorCode.InvalidArgument);
  });

  it('normalizes paths: leading slash, "." and "//"', async () => {
    await storage.writeFile('/n//a/./b', new Uint8Array([1, 2]));
    expect(await listAll(storage, '')).toEqual(['n/a/b']);
    expect(await storage.size('n/a/b')).toBe(2);
  });
});
