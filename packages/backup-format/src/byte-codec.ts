import { CairnError, ErrorCode } from '@cairn/errors';

const TWO_POW_32 = 2 ** 32;

/** A growable byte buffer with the few encodings the data-file format needs. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialCapacity = 4096) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }

  /** An unsigned integer up to 2^53, as 8 big-endian bytes. */
  u64(v: number): void {
    this.ensure(8);
    this.view.setUint32(this.length, Math.floor(v / TWO_POW_32));
    this.view.setUint32(this.length + 4, v >>> 0);
    this.length += 8;
  }

  i64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.length, v);
    this.length += 8;
  }

  /** LEB128 varint of a non-negative integer up to 2^53. */
  varint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  bytes(b: Uint8Array): void {
    this.bytesFrom(b, 0);
  }

  /** Appends `b` from index `from` on. */
  bytesFrom(b: Uint8Array, from: number): void {
    this.bytesRange(b, from, b.length);
  }

  /**
   * Appends `b[from, to)`. Short runs are copied by hand: cheaper than a subarray and set().
   * A long run's view is a plain Uint8Array: `subarray` of a Buffer (LMDB's read buffer is
   * one) goes through Buffer's species constructor, slower and twice the garbage.
   */
  bytesRange(b: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const buf = this.buf;
    if (n < 64) {
      let at = this.length;
      for (let i = from; i < to; i++) buf[at++] = b[i] as number;
    } else {
      buf.set(from === 0 && to === b.length ? b : new Uint8Array(b.buffer, b.byteOffset + from, n), this.length);
    }
    this.length += n;
  }

  /** A view of what was written; valid until the next write or reset. */
  written(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/** Reads what ByteWriter wrote; running off the end is corruption of the named thing. */
export class ByteReader {
  pos = 0;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new CairnError(ErrorCode.Corruption, `malformed ${this.what}: unexpected end of data`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.view.getUint32(this.pos) * TWO_POW_32 + this.view.getUint32(this.pos + 4);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw new CairnError(ErrorCode.Corruption, `malformed ${this.what}: varint too long`);
  }

  /** Copies the next n bytes into `dst` at `at`. */
  copyTo(dst: Uint8Array, at: number, n: number): void {
    this.need(n);
    const buf = this.buf;
    if (n < 64) {
      for (let i = 0; i < n; i++) dst[at + i] = buf[this.pos + i] as number;
    } else {
      dst.set(buf.subarray(this.pos, this.pos + n), at);
    }
    this.pos += n;
  }

  /** A view into the buffer (no copy). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
