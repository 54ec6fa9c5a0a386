/**
 * A chain read across a collection and an `incremental_location`, on local directories:
 * CockroachDB's layout (`<location>/<full subdir>/<end>-<start>`), only the explicit
 * location's incrementals when it is given, and each layer's home.
 */
import { randomBytes } from 'node:crypto';
import { fullBackupSubdir } from '@cairn/backup-format';
import { CairnError, ErrorCode } from '@cairn/errors';
import { BackupManifest } from '@cairn/proto';
import { tempDir } from '@cairn/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupCollection } from './backup-collection.js';

const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const T0 = ns(Date.UTC(2024, 2, 1, 10));
const T1 = ns(Date.UTC(2024, 2, 1, 11));
const T2 = ns(Date.UTC(2024, 2, 1, 12));

const open: BackupCollection[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function collection(name: string): Promise<BackupCollection> {
  const c = await BackupCollection.open([`file://${await tempDir(name)}`], {});
  open.push(c);
  return c;
}

const layer = (startTime: bigint, endTime: bigint) => BackupManifest.fromPartial({ startTime, endTime });

describe('BackupCollection.chain with an incremental_location', () => {
  it('reads the full from the collection and only the incrementals of the location, each with its home', async () => {
    const coll = await collection('coll');
    const inc = await collection('inc');
    const full = fullBackupSubdir(T0);
    await coll.writeManifest(full.replace(/^\//, ''), layer(0n, T0));
    const atLocation = BackupCollection.incrementalLayerPath(full, T0, T1, 'explicit');
    const inCollection = BackupCollection.incrementalLayerPath(full, T0, T2, 'collection');
    expect(atLocation).toBe('2024/03/01-100000.00/20240301/110000.00-20240301-100000.00');
    expect(inCollection).toBe('incrementals/2024/03/01-100000.00/20240301/120000.00-20240301-100000.00');
    await inc.writeManifest(atLocation, layer(T0, T1));
    await coll.writeManifest(inCollection, layer(T0, T2));

    const explicit = await coll.chain(full, undefined, inc);
    expect(explicit.map((l) => [l.path, l.manifest.endTime, l.home])).toEqual([
      [full.slice(1), T0, coll],
      [atLocation, T1, inc],
    ]);
    const defaults = await coll.chain(full);
    expect(defaults.map((l) => [l.path, l.home])).toEqual([
      [full.slice(1), coll],
      [inCollection, coll],
    ]);
  });
});

describe('BackupCollection.chain with a key still being read', () => {
  it('reads an encrypted chain once the key arrives', async () => {
    const coll = await collection('coll-key');
    const key = new Uint8Array(randomBytes(32));
    const full = fullBackupSubdir(T0);
    await coll.writeManifest(full.replace(/^\//, ''), layer(0n, T0), key);
    const inc = BackupCollection.incrementalLayerPath(full, T0, T1, 'collection');
    await coll.writeManifest(inc, layer(T0, T1), key);
    const chain = await coll.chain(full, new Promise<Uint8Array>((r) => setTimeout(() => r(key), 20)));
    expect(chain.map((l) => l.manifest.endTime)).toEqual([T0, T1]);
  });

  it("fails as the reads one after another did: the key's error, then a missing full", async () => {
    const coll = await collection('coll-order');
    const missing = fullBackupSubdir(T2);
    const keyError = new CairnError(ErrorCode.InvalidArgument, 'backup is encrypted: an encryption_passphrase or kms is required');
    // The key fails after the full is known to be missing: its error still comes first.
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(keyError), 20));
    await expect(coll.chain(missing, late)).rejects.toBe(keyError);
    await expect(coll.chain(missing, Promise.resolve(undefined))).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });
});
