import type { Timestamp } from '@cairn/keys';
import { MVCC_TS_LEN, TOMBSTONE_FLAG, VALUE_FLAG } from './mvcc-key.js';

const STORED_TOMBSTONE = Buffer.of(TOMBSTONE_FLAG);

/** A stored value's size (flag byte included), negative for a tombstone, as range stats count it. */
export function storedValueSize(value: Uint8Array | null): number {
  return value === null ? -STORED_TOMBSTONE.length : value.length + 1;
}

/**
 * Buffers a write transaction's puts are assembled in, reused from put to put. Inside a
 * write transaction's callback lmdb-js runs each put at once, copying the key into its
 * instruction buffer and the value into the map, so nothing needs to outlive the put: a
 * replica that restored 1 GiB allocated (and left to the garbage collector) 1 GiB of stored
 * values, one flag byte + row copy per row, held until their batch's transaction ran.
 * Only for puts made inside a transaction callback (`root.transaction(() => ...)`).
 */
export class PutScratch {
  private value = Buffer.allocUnsafeSlow(64 * 1024);
  private key = Buffer.allocUnsafeSlow(256);

  /** `value` as stored (flag byte, then the bytes; a tombstone's flag alone), valid until the next call. */
  storedValue(value: Uint8Array | null): Buffer {
    if (value === null) return STORED_TOMBSTONE;
    const n = value.length + 1;
    if (n > this.value.length) this.value = Buffer.allocUnsafeSlow(Math.max(n, 2 * this.value.length));
    this.value[0] = VALUE_FLAG;
    this.value.set(value, 1);
    return Buffer.from(this.value.buffer, this.value.byteOffset, n);
  }

  /**
   * The change index key of the revision `revisionKey` (an MVCC data key) written at `ts`:
   * the timestamp, big-endian, then the key's revision prefix. Valid until the next call.
   */
  changeKey(ts: Timestamp, revisionKey: Buffer): Buffer {
    const prefixLen = revisionKey.length - MVCC_TS_LEN;
    const n = MVCC_TS_LEN + prefixLen;
    if (n > this.key.length) this.key = Buffer.allocUnsafeSlow(Math.max(n, 2 * this.key.length));
    this.key.writeBigUInt64BE(ts, 0);
    revisionKey.copy(this.key, MVCC_TS_LEN, 0, prefixLen);
    return Buffer.from(this.key.buffer, this.key.byteOffset, n);
  }
}
