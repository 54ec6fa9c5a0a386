/**
 * Names of things in a backup collection, as CockroachDB names them:
 *
 * ```
 * <collection>/
 *   metadata/latest/LATEST-<desc time>       content: the newest full's subdir
 *   2024/03/01-100000.00/                    a full backup (its end time, UTC)
 *     BACKUP_MANIFEST, BACKUP_MANIFEST-CHECKSUM, ENCRYPTION-INFO
 *     progress/BACKUP-CHECKPOINT-<desc time>[-CHECKSUM]
 *     BACKUP_PART_<n>_<locality>             one per non-default locality
 *     data/<unique>.sst
 *   incrementals/2024/03/01-100000.00/       incrementals on top of that full
 *     20240301/110000.00-20240301-100000.00/ end time, then start time
 * ```
 */
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Timestamp } from '@cairn/keys';

export const BACKUP_MANIFEST = 'BACKUP_MANIFEST';
export const CHECKSUM_SUFFIX = '-CHECKSUM';
export const BACKUP_MANIFEST_CHECKSUM = 'BACKUP_MANIFEST-CHECKSUM';
export const ENCRYPTION_INFO = 'ENCRYPTION-INFO';
export const INCREMENTALS_DIRECTORY = 'incrementals';
export const LATEST_DIRECTORY = 'metadata/latest';
/** The LATEST pointer older CockroachDB versions overwrote at the collection root. */
export const LEGACY_LATEST_FILE = 'LATEST';
export const PROGRESS_DIRECTORY = 'progress';
export const BACKUP_CHECKPOINT_PREFIX = 'BACKUP-CHECKPOINT';
export const BACKUP_PART_PREFIX = 'BACKUP_PART';
export const DATA_DIRECTORY = 'data';

/** A point in time: a Date, or an MVCC timestamp (nanoseconds since the epoch). */
export type TimeInput = Date | Timestamp;

const NANOS_PER_SECOND = 1_000_000_000n;
const NANOS_PER_MILLI = 1_000_000n;

function toNanos(t: TimeInput): Timestamp {
  if (typeof t === 'bigint') return t;
  const ms = t.getTime();
  if (Number.isNaN(ms)) throw new CairnError(ErrorCode.InvalidArgument, 'invalid date');
  return BigInt(ms) * NANOS_PER_MILLI;
}

interface UtcParts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
  /** Nanoseconds within the second. */
  nanos: bigint;
}

function utcParts(t: TimeInput): UtcParts {
  const nanos = toNanos(t);
  if (nanos < 0n) throw new CairnError(ErrorCode.InvalidArgument, `time ${nanos} is before the epoch`);
  const seconds = nanos / NANOS_PER_SECOND;
  const d = new Date(Number(seconds) * 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return {
    year: String(d.getUTCFullYear()).padStart(4, '0'),
    month: p2(d.getUTCMonth() + 1),
    day: p2(d.getUTCDate()),
    hour: p2(d.getUTCHours()),
    minute: p2(d.getUTCMinutes()),
    second: p2(d.getUTCSeconds()),
    nanos: nanos % NANOS_PER_SECOND,
  };
}

/** Hundredths of a second, truncated as Go's `.00` layout does. */
function hundredths(p: UtcParts): string {
  return String(p.nanos / 10_000_000n).padStart(2, '0');
}

function fromParts(year: string, month: string, day: string, hms: string, frac: string): Timestamp {
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hms.slice(0, 2)), Number(hms.slice(2, 4)), Number(hms.slice(4, 6)));
  return BigInt(ms) * NANOS_PER_MILLI + BigInt(frac.padEnd(9, '0'));
}

/** A full backup's subdirectory: `/YYYY/MM/DD-HHMMSS.ss` of its end time in UTC (Go layout `/2006/01/02-150405.00`). */
export function fullBackupSubdir(endTime: TimeInput): string {
  const p = utcParts(endTime);
  return `/${p.year}/${p.month}/${p.day}-${p.hour}${p.minute}${p.second}.${hundredths(p)}`;
}

const FULL_SUBDIR = /^\/?(\d{4})\/(\d{2})\/(\d{2})-(\d{6})\.(\d{2})\/?$/;

/** The end time a full backup's subdir encodes (to the hundredth of a second). */
export function parseFullBackupSubdir(subdir: string): Timestamp {
  const m = FULL_SUBDIR.exec(subdir);
  if (!m) throw new CairnError(ErrorCode.InvalidArgument, `${JSON.stringify(subdir)} is not a full backup subdirectory (/YYYY/MM/DD-HHMMSS.ss)`);
  const [, y, mo, d, hms, frac] = m as unknown as [string, string, string, string, string, string];
  return fromParts(y, mo, d, hms, frac);
}

/** `/2024/03/01-100000.00` → `2024/03/01-100000.00`, checking it is a full's subdir. */
export function normalizeFullSubdir(subdir: string): string {
  parseFullBackupSubdir(subdir);
  return subdir.replace(/^\/+/, '').replace(/\/+$/, '');
}

function incTime(p: UtcParts): { date: string; time: string } {
  return { date: `${p.year}${p.month}${p.day}`, time: `${p.hour}${p.minute}${p.second}.${hundredths(p)}` };
}

/**
 * An incremental's directory, relative to the collection:
 * `incrementals/<full subdir>/YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss` — its end time, then its
 * start time (CockroachDB's `/20060102/150405.00` + `-20060102-150405.00`), which keeps two
 * layers with the same end time apart.
 */
export function incrementalSubdir(fullSubdir: string, startTime: TimeInput, endTime: TimeInput): string {
  const end = incTime(utcParts(endTime));
  const start = incTime(utcParts(startTime));
  return `${INCREMENTALS_DIRECTORY}/${normalizeFullSubdir(fullSubdir)}/${end.date}/${end.time}-${start.date}-${start.time}`;
}

const INC_LAYER = /^(\d{4})(\d{2})(\d{2})\/(\d{6})\.(\d{2})-(\d{4})(\d{2})(\d{2})-(\d{6})\.(\d{2})$/;

/**
 * Parses the part of an incremental's directory below `incrementals/<full subdir>/`
 * (`YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss`); undefined when it is not one.
 */
export function parseIncrementalLayerName(name: string): { startTime: Timestamp; endTime: Timestamp } | undefined {
  const m = INC_LAYER.exec(name);
  if (!m) return undefined;
  const g = m.slice(1) as [string, string, string, string, string, string, string, string, string, string];
  return { endTime: fromParts(g[0], g[1], g[2], g[3], g[4]), startTime: fromParts(g[5], g[6], g[7], g[8], g[9]) };
}

// CockroachDB's EncodeStringDescending: marker 0x13, the bytes one's-complemented (0x00
// escaped, which Go's time strings never contain), then the complemented terminator 0x00 0x01.
const BYTES_DESC_MARKER = 0x13;
const DESC_TERMINATOR = [0xff, 0xfe] as const;

/** Go's `time.Time.String()` of a UTC time: `2024-03-01 10:00:00.5 +0000 UTC`. */
function goTimeString(t: TimeInput): string {
  const p = utcParts(t);
  const frac = p.nanos === 0n ? '' : `.${String(p.nanos).padStart(9, '0').replace(/0+$/, '')}`;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}${frac} +0000 UTC`;
}

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2})(\d{2}) \S+$/;

function parseGoTimeString(s: string): Timestamp | undefined {
  const m = GO_TIME.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac = '', sign, oh, om] = m as unknown as string[];
  const local = fromParts(y as string, mo as string, d as string, `${h}${mi}${sec}`, frac);
  const offset = (BigInt(Number(oh) * 60 + Number(om)) * 60n) * NANOS_PER_SECOND;
  return sign === '+' ? local - offset : local + offset;
}

/** Hex of the descending encoding of `t`: a later time gives a lexically smaller string. */
export function descendingTimeSuffix(t: TimeInput): string {
  const s = Buffer.from(goTimeString(t), 'latin1');
  const out = Buffer.alloc(s.length + 3);
  out[0] = BYTES_DESC_MARKER;
  for (let i = 0; i < s.length; i++) out[i + 1] = ~(s[i] as number) & 0xff;
  out[s.length + 1] = DESC_TERMINATOR[0];
  out[s.length + 2] = DESC_TERMINATOR[1];
  return out.toString('hex');
}

/** The time a `descendingTimeSuffix` encodes; undefined when it is not one. */
export function parseDescendingTimeSuffix(hex: string): Timestamp | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return undefined;
  const b = Buffer.from(hex, 'hex');
  const n = b.length;
  if (n < 3 || b[0] !== BYTES_DESC_MARKER || b[n - 2] !== DESC_TERMINATOR[0] || b[n - 1] !== DESC_TERMINATOR[1]) return undefined;
  const s = Buffer.alloc(n - 3);
  for (let i = 1; i < n - 2; i++) s[i - 1] = ~(b[i] as number) & 0xff;
  return parseGoTimeString(s.toString('latin1'));
}

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * `metadata/latest/LATEST-<desc time>`: the write-once LATEST pointer written after a full
 * backup succeeds. A plain (lexical) listing of the directory returns the newest first.
 */
export function latestFileName(time: TimeInput): string {
  return `${LATEST_DIRECTORY}/${LEGACY_LATEST_FILE}-${descendingTimeSuffix(time)}`;
}

/** The time in a LATEST file name (with or without its directory); undefined when it is not one. */
export function parseLatestFileName(name: string): Timestamp | undefined {
  const base = baseName(name);
  const prefix = `${LEGACY_LATEST_FILE}-`;
  return base.startsWith(prefix) ? parseDescendingTimeSuffix(base.slice(prefix.length)) : undefined;
}

/** The newest LATEST file in a listing of `metadata/latest/` (the lexically smallest name). */
export function newestLatestFile(listing: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const name of listing) {
    if (parseLatestFileName(name) === undefined) continue;
    if (best === undefined || baseName(name) < baseName(best)) best = name;
  }
  return best;
}

/** `progress/BACKUP-CHECKPOINT-<desc time>`: newest first in a listing, like LATEST. */
export function checkpointFileName(time: TimeInput): string {
  return `${PROGRESS_DIRECTORY}/${BACKUP_CHECKPOINT_PREFIX}-${descendingTimeSuffix(time)}`;
}

/** The time in a checkpoint file name; undefined for anything else (including its checksum file). */
export function parseCheckpointFileName(name: string): Timestamp | undefined {
  const base = baseName(name);
  const prefix = `${BACKUP_CHECKPOINT_PREFIX}-`;
  if (!base.startsWith(prefix) || base.endsWith(CHECKSUM_SUFFIX)) return undefined;
  return parseDescendingTimeSuffix(base.slice(prefix.length));
}

/** The checksum companion of a metadata file: `<name>-CHECKSUM`. */
export function checksumFileName(name: string): string {
  return `${name}${CHECKSUM_SUFFIX}`;
}

/** CockroachDB's sanitizeLocalityKV: every character but [A-Za-z0-9=-] becomes `_`. */
export function sanitizeLocality(kv: string): string {
  return kv.replace(/[^A-Za-z0-9=-]/g, '_');
}

/** `BACKUP_PART_<n>_<locality sanitized>`: the files one non-default locality holds. */
export function partFileName(n: number, locality: string): string {
  return `${BACKUP_PART_PREFIX}_${n}_${sanitizeLocality(locality)}`;
}

let lastUniqueUnits = 0n;

/**
 * `data/<unique>.sst`, where unique is CockroachDB's unique_rowid(): (wall time in 10 µs
 * units << 15) | (node id & 0x7fff). Like unique_rowid, the time part is bumped past the last
 * one this process issued, so every call in a process gives a new name, whichever job or
 * processor asks; other nodes differ in the low bits, and a restarted node resumes at a
 * later wall time. (A per-caller counter would not do: two processors of one node could
 * pair counter and clock the same way.)
 */
export function dataFileName(nodeId: number, now: TimeInput = new Date()): string {
  if (!Number.isInteger(nodeId) || nodeId < 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `bad node id ${nodeId} for a data file name`);
  }
  let units = toNanos(now) / 10_000n;
  if (units <= lastUniqueUnits) units = lastUniqueUnits + 1n;
  lastUniqueUnits = units;
  return `${DATA_DIRECTORY}/${(units << 15n) | BigInt(nodeId & 0x7fff)}.sst`;
}
