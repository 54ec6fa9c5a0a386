/**
 * @cairn/cloud: where backup files live. Storage URIs (`nodelocal://`, `file://`, `s3://`,
 * `gs://`, `azure://`, `external://`) are parsed and redacted here, locality-aware URI lists are split and matched
 * to a node's locality, and `openStorage` turns a URI into a streaming `ExternalStorage`.
 */
// The SDK-backed storages are types here: openStorage loads each with its SDK on first use.
export type { AzureBlobStorage, AzureBlobStorageOptions } from './azure-storage.js';
export type { GcsStorage, GcsStorageOptions } from './gcs-storage.js';
export {
  type ExternalStorage,
  type ListOptions,
  type ReadRange,
  checkDeletePrefix,
  collectBytes,
} from './external-storage.js';
export { AwsKmsParam, kmsKeyId, openKms, type KmsKey } from './kms.js';
export { LocalDirStorage, type LocalDirStorageOptions } from './local-dir-storage.js';
export {
  DEFAULT_LOCALITY_VALUE,
  LOCALITY_URL_PARAM,
  parseLocalityAwareUris,
  parseTier,
  pickUriForLocality,
  splitLocality,
  type LocalityAwareUris,
  type LocalityTier,
} from './locality-uris.js';
export { openStorage, type StorageContext } from './open-storage.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';
export { isTransientS3Error } from './s3-errors.js';
export type { S3Storage, S3StorageOptions } from './s3-storage.js';
export { joinPath } from './storage-path.js';
export { PROBE_DIRECTORY, probeStorage, probeStorageUri, type StorageProbeResult } from './storage-probe.js';
export {
  appendUriPath,
  AzureParam,
  GcsParam,
  parseStorageUri,
  redactStorageUri,
  S3Param,
  type AzureLocation,
  type GcsLocation,
  type ExternalLocation,
  type FileLocation,
  type NodelocalLocation,
  type S3Auth,
  type S3Location,
  type StorageLocation,
} from './storage-uri.js';
export { openWritePipe, type WritePipe, type WritePipeOptions } from './write-pipe.js';
