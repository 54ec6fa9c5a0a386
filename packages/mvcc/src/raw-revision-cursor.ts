import type { Database, DatabaseOptions, RootDatabase, Transaction } from 'lmdb';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Timestamp } from '@cairn/keys';
import { MVCC_TS_LEN } from './mvcc-key.js';
import { STEPS_BEFORE_SEEK, keyAfterUserKey, keyAtTimestamp } from './revision-cursor.js';

const UINT64_MAX = (1n << 64n) - 1n;

/**
 * Where the last entry read through a raw handle lies: lmdb-js's own read buffers, which the
 * next read on this thread overwrites. The key is `keyBytes[keyStart, keyStart + keyLength)`
 * (lmdb-js's key buffer), the stored value (flag byte first) `valueBytes[0, valueSize)`.
 */
interface RawEntryLocation {
  keyBytes: Uint8Array;
  keyStart: number;
  valueBytes: Uint8Array;
}

type RawHandle = Database<number, Buffer> & { readonly location: RawEntryLocation };

/**
 * Opens `data` read without one object per entry: lmdb-js hands each key to `readKey` and
 * each value to `decode` in its shared buffers, and the handle keeps only where they lie and
 * returns their lengths (numbers, no allocation). Read as binary, each entry cost a fresh key
 * array, a value view and their wrappers, ~1.2 KB of young garbage per 1 KB row that a full
 * export promoted in bulk. The lengths are all a reader gets: it must copy what it keeps
 * before the next read (RawRevisionCursor copies the key).
 *
 * A raw handle reads ranges only (keys and values by location); its key reader returns a
 * length, so lmdb-js must never need a key back, which holds for a range read with a
 * snapshot (the default): the cursor is positioned once, from `start`.
 */
export function openRawDataHandle(root: RootDatabase<Buffer, Buffer>, name: string): RawHandle {
  const location: RawEntryLocation = { keyBytes: new Uint8Array(0), keyStart: 0, valueBytes: new Uint8Array(0) };
  const keyEncoder = {
    writeKey(key: Uint8Array, target: Uint8Array, start: number): number {
      if (!(key instanceof Uint8Array)) {
        throw new CairnError(ErrorCode.Internal, 'a raw data handle positions by byte keys only');
      }
      target.set(key, start);
      return start + key.length;
    },
    readKey(target: Uint8Array, start: number, end: number): number {
      location.keyBytes = target;
      location.keyStart = start;
      return end - start;
    },
  };
  const encoder = {
    encode(): never {
      throw new CairnError(ErrorCode.Internal, 'the raw view of the data is read-only');
    },
    decode(bytes: Uint8Array, size: unknown): number {
      location.valueBytes = bytes;
      return typeof size === 'number' ? size : bytes.length;
    },
    needsStableBuffer: false,
  };
  // lmdb-js takes `keyEncoder` and `encoder` per database (its types list them on root options only).
  const db = root.openDB<number, Buffer>(name, { keyEncoder, encoder } as DatabaseOptions);
  return Object.assign(db, { location }) as RawHandle;
}

/**
 * RevisionCursor over a raw handle: the current MVCC key is copied into `key[0, keyLength)`,
 * a buffer the cursor reuses; the current stored value (flag byte first) is
 * `value[0, valueSize)` in lmdb-js's read buffer, valid until the cursor moves.
 */
export class RawRevisionCursor {
  private iter: Iterator<{ key: number; value: number }> | undefined;
  key = new Uint8Array(64);
  keyLength = 0;
  private keyView = new DataView(this.key.buffer);
  /** The key before the last `next`, to tell when the user key changed (the buffers swap). */
  private prev = new Uint8Array(64);
  private prevLength = 0;
  private prevView = new DataView(this.prev.buffer);
  value: Uint8Array = new Uint8Array(0);
  valueSize = 0;
  valid = false;

  constructor(
    private readonly db: RawHandle,
    private readonly txn: Transaction,
    start: Buffer,
    private readonly end: Buffer | undefined,
  ) {
    this.seek(start);
  }

  /** Positions at the first entry >= start. */
  seek(start: Buffer): void {
    this.iter?.return?.();
    const range =
      this.end === undefined
        ? this.db.getRange({ start: start as never, transaction: this.txn })
        : this.db.getRange({ start: start as never, end: this.end as never, transaction: this.txn });
    this.iter = range[Symbol.iterator]() as Iterator<{ key: number; value: number }>;
    this.prevLength = 0;
    this.next();
  }

  next(): void {
    const r = this.iter?.next();
    if (r === undefined || r.done === true) {
      this.valid = false;
      return;
    }
    // The current key becomes the previous one: swap the buffers, then copy the new key in.
    let key = this.prev;
    let view = this.prevView;
    this.prev = this.key;
    this.prevView = this.keyView;
    this.prevLength = this.keyLength;
    const length = r.value.key;
    if (length > key.length) {
      key = new Uint8Array(Math.max(length, key.length * 2));
      view = new DataView(key.buffer);
    }
    const loc = this.db.location;
    const from = loc.keyBytes;
    const at = loc.keyStart;
    for (let i = 0; i < length; i++) key[i] = from[at + i] as number;
    this.key = key;
    this.keyView = view;
    this.keyLength = length;
    this.value = loc.valueBytes;
    this.valueSize = r.value.value;
    this.valid = true;
  }

  /** The current revision's timestamp. */
  ts(): Timestamp {
    return UINT64_MAX - this.keyView.getBigUint64(this.keyLength - MVCC_TS_LEN);
  }

  /** Is the current entry a revision of the same user key as the entry before it? */
  sameUserKeyAsPrevious(): boolean {
    const n = this.keyLength;
    if (n !== this.prevLength) return false;
    const a = this.key;
    const b = this.prev;
    for (let i = n - MVCC_TS_LEN - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
    return true;
  }

  /** Moves to the newest revision of the next user key. */
  nextKey(): void {
    for (let i = 0; i < STEPS_BEFORE_SEEK; i++) {
      this.next();
      if (!this.valid || !this.sameUserKeyAsPrevious()) return;
    }
    this.seek(keyAfterUserKey(this.key, this.keyLength));
  }

  /**
   * From a revision newer than `ts`, moves to the newest revision of the same key at or below
   * `ts`, or to the next key if there is none.
   */
  skipNewerThan(ts: Timestamp): void {
    for (let i = 0; i < STEPS_BEFORE_SEEK; i++) {
      this.next();
      if (!this.valid || !this.sameUserKeyAsPrevious() || this.ts() <= ts) return;
    }
    this.seek(keyAtTimestamp(this.key, ts, this.keyLength));
  }

  close(): void {
    this.iter?.return?.();
    this.iter = undefined;
    this.valid = false;
  }
}
