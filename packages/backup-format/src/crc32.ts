import * as zlib from 'node:zlib';

type Crc32Fn = (data: Uint8Array) => number;

/**
 * CRC-32 (IEEE, the zlib/gzip polynomial) of a block's stored bytes. Node >= 20.15 computes
 * it natively in zlib (several GB/s); older Node 20 releases fall back to a table-driven
 * version (a few hundred MB/s) so the format does not depend on the Node minor version.
 */
export const crc32: Crc32Fn = nativeCrc32() ?? tableCrc32;

function nativeCrc32(): Crc32Fn | undefined {
  const fn = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  return typeof fn === 'function' ? (data) => fn(data) : undefined;
}

let table: Uint32Array | undefined;

/** The portable fallback; exported for the test that pins it to the native result. */
export function tableCrc32(data: Uint8Array): number {
  table ??= makeTable();
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    c = (table[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
