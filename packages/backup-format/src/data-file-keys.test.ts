import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { DATA_FILE_VERSION_FILE_KEYS, FILE_SALT_BYTES, HEADER_BYTES } from './data-file-format.js';
import { DataFileReader, DataFileWriter, bytesSource, type MvccRevision } from './index.js';

const enc = new TextEncoder();
/** The key the v1 fixture was written with. */
const FIXTURE_KEY = new Uint8Array(32).map((_, i) => i + 1);

/**
 * `test-fixtures/v1-encrypted.sst` was written by the format-1 writer (one key per collection,
 * blocks bound to their offset only) before per-file keys existed: 50 revisions `k000`..`k049`
 * at ts 1.7e18 + i, every 7th a tombstone, the rest `value-<i>`, 256-byte blocks.
 */
async function fixture(): Promise<Uint8Array> {
  return new Uint8Array(await readFile(new URL('../test-fixtures/v1-encrypted.sst', import.meta.url)));
}

function revisions(n: number): MvccRevision[] {
  return Array.from({ length: n }, (_, i) => ({
    key: enc.encode(`k${String(i).padStart(3, '0')}`),
    ts: 1_700_000_000_000_000_000n + BigInt(i),
    value: i % 7 === 0 ? null : enc.encode(`value-${i}`),
  }));
}

async function write(revs: MvccRevision[], key: Uint8Array, compression: 'zstd' | 'none' = 'zstd'): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const w = new DataFileWriter({ sink: (c) => void chunks.push(c), encryptionKey: key, blockSize: 256, compression });
  for (const r of revs) await w.add(r);
  await w.finish();
  return new Uint8Array(Buffer.concat(chunks));
}

async function readAll(bytes: Uint8Array, key: Uint8Array): Promise<MvccRevision[]> {
  const out: MvccRevision[] = [];
  for await (const r of new DataFileReader('f.sst', bytesSource(bytes), { encryptionKey: key }).iterate()) out.push(r);
  return out;
}

async function failure(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

describe('data file encryption format', () => {
  it('still reads a format-1 encrypted file written by the old code, and verifies its checksum', async () => {
    const bytes = await fixture();
    const reader = new DataFileReader('v1.sst', bytesSource(bytes), { encryptionKey: FIXTURE_KEY });
    const info = await reader.open();
    expect(info.formatVersion).toBe(1);
    expect(info.encrypted).toBe(true);
    expect(await readAll(bytes, FIXTURE_KEY)).toEqual(revisions(50));
    const v = await reader.verify('728586f9952ca4182d9aa310967fd057f840b1e055095e7e7d5ecb1a678a6078');
    expect(v.entries).toBe(50);
  });

  it('refuses a format-1 file with the wrong key', async () => {
    const wrong = new Uint8Array(32).fill(9);
    const err = await failure(readAll(await fixture(), wrong));
    expect(err.code).toBe(ErrorCode.Corruption);
    expect(err.message).toMatch(/wrong encryption passphrase/);
  });

  it('writes encrypted files as format 2 with a random per-file salt, and reads them back', async () => {
    const key = new Uint8Array(32).fill(3);
    const a = await write(revisions(50), key);
    const b = await write(revisions(50), key);
    const info = await new DataFileReader('a.sst', bytesSource(a), { encryptionKey: key }).open();
    expect(info.formatVersion).toBe(DATA_FILE_VERSION_FILE_KEYS);
    expect(await readAll(a, key)).toEqual(revisions(50));
    const saltA = a.subarray(HEADER_BYTES, HEADER_BYTES + FILE_SALT_BYTES);
    const saltB = b.subarray(HEADER_BYTES, HEADER_BYTES + FILE_SALT_BYTES);
    expect(Buffer.from(saltA).equals(Buffer.from(saltB))).toBe(false);
    // Same key, same content: nothing but the length is alike.
    expect(a.length).toBe(b.length);
    expect(Buffer.from(a.subarray(HEADER_BYTES + FILE_SALT_BYTES)).equals(Buffer.from(b.subarray(HEADER_BYTES + FILE_SALT_BYTES)))).toBe(false);
  });

  it('binds a block to its file: a block copied into another file of the same backup at the same offset fails', async () => {
    const key = new Uint8Array(32).fill(4);
    const a = await write(revisions(50), key);
    const b = await write(revisions(50), key);
    const first = (await new DataFileReader('a.sst', bytesSource(a), { encryptionKey: key }).open()).blocks[0]!;
    const second = (await new DataFileReader('b.sst', bytesSource(b), { encryptionKey: key }).open()).blocks[0]!;
    expect(first.offset).toBe(second.offset);
    expect(first.length).toBe(second.length);
    const spliced = new Uint8Array(b);
    spliced.set(a.subarray(first.offset, first.offset + first.length), first.offset);
    const err = await failure(readAll(spliced, key));
    expect(err.code).toBe(ErrorCode.Corruption);
    expect(err.message).toMatch(/block 0.*authentication failed/);
  });

  it('binds a block to its offset within the file', async () => {
    const key = new Uint8Array(32).fill(5);
    // Uncompressed, equal-sized values: blocks of equal length that could be swapped.
    const same = revisions(50).map((r, i) => ({ ...r, value: enc.encode(`v${String(i).padStart(4, '0')}`) }));
    const a = await write(same, key, 'none');
    const blocks = (await new DataFileReader('a.sst', bytesSource(a), { encryptionKey: key }).open()).blocks;
    const [b0, b1] = [blocks[0]!, blocks[1]!];
    expect(b0.length).toBe(b1.length);
    const swapped = new Uint8Array(a);
    swapped.set(a.subarray(b1.offset, b1.offset + b1.length), b0.offset);
    swapped.set(a.subarray(b0.offset, b0.offset + b0.length), b1.offset);
    const err = await failure(readAll(swapped, key));
    expect(err.message).toMatch(/authentication failed/);
  });

  it('the writer still makes format-1 files on request (for old-backup tests), byte-compatible with the fixture', async () => {
    const chunks: Uint8Array[] = [];
    const w = new DataFileWriter({ sink: (c) => void chunks.push(c), encryptionKey: FIXTURE_KEY, blockSize: 256, formatVersion: 1 });
    for (const r of revisions(50)) await w.add(r);
    await w.finish();
    const bytes = new Uint8Array(Buffer.concat(chunks));
    expect((await new DataFileReader('old.sst', bytesSource(bytes), { encryptionKey: FIXTURE_KEY }).open()).formatVersion).toBe(1);
    expect(bytes.length).toBe((await fixture()).length);
    expect(Buffer.from(bytes.subarray(0, HEADER_BYTES)).equals(Buffer.from((await fixture()).subarray(0, HEADER_BYTES)))).toBe(true);
    expect(await readAll(bytes, FIXTURE_KEY)).toEqual(revisions(50));
  });

  it('refuses a format-2 file with the wrong key before reading any block', async () => {
    const a = await write(revisions(10), new Uint8Array(32).fill(6));
    const err = await failure(new DataFileReader('a.sst', bytesSource(a), { encryptionKey: new Uint8Array(32).fill(7) }).open());
    expect(err.message).toMatch(/index.*wrong encryption passphrase/);
  });
});
