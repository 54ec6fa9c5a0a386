import type { Database, Transaction } from 'lmdb';
import type { Timestamp } from '@cairn/keys';
import { MVCC_TS_LEN, mvccKeyTs } from './mvcc-key.js';

/**
 * How many entries to step over before re-seeking. Stepping is cheapest when a key has few
 * revisions; seeking (a new LMDB cursor) wins when it has many. Pebble makes the same trade.
 */
export const STEPS_BEFORE_SEEK = 8;

const UINT64_MAX = (1n << 64n) - 1n;

type Entry = { key: Buffer; value: Buffer };

/**
 * The smallest key after every revision of the user key of the MVCC key `key[0, length)`:
 * its revision prefix ends with the 0x01 terminator byte, bumped to 0x02.
 */
export function keyAfterUserKey(key: Uint8Array, length = key.length): Buffer {
  const after = Buffer.from(key.subarray(0, length - MVCC_TS_LEN));
  after[after.length - 1] = 0x02;
  return after;
}

/** The MVCC key `key[0, length)` at timestamp `ts`: where that user key's newest revision at or below `ts` would be. */
export function keyAtTimestamp(key: Uint8Array, ts: Timestamp, length = key.length): Buffer {
  const target = Buffer.from(key.subarray(0, length));
  target.writeBigUInt64BE(UINT64_MAX - ts, length - MVCC_TS_LEN);
  return target;
}

/** Do two MVCC keys belong to the same user key? (Compared from the end: keys usually differ late.) */
export function sameUserKey(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - MVCC_TS_LEN - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A forward cursor over MVCC data entries inside one read transaction, with moves that skip
 * a key's remaining revisions or the revisions newer than a read timestamp.
 */
export class RevisionCursor {
  private iter: Iterator<Entry> | undefined;
  /** The current entry; meaningful only while `valid`. */
  key: Buffer = Buffer.alloc(0);
  value: Buffer = Buffer.alloc(0);
  valid = false;

  constructor(
    private readonly db: Database<Buffer, Buffer>,
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
        ? this.db.getRange({ start, transaction: this.txn })
        : this.db.getRange({ start, end: this.end, transaction: this.txn });
    this.iter = range[Symbol.iterator]() as Iterator<Entry>;
    this.next();
  }

  next(): void {
    const r = this.iter?.next();
    if (r === undefined || r.done === true) {
      this.valid = false;
      return;
    }
    this.key = r.value.key;
    this.value = r.value.value;
    this.valid = true;
  }

  /** Moves to the newest revision of the next user key. */
  nextKey(): void {
    const cur = this.key;
    for (let i = 0; i < STEPS_BEFORE_SEEK; i++) {
      this.next();
      if (!this.valid || !sameUserKey(cur, this.key)) return;
    }
    this.seek(keyAfterUserKey(cur));
  }

  /**
   * From a revision newer than `ts`, moves to the newest revision of the same key at or below
   * `ts`, or to the next key if there is none.
   */
  skipNewerThan(ts: Timestamp): void {
    const cur = this.key;
    for (let i = 0; i < STEPS_BEFORE_SEEK; i++) {
      this.next();
      if (!this.valid || !sameUserKey(cur, this.key) || mvccKeyTs(this.key) <= ts) return;
    }
    this.seek(keyAtTimestamp(cur, ts));
  }

  close(): void {
    this.iter?.return?.();
    this.iter = undefined;
    this.valid = false;
  }
}
