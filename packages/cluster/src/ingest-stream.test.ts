import { describe, expect, it } from 'vitest';
import { WriteBatch, type KeyValueOp } from '@cairn/proto';
import { seededRandom } from '@cairn/testing';
import { encodeStagedBatch } from './ingest-stream.js';

function bytes(rand: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

describe('encodeStagedBatch', () => {
  it('writes exactly the bytes WriteBatch.encode writes, and they decode back', () => {
    const rand = seededRandom(11);
    // Lengths around the varint boundaries (127/128, 16383/16384), empty keys and values,
    // tombstones (no value), and an empty batch.
    const sizes = [0, 1, 127, 128, 300, 16383, 16384, 70000];
    const pick = () => sizes[Math.floor(rand() * sizes.length)] as number;
    for (let round = 0; round < 40; round++) {
      const ops: KeyValueOp[] = Array.from({ length: Math.floor(rand() * 12) }, () => ({
        key: bytes(rand, pick()),
        ...(rand() < 0.2 ? {} : { value: bytes(rand, pick()) }),
      }));
      const ours = encodeStagedBatch(ops);
      expect(Buffer.from(ours).equals(Buffer.from(WriteBatch.encode({ ops }).finish()))).toBe(true);
      const back = WriteBatch.decode(ours).ops;
      expect(back.length).toBe(ops.length);
      back.forEach((op, i) => {
        expect(Buffer.from(op.key).equals(Buffer.from(ops[i]!.key))).toBe(true);
        expect(op.value === undefined ? undefined : Buffer.from(op.value).toString('hex')).toBe(
          ops[i]!.value === undefined ? undefined : Buffer.from(ops[i]!.value).toString('hex'),
        );
      });
    }
  });
});
