import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { openKms } from '@cairn/cloud';
import { startKmsStandIn, startStsStandIn, type KmsStandIn } from '@cairn/testing';
import {
  addBackupKms,
  createBackupEncryption,
  decodeEncryptionInfo,
  decryptBytes,
  encryptBytes,
  openBackupEncryption,
} from './index.js';

async function failure(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

describe('KMS encryption (AWS KMS stand-in)', () => {
  let kms: KmsStandIn;
  let k1: string;
  let k2: string;
  let k3: string;
  beforeAll(async () => {
    kms = await startKmsStandIn();
    k1 = kms.createKey('backups-east');
    k2 = kms.createKey();
    k3 = kms.createKey();
  });
  afterAll(() => kms.stop());

  it('wraps one data key per KMS; either KMS URI opens the backup', async () => {
    const made = await createBackupEncryption({ kms: [kms.uri('alias/backups-east'), kms.uri(k2)] });
    expect(made).toBeDefined();
    const info = decodeEncryptionInfo(made!.info);
    expect(info.kdf).toBe('kms');
    expect(info.kmsKeys.map((k) => k.kmsId)).toEqual(['aws-kms:///alias/backups-east', `aws-kms:///${k2}`]);
    // Nothing secret is stored: no credentials, and not the data key itself.
    const stored = Buffer.from(made!.info);
    expect(stored.includes(Buffer.from(kms.secretAccessKey))).toBe(false);
    expect(stored.includes(Buffer.from(made!.key))).toBe(false);
    const sealed = encryptBytes(made!.key, new TextEncoder().encode('manifest'));
    for (const uri of [kms.uri('alias/backups-east'), kms.uri(k2)]) {
      const key = await openBackupEncryption({ kms: [uri] }, made!.info);
      expect(Buffer.from(decryptBytes(key, sealed)).toString()).toBe('manifest');
    }
    expect(k1).toMatch(/^arn:aws:kms:/);
  });

  it('refuses a KMS key the backup does not list, naming the keys that would open it', async () => {
    const made = await createBackupEncryption({ kms: [kms.uri(k1)] });
    const err = await failure(openBackupEncryption({ kms: [kms.uri(k3)] }, made!.info));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain(`none of the KMS keys given (aws-kms:///${k3}) encrypted this backup; it opens with: aws-kms:///${k1}`);
    expect(err.message).not.toContain(kms.secretAccessKey);
  });

  it('reports a wrapped key that the named KMS key cannot unwrap (a wrong key behind the same id)', async () => {
    const made = await createBackupEncryption({ kms: [kms.uri(k1)] });
    const info = decodeEncryptionInfo(made!.info);
    const forged = { ...info, kmsKeys: [{ kmsId: `aws-kms:///${k2}`, wrappedKey: info.kmsKeys[0]!.wrappedKey }] };
    const { EncryptionInfo } = await import('@cairn/proto');
    const err = await failure(openBackupEncryption({ kms: [kms.uri(k2)] }, EncryptionInfo.encode(forged).finish()));
    expect(err.message).toMatch(/aws-kms: decrypt with aws-kms:\/\/\/.*AWS_SECRET_ACCESS_KEY=redacted.*IncorrectKeyException/);
  });

  it('ALTER BACKUP ... ADD NEW_KMS: the new key opens the backup, the old one still does', async () => {
    const made = await createBackupEncryption({ kms: [kms.uri(k1)] });
    const altered = await addBackupKms(made!.info, [kms.uri(k1)], [kms.uri(k3)]);
    expect(decodeEncryptionInfo(altered).kmsKeys.map((k) => k.kmsId)).toEqual([`aws-kms:///${k1}`, `aws-kms:///${k3}`]);
    expect(await openBackupEncryption({ kms: [kms.uri(k3)] }, altered)).toEqual(made!.key);
    expect(await openBackupEncryption({ kms: [kms.uri(k1)] }, altered)).toEqual(made!.key);
    const err = await failure(addBackupKms(made!.info, [kms.uri(k2)], [kms.uri(k3)]));
    expect(err.message).toMatch(/none of the KMS keys given/);
  });

  it('passphrase and KMS backups refuse each other clearly; both at once is refused', async () => {
    const kmsMade = await createBackupEncryption({ kms: [kms.uri(k1)] });
    expect((await failure(openBackupEncryption({ encryptionPassphrase: 'pw' }, kmsMade!.info))).message).toMatch(/encrypted with KMS .*use kms/);
    const pwMade = await createBackupEncryption({ encryptionPassphrase: 'pw' });
    expect((await failure(openBackupEncryption({ kms: [kms.uri(k1)] }, pwMade!.info))).message).toMatch(/encrypted with a passphrase/);
    expect((await failure(createBackupEncryption({ encryptionPassphrase: 'pw', kms: [kms.uri(k1)] }))).message).toBe(
      'cannot have both encryption_passphrase and kms option set',
    );
  });

  it('aws-kms:// with AUTH=implicit (environment keys) and with ASSUME_ROLE through STS', async () => {
    const saved = { ...process.env };
    const sts = await startStsStandIn({
      baseKeys: [{ accessKeyId: 'AKIABASE', secretAccessKey: 'base-secret' }],
      roles: { 'arn:aws:iam::1:role/kms-user': { accessKeyId: kms.accessKeyId, secretAccessKey: kms.secretAccessKey } },
    });
    try {
      process.env['AWS_ACCESS_KEY_ID'] = kms.accessKeyId;
      process.env['AWS_SECRET_ACCESS_KEY'] = kms.secretAccessKey;
      const implicit = `aws-kms:///${k1}?AUTH=implicit&REGION=${kms.region}&AWS_ENDPOINT=${encodeURIComponent(kms.endpoint)}`;
      const made = await createBackupEncryption({ kms: [implicit] });
      expect(await openBackupEncryption({ kms: [kms.uri(k1)] }, made!.info)).toEqual(made!.key);

      process.env['AWS_ENDPOINT_URL_STS'] = sts.endpoint;
      const q = new URLSearchParams({
        AWS_ACCESS_KEY_ID: 'AKIABASE',
        AWS_SECRET_ACCESS_KEY: 'base-secret',
        ASSUME_ROLE: 'arn:aws:iam::1:role/kms-user',
        REGION: kms.region,
        AWS_ENDPOINT: kms.endpoint,
      });
      expect(await openBackupEncryption({ kms: [`aws-kms:///${k1}?${q.toString()}`] }, made!.info)).toEqual(made!.key);
      expect(sts.calls.map((c) => c.roleArn)).toEqual(['arn:aws:iam::1:role/kms-user']);
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL_STS']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      await sts.stop();
    }
  });

  it('refuses gcp-kms:// and azure-kms:// clearly, and an aws-kms URI without REGION', () => {
    expect(() => openKms('gcp-kms:///projects/p/locations/l/keyRings/r/cryptoKeys/k?AUTH=implicit')).toThrow(/gcp-kms:\/\/ KMS is not supported by cairn yet/);
    expect(() => openKms('azure-kms:///key/version?AZURE_CLIENT_SECRET=s')).toThrow(/azure-kms:\/\/ KMS is not supported .*AZURE_CLIENT_SECRET=redacted/);
    expect(() => openKms('aws-kms:///k?AUTH=implicit')).toThrow(/missing the "REGION" parameter/);
  });
});
