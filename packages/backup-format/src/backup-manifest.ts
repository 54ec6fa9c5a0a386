import { createHash } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { BackupCheckpoint, BackupManifest, BackupPartDescriptor } from '@cairn/proto';
import { BACKUP_MANIFEST } from './collection-layout.js';
import { decryptBytes, encryptBytes, isEncryptedBytes } from './encryption.js';
import { isZstdFrame, zstdCompress, zstdDecompress } from './zstd-codec.js';

/** Current BackupManifest.format_version. */
export const MANIFEST_FORMAT_VERSION = 1;

/** How a metadata file (manifest, checkpoint, part descriptor) is stored. */
export interface MetadataWriteOptions {
  /** Encrypts the stored bytes (after compression) with AES-256-GCM. */
  encryptionKey?: Uint8Array;
  /** zstd-compress the protobuf before storing it. Default true. */
  compress?: boolean;
}

export interface MetadataReadOptions {
  /** Needed when the file is encrypted. */
  encryptionKey?: Uint8Array;
  /** Names the file in errors; defaults to the kind of file. */
  name?: string;
}

// Like CockroachDB (which gzips manifests and sniffs the gzip magic on read), the reader
// sniffs zstd's frame magic, so uncompressed manifests still read. A protobuf of these
// messages cannot start with it: its first byte, 0x28, would be field 5 as a varint, and
// field 5 is a message (or absent) in all of them.
const ZSTD_LEVEL = 3;

/** Protobuf, then zstd (as CockroachDB compresses manifests, with gzip), then optional encryption. */
function storeMetadata(proto: Uint8Array, options: MetadataWriteOptions): Uint8Array {
  let stored: Uint8Array = options.compress === false ? proto : zstdCompress(proto, ZSTD_LEVEL);
  if (options.encryptionKey !== undefined) stored = encryptBytes(options.encryptionKey, stored);
  return stored;
}

function loadMetadata<T>(stored: Uint8Array, options: MetadataReadOptions, name: string, decode: (b: Uint8Array) => T): T {
  let bytes = stored;
  if (isEncryptedBytes(bytes)) {
    if (options.encryptionKey === undefined) {
      throw new CairnError(ErrorCode.InvalidArgument, `${name} is encrypted: an encryption passphrase is required`);
    }
    bytes = decryptBytes(options.encryptionKey, bytes, name);
  }
  try {
    if (isZstdFrame(bytes)) bytes = zstdDecompress(bytes);
    return decode(bytes);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, `malformed ${name}`, { cause: err });
  }
}

/** The stored bytes of a BACKUP_MANIFEST. */
export function encodeManifest(manifest: BackupManifest, options: MetadataWriteOptions = {}): Uint8Array {
  return storeMetadata(BackupManifest.encode(manifest).finish(), options);
}

export function decodeManifest(stored: Uint8Array, options: MetadataReadOptions = {}): BackupManifest {
  const name = options.name ?? BACKUP_MANIFEST;
  const m = loadMetadata(stored, options, name, (b) => BackupManifest.decode(b));
  if (m.formatVersion > MANIFEST_FORMAT_VERSION) {
    throw new CairnError(
      ErrorCode.FeatureNotSupported,
      `${name} has format version ${m.formatVersion}, newer than this version of cairn reads (${MANIFEST_FORMAT_VERSION})`,
    );
  }
  return m;
}

/** The stored bytes of a progress/BACKUP-CHECKPOINT-* file. */
export function encodeCheckpoint(checkpoint: BackupCheckpoint, options: MetadataWriteOptions = {}): Uint8Array {
  return storeMetadata(BackupCheckpoint.encode(checkpoint).finish(), options);
}

export function decodeCheckpoint(stored: Uint8Array, options: MetadataReadOptions = {}): BackupCheckpoint {
  return loadMetadata(stored, options, options.name ?? 'BACKUP-CHECKPOINT', (b) => BackupCheckpoint.decode(b));
}

/** The stored bytes of a BACKUP_PART_<n>_<locality> file. */
export function encodePartDescriptor(part: BackupPartDescriptor, options: MetadataWriteOptions = {}): Uint8Array {
  return storeMetadata(BackupPartDescriptor.encode(part).finish(), options);
}

export function decodePartDescriptor(stored: Uint8Array, options: MetadataReadOptions = {}): BackupPartDescriptor {
  return loadMetadata(stored, options, options.name ?? 'BACKUP_PART', (b) => BackupPartDescriptor.decode(b));
}

const CHECKSUM_BYTES = 4;

/**
 * CockroachDB's metadata checksum: the first 4 bytes of the SHA-256 of the bytes as stored
 * (after compression and encryption), kept in a `<name>-CHECKSUM` file beside them.
 */
export function metadataChecksum(stored: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(stored).digest().subarray(0, CHECKSUM_BYTES));
}

/** What to store for a checksummed metadata file: the file and its `-CHECKSUM` companion. */
export function writeChecksummedFile(stored: Uint8Array): { body: Uint8Array; checksumBody: Uint8Array } {
  return { body: stored, checksumBody: metadataChecksum(stored) };
}

/** Checks a metadata file against its `-CHECKSUM` companion; throws Corruption naming the file. */
export function verifyChecksummed(body: Uint8Array, checksumBody: Uint8Array, name: string): void {
  const actual = metadataChecksum(body);
  if (checksumBody.length !== actual.length || !actual.every((b, i) => b === checksumBody[i])) {
    throw new CairnError(ErrorCode.Corruption, `checksum mismatch for ${name}`);
  }
}
