import { createHash } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { compareKeys } from '@cairn/keys';
import type { Span } from '@cairn/keys';
import {
  DATA_FILE_VERSION_FILE_KEYS,
  FOOTER_BYTES,
  HEADER_BYTES,
  decodeBlock,
  decodeFooter,
  decodeHeader,
  decodeIndex,
  encryptedCodec,
  headerLength,
  unframeBlock,
} from './data-file-format.js';
import type { BlockCodec, BlockHandle, DataFileCompression, Footer, MvccRevision } from './data-file-format.js';
import { ENCRYPTION_KEY_BYTES } from './encryption.js';

/** Ranged reads over one stored file: how the reader reads from S3 or a local file. */
export interface RandomAccessSource {
  size(): Promise<number>;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A source over bytes in memory. */
export function bytesSource(bytes: Uint8Array): RandomAccessSource {
  return {
    size: () => Promise.resolve(bytes.length),
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, Math.min(bytes.length, offset + length))),
  };
}

export interface DataFileReaderOptions {
  /** Required for an encrypted file. */
  encryptionKey?: Uint8Array;
  /**
   * Adjacent blocks are fetched together up to this many bytes per read (default 4 MiB), and
   * the next read is issued while the current one is decoded.
   */
  maxReadBytes?: number;
}

/** What `open()` learned from the footer and index. */
export interface DataFileInfo {
  size: number;
  entries: number;
  blocks: readonly BlockHandle[];
  compression: DataFileCompression;
  encrypted: boolean;
  formatVersion: number;
}

export interface DataFileVerifyResult {
  blocks: number;
  entries: number;
  bytes: number;
  /** Hex SHA-256 of the whole file. */
  checksum: string;
}

const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

interface OpenState {
  info: DataFileInfo;
  footer: Footer;
  codec: BlockCodec;
}

/**
 * Reads a data file through ranged reads: `open()` fetches the footer and the index, then
 * `iterate(span)` fetches only the blocks overlapping the span. Every block's checksum is
 * verified before it is decrypted or decompressed; any damage is a `Corruption` error that
 * names the file.
 */
export class DataFileReader {
  private state: OpenState | undefined;
  private readonly maxReadBytes: number;

  /** `name` (the file's path) appears in every error. */
  constructor(
    readonly name: string,
    private readonly source: RandomAccessSource,
    private readonly options: DataFileReaderOptions = {},
  ) {
    this.maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES;
    const key = options.encryptionKey;
    if (key !== undefined && key.length !== ENCRYPTION_KEY_BYTES) {
      throw new CairnError(ErrorCode.InvalidArgument, `encryption key must be ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`);
    }
  }

  /** Reads and checks the footer and the index (two reads). Idempotent. */
  async open(): Promise<DataFileInfo> {
    if (this.state !== undefined) return this.state.info;
    const name = this.name;
    const size = await this.source.size();
    if (size < HEADER_BYTES + FOOTER_BYTES) {
      throw new CairnError(
        ErrorCode.Corruption,
        `data file ${name} is truncated: ${size} bytes is less than a header and a footer`,
      );
    }
    const footer = decodeFooter(await this.readExactly(size - FOOTER_BYTES, FOOTER_BYTES), name);
    if (footer.indexOffset < headerLength(footer.version) || footer.indexOffset + footer.indexLength !== size - FOOTER_BYTES) {
      throw new CairnError(
        ErrorCode.Corruption,
        `data file ${name} is truncated or damaged: its footer places the index at ${footer.indexOffset}+${footer.indexLength} in a ${size}-byte file`,
      );
    }
    if (footer.encrypted && this.options.encryptionKey === undefined) {
      throw new CairnError(ErrorCode.InvalidArgument, `data file ${name} is encrypted: an encryption passphrase is required`);
    }
    const headerBytes = headerLength(footer.version);
    // Version 2 keeps the file's salt in the header; it is read alongside the index.
    const [header, indexFrame] = await Promise.all([
      footer.version === DATA_FILE_VERSION_FILE_KEYS ? this.readExactly(0, headerBytes) : undefined,
      this.readExactly(footer.indexOffset, footer.indexLength),
    ]);
    const salt = header === undefined ? undefined : decodeHeader(header, name).salt;
    const backupKey = this.options.encryptionKey;
    const codec: BlockCodec =
      footer.encrypted && backupKey !== undefined
        ? encryptedCodec(footer.compression, 0, backupKey, salt)
        : { compression: footer.compression, level: 0, key: undefined };
    const blocks = decodeIndex(unframeBlock(codec, indexFrame, footer.indexOffset, name, 'index'), name);
    checkLayout(blocks, footer, headerBytes, name);
    const info: DataFileInfo = {
      size,
      entries: footer.entries,
      blocks,
      compression: footer.compression,
      encrypted: footer.encrypted,
      formatVersion: footer.version,
    };
    this.state = { info, footer, codec };
    return info;
  }

  /**
   * Yields the revisions whose keys fall in `span` (all of them without one), in (key asc,
   * ts desc) order, reading only the blocks that overlap it. Values are views into the
   * decoded block: copy them to keep them beyond the block's lifetime.
   */
  async *iterate(span?: Span): AsyncGenerator<MvccRevision, void, undefined> {
    for await (const block of this.iterateBlocks(span)) yield* block;
  }

  /**
   * `iterate`, one decoded block (the part of it in `span`) at a time: a reader that handles
   * each revision synchronously pays one async step per block instead of one per revision.
   */
  async *iterateBlocks(span?: Span): AsyncGenerator<MvccRevision[], void, undefined> {
    const { info } = await this.opened();
    const selected: number[] = [];
    info.blocks.forEach((b, i) => {
      if (span === undefined || blockOverlaps(b, span)) selected.push(i);
    });
    for await (const { revisions } of this.blocksOf(selected)) {
      if (span === undefined) {
        yield revisions;
        continue;
      }
      let from = 0;
      while (from < revisions.length && compareKeys((revisions[from] as MvccRevision).key, span.start) < 0) from++;
      let to = from;
      const bounded = span.end.length !== 0;
      while (to < revisions.length && !(bounded && compareKeys((revisions[to] as MvccRevision).key, span.end) >= 0)) to++;
      if (to > from) yield from === 0 && to === revisions.length ? revisions : revisions.slice(from, to);
      // Blocks come in key order: once one reaches past the span, the rest do too.
      if (to < revisions.length) return;
    }
  }

  /**
   * Reads the whole file: checks the header, every block's checksum and contents, the entry
   * counts, and (when given) that the file's SHA-256 matches the manifest's.
   */
  async verify(expectedChecksum?: string): Promise<DataFileVerifyResult> {
    const { info, footer } = await this.opened();
    const hash = createHash('sha256');
    const header = await this.readExactly(0, headerLength(footer.version));
    const params = decodeHeader(header, this.name);
    if (params.version !== footer.version || params.compression !== footer.compression || params.encrypted !== footer.encrypted) {
      throw new CairnError(ErrorCode.Corruption, `data file ${this.name}: header and footer disagree`);
    }
    hash.update(header);
    let entries = 0;
    const all = info.blocks.map((_, i) => i);
    for await (const { revisions, frame } of this.blocksOf(all)) {
      hash.update(frame);
      entries += revisions.length;
    }
    if (entries !== footer.entries) {
      throw new CairnError(ErrorCode.Corruption, `data file ${this.name} holds ${entries} entries, its footer says ${footer.entries}`);
    }
    hash.update(await this.readExactly(footer.indexOffset, info.size - footer.indexOffset));
    const checksum = hash.digest('hex');
    if (expectedChecksum !== undefined && checksum !== expectedChecksum.toLowerCase()) {
      throw new CairnError(ErrorCode.Corruption, `checksum mismatch for data file ${this.name}: file hash differs from the manifest`);
    }
    return { blocks: info.blocks.length, entries, bytes: info.size, checksum };
  }

  private async opened(): Promise<OpenState> {
    await this.open();
    return this.state as OpenState;
  }

  /**
   * Decodes the given blocks (ascending indexes) in order. Runs of adjacent blocks are read
   * together up to maxReadBytes, one read ahead of the decoding.
   */
  private async *blocksOf(
    indexes: readonly number[],
  ): AsyncGenerator<{ revisions: MvccRevision[]; frame: Uint8Array }, void, undefined> {
    const { info, codec } = await this.opened();
    const groups = groupReads(info.blocks, indexes, this.maxReadBytes);
    const fetch = (g: number): Promise<Uint8Array> | undefined => {
      const group = groups[g];
      if (group === undefined) return undefined;
      const p = this.readExactly(group.offset, group.length);
      // Handled here so that a consumer stopping early leaves no unhandled rejection.
      p.catch(() => undefined);
      return p;
    };
    let next = fetch(0);
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g] as ReadGroup;
      const bytes = await (next as Promise<Uint8Array>);
      next = fetch(g + 1);
      for (const i of group.blocks) {
        const b = info.blocks[i] as BlockHandle;
        const frame = bytes.subarray(b.offset - group.offset, b.offset - group.offset + b.length);
        const what = `block ${i}`;
        const plain = unframeBlock(codec, frame, b.offset, this.name, what);
        yield { revisions: decodeBlock(plain, b.entries, this.name, what), frame };
      }
    }
  }

  private async readExactly(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.source.read(offset, length);
    if (b.length !== length) {
      throw new CairnError(
        ErrorCode.Corruption,
        `data file ${this.name} is truncated: read of ${length} bytes at ${offset} returned ${b.length}`,
      );
    }
    return b;
  }
}

function blockOverlaps(b: BlockHandle, span: Span): boolean {
  if (compareKeys(b.lastKey, span.start) < 0) return false;
  return span.end.length === 0 || compareKeys(b.firstKey, span.end) < 0;
}

interface ReadGroup {
  offset: number;
  length: number;
  blocks: number[];
}

function groupReads(blocks: readonly BlockHandle[], indexes: readonly number[], maxBytes: number): ReadGroup[] {
  const groups: ReadGroup[] = [];
  let cur: ReadGroup | undefined;
  let prev = -2;
  for (const i of indexes) {
    const b = blocks[i] as BlockHandle;
    if (cur !== undefined && i === prev + 1 && cur.length + b.length <= maxBytes) {
      cur.length += b.length;
      cur.blocks.push(i);
    } else {
      cur = { offset: b.offset, length: b.length, blocks: [i] };
      groups.push(cur);
    }
    prev = i;
  }
  return groups;
}

/** Blocks must tile the file from the header to the index, in key order. */
function checkLayout(blocks: readonly BlockHandle[], footer: Footer, headerBytes: number, name: string): void {
  const bad = (why: string): CairnError =>
    new CairnError(ErrorCode.Corruption, `data file ${name} has a damaged index: ${why}`);
  if (blocks.length !== footer.blockCount) throw bad(`${blocks.length} blocks, the footer says ${footer.blockCount}`);
  let at = headerBytes;
  let entries = 0;
  let prevLast: Uint8Array | undefined;
  for (const [i, b] of blocks.entries()) {
    if (b.offset !== at) throw bad(`block ${i} starts at ${b.offset}, expected ${at}`);
    if (compareKeys(b.firstKey, b.lastKey) > 0) throw bad(`block ${i} keys out of order`);
    if (prevLast !== undefined && compareKeys(prevLast, b.firstKey) > 0) throw bad(`block ${i} keys out of order`);
    at += b.length;
    entries += b.entries;
    prevLast = b.lastKey;
  }
  if (at !== footer.indexOffset) throw bad(`blocks end at ${at}, the index starts at ${footer.indexOffset}`);
  if (entries !== footer.entries) throw bad(`${entries} entries in blocks, the footer says ${footer.entries}`);
}
