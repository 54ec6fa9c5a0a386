import { createHash, randomBytes, type Hash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Timestamp } from '@cairn/keys';
import {
  BlockBuilder,
  DATA_FILE_VERSION,
  DATA_FILE_VERSION_FILE_KEYS,
  FILE_SALT_BYTES,
  encodeFooter,
  encodeHeader,
  encodeIndex,
  FRAME_HEADER_BYTES,
  encryptedCodec,
  frameBlock,
  writeFrameHeader,
} from './data-file-format.js';
import { zstdCompressBound, zstdCompressInto } from './zstd-codec.js';
import type { BlockCodec, BlockHandle, DataFileCompression, MvccRevision, RevisionSlot } from './data-file-format.js';
import { ENCRYPTION_KEY_BYTES } from './encryption.js';

/**
 * Where a writer's bytes go, in order, in chunks of about `chunkSize` (many blocks each). Each
 * chunk is a fresh array the writer never touches again, so a sink may keep it. The writer
 * awaits the sink before going on: backpressure.
 */
export type DataFileSink = (chunk: Uint8Array) => Promise<void> | void;

/** A sink over a Node Writable (a file stream, the PassThrough of an S3 multipart upload) that waits for 'drain'. */
export function writableSink(stream: Writable): DataFileSink {
  return async (chunk) => {
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
}

export interface DataFileWriterOptions {
  sink: DataFileSink;
  /** Uncompressed bytes per block before it is closed and emitted. Default 64 KiB. */
  blockSize?: number;
  /** Bytes of the file gathered before they go to the sink as one chunk. Default 512 KiB. */
  chunkSize?: number;
  /** Default 'zstd'. */
  compression?: DataFileCompression;
  /** zstd level. Default 1. */
  level?: number;
  /**
   * The backup's 32-byte key: every block and the index are AES-256-GCM encrypted, each with a
   * random nonce, under a key derived for this file alone (format version 2).
   */
  encryptionKey?: Uint8Array;
  /**
   * 2 (the default) seals an encrypted file with its own derived key. 1 seals it with
   * `encryptionKey` itself, as cairn did before per-file keys: only for tests that make the
   * backups older versions wrote, to check they still restore.
   */
  formatVersion?: 1 | 2;
  /**
   * Where chunks come from: a pool the sink's storage gives chunks back to once it is done
   * with them (openWritePipe's `onChunkDone`), so that a long export reuses a few chunks
   * instead of allocating one per 512 KiB. Default: a fresh chunk each time.
   */
  chunkPool?: ChunkPool;
}

/**
 * Chunks of one size, handed out and taken back. A fresh ArrayBuffer per chunk is external
 * memory V8 frees only in a collection: once an export makes little other garbage (no
 * scavenges to free young chunks), those chunks alone drove a mark-compact every ~20 MB
 * written, each a full concurrent mark of the heap (in one process, 0.7-0.85 of 3.8-4.5
 * CPU-s per GiB exported went to GC worker threads; with the pool, 0.1-0.2).
 */
export class ChunkPool {
  private readonly free: ArrayBuffer[] = [];

  /**
   * @param chunkSize bytes of every chunk; a chunk of another size given back is dropped.
   * @param maxFree chunks kept for reuse at most; more given back are dropped.
   */
  constructor(
    readonly chunkSize: number = DEFAULT_CHUNK_SIZE,
    private readonly maxFree = 8,
  ) {}

  /** A chunk of `chunkSize` bytes, reused or fresh; its content is whatever it held. */
  take(): Uint8Array {
    const buffer = this.free.pop();
    return buffer === undefined ? newChunk(this.chunkSize) : new Uint8Array(buffer);
  }

  /**
   * Gives back a chunk (or a view of one from its start) nobody will read or change again.
   * Given back twice, two writers would share it: callers give back only what a storage
   * reports done, once.
   */
  give(chunk: Uint8Array): void {
    const buffer = chunk.buffer;
    if (chunk.byteOffset !== 0 || buffer.byteLength !== this.chunkSize || this.free.length >= this.maxFree) return;
    if (this.free.includes(buffer as ArrayBuffer)) return;
    this.free.push(buffer as ArrayBuffer);
  }

  /** Chunks held for reuse (for tests). */
  get freeCount(): number {
    return this.free.length;
  }
}

/** What a finished data file holds, for the manifest's file entry. */
export interface DataFileSummary {
  /** Bytes of the file as stored. */
  bytes: number;
  /** Sum of key and value bytes of every entry. */
  logicalBytes: number;
  entries: number;
  /** Distinct keys whose newest revision in the file is not a tombstone. */
  rows: number;
  blocks: number;
  /** Undefined when the file has no entries. */
  firstKey: Uint8Array | undefined;
  lastKey: Uint8Array | undefined;
  /** Hex SHA-256 of the whole file. */
  checksum: string;
}

export const DEFAULT_BLOCK_SIZE = 64 * 1024;
/**
 * Frames are gathered into chunks of this size (the nodelocal proxy's message size) before
 * the sink sees them. A sink call per block cost more CPU than the block's compression: a
 * promise chain and a filesystem or NATS request per 30 KB, and two fresh buffers per block
 * whose backing stores drove V8 into a mark-compact every few dozen MB exported.
 */
export const DEFAULT_CHUNK_SIZE = 512 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();

/** Uninitialised (every byte is written before it is emitted), as a plain Uint8Array. */
function newChunk(size: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A plain Uint8Array copy of `b[0, length)` (a Buffer's slice would be a Buffer). */
function copyOf(b: Uint8Array, length: number): Uint8Array {
  const copy = new Uint8Array(length);
  copy.set(length === b.length ? b : b.subarray(0, length));
  return copy;
}

/**
 * Streams sorted MVCC revisions into a data file. Each block goes to the sink as soon as it
 * is full, so memory stays near one block whatever the file size. Await every `add`.
 *
 * ```ts
 * const w = new DataFileWriter({ sink: writableSink(upload), encryptionKey });
 * for await (const rev of exported) await w.add(rev);
 * const summary = await w.finish();
 * ```
 */
export class DataFileWriter {
  private readonly sink: DataFileSink;
  private readonly blockSize: number;
  private readonly codec: BlockCodec;
  private readonly block: BlockBuilder;
  private readonly index: BlockHandle[] = [];
  private readonly hash: Hash = createHash('sha256');
  /** Bytes of the file so far: those emitted plus those gathered in `out`. */
  private offset = 0;
  private readonly chunkSize: number;
  private readonly chunkPool: ChunkPool | undefined;
  /** The chunk being gathered, and how much of it is used. */
  private out: Uint8Array;
  private outUsed = 0;
  private entries = 0;
  private rows = 0;
  private logicalBytes = 0;
  private firstKey: Uint8Array | undefined;
  private blockFirstKey: Uint8Array = new Uint8Array(0);
  private prevKey: Uint8Array = new Uint8Array(64);
  private prevKeyLength = 0;
  private lastTs: Timestamp = 0n;
  private state: 'open' | 'finishing' | 'finished' | 'failed' = 'open';
  /** Resolves when the sink has taken every chunk queued so far. */
  private tail: Promise<void> = RESOLVED;
  private failure: unknown;

  constructor(options: DataFileWriterOptions) {
    this.sink = options.sink;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(this.blockSize) || this.blockSize <= 0) {
      throw new CairnError(ErrorCode.InvalidArgument, `block size must be a positive integer, got ${options.blockSize}`);
    }
    const key = options.encryptionKey;
    if (key !== undefined && key.length !== ENCRYPTION_KEY_BYTES) {
      throw new CairnError(ErrorCode.InvalidArgument, `encryption key must be ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`);
    }
    this.chunkPool = options.chunkPool;
    this.chunkSize = options.chunkSize ?? this.chunkPool?.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize <= 0) {
      throw new CairnError(ErrorCode.InvalidArgument, `chunk size must be a positive integer, got ${options.chunkSize}`);
    }
    if (this.chunkPool !== undefined && this.chunkPool.chunkSize !== this.chunkSize) {
      throw new CairnError(ErrorCode.InvalidArgument, `chunk pool of ${this.chunkPool.chunkSize}-byte chunks for a writer of ${this.chunkSize}`);
    }
    this.out = this.nextChunk();
    const compression = options.compression ?? 'zstd';
    const level = options.level ?? 1;
    this.codec =
      key === undefined
        ? { compression, level, key }
        : encryptedCodec(compression, level, key, options.formatVersion === 1 ? undefined : new Uint8Array(randomBytes(FILE_SALT_BYTES)));
    // Headroom so that a block rarely has to grow past its target before it is closed.
    this.block = new BlockBuilder(this.blockSize + this.blockSize / 4 + 1024);
  }

  /**
   * Adds the next revision; revisions must come in (key asc, ts desc) order, each (key, ts)
   * once. Resolves at once unless the revision closed a block that filled a chunk, which is
   * then handed to the sink. The writer copies what it keeps, so the caller may
   * reuse its buffers (LMDB cursors do).
   */
  add(rev: MvccRevision): Promise<void> {
    try {
      return this.write(rev) ?? RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `add`, for a caller adding many revisions: returns a promise to await only when the
   * revision sent a chunk to the sink (about one in a chunk's worth), else undefined, so the caller
   * skips an await per revision. Throws (rather than rejects) on a revision out of order.
   * The revision is copied before this returns: its buffers may change right after.
   */
  write(rev: MvccRevision): Promise<void> | undefined {
    const { key, value } = rev;
    return this.writeEntry(key, key.length, rev.ts, value, 0, value === null ? 0 : value.length);
  }

  /**
   * `write` for a revision in its producer's reused buffers (`RevisionSlot`): no object is
   * made per revision. Copied before this returns, as `write`'s.
   */
  writeSlot(slot: RevisionSlot): Promise<void> | undefined {
    return this.writeEntry(slot.key, slot.keyLength, slot.ts, slot.hasValue ? slot.value : null, slot.valueStart, slot.valueEnd);
  }

  /**
   * Would `key[0, keyLength)` start a new key after the last revision written (rather than
   * be another revision of it)? True before the first. Lets a caller roll to a new file
   * only between keys without keeping a key of its own.
   */
  isNewKey(key: Uint8Array, keyLength: number): boolean {
    if (this.entries === 0 || keyLength !== this.prevKeyLength) return true;
    const prev = this.prevKey;
    for (let i = keyLength - 1; i >= 0; i--) if (prev[i] !== key[i]) return true;
    return false;
  }

  private writeEntry(
    key: Uint8Array,
    keyLength: number,
    ts: Timestamp,
    value: Uint8Array | null,
    valueStart: number,
    valueEnd: number,
  ): Promise<void> | undefined {
    this.checkOpen();
    const prev = this.prevKey;
    const prevLength = this.prevKeyLength;
    let shared = 0;
    let isNewKey = true;
    if (this.entries > 0) {
      const max = Math.min(prevLength, keyLength);
      while (shared < max && prev[shared] === key[shared]) shared++;
      const c = shared < max ? (key[shared] as number) - (prev[shared] as number) : keyLength - prevLength;
      if (c < 0 || (c === 0 && ts >= this.lastTs)) {
        throw new CairnError(
          ErrorCode.InvalidArgument,
          c < 0
            ? 'data file revisions out of order: keys must ascend'
            : 'data file revisions out of order: timestamps of a key must strictly descend',
        );
      }
      isNewKey = c !== 0;
    }
    const block = this.block;
    if (block.entries === 0) {
      this.blockFirstKey = copyOf(key, keyLength);
      shared = 0;
    }
    block.add(key, keyLength, shared, ts, value, valueStart, valueEnd);
    if (isNewKey) {
      this.rememberKey(key, keyLength, shared);
      if (value !== null) this.rows++;
    }
    if (this.entries === 0) this.firstKey = copyOf(key, keyLength);
    this.entries++;
    this.logicalBytes += keyLength + (value === null ? 0 : valueEnd - valueStart);
    this.lastTs = ts;
    return block.size >= this.blockSize ? this.flushBlock() : undefined;
  }

  /** Keeps the last key in a reused buffer: no allocation per entry. */
  private rememberKey(key: Uint8Array, keyLength: number, shared: number): void {
    if (keyLength > this.prevKey.length) {
      const grown = new Uint8Array(Math.max(keyLength, this.prevKey.length * 2));
      grown.set(this.prevKey.subarray(0, shared));
      this.prevKey = grown;
    }
    const prev = this.prevKey;
    for (let i = shared; i < keyLength; i++) prev[i] = key[i] as number;
    this.prevKeyLength = keyLength;
  }

  /** Emits the last block, the index and the footer; the file is complete once this resolves. */
  async finish(): Promise<DataFileSummary> {
    this.checkOpen();
    this.state = 'finishing';
    this.flushBlock();
    if (this.offset === 0) this.append(this.header());
    const indexOffset = this.offset;
    const indexFrame = frameBlock(this.codec, encodeIndex(this.index), indexOffset);
    this.append(indexFrame);
    this.append(
      encodeFooter({
        indexOffset,
        indexLength: indexFrame.length,
        blockCount: this.index.length,
        entries: this.entries,
        ...this.params(),
      }),
    );
    await this.emit();
    this.state = 'finished';
    // The chunk emit() started after the last one was never written to.
    this.chunkPool?.give(this.out);
    return {
      bytes: this.offset,
      logicalBytes: this.logicalBytes,
      entries: this.entries,
      rows: this.rows,
      blocks: this.index.length,
      firstKey: this.firstKey,
      lastKey: this.entries === 0 ? undefined : this.prevKey.slice(0, this.prevKeyLength),
      checksum: this.hash.digest('hex'),
    };
  }

  /** Bytes of the file so far (emitted or gathered): lets a caller roll to a new file at a target size. */
  get bytesWritten(): number {
    return this.offset;
  }

  /**
   * Closes the current block: frames it into the chunk being gathered, and hands that chunk
   * to the sink when it is full (returning the promise to await then, else undefined).
   * Everything but the sink call happens synchronously, so the file stays consistent even if
   * a caller does not await.
   */
  private flushBlock(): Promise<void> | undefined {
    const b = this.block;
    if (b.entries === 0) return undefined;
    let emitted: Promise<void> | undefined;
    if (this.offset === 0) emitted = this.append(this.header());
    const plain = b.out.written();
    const offset = this.offset;
    let length: number;
    if (this.codec.compression === 'zstd' && this.codec.key === undefined) {
      // Compressed straight into the chunk, behind room for the frame header (see frameBlock).
      emitted = this.reserve(FRAME_HEADER_BYTES + zstdCompressBound(plain.length)) ?? emitted;
      const at = this.outUsed;
      const stored = zstdCompressInto(this.out.subarray(at + FRAME_HEADER_BYTES), plain, this.codec.level);
      writeFrameHeader(this.out, at, stored);
      length = FRAME_HEADER_BYTES + stored;
      this.outUsed += length;
      this.offset += length;
    } else {
      const frame = frameBlock(this.codec, plain, offset);
      length = frame.length;
      emitted = this.append(frame) ?? emitted;
    }
    this.index.push({
      offset,
      length,
      entries: b.entries,
      firstKey: this.blockFirstKey,
      lastKey: this.prevKey.slice(0, this.prevKeyLength),
    });
    b.reset();
    if (this.outUsed >= this.chunkSize) emitted = this.emit();
    return emitted;
  }

  private header(): Uint8Array {
    return encodeHeader(this.params(), this.codec.salt);
  }

  private params(): { version: number; compression: DataFileCompression; encrypted: boolean } {
    const encrypted = this.codec.key !== undefined;
    const perFileKey = this.codec.salt !== undefined;
    return { version: perFileKey ? DATA_FILE_VERSION_FILE_KEYS : DATA_FILE_VERSION, compression: this.codec.compression, encrypted };
  }

  /**
   * Makes room for `bytes` more in the chunk being gathered: emits it first when they do not
   * fit (returning the sink's promise), and starts one large enough for them.
   */
  private reserve(bytes: number): Promise<void> | undefined {
    if (this.outUsed + bytes <= this.out.length) return undefined;
    const emitted = this.emit();
    if (bytes > this.out.length) this.out = newChunk(bytes);
    return emitted;
  }

  /** Appends bytes to the file (copied into the chunk being gathered). */
  private append(bytes: Uint8Array): Promise<void> | undefined {
    const emitted = this.reserve(bytes.length);
    this.out.set(bytes, this.outUsed);
    this.outUsed += bytes.length;
    this.offset += bytes.length;
    return emitted;
  }

  private nextChunk(): Uint8Array {
    return this.chunkPool?.take() ?? newChunk(this.chunkSize);
  }

  /** Hands the gathered chunk to the sink, after the chunks before it; hashed now. */
  private emit(): Promise<void> {
    if (this.outUsed === 0) return this.tail;
    const chunk = this.out.subarray(0, this.outUsed);
    this.out = this.nextChunk();
    this.outUsed = 0;
    this.hash.update(chunk);
    this.tail = this.tail.then(() => this.sink(chunk));
    this.tail.catch((err: unknown) => {
      this.state = 'failed';
      this.failure = err;
    });
    return this.tail;
  }

  private checkOpen(): void {
    // The sink's own error (an S3 timeout, say) keeps its retryable mark.
    if (this.state === 'failed') throw this.failure;
    if (this.state !== 'open') {
      throw new CairnError(ErrorCode.Internal, `data file writer is ${this.state}`);
    }
  }
}
