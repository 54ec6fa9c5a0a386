import { CairnError, ErrorCode } from '@cairn/errors';
import { openKms, type KmsKey } from '@cairn/cloud';
import {
  addKmsToEncryptionInfo,
  decodeEncryptionInfo,
  encodeEncryptionInfo,
  makeEncryptionInfo,
  makeKmsEncryptionInfo,
  unlockEncryptionInfo,
  unlockKmsEncryptionInfo,
} from './encryption.js';

/** How a statement asked for encryption: the BACKUP / RESTORE / SHOW BACKUP options. */
export interface EncryptionOptions {
  encryptionPassphrase?: string;
  kms?: readonly string[];
}

/** Opens every KMS URI, runs `fn`, and closes them. */
async function withKms<T>(uris: readonly string[], fn: (keys: KmsKey[]) => Promise<T>): Promise<T> {
  const keys: KmsKey[] = [];
  try {
    for (const uri of uris) keys.push(openKms(uri));
    return await fn(keys);
  } finally {
    for (const k of keys) k.close();
  }
}

function check(opts: EncryptionOptions): void {
  if (opts.encryptionPassphrase !== undefined && opts.kms !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot have both encryption_passphrase and kms option set');
  }
}

/** Whether the options ask for encryption at all. */
export function wantsEncryption(opts: EncryptionOptions): boolean {
  check(opts);
  return opts.encryptionPassphrase !== undefined || opts.kms !== undefined;
}

/**
 * A new full backup's ENCRYPTION-INFO (to store) and data key: derived from the passphrase,
 * or random and wrapped by every KMS key. Undefined when the options ask for no encryption.
 */
export async function createBackupEncryption(opts: EncryptionOptions): Promise<{ info: Uint8Array; key: Uint8Array } | undefined> {
  if (!wantsEncryption(opts)) return undefined;
  const made =
    opts.kms !== undefined
      ? await withKms(opts.kms, (keys) => makeKmsEncryptionInfo(keys))
      : await makeEncryptionInfo(opts.encryptionPassphrase as string);
  return { info: encodeEncryptionInfo(made.info), key: made.key };
}

/** The data key of an encrypted backup from its stored ENCRYPTION-INFO and the statement's options. */
export async function openBackupEncryption(opts: EncryptionOptions, infoBytes: Uint8Array): Promise<Uint8Array> {
  check(opts);
  const info = decodeEncryptionInfo(infoBytes);
  if (opts.kms !== undefined) return withKms(opts.kms, (keys) => unlockKmsEncryptionInfo(info, keys));
  if (opts.encryptionPassphrase !== undefined) return unlockEncryptionInfo(info, opts.encryptionPassphrase);
  throw new CairnError(ErrorCode.InvalidArgument, 'this backup is encrypted: an encryption_passphrase or kms is required');
}

/** ENCRYPTION-INFO with `newKms` added, opened with one of `oldKms` (ALTER BACKUP ... ADD NEW_KMS). */
export async function addBackupKms(infoBytes: Uint8Array, oldKms: readonly string[], newKms: readonly string[]): Promise<Uint8Array> {
  const info = decodeEncryptionInfo(infoBytes);
  const updated = await withKms(oldKms, (olds) => withKms(newKms, (news) => addKmsToEncryptionInfo(info, olds, news)));
  return encodeEncryptionInfo(updated);
}
