import { createRequire } from 'node:module';
import { Compressor, Decompressor } from 'zstd-napi';
import type * as ZstdBinding from 'zstd-napi/binding.js';

/**
 * zstd-napi's native binding (its documented low-level module), loaded with require: it is a
 * CommonJS module whose names ESM cannot see. Compressing into a caller's buffer saves the
 * data file writer two allocations and two copies per block (zstd-napi's `compress` returns
 * a fresh trimmed copy of its scratch buffer, which the writer then copied into a frame).
 */
const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;
let cctx: InstanceType<typeof binding.CCtx> | undefined;

// One compressor and one decompressor per process, as zstd-napi's own compress() does, but
// dropped after a failure: zstd-napi's contexts refuse every later call once a frame fails
// midway ("Operation not authorized at current processing stage"), so one corrupt input
// would otherwise break all later reads.
let compressor: Compressor | undefined;
let compressorLevel = Number.NaN;
let decompressor: Decompressor | undefined;

export function zstdCompress(data: Uint8Array, level: number): Uint8Array {
  try {
    compressor ??= new Compressor();
    if (level !== compressorLevel) {
      compressor.setParameters({ compressionLevel: level });
      compressorLevel = level;
    }
    return compressor.compress(data);
  } catch (err) {
    compressor = undefined;
    compressorLevel = Number.NaN;
    throw err;
  }
}

/** The most bytes zstd can make of `length` input bytes (ZSTD_compressBound). */
export function zstdCompressBound(length: number): number {
  return binding.compressBound(length);
}

/**
 * Compresses `data` at `level` into `dst`, which must hold zstdCompressBound(data.length)
 * bytes, and returns how many it wrote: one zstd frame, as `zstdCompress` makes.
 */
export function zstdCompressInto(dst: Uint8Array, data: Uint8Array, level: number): number {
  try {
    cctx ??= new binding.CCtx();
    return cctx.compress(dst, data, level);
  } catch (err) {
    cctx = undefined;
    throw err;
  }
}

/** Returns a plain Uint8Array view (subarrays of a Buffer are Buffers, slower to make and to compare in tests). */
export function zstdDecompress(data: Uint8Array): Uint8Array {
  try {
    decompressor ??= new Decompressor();
    const out = decompressor.decompress(data);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    decompressor = undefined;
    throw err;
  }
}

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const;

/** Does `b` start with a zstd frame (magic 0xFD2FB528, little-endian)? */
export function isZstdFrame(b: Uint8Array): boolean {
  return ZSTD_MAGIC.every((m, i) => b[i] === m);
}
