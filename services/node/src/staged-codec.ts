import { zstdCompress, zstdContentSize, zstdDecompressInto } from '@cairn/backup-format';
import type { StagedCodec } from '@cairn/cluster';

/** Staged restore batches go through zstd at level 1, a backup's own codec and level. */
export const STAGED_ZSTD: StagedCodec = {
  compress: (data) => zstdCompress(data, 1),
  decompressedSize: zstdContentSize,
  decompressInto: zstdDecompressInto,
};
