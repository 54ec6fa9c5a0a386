/**
 * @cairn/backup-format: what a backup looks like in storage. Data files (sorted MVCC
 * revisions in checksummed, compressed, optionally encrypted blocks with an index for
 * ranged reads), manifests and other metadata files with their checksums, passphrase
 * encryption, and the names of everything in a collection (CockroachDB's layout).
 */
export type { MvccRevision, RevisionSlot, DataFileCompression, BlockHandle } from './data-file-format.js';
export { DATA_FILE_VERSION } from './data-file-format.js';
export { ChunkPool, DEFAULT_BLOCK_SIZE, DEFAULT_CHUNK_SIZE, DataFileWriter, writableSink } from './data-file-writer.js';
export type { DataFileSink, DataFileSummary, DataFileWriterOptions } from './data-file-writer.js';
export { DataFileReader, bytesSource } from './data-file-reader.js';
export type {
  DataFileInfo,
  DataFileReaderOptions,
  DataFileVerifyResult,
  RandomAccessSource,
} from './data-file-reader.js';
export {
  MANIFEST_FORMAT_VERSION,
  decodeCheckpoint,
  decodeManifest,
  decodePartDescriptor,
  encodeCheckpoint,
  encodeManifest,
  encodePartDescriptor,
  metadataChecksum,
  verifyChecksummed,
  writeChecksummedFile,
} from './backup-manifest.js';
export type { MetadataReadOptions, MetadataWriteOptions } from './backup-manifest.js';
export {
  DEFAULT_KDF_ITERATIONS,
  ENCRYPTION_KEY_BYTES,
  decodeEncryptionInfo,
  decryptBytes,
  deriveKey,
  encodeEncryptionInfo,
  encryptBytes,
  isEncryptedBytes,
  keyId,
  addKmsToEncryptionInfo,
  isKmsEncryptionInfo,
  makeEncryptionInfo,
  makeKmsEncryptionInfo,
  unlockEncryptionInfo,
  unlockKmsEncryptionInfo,
  type KeyWrapper,
} from './encryption.js';
export {
  addBackupKms,
  createBackupEncryption,
  openBackupEncryption,
  wantsEncryption,
  type EncryptionOptions,
} from './backup-encryption.js';
export {
  BACKUP_CHECKPOINT_PREFIX,
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  BACKUP_PART_PREFIX,
  CHECKSUM_SUFFIX,
  DATA_DIRECTORY,
  ENCRYPTION_INFO,
  INCREMENTALS_DIRECTORY,
  LATEST_DIRECTORY,
  LEGACY_LATEST_FILE,
  PROGRESS_DIRECTORY,
  checkpointFileName,
  checksumFileName,
  dataFileName,
  descendingTimeSuffix,
  fullBackupSubdir,
  incrementalSubdir,
  latestFileName,
  newestLatestFile,
  normalizeFullSubdir,
  parseCheckpointFileName,
  parseDescendingTimeSuffix,
  parseFullBackupSubdir,
  parseIncrementalLayerName,
  parseLatestFileName,
  partFileName,
  sanitizeLocality,
} from './collection-layout.js';
export type { TimeInput } from './collection-layout.js';
export { incrementalsPrefix, orderChain, resolveChain } from './backup-chain.js';
export type { BackupLayerRef } from './backup-chain.js';
