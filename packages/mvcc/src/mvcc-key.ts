import { CairnError, ErrorCode } from '@cairn/errors';
import type { Timestamp } from '@cairn/keys';

/*
 * MVCC data key = escaped(userKey) 0x00 0x01 ~ts(8 bytes, big-endian).
 *
 * The escaping (0x00 -> 0x00 0xFF, then the 0x00 0x01 terminator) keeps user-key order even
 * when one key is a prefix of another, and inverting the timestamp puts one key's revisions
 * newest first. Everything up to the inverted timestamp is the key's "revision prefix".
 */

const UINT64_MAX = (1n << 64n) - 1n;
/** Length of the inverted timestamp at the end of every MVCC key. */
export const MVCC_TS_LEN = 8;
/** Largest MVCC key LMDB (as built by lmdb-js) accepts. */
export const MAX_MVCC_KEY_LEN = 1978;

/** MVCC value flag bytes. */
export const VALUE_FLAG = 0;
export const TOMBSTONE_FLAG = 1;

function checkTs(ts: Timestamp): void {
  if (typeof ts !== 'bigint' || ts <= 0n || ts > UINT64_MAX) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid MVCC timestamp ${String(ts)}: must be a bigint in (0, 2^64)`);
  }
}

function escapedLength(userKey: Uint8Array): number {
  let n = userKey.length + 2;
  for (let i = 0; i < userKey.length; i++) if (userKey[i] === 0) n++;
  return n;
}

function writeEscaped(out: Buffer, userKey: Uint8Array, escapedLen: number): void {
  let p = 0;
  if (escapedLen === userKey.length + 2) {
    // No 0x00 in the key: one copy.
    out.set(userKey, 0);
    p = userKey.length;
  } else {
    for (let i = 0; i < userKey.length; i++) {
      const c = userKey[i] as number;
      out[p++] = c;
      if (c === 0) out[p++] = 0xff;
    }
  }
  out[p++] = 0;
  out[p] = 1;
}

/** Throws InvalidArgument when a key's revisions would exceed LMDB's key size limit. */
export function checkPrefixLength(prefixLen: number, userKey: Uint8Array): void {
  if (prefixLen + MVCC_TS_LEN > MAX_MVCC_KEY_LEN) {
    throw new CairnError(ErrorCode.InvalidArgument, `key too long: ${userKey.length} bytes (limit about ${MAX_MVCC_KEY_LEN - 10})`);
  }
}

/**
 * The bytes every revision of `userKey` starts with; `[prefix, prefixEnd(prefix))` holds
 * exactly that key's revisions, and prefixes of distinct keys order like the keys.
 */
export function encodeRevisionPrefix(userKey: Uint8Array): Buffer {
  const n = escapedLength(userKey);
  const out = Buffer.allocUnsafe(n);
  writeEscaped(out, userKey, n);
  return out;
}

/** The MVCC data key of one revision. */
export function encodeMvccKey(userKey: Uint8Array, ts: Timestamp): Buffer {
  checkTs(ts);
  const n = escapedLength(userKey);
  checkPrefixLength(n, userKey);
  const out = Buffer.allocUnsafe(n + MVCC_TS_LEN);
  writeEscaped(out, userKey, n);
  out.writeBigUInt64BE(UINT64_MAX - ts, n);
  return out;
}

/** The MVCC data key of one revision, from the key's revision prefix (`encodeRevisionPrefix`). */
export function revisionKey(prefix: Uint8Array, ts: Timestamp): Buffer {
  checkTs(ts);
  const out = Buffer.allocUnsafe(prefix.length + MVCC_TS_LEN);
  out.set(prefix, 0);
  out.writeBigUInt64BE(UINT64_MAX - ts, prefix.length);
  return out;
}

/** The timestamp of an encoded MVCC key, read without decoding the user key. */
export function mvccKeyTs(buf: Uint8Array): Timestamp {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return UINT64_MAX - b.readBigUInt64BE(b.length - MVCC_TS_LEN);
}

/** The error for an MVCC key that does not decode (a corrupt store). */
export function malformedKeyError(buf: Uint8Array): CairnError {
  return new CairnError(ErrorCode.Corruption, `malformed MVCC key ${Buffer.from(buf).toString('hex')}`);
}

/** Decodes the user key from the revision prefix (escaped key + terminator) of `buf`. */
export function decodeUserKey(buf: Uint8Array, prefixLen: number): Uint8Array {
  const termAt = prefixLen - 2;
  if (termAt < 0 || buf[termAt] !== 0 || buf[termAt + 1] !== 1) throw malformedKeyError(buf);
  const firstZero = buf.indexOf(0);
  // Copied into a plain Uint8Array (not a Buffer) so callers get one type everywhere.
  if (firstZero === termAt) return new Uint8Array(buf.subarray(0, termAt));
  const out = new Uint8Array(termAt);
  let n = 0;
  for (let i = 0; i < termAt; i++) {
    const c = buf[i] as number;
    out[n++] = c;
    if (c === 0) {
      if (buf[i + 1] !== 0xff) throw malformedKeyError(buf);
      i++;
    }
  }
  return out.slice(0, n);
}

/** Splits an MVCC data key into its user key and timestamp. */
export function decodeMvccKey(buf: Uint8Array): { key: Uint8Array; ts: Timestamp } {
  if (buf.length < MVCC_TS_LEN + 2) throw malformedKeyError(buf);
  return { key: decodeUserKey(buf, buf.length - MVCC_TS_LEN), ts: mvccKeyTs(buf) };
}

/** An MVCC value: one flag byte then the value bytes (none for a tombstone). */
export function encodeMvccValue(value: Uint8Array | null): Buffer {
  if (value === null) return Buffer.of(TOMBSTONE_FLAG);
  const out = Buffer.allocUnsafe(value.length + 1);
  out[0] = VALUE_FLAG;
  out.set(value, 1);
  return out;
}
