import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  decodeEncryptionInfo,
  decryptBytes,
  deriveKey,
  encodeEncryptionInfo,
  encryptBytes,
  isEncryptedBytes,
  keyId,
  makeEncryptionInfo,
  unlockEncryptionInfo,
} from './index.js';

// Fewer KDF iterations than production keep the tests fast; the count is stored in the info.
const ITERATIONS = 1_000;

describe('passphrase encryption', () => {
  it('derives a 32-byte key that depends on passphrase and salt', async () => {
    const salt = new Uint8Array(16).fill(1);
    const a = await deriveKey('correct horse', salt, ITERATIONS);
    expect(a).toHaveLength(32);
    expect(await deriveKey('correct horse', salt, ITERATIONS)).toEqual(a);
    expect(await deriveKey('correct horse!', salt, ITERATIONS)).not.toEqual(a);
    expect(await deriveKey('correct horse', new Uint8Array(16).fill(2), ITERATIONS)).not.toEqual(a);
    await expect(deriveKey('', salt, ITERATIONS)).rejects.toThrow(/must not be empty/);
  });

  it('uses the default (slow) KDF when not told otherwise, and unlocks with the right passphrase', async () => {
    const { info, key } = await makeEncryptionInfo('hunter2');
    expect(info.kdf).toBe('pbkdf2-sha256');
    expect(info.kdfIterations).toBeGreaterThanOrEqual(600_000);
    const stored = encodeEncryptionInfo(info);
    const unlocked = await unlockEncryptionInfo(decodeEncryptionInfo(stored), 'hunter2');
    expect(unlocked).toEqual(key);
  });

  it('gives a clear error for a wrong passphrase before any data is read', async () => {
    const { info } = await makeEncryptionInfo('right', { iterations: ITERATIONS });
    const err = await unlockEncryptionInfo(info, 'wrong').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).message).toBe('failed to decrypt: wrong encryption passphrase');
  });

  it('round-trips bytes with AES-256-GCM and detects a wrong key or tampering', async () => {
    const { key } = await makeEncryptionInfo('k', { iterations: ITERATIONS });
    const plain = new TextEncoder().encode('manifest bytes '.repeat(100));
    const sealed = encryptBytes(key, plain);
    expect(isEncryptedBytes(sealed)).toBe(true);
    expect(isEncryptedBytes(plain)).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('manifest bytes'))).toBe(false);
    // A fresh nonce each time.
    expect(encryptBytes(key, plain)).not.toEqual(sealed);
    expect(decryptBytes(key, sealed, 'BACKUP_MANIFEST')).toEqual(plain);

    const { key: other } = await makeEncryptionInfo('other', { iterations: ITERATIONS });
    expect(() => decryptBytes(other, sealed, 'BACKUP_MANIFEST')).toThrow(
      'failed to decrypt BACKUP_MANIFEST: wrong encryption passphrase?',
    );
    const tampered = sealed.slice();
    tampered[tampered.length - 20] = tampered[tampered.length - 20]! ^ 1;
    try {
      decryptBytes(key, tampered, 'BACKUP_MANIFEST');
      expect.unreachable();
    } catch (e) {
      expect((e as CairnError).code).toBe(ErrorCode.Corruption);
    }
    expect(keyId(key)).toHaveLength(8);
    expect(keyId(key)).not.toEqual(keyId(other));
  });
});
