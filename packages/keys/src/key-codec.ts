import { CairnError, ErrorCode } from '@cairn/errors';

/*
 * Order-preserving key encodings: for every encoder, comparing the encoded bytes with
 * `compareKeys` gives the same order as comparing the values. Encodings carry no type tags;
 * the schema (table descriptor) says how to read a key back.
 */

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const SIGN_BIT = 1n << 63n;

/** Escape byte that follows 0x00 inside an escaped string/bytes value. */
const ESCAPED_00 = 0xff;
/** Byte that follows 0x00 to terminate an escaped string/bytes value. */
const ESCAPED_TERM = 0x01;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, message);
}

function corrupt(message: string): CairnError {
  return new CairnError(ErrorCode.Corruption, message);
}

function toUint64(n: number | bigint, what: string): bigint {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${what}: ${n} is not a non-negative safe integer`);
    return BigInt(n);
  }
  if (n < 0n || n > UINT64_MAX) throw invalid(`${what}: ${n} is out of the uint64 range`);
  return n;
}

function toInt64(n: number | bigint): bigint {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n)) throw invalid(`int key: ${n} is not a safe integer`);
    return BigInt(n);
  }
  if (n < INT64_MIN || n > INT64_MAX) throw invalid(`int key: ${n} is out of the int64 range`);
  return n;
}

/**
 * Appends order-preserving encodings to a growable buffer.
 *
 * ```ts
 * const key = new KeyBuilder().raw(tablePrefix(104)).uvarint(1).string('abc').finish();
 * ```
 */
export class KeyBuilder {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 32) {
    this.buf = new Uint8Array(Math.max(8, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /**
   * Unsigned varint, ascending: one length byte (0..8) then the big-endian value without
   * leading zero bytes, so smaller numbers (fewer bytes) sort first.
   */
  uvarint(n: number | bigint): this {
    let v = toUint64(n, 'uvarint key');
    let width = 0;
    for (let t = v; t > 0n; t >>= 8n) width++;
    this.reserve(1 + width);
    this.buf[this.len] = width;
    for (let i = width; i >= 1; i--) {
      this.buf[this.len + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.len += 1 + width;
    return this;
  }

  /** Signed 64-bit integer: big-endian two's complement with the sign bit flipped. */
  int(n: bigint | number): this {
    const v = BigInt.asUintN(64, toInt64(n)) ^ SIGN_BIT;
    this.reserve(8);
    this.view.setBigUint64(this.len, v, false);
    this.len += 8;
    return this;
  }

  /**
   * IEEE754 double: positives get the sign bit set, negatives have every bit inverted.
   * -0 is written as +0 so equal numbers encode equally; NaN is canonical and sorts after +Inf.
   */
  float(n: number): this {
    this.reserve(8);
    const at = this.len;
    this.view.setFloat64(at, n === 0 ? 0 : Number.isNaN(n) ? NaN : n, false);
    if ((this.buf[at] as number) & 0x80) {
      for (let i = at; i < at + 8; i++) this.buf[i] = ~(this.buf[i] as number) & 0xff;
    } else {
      this.buf[at] = (this.buf[at] as number) | 0x80;
    }
    this.len += 8;
    return this;
  }

  /** UTF-8 string; 0x00 is escaped as 0x00 0xFF and the value ends with 0x00 0x01. */
  string(s: string): this {
    return this.bytes(utf8Encoder.encode(s));
  }

  /** Byte string with the same escaping as `string`. */
  bytes(b: Uint8Array): this {
    let zeros = 0;
    for (let i = 0; i < b.length; i++) if (b[i] === 0) zeros++;
    this.reserve(b.length + zeros + 2);
    if (zeros === 0) {
      this.buf.set(b, this.len);
      this.len += b.length;
    } else {
      for (let i = 0; i < b.length; i++) {
        const c = b[i] as number;
        this.buf[this.len++] = c;
        if (c === 0) this.buf[this.len++] = ESCAPED_00;
      }
    }
    this.buf[this.len++] = 0;
    this.buf[this.len++] = ESCAPED_TERM;
    return this;
  }

  /** false = 0x00, true = 0x01. */
  bool(b: boolean): this {
    this.reserve(1);
    this.buf[this.len++] = b ? 1 : 0;
    return this;
  }

  /** Appends bytes unchanged (a prefix that is already encoded). */
  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A copy of the bytes written so far; the builder may keep being used. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reads back values written by `KeyBuilder`, in the same order. */
export class KeyReader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    offset = 0,
  ) {
    this.pos = offset;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Position of the next unread byte. */
  get offset(): number {
    return this.pos;
  }

  /** True when every byte has been read. */
  done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The unread bytes (a view, not a copy). */
  rest(): Uint8Array {
    return this.buf.subarray(this.pos);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw corrupt(`malformed key: ${what} needs ${n} bytes at offset ${this.pos}, key has ${this.buf.length}`);
    }
  }

  /** A uvarint as a bigint (any uint64). */
  uvarintBig(): bigint {
    this.need(1, 'uvarint');
    const width = this.buf[this.pos] as number;
    if (width > 8) throw corrupt(`malformed key: uvarint length byte ${width} at offset ${this.pos}`);
    this.need(1 + width, 'uvarint');
    let v = 0n;
    for (let i = 1; i <= width; i++) v = (v << 8n) | BigInt(this.buf[this.pos + i] as number);
    if (width > 0 && this.buf[this.pos + 1] === 0) {
      throw corrupt(`malformed key: uvarint with a leading zero byte at offset ${this.pos}`);
    }
    this.pos += 1 + width;
    return v;
  }

  /** A uvarint that must fit a safe integer. */
  uvarint(): number {
    const at = this.pos;
    const v = this.uvarintBig();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw corrupt(`malformed key: uvarint ${v} at offset ${at} exceeds the safe integer range`);
    }
    return Number(v);
  }

  int(): bigint {
    this.need(8, 'int');
    const v = BigInt.asIntN(64, this.view.getBigUint64(this.pos, false) ^ SIGN_BIT);
    this.pos += 8;
    return v;
  }

  float(): number {
    this.need(8, 'float');
    const tmp = new Uint8Array(8);
    tmp.set(this.buf.subarray(this.pos, this.pos + 8));
    if ((tmp[0] as number) & 0x80) {
      tmp[0] = (tmp[0] as number) & 0x7f;
    } else {
      for (let i = 0; i < 8; i++) tmp[i] = ~(tmp[i] as number) & 0xff;
    }
    this.pos += 8;
    return new DataView(tmp.buffer).getFloat64(0, false);
  }

  string(): string {
    const at = this.pos;
    const b = this.bytes();
    try {
      return utf8Decoder.decode(b);
    } catch (err) {
      throw new CairnError(ErrorCode.Corruption, `malformed key: invalid UTF-8 string at offset ${at}`, { cause: err });
    }
  }

  bytes(): Uint8Array {
    const start = this.pos;
    const out: number[] = [];
    let i = start;
    for (;;) {
      const z = this.buf.indexOf(0, i);
      if (z < 0 || z + 1 >= this.buf.length) throw corrupt(`malformed key: unterminated bytes at offset ${start}`);
      const next = this.buf[z + 1];
      if (next === ESCAPED_TERM) {
        // Fast path: nothing escaped, return one copy of the run.
        if (out.length === 0) {
          this.pos = z + 2;
          return this.buf.slice(start, z);
        }
        for (let k = i; k < z; k++) out.push(this.buf[k] as number);
        this.pos = z + 2;
        return Uint8Array.from(out);
      }
      if (next !== ESCAPED_00) throw corrupt(`malformed key: bad escape 0x00 0x${(next ?? 0).toString(16)} at offset ${z}`);
      for (let k = i; k <= z; k++) out.push(this.buf[k] as number);
      i = z + 2;
      // Keep `out` non-empty as the "something was escaped" marker even for a leading 0x00.
    }
  }

  bool(): boolean {
    this.need(1, 'bool');
    const b = this.buf[this.pos++] as number;
    if (b > 1) throw corrupt(`malformed key: bool byte ${b} at offset ${this.pos - 1}`);
    return b === 1;
  }
}
