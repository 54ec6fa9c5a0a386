import { createCipheriv, createDecipheriv, createHash, hkdfSync, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { CairnError, ErrorCode } from '@cairn/errors';
import { EncryptionInfo } from '@cairn/proto';

const pbkdf2Async = promisify(pbkdf2);

/** AES-256 key length. */
export const ENCRYPTION_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;

/**
 * PBKDF2-SHA256 iterations for a passphrase (OWASP's 2023 figure; about 250 ms here). The
 * count is stored in ENCRYPTION-INFO, so raising it later does not break old backups.
 * CockroachDB uses 64k iterations of the same KDF.
 */
export const DEFAULT_KDF_ITERATIONS = 600_000;
const KDF_NAME = 'pbkdf2-sha256';
const ENCRYPTION_INFO_VERSION = 1;

// Whole encrypted files (manifests, checkpoints) start with this magic and a version byte,
// which lets a reader tell "encrypted, passphrase needed" from "corrupt".
const FILE_MAGIC = Buffer.from('CAIRNENC', 'ascii');
const FILE_VERSION = 1;
const FILE_HEADER_BYTES = FILE_MAGIC.length + 1;

const VERIFICATION_PLAINTEXT = Buffer.from('cairn backup encryption verification token v1', 'ascii');

/**
 * Derives the 32-byte AES key from a passphrase and a salt (PBKDF2-SHA256). Runs on the libuv
 * thread pool, so it does not block the event loop.
 */
export async function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  iterations: number = DEFAULT_KDF_ITERATIONS,
): Promise<Uint8Array> {
  if (passphrase.length === 0) {
    throw new CairnError(ErrorCode.InvalidArgument, 'encryption passphrase must not be empty');
  }
  const key = await pbkdf2Async(passphrase, salt, iterations, ENCRYPTION_KEY_BYTES, 'sha256');
  return new Uint8Array(key);
}

/**
 * Creates the ENCRYPTION-INFO for a new backup collection: a random salt, the KDF parameters
 * and a verification token, plus the derived key (which is never stored).
 */
export async function makeEncryptionInfo(
  passphrase: string,
  options: { iterations?: number } = {},
): Promise<{ info: EncryptionInfo; key: Uint8Array }> {
  const iterations = options.iterations ?? DEFAULT_KDF_ITERATIONS;
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const key = await deriveKey(passphrase, salt, iterations);
  const info: EncryptionInfo = {
    formatVersion: ENCRYPTION_INFO_VERSION,
    kdf: KDF_NAME,
    salt,
    kdfIterations: iterations,
    verificationToken: encryptBytes(key, VERIFICATION_PLAINTEXT),
    kmsKeys: [],
  };
  return { info, key };
}

/**
 * Derives the key for `passphrase` and checks it against the info's verification token, so a
 * wrong passphrase fails here, with a clear message, before any data is read.
 */
export async function unlockEncryptionInfo(info: EncryptionInfo, passphrase: string): Promise<Uint8Array> {
  if (info.kdf === KMS_KDF) {
    throw new CairnError(ErrorCode.InvalidArgument, `this backup is encrypted with KMS (${kmsIds(info)}): use kms = '...' instead of encryption_passphrase`);
  }
  if (info.kdf !== KDF_NAME) {
    throw new CairnError(ErrorCode.FeatureNotSupported, `unsupported key derivation ${JSON.stringify(info.kdf)} in ENCRYPTION-INFO`);
  }
  const key = await deriveKey(passphrase, info.salt, info.kdfIterations);
  const token = tryDecrypt(key, info.verificationToken);
  if (
    token === undefined ||
    token.length !== VERIFICATION_PLAINTEXT.length ||
    !timingSafeEqual(token, VERIFICATION_PLAINTEXT)
  ) {
    throw new CairnError(ErrorCode.InvalidArgument, 'failed to decrypt: wrong encryption passphrase');
  }
  return key;
}

const KMS_KDF = 'kms';

/** A KMS key as encryption sees it: wraps and unwraps the data key (see `@cairn/cloud`'s `openKms`). */
export interface KeyWrapper {
  /** The KMS URI without credentials, stored beside the wrapped key. */
  readonly id: string;
  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
  decrypt(ciphertext: Uint8Array): Promise<Uint8Array>;
}

/** Does the info hold a KMS-wrapped data key (rather than a passphrase's salt)? */
export function isKmsEncryptionInfo(info: EncryptionInfo): boolean {
  return info.kdf === KMS_KDF;
}

function kmsIds(info: EncryptionInfo): string {
  return info.kmsKeys.map((k) => k.kmsId).join(', ');
}

/**
 * ENCRYPTION-INFO for a KMS-encrypted backup: a random data key, wrapped by every KMS key
 * given (any one of them opens the backup), and the verification token.
 */
export async function makeKmsEncryptionInfo(kms: readonly KeyWrapper[]): Promise<{ info: EncryptionInfo; key: Uint8Array }> {
  if (kms.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'kms needs at least one KMS URI');
  const key = new Uint8Array(randomBytes(ENCRYPTION_KEY_BYTES));
  const kmsKeys = await Promise.all(kms.map(async (k) => ({ kmsId: k.id, wrappedKey: await k.encrypt(key) })));
  const info: EncryptionInfo = {
    formatVersion: ENCRYPTION_INFO_VERSION,
    kdf: KMS_KDF,
    salt: new Uint8Array(0),
    kdfIterations: 0,
    verificationToken: encryptBytes(key, VERIFICATION_PLAINTEXT),
    kmsKeys,
  };
  return { info, key };
}

function opensToken(key: Uint8Array, info: EncryptionInfo): boolean {
  if (key.length !== ENCRYPTION_KEY_BYTES) return false;
  const token = tryDecrypt(key, info.verificationToken);
  return token !== undefined && token.length === VERIFICATION_PLAINTEXT.length && timingSafeEqual(token, VERIFICATION_PLAINTEXT);
}

/**
 * Unwraps the data key with the first of `kms` that wrapped it and checks it against the
 * verification token. A KMS key the backup does not list, or one that fails, is named in
 * the error together with the keys that would open it.
 */
export async function unlockKmsEncryptionInfo(info: EncryptionInfo, kms: readonly KeyWrapper[]): Promise<Uint8Array> {
  if (info.kdf !== KMS_KDF) {
    throw new CairnError(ErrorCode.InvalidArgument, 'this backup is encrypted with a passphrase: use encryption_passphrase instead of kms');
  }
  const failures: string[] = [];
  for (const k of kms) {
    const entry = info.kmsKeys.find((e) => e.kmsId === k.id);
    if (entry === undefined) continue;
    try {
      const key = await k.decrypt(entry.wrappedKey);
      if (opensToken(key, info)) return key;
      failures.push(`${k.id}: the unwrapped key does not open the backup`);
    } catch (err) {
      if (!(err instanceof CairnError) || err.retryable) throw err;
      failures.push(err.message);
    }
  }
  if (failures.length > 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `failed to decrypt the backup's data key: ${failures.join('; ')}`);
  }
  throw new CairnError(
    ErrorCode.InvalidArgument,
    `none of the KMS keys given (${kms.map((k) => k.id).join(', ')}) encrypted this backup; it opens with: ${kmsIds(info)}`,
  );
}

/**
 * Adds KMS keys to a KMS-encrypted backup's ENCRYPTION-INFO (ALTER BACKUP ... ADD NEW_KMS ...
 * WITH OLD_KMS ...): the data key is unwrapped with an old key and wrapped by each new one;
 * a key already listed is wrapped afresh. Data and manifests are untouched.
 */
export async function addKmsToEncryptionInfo(
  info: EncryptionInfo,
  oldKms: readonly KeyWrapper[],
  newKms: readonly KeyWrapper[],
): Promise<EncryptionInfo> {
  const key = await unlockKmsEncryptionInfo(info, oldKms);
  const added = await Promise.all(newKms.map(async (k) => ({ kmsId: k.id, wrappedKey: await k.encrypt(key) })));
  const ids = new Set(added.map((a) => a.kmsId));
  return { ...info, kmsKeys: [...info.kmsKeys.filter((k) => !ids.has(k.kmsId)), ...added] };
}

/** ENCRYPTION-INFO as stored (plain protobuf: it holds nothing secret). */
export function encodeEncryptionInfo(info: EncryptionInfo): Uint8Array {
  return EncryptionInfo.encode(info).finish();
}

export function decodeEncryptionInfo(bytes: Uint8Array): EncryptionInfo {
  try {
    return EncryptionInfo.decode(bytes);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, 'malformed ENCRYPTION-INFO', { cause: err });
  }
}

const DATA_FILE_KEY_INFO = Buffer.from('cairn data file key v2', 'ascii');

/**
 * A data file's own key: HKDF-SHA256 of the backup key with the file's random salt. Each file
 * then spends its own AES-GCM random-nonce budget (2^32 blocks, 256 TiB at 64 KiB), however
 * many files a collection holds.
 */
export function deriveDataFileKey(backupKey: Uint8Array, salt: Uint8Array): Uint8Array {
  checkKey(backupKey);
  return new Uint8Array(hkdfSync('sha256', backupKey, salt, DATA_FILE_KEY_INFO, ENCRYPTION_KEY_BYTES));
}

/** A short, non-secret fingerprint of a key, recorded in manifests to tell keys apart. */
export function keyId(key: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update('cairn key id\0').update(key).digest().subarray(0, 8));
}

/** AES-256-GCM with a random nonce: `nonce || ciphertext || tag`. */
export function sealAesGcm(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad !== undefined) cipher.setAAD(aad);
  const out = new Uint8Array(NONCE_BYTES + plaintext.length + TAG_BYTES);
  out.set(nonce, 0);
  const body = cipher.update(plaintext);
  out.set(body, NONCE_BYTES);
  const tail = cipher.final();
  out.set(tail, NONCE_BYTES + body.length);
  out.set(cipher.getAuthTag(), NONCE_BYTES + body.length + tail.length);
  return out;
}

/** Opens what `sealAesGcm` sealed; undefined when authentication fails (wrong key or tampering). */
export function openAesGcm(key: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array | undefined {
  checkKey(key);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
  if (aad !== undefined) decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    const plain = tail.length === 0 ? body : Buffer.concat([body, tail]);
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch {
    return undefined;
  }
}

/** Encrypts a whole small file (a manifest, a checkpoint): magic, version, then AES-256-GCM. */
export function encryptBytes(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const header = fileHeader();
  const sealed = sealAesGcm(key, plaintext, header);
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header, 0);
  out.set(sealed, header.length);
  return out;
}

/**
 * Decrypts what `encryptBytes` produced. A failure names the file and says the likely cause;
 * it is reported as corruption because a tampered file looks the same as a wrong key.
 */
export function decryptBytes(key: Uint8Array, data: Uint8Array, name = 'file'): Uint8Array {
  if (!isEncryptedBytes(data)) {
    throw new CairnError(ErrorCode.InvalidArgument, `${name} is not encrypted`);
  }
  const plain = tryDecrypt(key, data);
  if (plain === undefined) {
    throw new CairnError(ErrorCode.Corruption, `failed to decrypt ${name}: wrong encryption passphrase?`);
  }
  return plain;
}

/** Does `data` carry the encrypted-file header? */
export function isEncryptedBytes(data: Uint8Array): boolean {
  if (data.length < FILE_HEADER_BYTES) return false;
  for (let i = 0; i < FILE_MAGIC.length; i++) if (data[i] !== FILE_MAGIC[i]) return false;
  return true;
}

function tryDecrypt(key: Uint8Array, data: Uint8Array): Uint8Array | undefined {
  if (!isEncryptedBytes(data)) return undefined;
  const version = data[FILE_MAGIC.length];
  if (version !== FILE_VERSION) {
    throw new CairnError(ErrorCode.FeatureNotSupported, `unsupported encrypted file version ${version}`);
  }
  return openAesGcm(key, data.subarray(FILE_HEADER_BYTES), data.subarray(0, FILE_HEADER_BYTES));
}

function fileHeader(): Uint8Array {
  const h = new Uint8Array(FILE_HEADER_BYTES);
  h.set(FILE_MAGIC, 0);
  h[FILE_MAGIC.length] = FILE_VERSION;
  return h;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== ENCRYPTION_KEY_BYTES) {
    throw new CairnError(ErrorCode.InvalidArgument, `encryption key must be ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`);
  }
}
