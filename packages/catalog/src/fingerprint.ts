/*
 * Table fingerprints, in the spirit of CockroachDB's SHOW EXPERIMENTAL_FINGERPRINTS: each live
 * row hashes to 64 bits and the hashes are summed mod 2^64, so the result does not depend on
 * row order or on how the table was split into ranges. The key is hashed WITHOUT its table and
 * index prefix, so a restored copy under a new table id fingerprints equal to its source.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import type { TableDescriptor } from '@cairn/proto';
import { primaryIndexPrefix } from './row-codec.js';

const TWO_32 = 4294967296;

// Row bytes are staged here (key-suffix length, key suffix, value) and hashed in one pass.
let stage = new Uint8Array(1024);

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Output of `murmur3x86_128`: the four 32-bit words h1..h4; fingerprints use h1, h2. */
const hashOut = new Int32Array(4);

/**
 * MurmurHash3_x86_128 of `buf[0, len)` into `hashOut`. A public,
 * well-studied non-cryptographic hash that uses only 32-bit operations, which JavaScript
 * does without allocating.
 */
function murmur3x86_128(buf: Uint8Array, len: number, seed: number): void {
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  const c1 = 0x239b961b;
  const c2 = 0xab0e9789;
  const c3 = 0x38b34ae5;
  const c4 = 0xa1e38b93;
  const blocks = len & ~15;
  let i = 0;
  for (; i < blocks; i += 16) {
    let k1 = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    let k2 = (buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24));
    let k3 = (buf[i + 8]! | (buf[i + 9]! << 8) | (buf[i + 10]! << 16) | (buf[i + 11]! << 24));
    let k4 = (buf[i + 12]! | (buf[i + 13]! << 8) | (buf[i + 14]! << 16) | (buf[i + 15]! << 24));

    k1 = Math.imul(k1, c1); k1 = rotl(k1, 15); k1 = Math.imul(k1, c2); h1 ^= k1;
    h1 = rotl(h1, 19); h1 = (h1 + h2) | 0; h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, c2); k2 = rotl(k2, 16); k2 = Math.imul(k2, c3); h2 ^= k2;
    h2 = rotl(h2, 17); h2 = (h2 + h3) | 0; h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, c3); k3 = rotl(k3, 17); k3 = Math.imul(k3, c4); h3 ^= k3;
    h3 = rotl(h3, 15); h3 = (h3 + h4) | 0; h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, c4); k4 = rotl(k4, 18); k4 = Math.imul(k4, c1); h4 ^= k4;
    h4 = rotl(h4, 13); h4 = (h4 + h1) | 0; h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  const rem = len & 15;
  for (let j = 0; j < rem; j++) {
    const byte = buf[i + j]! << ((j & 3) * 8);
    if (j < 4) k1 ^= byte;
    else if (j < 8) k2 ^= byte;
    else if (j < 12) k3 ^= byte;
    else k4 ^= byte;
  }
  if (rem > 12) {
    k4 = Math.imul(k4, c4); k4 = rotl(k4, 18); k4 = Math.imul(k4, c1); h4 ^= k4;
  }
  if (rem > 8) {
    k3 = Math.imul(k3, c3); k3 = rotl(k3, 17); k3 = Math.imul(k3, c4); h3 ^= k3;
  }
  if (rem > 4) {
    k2 = Math.imul(k2, c2); k2 = rotl(k2, 16); k2 = Math.imul(k2, c3); h2 ^= k2;
  }
  if (rem > 0) {
    k1 = Math.imul(k1, c1); k1 = rotl(k1, 15); k1 = Math.imul(k1, c2); h1 ^= k1;
  }
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  hashOut[0] = h1;
  hashOut[1] = h2;
  hashOut[2] = h3;
  hashOut[3] = h4;
}

/** The 16-byte MurmurHash3_x86_128 digest (as the reference writes it), for tests. */
export function murmurHash3x86_128(bytes: Uint8Array, seed: number): Uint8Array {
  murmur3x86_128(bytes, bytes.length, seed);
  return new Uint8Array(hashOut.slice().buffer);
}

/**
 * Accumulates a fingerprint of one table's rows (or of one span of them). Feed it every live
 * row (key, value) at the chosen timestamp, in any order; deletions (empty values) are
 * ignored. The table descriptor says how long the key's table/index prefix is.
 */
export class TableFingerprinter {
  private lo = 0;
  private hi = 0;
  private count = 0;
  private lastTable: TableDescriptor | undefined;
  private lastPrefix: Uint8Array = new Uint8Array(0);

  /** Rows added so far (deletions not counted). */
  get rows(): number {
    return this.count;
  }

  add(key: Uint8Array, value: Uint8Array, table: TableDescriptor): void {
    if (value.length === 0) return;
    if (table !== this.lastTable) {
      this.lastPrefix = primaryIndexPrefix(table.id);
      this.lastTable = table;
    }
    const prefix = this.lastPrefix;
    const plen = prefix.length;
    for (let i = 0; i < plen; i++) {
      if (key[i] !== prefix[i]) {
        throw new CairnError(
          ErrorCode.InvalidArgument,
          `fingerprint: key does not belong to the primary index of table "${table.name}" (id ${table.id})`,
        );
      }
    }
    const klen = key.length - plen;
    const total = 4 + klen + value.length;
    if (total > stage.length) {
      let cap = stage.length * 2;
      while (cap < total) cap *= 2;
      stage = new Uint8Array(cap);
    }
    // The key length keeps (key, value) pairs with the same concatenation apart.
    stage[0] = klen & 0xff;
    stage[1] = (klen >>> 8) & 0xff;
    stage[2] = (klen >>> 16) & 0xff;
    stage[3] = (klen >>> 24) & 0xff;
    if (klen < 32) {
      for (let i = 0; i < klen; i++) stage[4 + i] = key[plen + i]!;
    } else {
      stage.set(key.subarray(plen), 4);
    }
    const vlen = value.length;
    const voff = 4 + klen;
    if (vlen < 32) {
      for (let i = 0; i < vlen; i++) stage[voff + i] = value[i]!;
    } else {
      stage.set(value, voff);
    }
    murmur3x86_128(stage, total, 0);
    let lo = this.lo + (hashOut[0]! >>> 0);
    let carry = 0;
    if (lo >= TWO_32) {
      lo -= TWO_32;
      carry = 1;
    }
    this.lo = lo;
    this.hi = (this.hi + (hashOut[1]! >>> 0) + carry) % TWO_32;
    this.count++;
  }

  /** The fingerprint as a signed 64-bit decimal string (`"0"` for no rows). */
  digest(): string {
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }
}

/**
 * Merges fingerprints of disjoint parts of a table (per-range results) into the fingerprint
 * of the whole, equal to what one `TableFingerprinter` fed every row would give.
 */
export function combineFingerprints(parts: readonly string[]): string {
  let sum = 0n;
  for (const p of parts) {
    if (!/^-?\d+$/.test(p)) {
      throw new CairnError(ErrorCode.InvalidArgument, `fingerprint "${p}" is not a decimal int64`);
    }
    sum += BigInt(p);
  }
  return BigInt.asIntN(64, sum).toString();
}
