import { Compressor, Decompressor } from 'zstd-napi';

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
