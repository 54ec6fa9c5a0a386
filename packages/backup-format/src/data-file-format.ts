/**
 * The data file (`data/<unique>.sst`) layout, shared by the writer and the reader.
 *
 * ```
 * header   "CAIRNSST" | u16 version | u8 compression | u8 flags | u32 0          (16 bytes)
 *          [version 2: file salt                                               (32 bytes)]
 * block*   u32 stored length | u32 crc32(stored) | stored
 *          stored = [encrypt](compress(entries))
 * index    framed like a block; its entries: per block offset, frame length, entry count,
 *          first key, last key
 * footer   u64 index offset | u32 index frame length | u32 block count | u64 entries |
 *          u16 version | u8 compression | u8 flags | u32 crc32(previous 28 bytes) |
 *          "CAIRNSST"                                                             (40 bytes)
 * ```
 *
 * Integers are big-endian. Entries inside a block, in (key asc, ts desc) order:
 * `varint shared-prefix-with-previous-key | varint suffix length | suffix | i64 ts |
 * varint (0 = tombstone, else value length + 1) | value`; the shared prefix restarts at 0 in
 * each block so blocks decode on their own. With encryption, stored = nonce | AES-256-GCM
 * ciphertext | tag.
 *
 * Version 2 (every encrypted file written now): the header carries a random per-file salt and
 * blocks are sealed with a key derived from the backup key and that salt (HKDF-SHA256), so
 * AES-GCM's budget of 2^32 random nonces per key applies to one file, not to a whole
 * collection; the associated data is salt | offset, binding each block to its file and its
 * place in it. Version 1 (encrypted files written before, and every unencrypted file) seals
 * with the backup key itself and binds blocks to their offset only; it is still read.
 * The footer repeats what the reader needs so that `open()` costs two ranged reads (footer,
 * index), three for version 2 (the header's salt, fetched alongside the index).
 */
import { CairnError, ErrorCode } from '@cairn/errors';
import type { MvccRevision, RevisionSlot, Timestamp } from '@cairn/keys';

export type { MvccRevision, RevisionSlot };
import { ByteReader, ByteWriter } from './byte-codec.js';
import { crc32 } from './crc32.js';
import { deriveDataFileKey, openAesGcm, sealAesGcm } from './encryption.js';
import { zstdCompress, zstdDecompress } from './zstd-codec.js';

export type DataFileCompression = 'zstd' | 'none';

export const DATA_FILE_MAGIC = new TextEncoder().encode('CAIRNSST');
/** Plain files, and encrypted files of the old format (one key per collection). */
export const DATA_FILE_VERSION = 1;
/** Encrypted files with a per-file key. */
export const DATA_FILE_VERSION_FILE_KEYS = 2;
export const HEADER_BYTES = 16;
/** The per-file salt after a version 2 header. */
export const FILE_SALT_BYTES = 32;
export const FOOTER_BYTES = 40;
export const FRAME_HEADER_BYTES = 8;
const FOOTER_CRC_SPAN = 28;
const FLAG_ENCRYPTED = 1;

const CODEC_IDS: Record<DataFileCompression, number> = { none: 0, zstd: 1 };

function codecName(id: number): DataFileCompression | undefined {
  if (id === 0) return 'none';
  if (id === 1) return 'zstd';
  return undefined;
}

/** What the header and the footer both say about the file. */
export interface DataFileParams {
  version: number;
  compression: DataFileCompression;
  encrypted: boolean;
}

/** One block as the index describes it. */
export interface BlockHandle {
  /** File offset of the block's frame. */
  offset: number;
  /** Frame length: 8 header bytes plus the stored bytes. */
  length: number;
  entries: number;
  firstKey: Uint8Array;
  lastKey: Uint8Array;
}

export interface Footer extends DataFileParams {
  indexOffset: number;
  indexLength: number;
  blockCount: number;
  entries: number;
}

/** Bytes before the first block: the fixed header, plus the salt in version 2. */
export function headerLength(version: number): number {
  return version === DATA_FILE_VERSION_FILE_KEYS ? HEADER_BYTES + FILE_SALT_BYTES : HEADER_BYTES;
}

export function encodeHeader(p: DataFileParams, salt?: Uint8Array): Uint8Array {
  const w = new ByteWriter(headerLength(p.version));
  w.bytes(DATA_FILE_MAGIC);
  w.u16(p.version);
  w.u8(CODEC_IDS[p.compression]);
  w.u8(p.encrypted ? FLAG_ENCRYPTED : 0);
  w.u32(0);
  if (p.version === DATA_FILE_VERSION_FILE_KEYS) {
    if (salt?.length !== FILE_SALT_BYTES) throw new CairnError(ErrorCode.Internal, 'a version 2 data file header needs its salt');
    w.bytes(salt);
  }
  return w.toBytes();
}

/** Decodes the header (`b` holds at least `headerLength` bytes of the file's version). */
export function decodeHeader(b: Uint8Array, name: string): DataFileParams & { salt?: Uint8Array } {
  if (b.length < HEADER_BYTES || !hasMagic(b, 0)) {
    throw new CairnError(ErrorCode.Corruption, `data file ${name} has no data-file header (not a cairn data file?)`);
  }
  const r = new ByteReader(b.subarray(DATA_FILE_MAGIC.length), `data file ${name} header`);
  const params = decodeParams(r.u16(), r.u8(), r.u8(), name);
  if (params.version !== DATA_FILE_VERSION_FILE_KEYS) return params;
  if (b.length < HEADER_BYTES + FILE_SALT_BYTES) {
    throw new CairnError(ErrorCode.Corruption, `data file ${name} header is truncated: no file salt`);
  }
  return { ...params, salt: b.slice(HEADER_BYTES, HEADER_BYTES + FILE_SALT_BYTES) };
}

export function encodeFooter(f: Footer): Uint8Array {
  const w = new ByteWriter(FOOTER_BYTES);
  w.u64(f.indexOffset);
  w.u32(f.indexLength);
  w.u32(f.blockCount);
  w.u64(f.entries);
  w.u16(f.version);
  w.u8(CODEC_IDS[f.compression]);
  w.u8(f.encrypted ? FLAG_ENCRYPTED : 0);
  w.u32(crc32(w.written()));
  w.bytes(DATA_FILE_MAGIC);
  return w.toBytes();
}

export function decodeFooter(b: Uint8Array, name: string): Footer {
  if (b.length !== FOOTER_BYTES || !hasMagic(b, FOOTER_BYTES - DATA_FILE_MAGIC.length)) {
    throw new CairnError(
      ErrorCode.Corruption,
      `data file ${name} is truncated or not a cairn data file: no footer at its end`,
    );
  }
  const r = new ByteReader(b, `data file ${name} footer`);
  const indexOffset = r.u64();
  const indexLength = r.u32();
  const blockCount = r.u32();
  const entries = r.u64();
  const version = r.u16();
  const codec = r.u8();
  const flags = r.u8();
  const crc = r.u32();
  if (crc !== crc32(b.subarray(0, FOOTER_CRC_SPAN))) {
    throw new CairnError(ErrorCode.Corruption, `checksum mismatch in data file ${name} footer`);
  }
  return { indexOffset, indexLength, blockCount, entries, ...decodeParams(version, codec, flags, name) };
}

function decodeParams(version: number, codec: number, flags: number, name: string): DataFileParams {
  if (version !== DATA_FILE_VERSION && version !== DATA_FILE_VERSION_FILE_KEYS) {
    throw new CairnError(ErrorCode.FeatureNotSupported, `data file ${name} has unsupported format version ${version}`);
  }
  const compression = codecName(codec);
  if (compression === undefined) {
    throw new CairnError(ErrorCode.Corruption, `data file ${name} names unknown compression ${codec}`);
  }
  const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
  if (version === DATA_FILE_VERSION_FILE_KEYS && !encrypted) {
    throw new CairnError(ErrorCode.Corruption, `data file ${name} is format version 2 but not marked encrypted`);
  }
  return { version, compression, encrypted };
}

function hasMagic(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < DATA_FILE_MAGIC.length; i++) if (b[at + i] !== DATA_FILE_MAGIC[i]) return false;
  return true;
}

/** How blocks are turned into stored bytes and back. */
export interface BlockCodec {
  compression: DataFileCompression;
  level: number;
  /** The key blocks are sealed with: the file's own key in version 2, the backup key in version 1. */
  key: Uint8Array | undefined;
  /** Version 2: the file's salt, bound into every block's associated data. */
  salt?: Uint8Array;
}

/**
 * The codec for an encrypted file: version 2 derives the file's key from the backup key and
 * the salt; version 1 (no salt) uses the backup key as is.
 */
export function encryptedCodec(
  compression: DataFileCompression,
  level: number,
  backupKey: Uint8Array,
  salt: Uint8Array | undefined,
): BlockCodec {
  if (salt === undefined) return { compression, level, key: backupKey };
  return { compression, level, key: deriveDataFileKey(backupKey, salt), salt };
}

/** Compresses, encrypts and frames one block (or the index) that will sit at `offset`. */
export function frameBlock(codec: BlockCodec, plain: Uint8Array, offset: number): Uint8Array {
  let stored: Uint8Array =
    codec.compression === 'zstd' ? zstdCompress(plain, codec.level) : plain;
  if (codec.key !== undefined) stored = sealAesGcm(codec.key, stored, blockAad(codec, offset));
  const frame = new Uint8Array(FRAME_HEADER_BYTES + stored.length);
  frame.set(stored, FRAME_HEADER_BYTES);
  writeFrameHeader(frame, 0, stored.length);
  return frame;
}

/**
 * Writes the header of the frame at `buf[at]` whose `storedLength` stored bytes already
 * follow it: their length and CRC-32. For a writer that compresses a block straight into
 * its output behind room for the header.
 */
export function writeFrameHeader(buf: Uint8Array, at: number, storedLength: number): void {
  const body = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + storedLength);
  const view = new DataView(buf.buffer, buf.byteOffset + at, FRAME_HEADER_BYTES);
  view.setUint32(0, storedLength);
  view.setUint32(4, crc32(body));
}

/**
 * Checks and opens one frame read from `offset`. `what` names it in errors
 * ("block 3", "index"). Checksums are verified before anything else is done with the bytes.
 */
export function unframeBlock(codec: BlockCodec, frame: Uint8Array, offset: number, name: string, what: string): Uint8Array {
  if (frame.length < FRAME_HEADER_BYTES) {
    throw new CairnError(ErrorCode.Corruption, `data file ${name} ${what} is truncated`);
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const storedLength = view.getUint32(0);
  const stored = frame.subarray(FRAME_HEADER_BYTES);
  if (storedLength !== stored.length) {
    throw new CairnError(
      ErrorCode.Corruption,
      `corrupt frame in data file ${name} ${what}: length field says ${storedLength} bytes, the index ${stored.length}`,
    );
  }
  if (view.getUint32(4) !== crc32(stored)) {
    throw new CairnError(ErrorCode.Corruption, `checksum mismatch in data file ${name} ${what}`);
  }
  let compressed = stored;
  if (codec.key !== undefined) {
    const opened = openAesGcm(codec.key, stored, blockAad(codec, offset));
    if (opened === undefined) {
      throw new CairnError(
        ErrorCode.Corruption,
        `cannot decrypt data file ${name} ${what}: wrong encryption passphrase? (authentication failed)`,
      );
    }
    compressed = opened;
  }
  if (codec.compression === 'none') return compressed;
  try {
    return zstdDecompress(compressed);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, `cannot decompress data file ${name} ${what}`, { cause: err });
  }
}

/** Version 1: the frame's offset; version 2: the file's salt, then the offset. */
function blockAad(codec: BlockCodec, offset: number): Uint8Array {
  const saltBytes = codec.salt?.length ?? 0;
  const aad = new Uint8Array(saltBytes + 8);
  if (codec.salt !== undefined) aad.set(codec.salt, 0);
  const view = new DataView(aad.buffer);
  view.setUint32(saltBytes, Math.floor(offset / 2 ** 32));
  view.setUint32(saltBytes + 4, offset >>> 0);
  return aad;
}

/**
 * Appends entries to a block's plain bytes. The caller passes how many leading bytes the key
 * shares with the previous entry's key (0 for a block's first entry) so that a block decodes
 * on its own.
 */
export class BlockBuilder {
  readonly out: ByteWriter;
  entries = 0;

  constructor(capacity: number) {
    this.out = new ByteWriter(capacity);
  }

  get size(): number {
    return this.out.length;
  }

  /** Adds `key[0, keyLength)` at `ts` with `value[valueStart, valueEnd)`, or a tombstone when `value` is null. */
  add(key: Uint8Array, keyLength: number, shared: number, ts: Timestamp, value: Uint8Array | null, valueStart: number, valueEnd: number): void {
    const w = this.out;
    w.varint(shared);
    w.varint(keyLength - shared);
    w.bytesRange(key, shared, keyLength);
    w.i64(ts);
    if (value === null) {
      w.varint(0);
    } else {
      w.varint(valueEnd - valueStart + 1);
      w.bytesRange(value, valueStart, valueEnd);
    }
    this.entries++;
  }

  reset(): void {
    this.out.reset();
    this.entries = 0;
  }
}

/**
 * Decodes a block's entries. Keys are fresh arrays; values are views into `plain` (no copy).
 */
export function decodeBlock(plain: Uint8Array, expectedEntries: number, name: string, what: string): MvccRevision[] {
  const r = new ByteReader(plain, `data file ${name} ${what}`);
  const out: MvccRevision[] = [];
  let prev = new Uint8Array(0);
  while (r.remaining > 0) {
    const shared = r.varint();
    const suffixLength = r.varint();
    if (shared > prev.length) {
      throw new CairnError(ErrorCode.Corruption, `malformed data file ${name} ${what}: bad key prefix`);
    }
    const key = new Uint8Array(shared + suffixLength);
    for (let i = 0; i < shared; i++) key[i] = prev[i] as number;
    r.copyTo(key, shared, suffixLength);
    const ts = r.i64();
    const tag = r.varint();
    const value = tag === 0 ? null : r.bytes(tag - 1);
    out.push({ key, ts, value });
    prev = key;
  }
  if (out.length !== expectedEntries) {
    throw new CairnError(
      ErrorCode.Corruption,
      `malformed data file ${name} ${what}: ${out.length} entries, the index says ${expectedEntries}`,
    );
  }
  return out;
}

export function encodeIndex(blocks: readonly BlockHandle[]): Uint8Array {
  const w = new ByteWriter(64 + blocks.length * 48);
  w.varint(blocks.length);
  for (const b of blocks) {
    w.varint(b.offset);
    w.varint(b.length);
    w.varint(b.entries);
    w.varint(b.firstKey.length);
    w.bytes(b.firstKey);
    w.varint(b.lastKey.length);
    w.bytes(b.lastKey);
  }
  return w.toBytes();
}

export function decodeIndex(plain: Uint8Array, name: string): BlockHandle[] {
  const r = new ByteReader(plain, `data file ${name} index`);
  const count = r.varint();
  const blocks: BlockHandle[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.varint();
    const length = r.varint();
    const entries = r.varint();
    const firstKey = new Uint8Array(r.bytes(r.varint()));
    const lastKey = new Uint8Array(r.bytes(r.varint()));
    blocks.push({ offset, length, entries, firstKey, lastKey });
  }
  return blocks;
}
