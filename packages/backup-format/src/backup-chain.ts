import { CairnError, ErrorCode } from '@cairn/errors';
import type { Timestamp } from '@cairn/keys';
import {
  BACKUP_MANIFEST,
  INCREMENTALS_DIRECTORY,
  normalizeFullSubdir,
  parseFullBackupSubdir,
  parseIncrementalLayerName,
} from './collection-layout.js';

/** One layer of a backup chain. A full backup starts at time zero. */
export interface BackupLayerRef {
  /** Collection-relative: `/2024/03/01-100000.00` or `incrementals/2024/03/01-100000.00/...`. */
  subdir: string;
  startTime: Timestamp;
  endTime: Timestamp;
}

/**
 * The chain of a full backup: the full, then its incrementals in order, found from a listing
 * of `incrementals/<full subdir>/` (paths relative to that folder or to the collection). Only
 * layers with a BACKUP_MANIFEST count (a layer without one never finished). Times come from
 * the directory names, so they are exact to the hundredth of a second; check the manifests'
 * exact times with `orderChain` once they are read.
 */
export function resolveChain(listing: readonly string[], fullSubdir: string, incrementalsAt: 'collection' | 'explicit' = 'collection'): BackupLayerRef[] {
  const full = normalizeFullSubdir(fullSubdir);
  const prefix = incrementalsPrefix(full, incrementalsAt);
  const suffix = `/${BACKUP_MANIFEST}`;
  const found = new Map<string, BackupLayerRef>();
  for (const entry of listing) {
    let path = entry.replace(/^\/+/, '');
    if (path.startsWith(prefix)) path = path.slice(prefix.length);
    if (!path.endsWith(suffix)) continue;
    const layer = path.slice(0, -suffix.length);
    const times = parseIncrementalLayerName(layer);
    if (times === undefined) continue;
    found.set(layer, { subdir: `${prefix}${layer}`, ...times });
  }
  return orderChain([{ subdir: `/${full}`, startTime: 0n, endTime: parseFullBackupSubdir(full) }, ...found.values()]);
}

/**
 * Orders layers (in any order) into a chain: the full (start time zero) first, each next
 * layer starting exactly where the previous one ends. Gaps, forks and layers that fit
 * nowhere are errors that name the layers involved.
 */
export function orderChain(layers: readonly BackupLayerRef[]): BackupLayerRef[] {
  const fulls = layers.filter((l) => l.startTime === 0n);
  if (fulls.length !== 1) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      fulls.length === 0
        ? 'backup chain has no full backup'
        : `backup chain has ${fulls.length} full backups: ${fulls.map((l) => l.subdir).join(', ')}`,
    );
  }
  const rest = layers
    .filter((l) => l.startTime !== 0n)
    .sort((a, b) => (a.endTime === b.endTime ? cmp(a.startTime, b.startTime) : cmp(a.endTime, b.endTime)));
  for (const l of rest) {
    if (l.endTime <= l.startTime) {
      throw new CairnError(ErrorCode.Corruption, `backup layer ${l.subdir} ends (${iso(l.endTime)}) before it starts (${iso(l.startTime)})`);
    }
  }
  const chain = [fulls[0] as BackupLayerRef];
  const used = new Set<BackupLayerRef>();
  for (;;) {
    const prev = chain[chain.length - 1] as BackupLayerRef;
    const next = rest.filter((l) => !used.has(l) && l.startTime === prev.endTime);
    if (next.length > 1) {
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `ambiguous backup chain: ${next.map((l) => l.subdir).join(' and ')} both start where ${prev.subdir} ends (${iso(prev.endTime)})`,
      );
    }
    const layer = next[0];
    if (layer === undefined) break;
    chain.push(layer);
    used.add(layer);
  }
  const left = rest.filter((l) => !used.has(l));
  const first = left[0];
  if (first !== undefined) {
    const last = chain[chain.length - 1] as BackupLayerRef;
    if (first.startTime > last.endTime) {
      throw new CairnError(
        ErrorCode.Corruption,
        `backup chain has a gap: ${last.subdir} ends at ${iso(last.endTime)} but the next layer, ${first.subdir}, starts at ${iso(first.startTime)}; a layer is missing`,
      );
    }
    throw new CairnError(
      ErrorCode.Corruption,
      `backup layer ${first.subdir} (${iso(first.startTime)} to ${iso(first.endTime)}) does not continue the chain: it overlaps layers already in it`,
    );
  }
  return chain;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function iso(t: Timestamp): string {
  return new Date(Number(t / 1_000_000n)).toISOString();
}

/**
 * Where a full backup's incrementals live: `incrementals/<full>/` in the collection, or
 * `<full>/` at a location given with `incremental_location` (CockroachDB appends the full's
 * subdir to the explicit location, without `incrementals/`).
 */
export function incrementalsPrefix(fullSubdir: string, at: 'collection' | 'explicit'): string {
  const full = normalizeFullSubdir(fullSubdir);
  return at === 'collection' ? `${INCREMENTALS_DIRECTORY}/${full}/` : `${full}/`;
}
