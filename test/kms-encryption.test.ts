/**
 * KMS-encrypted backups end to end on a 3-node cluster, against the AWS KMS stand-in
 * (packages/testing: KMS's JSON protocol to the real `@aws-sdk/client-kms` client):
 *
 * - a backup (full and incremental) taken with two KMS URIs opens through each of them for
 *   SHOW BACKUP and RESTORE, with fingerprints equal to the source;
 * - after ALTER BACKUP ... ADD NEW_KMS ... WITH OLD_KMS ..., it opens through the new key;
 * - a KMS key that did not encrypt it, or none, gives a clear error;
 * - no row value is readable in any stored file; the data files need a key to be opened at
 *   all, while those of an unencrypted backup of the same rows decode to them;
 * - KMS credentials never show in SHOW JOBS;
 * - a passphrase backup whose data files are in the format before per-file keys (rewritten
 *   by the format-1 writer, its manifest updated to match) still restores.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  DataFileReader,
  DataFileWriter,
  ENCRYPTION_INFO,
  bytesSource,
  decodeEncryptionInfo,
  decodeManifest,
  encodeManifest,
  unlockEncryptionInfo,
  writeChecksummedFile,
  type MvccRevision,
} from '@cairn/backup-format';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startKmsStandIn, startNatsServer, tempDir, type KmsStandIn, type NatsServerHandle } from '@cairn/testing';
import { col, databaseFingerprints, failure, query, queryOne, sqlUriList } from './support/backup.js';

const ROWS = 300;
/** Row values: random hex, so compression keeps them literal in an unencrypted file. */
const markers = Array.from({ length: ROWS }, () => `cairn-marker-${randomBytes(12).toString('hex')}`);

let nats: NatsServerHandle;
let kms: KmsStandIn;
let cluster: ProcessCluster;
let client: CairnClient;
let dir: string;
let source: Array<[string, string]>;
let keyB: string;
let keyC: string;

const dest = (path: string): string => `'file://${join(dir, path)}'`;

/** Every file under `root` that contains any of the markers. */
async function filesWithMarkers(root: string): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path);
    if (markers.some((m) => bytes.includes(m))) hits.push(path);
  }
  return hits;
}

async function dataFiles(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.endsWith('.sst'))
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  [nats, kms, dir] = await Promise.all([startNatsServer(), startKmsStandIn(), tempDir('cairn-kms-e2e')]);
  // Known by its alias only: a KMS URI may name a key by alias, id or ARN.
  kms.createKey('backups-a');
  keyB = kms.createKey();
  keyC = kms.createKey();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 1,
    nodes: [
      { locality: 'region=us-east1,zone=us-east1-b' },
      { locality: 'region=us-west1,zone=us-west1-a' },
      { locality: 'region=eu-west1,zone=eu-west1-c' },
    ],
  });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  await client.execute('CREATE DATABASE vault');
  await client.execute('CREATE TABLE vault.notes (id INT PRIMARY KEY, note STRING)');
  for (let i = 0; i < ROWS; i += 100) {
    const values = markers.slice(i, i + 100).map((m, j) => `(${i + j}, '${m}')`);
    await client.execute(`INSERT INTO vault.notes (id, note) VALUES ${values.join(', ')}`);
  }
  source = await databaseFingerprints(client, 'vault');
}, 120_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await kms?.stop();
  await nats?.stop();
});

describe('KMS-encrypted backups on a 3-node cluster', () => {
  it('a backup with two KMS URIs opens through each; an incremental continues it', async () => {
    const kmsList = sqlUriList([kms.uri('alias/backups-a'), kms.uri(keyB)]);
    const full = await queryOne(client, `BACKUP DATABASE vault INTO ${dest('kms')} WITH kms = ${kmsList}`);
    expect(col(full, 'status')).toBe('succeeded');
    await client.execute(`INSERT INTO vault.notes (id, note) VALUES (100000, 'after the full')`);
    const inc = await queryOne(client, `BACKUP DATABASE vault INTO LATEST IN ${dest('kms')} WITH kms = '${kms.uri(keyB)}'`);
    expect(col(inc, 'status')).toBe('succeeded');
    const withInc = await databaseFingerprints(client, 'vault');
    await client.execute('DELETE FROM vault.notes WHERE id = 100000');

    for (const uri of [kms.uri('alias/backups-a'), kms.uri(keyB)]) {
      const shown = await query(client, `SHOW BACKUP FROM LATEST IN ${dest('kms')} WITH kms = '${uri}'`);
      expect(shown.filter((r) => r['object_name'] === 'notes').map((r) => r['backup_type'])).toEqual(['full', 'incremental']);
    }
    const r = await queryOne(client, `RESTORE DATABASE vault FROM LATEST IN ${dest('kms')} WITH kms = '${kms.uri('alias/backups-a')}', new_db_name = 'vault_a'`);
    expect(col(r, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'vault_a')).toEqual(withInc);
    expect(withInc).not.toEqual(source);
  });

  it('gives a clear error with a KMS key that did not encrypt it, and without one', async () => {
    const wrong = await failure(client, `SHOW BACKUP FROM LATEST IN ${dest('kms')} WITH kms = '${kms.uri(keyC)}'`);
    expect(wrong.message).toContain(`none of the KMS keys given (aws-kms:///${keyC}) encrypted this backup; it opens with: aws-kms:///alias/backups-a, aws-kms:///${keyB}`);
    expect(wrong.message).not.toContain(kms.secretAccessKey);
    const none = await failure(client, `RESTORE DATABASE vault FROM LATEST IN ${dest('kms')} WITH new_db_name = 'vault_none'`);
    expect(none.message).toMatch(/is encrypted: an encryption_passphrase or kms is required/);
    const gcp = await failure(client, `BACKUP DATABASE vault INTO ${dest('gcp')} WITH kms = 'gcp-kms:///projects/p/locations/l/keyRings/r/cryptoKeys/k?AUTH=implicit'`);
    expect(gcp.message).toMatch(/gcp-kms:\/\/ KMS is not supported by cairn yet/);
  });

  it('after ALTER BACKUP ... ADD NEW_KMS it opens through the new key', async () => {
    await client.execute(
      `ALTER BACKUP LATEST IN ${dest('kms')} ADD NEW_KMS = '${kms.uri(keyC)}' WITH OLD_KMS = '${kms.uri('alias/backups-a')}'`,
    );
    const r = await queryOne(client, `RESTORE DATABASE vault FROM LATEST IN ${dest('kms')} WITH kms = '${kms.uri(keyC)}', new_db_name = 'vault_c'`);
    expect(col(r, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'vault_c')).toEqual(await databaseFingerprints(client, 'vault_a'));
  });

  it('leaves no plaintext in any stored file; its data files do not open without the key', async () => {
    expect(await filesWithMarkers(join(dir, 'kms'))).toEqual([]);
    const encryptedFiles = await dataFiles(join(dir, 'kms'));
    expect(encryptedFiles.length).toBeGreaterThan(0);
    for (const f of encryptedFiles) {
      const reader = new DataFileReader(f, bytesSource(await readFile(f)));
      await expect(reader.open()).rejects.toThrow(/is encrypted/);
    }
    // The control: the same rows backed up without encryption decode to the markers (stored
    // compressed, so a byte scan of the raw files alone would prove nothing).
    await client.execute(`BACKUP DATABASE vault INTO ${dest('plain')}`);
    const found = new Set<string>();
    for (const f of await dataFiles(join(dir, 'plain'))) {
      for await (const rev of new DataFileReader(f, bytesSource(await readFile(f))).iterate()) {
        const text = Buffer.from(rev.value ?? new Uint8Array()).toString('latin1');
        for (const m of markers) if (text.includes(m)) found.add(m);
      }
    }
    expect(found.size).toBe(ROWS);
  });

  it('shows no KMS credentials in SHOW JOBS', async () => {
    const jobs = JSON.stringify(await query(client, 'SHOW JOBS'));
    expect(jobs).toContain('aws-kms:///');
    expect(jobs).not.toContain(kms.secretAccessKey);
  });

  it('an encrypted backup whose data files are in the old format (one key per chain) still restores', async () => {
    const before = await databaseFingerprints(client, 'vault');
    await client.execute(`BACKUP DATABASE vault INTO ${dest('old')} WITH encryption_passphrase = 'old-format-pw'`);
    const root = join(dir, 'old');
    const info = (await readdir(root, { recursive: true, withFileTypes: true })).find((e) => e.isFile() && e.name === ENCRYPTION_INFO);
    if (info === undefined) throw new Error('no ENCRYPTION-INFO written');
    const layerDir = info.parentPath;
    const key = await unlockEncryptionInfo(decodeEncryptionInfo(await readFile(join(layerDir, ENCRYPTION_INFO))), 'old-format-pw');
    // Rewrite every data file as the old writer did, and the manifest's sizes and checksums with it.
    const rewritten = new Map<string, { bytes: number; checksum: string }>();
    for (const file of await dataFiles(layerDir)) {
      const reader = new DataFileReader(file, bytesSource(await readFile(file)), { encryptionKey: key });
      expect((await reader.open()).formatVersion).toBe(2);
      const revisions: MvccRevision[] = [];
      for await (const r of reader.iterate()) revisions.push(r);
      const chunks: Uint8Array[] = [];
      const w = new DataFileWriter({ sink: (c) => void chunks.push(c), encryptionKey: key, formatVersion: 1 });
      for (const r of revisions) await w.add(r);
      const summary = await w.finish();
      await writeFile(file, Buffer.concat(chunks));
      rewritten.set(relative(layerDir, file), { bytes: summary.bytes, checksum: summary.checksum });
    }
    expect(rewritten.size).toBeGreaterThan(0);
    const manifestPath = join(layerDir, BACKUP_MANIFEST);
    const manifest = decodeManifest(await readFile(manifestPath), { encryptionKey: key });
    for (const f of manifest.files) {
      const now = rewritten.get(f.path);
      if (now === undefined) throw new Error(`manifest names ${f.path}, not among ${[...rewritten.keys()].join(', ')}`);
      f.bytes = BigInt(now.bytes);
      f.checksum = now.checksum;
    }
    const { body, checksumBody } = writeChecksummedFile(encodeManifest(manifest, { encryptionKey: key }));
    await writeFile(manifestPath, body);
    await writeFile(join(dirname(manifestPath), BACKUP_MANIFEST_CHECKSUM), checksumBody);
    for (const file of await dataFiles(layerDir)) {
      expect((await new DataFileReader(file, bytesSource(await readFile(file)), { encryptionKey: key }).open()).formatVersion).toBe(1);
    }

    const r = await queryOne(client, `RESTORE DATABASE vault FROM LATEST IN ${dest('old')} WITH encryption_passphrase = 'old-format-pw', new_db_name = 'vault_old'`);
    expect(col(r, 'status')).toBe('succeeded');
    expect(await databaseFingerprints(client, 'vault_old')).toEqual(before);
  });
});
