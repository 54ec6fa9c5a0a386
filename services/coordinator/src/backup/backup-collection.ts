import {
  ENCRYPTION_INFO,
  addBackupKms,
  createBackupEncryption,
  openBackupEncryption,
  wantsEncryption,
  type EncryptionOptions,
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  CHECKSUM_SUFFIX,
  INCREMENTALS_DIRECTORY,
  LATEST_DIRECTORY,
  LEGACY_LATEST_FILE,
  decodeManifest,
  encodeManifest,
  latestFileName,
  newestLatestFile,
  fullBackupSubdir,
  incrementalSubdir,
  incrementalsPrefix,
  normalizeFullSubdir,
  parseFullBackupSubdir,
  parseLatestFileName,
  parseIncrementalLayerName,
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
import { CairnError, ErrorCode, sideBySide } from '@cairn/errors';
import { formatTimestamp } from '@cairn/keys';
import type { BackupManifest } from '@cairn/proto';

/** A full backup's manifest (or its checksum) in a listing; group 1 is the subdir. */
const FULL_SUBDIR = /^(\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2})\/BACKUP_MANIFEST(-CHECKSUM)?$/;
/** An incremental's manifest in a listing: group 1 is its full's subdir, group 2 the layer name. */
const INCREMENTAL_MANIFEST = /^incrementals\/(\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2})\/(\d{8}\/\d{6}\.\d{2}-\d{8}-\d{6}\.\d{2})\/BACKUP_MANIFEST$/;

/**
 * A chain as its directory names describe it: no manifest is read, so an encrypted chain
 * needs no passphrase and a large one costs nothing but the listing.
 */
export interface ChainSummary {
  /** `/2024/03/01-100000.00`, as SHOW BACKUPS prints it. */
  fullSubdir: string;
  /** The full's end time (ns, to the hundredth of a second, as its name has it). */
  fullEndTime: bigint;
  /** The end time of the chain's newest layer with a manifest: the full's, or an incremental's. */
  newestEndTime: bigint;
  /** Incremental layers with a manifest. */
  incrementals: number;
}

/** What deleting a chain removed. */
export interface DeletedChain {
  /** Manifests (full and incrementals) that were still there. */
  layers: number;
  /** Every other file, over all localities, plus the LATEST files naming the full. */
  files: number;
}

/** One layer of a chain: where it is and what its manifest says. */
export interface Layer {
  /** Path inside the collection, without a leading slash. */
  path: string;
  manifest: BackupManifest;
}

/** A layer with the collection it was read from (an `incremental_location`'s, for incrementals there). */
export interface HomedLayer extends Layer {
  home: BackupCollection;
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

  /**
   * Every full backup subdir, oldest first (SHOW BACKUPS): those with both a manifest and its
   * checksum, the two files a restore reads first. A full being expired loses its manifest
   * before anything else, so it leaves this list before it stops being restorable.
   */
  async fullSubdirs(): Promise<string[]> {
    const manifests = new Set<string>();
    const checksums = new Set<string>();
    for await (const p of this.storage.list('')) {
      const m = FULL_SUBDIR.exec(p);
      if (m?.[1] === undefined) continue;
      (m[2] === undefined ? manifests : checksums).add(m[1]);
    }
    return [...manifests].filter((f) => checksums.has(f)).map((f) => `/${f}`).sort();
  }

  async hasBackups(): Promise<boolean> {
    return (await this.latestFull()) !== undefined || (await this.fullSubdirs()).length > 0;
  }

  /**
   * The chain of a full backup: the full, then its incrementals in order, manifests verified.
   * The incrementals are those in this collection's `incrementals/<full>/`, or with
   * `incremental_location` only those in `<full>/` of that location (`incrementals`).
   */
  async chain(fullSubdir: string, key?: Uint8Array | Promise<Uint8Array | undefined>, incrementals?: BackupCollection): Promise<HomedLayer[]> {
    const full = normalizeFullSubdir(fullSubdir);
    const at = incrementals === undefined ? 'collection' : 'explicit';
    const incHome = incrementals ?? this;
    // The key (a `key` still being read), the full's manifest check and the listing side by
    // side: each is a round trip (through node n for nodelocal://n) on an incremental's
    // planning path. They fail as one after another would: the key, a missing full, then the
    // listing (held until the full is known to exist).
    const listed = listAll(incHome.storage, incrementalsPrefix(full, at)).then(
      (names) => () => names,
      (err: unknown) => () => {
        throw err;
      },
    );
    const [chainKey, fullExists, listing] = await sideBySide([Promise.resolve(key), this.storage.exists(joinPath(full, BACKUP_MANIFEST)), listed]);
    if (!fullExists) {
      throw new CairnError(ErrorCode.NotFound, `backup ${fullSubdir} not found in ${this.redacted}`);
    }
    // Read side by side: an incremental's planning reads the whole chain.
    return Promise.all(
      resolveChain(listing(), full, at).map(async (ref) => {
        const path = ref.subdir.replace(/^\/+/, '');
        const home = ref.startTime === 0n ? this : incHome;
        return { path, manifest: await home.readManifest(path, chainKey), home };
      }),
    );
  }

  /**
   * Where a new incremental on `fullSubdir` goes: `incrementals/<full>/<end>-<start>` here,
   * or `<full>/<end>-<start>` at an `incremental_location`.
   */
  static incrementalLayerPath(fullSubdir: string, startTime: bigint, endTime: bigint, at: 'collection' | 'explicit'): string {
    const name = incrementalSubdir(fullSubdir, startTime, endTime).replace(/^\/+/, '').slice(incrementalsPrefix(fullSubdir, 'collection').length);
    return `${incrementalsPrefix(fullSubdir, at)}${name}`;
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
   * The data key of an encrypted chain: a new one for a new full backup (its ENCRYPTION-INFO,
   * a passphrase's salt or the key wrapped by each KMS, goes to the full's directory), else the
   * full's key unlocked with the passphrase or one of the KMS keys. Undefined when the chain
   * is not encrypted.
   */
  async encryptionKey(fullSubdir: string, enc: EncryptionOptions, create: boolean): Promise<Uint8Array | undefined> {
    const path = joinPath(normalizeFullSubdir(fullSubdir), ENCRYPTION_INFO);
    if (create) {
      const made = await createBackupEncryption(enc);
      if (made === undefined) return undefined;
      await this.storage.writeFile(path, made.info);
      return made.key;
    }
    const encrypted = await this.storage.exists(path);
    if (!encrypted) {
      if (wantsEncryption(enc)) {
        throw new CairnError(ErrorCode.InvalidArgument, `backup ${fullSubdir} in ${this.redacted} is not encrypted: remove ${enc.kms ? 'kms' : 'encryption_passphrase'}`);
      }
      return undefined;
    }
    if (!wantsEncryption(enc)) {
      throw new CairnError(ErrorCode.InvalidArgument, `backup ${fullSubdir} in ${this.redacted} is encrypted: an encryption_passphrase or kms is required`);
    }
    return openBackupEncryption(enc, await this.storage.readAll(path));
  }

  /** ALTER BACKUP ... ADD NEW_KMS ... WITH OLD_KMS ...: rewrites the full's ENCRYPTION-INFO with the new keys added. */
  async addKms(fullSubdir: string, oldKms: readonly string[], newKms: readonly string[]): Promise<void> {
    const path = joinPath(normalizeFullSubdir(fullSubdir), ENCRYPTION_INFO);
    if (!(await this.storage.exists(path))) {
      throw new CairnError(ErrorCode.InvalidArgument, `backup ${fullSubdir} in ${this.redacted} is not encrypted: there is no KMS key to add to`);
    }
    await this.storage.writeFile(path, await addBackupKms(await this.storage.readAll(path), oldKms, newKms));
  }

  /** Writes another chain's ENCRYPTION-INFO into `subdir`: a layer continuing that chain here. */
  async writeEncryptionInfo(subdir: string, info: Uint8Array): Promise<void> {
    await this.storage.writeFile(joinPath(normalizeFullSubdir(subdir), ENCRYPTION_INFO), info);
  }

  /** Writes the manifest and its checksum: the layer exists once both are there. */
  async writeManifest(layerPath: string, manifest: BackupManifest, key?: Uint8Array): Promise<void> {
    const { body, checksumBody } = writeChecksummedFile(encodeManifest(manifest, key ? { encryptionKey: key } : {}));
    await this.storage.writeFile(joinPath(layerPath, BACKUP_MANIFEST_CHECKSUM), checksumBody);
    await this.storage.writeFile(joinPath(layerPath, BACKUP_MANIFEST), body);
  }

  /** Every chain whose full has a manifest, oldest full first, from one listing. */
  async chainSummaries(): Promise<ChainSummary[]> {
    const fulls = new Set<string>();
    const incrementalEnds = new Map<string, bigint[]>();
    for await (const p of this.storage.list('')) {
      const full = FULL_SUBDIR.exec(p);
      if (full?.[1] !== undefined && full[2] === undefined) fulls.add(full[1]);
      const inc = INCREMENTAL_MANIFEST.exec(p);
      const times = inc?.[2] === undefined ? undefined : parseIncrementalLayerName(inc[2]);
      if (inc?.[1] === undefined || times === undefined) continue;
      const ends = incrementalEnds.get(inc[1]) ?? [];
      ends.push(times.endTime);
      incrementalEnds.set(inc[1], ends);
    }
    return [...fulls].sort().map((full) => summarize(full, incrementalEnds.get(full) ?? []));
  }

  /** One chain's summary, from a listing of its incrementals only; its full's manifest is not checked. */
  async chainSummary(fullSubdir: string): Promise<ChainSummary> {
    const full = normalizeFullSubdir(fullSubdir);
    const ends: bigint[] = [];
    for await (const p of this.storage.list(`${INCREMENTALS_DIRECTORY}/${full}/`)) {
      const inc = INCREMENTAL_MANIFEST.exec(p);
      const times = inc?.[2] === undefined ? undefined : parseIncrementalLayerName(inc[2]);
      if (times !== undefined) ends.push(times.endTime);
    }
    return summarize(full, ends);
  }

  /**
   * Deletes a full backup and every incremental on it so that the chain is never half
   * visible: first the full's manifest (SHOW BACKUPS stops listing it; RESTORE and BACKUP
   * INTO refuse it as not found), then the incrementals' manifests, then every other file of
   * the chain (data, progress, ENCRYPTION-INFO, BACKUP_PART) in the storage of every
   * locality, and the LATEST files naming the full. Idempotent: a repeat after an interrupted
   * call finishes the job. Never call it on LATEST's chain.
   */
  async deleteChain(fullSubdir: string, ctx: StorageContext): Promise<DeletedChain> {
    const full = normalizeFullSubdir(fullSubdir);
    const incrementalsDir = `${INCREMENTALS_DIRECTORY}/${full}/`;
    let layers = 0;
    if (await this.storage.exists(joinPath(full, BACKUP_MANIFEST))) layers++;
    await this.storage.delete(joinPath(full, BACKUP_MANIFEST));
    await this.storage.delete(joinPath(full, BACKUP_MANIFEST_CHECKSUM));
    const incrementalManifests: string[] = [];
    for await (const p of this.storage.list(incrementalsDir)) if (p.endsWith(`/${BACKUP_MANIFEST}`)) incrementalManifests.push(p);
    for (const manifest of incrementalManifests) {
      await this.storage.delete(manifest);
      await this.storage.delete(`${manifest}${CHECKSUM_SUFFIX}`);
      layers++;
    }
    let files = 0;
    for (const latest of await this.latestFilesNaming(full)) {
      await this.storage.delete(latest);
      files++;
    }
    files += await this.storage.deletePrefix(`${full}/`);
    files += await this.storage.deletePrefix(incrementalsDir);
    for (const uri of this.uris.byLocality.values()) {
      const storage = await openStorage(uri, ctx);
      try {
        files += await storage.deletePrefix(`${full}/`);
        files += await storage.deletePrefix(incrementalsDir);
      } finally {
        await storage.close();
      }
    }
    return { layers, files };
  }

  /**
   * The LATEST files (and the legacy root LATEST) whose content is this full's subdir. A
   * LATEST file is named after its full's end time, so only those files are read, not one per
   * full in the collection.
   */
  private async latestFilesNaming(full: string): Promise<string[]> {
    const names: string[] = [];
    for await (const p of this.storage.list(`${LATEST_DIRECTORY}/`)) {
      const time = parseLatestFileName(p);
      if (time !== undefined && normalizeFullSubdir(fullBackupSubdir(time)) === full) names.push(p);
    }
    if (await this.storage.exists(LEGACY_LATEST_FILE)) names.push(LEGACY_LATEST_FILE);
    const naming: string[] = [];
    for (const name of names) {
      const content = new TextDecoder().decode(await this.storage.readAll(name)).trim();
      if (content.replace(/^\/+/, '').replace(/\/+$/, '') === full) naming.push(name);
    }
    return naming;
  }
}

function summarize(full: string, incrementalEnds: readonly bigint[]): ChainSummary {
  const fullEndTime = parseFullBackupSubdir(full);
  const newestEndTime = incrementalEnds.reduce((a, b) => (b > a ? b : a), fullEndTime);
  return { fullSubdir: `/${full}`, fullEndTime, newestEndTime, incrementals: incrementalEnds.length };
}

/** A layer of a chain that may span several locations: where its files are, per locality. */
export interface LocatedLayer extends Layer {
  /** The layer directory's URI per locality ("default", "k=v"), credentials included. */
  uris: Record<string, string>;
  /** The layer as users see it: the redacted location and the path inside it. */
  shownAs: string;
}

/** A chain of layers read from one or more locations. */
export interface LocatedChain {
  layers: LocatedLayer[];
  /** The chain's data key when it is encrypted. */
  key?: Uint8Array;
  /** The full's ENCRYPTION-INFO, for a new layer written at another location. */
  encryptionInfo?: Uint8Array;
}

/**
 * The chain the pre-collection form names with one location per layer (`RESTORE FROM 'full',
 * 'inc1', ...`, `BACKUP ... INCREMENTAL FROM 'full', 'inc1'`): each location's newest chain —
 * what `BACKUP TO` wrote there, then the incrementals appended to it — concatenated oldest first.
 * Refuses a list that does not start with a full backup or whose layers do not follow on
 * from each other, naming the locations.
 */
export async function chainAcrossLocations(locations: ReadonlyArray<readonly string[]>, ctx: StorageContext, enc: EncryptionOptions): Promise<LocatedChain> {
  const out: LocatedChain = { layers: [] };
  for (const [i, uris] of locations.entries()) {
    const c = await BackupCollection.open(uris, ctx);
    try {
      const sub = await c.requireLatestFull();
      const key = await c.encryptionKey(sub, enc, false);
      if (i === 0) {
        if (key) {
          out.key = key;
          out.encryptionInfo = await c.storage.readAll(joinPath(normalizeFullSubdir(sub), ENCRYPTION_INFO));
        }
      } else if (key && out.key && Buffer.compare(key, out.key) !== 0) {
        throw new CairnError(ErrorCode.InvalidArgument, `backup in ${c.redacted} was encrypted with another key than the full backup it follows`);
      }
      for (const l of await c.chain(sub, key)) {
        const prev = out.layers[out.layers.length - 1];
        const shownAs = `${c.redacted}/${l.path}`;
        if (!prev && l.manifest.startTime !== 0n) {
          throw new CairnError(
            ErrorCode.InvalidArgument,
            `backup in ${c.redacted} is an incremental backup: list the location of its full backup and of each incremental before it first`,
          );
        }
        if (prev && l.manifest.startTime === 0n) {
          throw new CairnError(ErrorCode.InvalidArgument, `backup in ${c.redacted} is a full backup: only the first location may hold one`);
        }
        if (prev && l.manifest.startTime !== prev.manifest.endTime) {
          throw new CairnError(
            ErrorCode.InvalidArgument,
            `backups do not form a chain: ${shownAs} starts at ${formatTimestamp(l.manifest.startTime)} but ${prev.shownAs} before it ends at ${formatTimestamp(prev.manifest.endTime)}`,
          );
        }
        out.layers.push({ ...l, uris: c.layerUris(l.path), shownAs });
      }
    } finally {
      await c.close();
    }
  }
  return out;
}

/** Every path under `prefix`. */
async function listAll(storage: ExternalStorage, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of storage.list(prefix)) out.push(p);
  return out;
}
