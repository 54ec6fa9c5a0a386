/*
 * Little-endian base-128 varints for row values (not order-preserving; keys use @cairn/keys).
 * Numbers take a fast path up to 2^49; larger magnitudes fall back to bigint.
 */

import { CairnError, ErrorCode } from '@cairn/errors';

/** A cursor over an encoded value; `pos` advances as fields are read. */
export interface ByteCursor {
  buf: Uint8Array;
  pos: number;
}

export function corruptValue(message: string): CairnError {
  return new CairnError(ErrorCode.Corruption, `malformed row value: ${message}`);
}

/** Bytes needed by `writeUvarint(n)` for a non-negative safe integer `n`. */
export function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative safe integer; returns the new offset. */
export function writeUvarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

export function readUvarint(c: ByteCursor): number {
  const { buf } = c;
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    const b = buf[c.pos++];
    if (b === undefined) throw corruptValue('truncated varint');
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (result > Number.MAX_SAFE_INTEGER) throw corruptValue('varint exceeds the safe integer range');
      return result;
    }
    scale *= 128;
  }
  throw corruptValue('varint too long');
}

const SMALL_LIMIT = 1n << 48n;

/** Bytes needed by `writeZigzag(v)`. */
export function zigzagSize(v: bigint): number {
  if (v < SMALL_LIMIT && v > -SMALL_LIMIT) return uvarintSize(zigzagSmall(Number(v)));
  let z = zigzagBig(v);
  let size = 1;
  while (z >= 0x80n) {
    z >>= 7n;
    size++;
  }
  return size;
}

function zigzagSmall(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function zigzagBig(v: bigint): bigint {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

/** Writes a signed 64-bit integer as a zigzag varint; returns the new offset. */
export function writeZigzag(buf: Uint8Array, at: number, v: bigint): number {
  if (v < SMALL_LIMIT && v > -SMALL_LIMIT) return writeUvarint(buf, at, zigzagSmall(Number(v)));
  let z = zigzagBig(v);
  while (z >= 0x80n) {
    buf[at++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  buf[at++] = Number(z);
  return at;
}

export function readZigzag(c: ByteCursor): bigint {
  const { buf } = c;
  const start = c.pos;
  // Fast path: up to 7 bytes (49 bits) accumulate exactly in a double.
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const b = buf[c.pos++];
    if (b === undefined) throw corruptValue('truncated varint');
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      return BigInt(result % 2 === 0 ? result / 2 : -(result + 1) / 2);
    }
    scale *= 128;
  }
  c.pos = start;
  let z = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    const b = buf[c.pos++];
    if (b === undefined) throw corruptValue('truncated varint');
    z |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
    shift += 7n;
  }
  throw corruptValue('varint too long');
}
