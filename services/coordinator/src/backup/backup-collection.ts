import {
  ENCRYPTION_INFO,
  decodeEncryptionInfo,
  encodeEncryptionInfo,
  makeEncryptionInfo,
  unlockEncryptionInfo,
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  INCREMENTALS_DIRECTORY,
  LATEST_DIRECTORY,
  LEGACY_LATEST_FILE,
  decodeManifest,
  encodeManifest,
  latestFileName,
  newestLatestFile,
  normalizeFullSubdir,
  resolveChain,
  verifyChecksummed,
  writeChecksummedFile,
} from '@cairn/backup-format';
import {
  appendUriPath,
  joinPath,
  openStorage,
  parseLocalityAwareUris,
  redactStorageUri,
  type ExternalStorage,
  type LocalityAwareUris,
  type StorageContext,
} from '@cairn/cloud';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { BackupManifest } from '@cairn/proto';

/** A full backup subdirectory as SHOW BACKUPS prints it: `/YYYY/MM/DD-HHMMSS.ss`. */
const FULL_SUBDIR = /^(\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2})\/BACKUP_MANIFEST$/;

/** One layer of a chain: where it is and what its manifest says. */
export interface Layer {
  /** Path inside the collection, without a leading slash. */
  path: string;
  manifest: BackupManifest;
}

/**
 * A backup collection: one URI, or a locality-aware list whose `default` URI holds the
 * manifests and LATEST. Knows CockroachDB's layout (full subdirs, incrementals/, LATEST files).
 */
export class BackupCollection {
  private constructor(
    readonly uris: LocalityAwareUris,
    readonly storage: ExternalStorage,
    readonly redacted: string,
  ) {}

  static async open(uris: readonly string[], ctx: StorageContext): Promise<BackupCollection> {
    const parsed = parseLocalityAwareUris(uris);
    const storage = await openStorage(parsed.defaultUri, ctx);
    return new BackupCollection(parsed, storage, redactStorageUri(parsed.defaultUri));
  }

  async close(): Promise<void> {
    await this.storage.close();
  }

  /** Each locality's URI for a layer directory (what nodes write data files to). */
  layerUris(layerPath: string): Record<string, string> {
    const out: Record<string, string> = { default: appendUriPath(this.uris.defaultUri, layerPath) };
    for (const [tier, uri] of this.uris.byLocality) out[tier] = appendUriPath(uri, layerPath);
    return out;
  }

  /** The newest full backup's subdir (LATEST), or undefined for an empty collection. */
  async latestFull(): Promise<string | undefined> {
    const names: string[] = [];
    for await (const p of this.storage.list(`${LATEST_DIRECTORY}/`)) names.push(p);
    const newest = newestLatestFile(names);
    if (newest) return new TextDecoder().decode(await this.storage.readAll(newest)).trim();
    if (await this.storage.exists(LEGACY_LATEST_FILE)) return new TextDecoder().decode(await this.storage.readAll(LEGACY_LATEST_FILE)).trim();
    return undefined;
  }

  async requireLatestFull(): Promise<string> {
    const latest = await this.latestFull();
    if (!latest) throw new CairnError(ErrorCode.NotFound, `no backups found in ${this.redacted}: the collection has no LATEST file`);
    return latest;
  }

  /** Records a completed full backup; LATEST files are write-once, the newest wins. */
  async writeLatest(fullSubdir: string, endTime: bigint): Promise<void> {
    await this.storage.writeFile(latestFileName(endTime), new TextEncoder().encode(fullSubdir));
  }

  /** Every full backup subdir, oldest first (SHOW BACKUPS). */
  async fullSubdirs(): Promise<string[]> {
    const out: string[] = [];
    for await (const p of this.storage.list('')) {
      const m = FULL_SUBDIR.exec(p);
      if (m) out.push(`/${m[1]}`);
    }
    return out.sort();
  }

  async hasBackups(): Promise<boolean> {
    return (await this.latestFull()) !== undefined || (await this.fullSubdirs()).length > 0;
  }

  /** The chain of a full backup: the full, then its incrementals in order, manifests verified. */
  async chain(fullSubdir: string, key?: Uint8Array): Promise<Layer[]> {
    const full = normalizeFullSubdir(fullSubdir);
    if (!(await this.storage.exists(joinPath(full, BACKUP_MANIFEST)))) {
      throw new CairnError(ErrorCode.NotFound, `backup ${fullSubdir} not found in ${this.redacted}`);
    }
    const listing: string[] = [];
    for await (const p of this.storage.list(`${INCREMENTALS_DIRECTORY}/${full}/`)) listing.push(p);
    const layers = [];
    for (const ref of resolveChain(listing, full)) {
      const path = ref.subdir.replace(/^\/+/, '');
      layers.push({ path, manifest: await this.readManifest(path, key) });
    }
    return layers;
  }

  async readManifest(layerPath: string, key?: Uint8Array): Promise<BackupManifest> {
    const name = joinPath(layerPath, BACKUP_MANIFEST);
    const [body, checksum] = await Promise.all([
      this.storage.readAll(name),
      this.storage.readAll(joinPath(layerPath, BACKUP_MANIFEST_CHECKSUM)),
    ]);
    verifyChecksummed(body, checksum, `${layerPath}/${BACKUP_MANIFEST}`);
    return decodeManifest(body, { name: `${layerPath}/${BACKUP_MANIFEST}`, ...(key ? { encryptionKey: key } : {}) });
  }

  /**
   * The data key of an encrypted chain: a new one for a new full backup (its salt and a
   * verification token go to ENCRYPTION-INFO in the full's directory), else the full's key
   * unlocked with the passphrase. Undefined when the chain is not encrypted.
   */
  async encryptionKey(fullSubdir: string, passphrase: string | undefined, create: boolean): Promise<Uint8Array | undefined> {
    const path = joinPath(normalizeFullSubdir(fullSubdir), ENCRYPTION_INFO);
    if (create) {
      if (passphrase === undefined) return undefined;
      const { info, key } = await makeEncryptionInfo(passphrase);
      await this.storage.writeFile(path, encodeEncryptionInfo(info));
      return key;
    }
    const encrypted = await this.storage.exists(path);
    if (!encrypted) {
      if (passphrase !== undefined) {
        throw new CairnError(ErrorCode.InvalidArgument, `backup ${fullSubdir} in ${this.redacted} is not encrypted: remove encryption_passphrase`);
      }
      return undefined;
    }
    if (passphrase === undefined) {
      throw new CairnError(ErrorCode.InvalidArgument, `backup ${fullSubdir} in ${this.redacted} is encrypted: an encryption_passphrase is required`);
    }
    return unlockEncryptionInfo(decodeEncryptionInfo(await this.storage.readAll(path)), passphrase);
  }

  /** Writes the manifest and its checksum: the layer exists once both are there. */
  async writeManifest(layerPath: string, manifest: BackupManifest, key?: Uint8Array): Promise<void> {
    const { body, checksumBody } = writeChecksummedFile(encodeManifest(manifest, key ? { encryptionKey: key } : {}));
    await this.storage.writeFile(joinPath(layerPath, BACKUP_MANIFEST_CHECKSUM), checksumBody);
    await this.storage.writeFile(joinPath(layerPath, BACKUP_MANIFEST), body);
  }
}
