import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@cairn/testing';
import { describe, expect, it } from 'vitest';
import { STAGE_BYTES, createAppendFile, directWriteProbes, supportsDirectWrites } from './direct-write.js';
import { LocalDirStorage } from './local-dir-storage.js';

/** Appends `data` in chunks of the given sizes (cycled), reusing one chunk buffer throughout. */
async function writeInChunks(path: string, data: Uint8Array, sizes: number[], direct: boolean): Promise<{ length: number; direct: boolean }> {
  const file = await createAppendFile(path, direct);
  const chunk = new Uint8Array(Math.max(...sizes));
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    chunk.set(data.subarray(at, at + n));
    await file.append(chunk.subarray(0, n));
    // The caller may reuse a chunk once append resolves: scribble over it.
    chunk.fill(0xee);
    at += n;
  }
  return { length: await file.finish(), direct: file.direct };
}

describe('createAppendFile', () => {
  it('writes every byte, at every length around the block and staging sizes, bypassing the cache where the filesystem allows', async () => {
    const dir = await tempDir('cairn-direct-write');
    const direct = await supportsDirectWrites(dir);
    // ext4, xfs and btrfs take O_DIRECT, so does tmpfs since Linux 6.6: where these tests run, it is used.
    expect(direct).toBe(true);
    const lengths = [0, 1, 4095, 4096, 4097, STAGE_BYTES - 1, STAGE_BYTES, STAGE_BYTES + 1, 3 * STAGE_BYTES + 12_345];
    for (const length of lengths) {
      const data = randomBytes(length);
      const path = join(dir, `f-${length}`);
      const written = await writeInChunks(path, data, [1000, 65_536, 7, 300_000], direct);
      expect(written).toEqual({ length, direct: true });
      expect((await stat(path)).size).toBe(length);
      expect(Buffer.compare(await readFile(path), data), `file of ${length} bytes`).toBe(0);
    }
  });

  it('writes through the page cache when asked to, with the same bytes', async () => {
    const dir = await tempDir('cairn-direct-write');
    const data = randomBytes(2 * STAGE_BYTES + 99);
    const written = await writeInChunks(join(dir, 'cached'), data, [70_000], false);
    expect(written).toEqual({ length: data.length, direct: false });
    expect(Buffer.compare(await readFile(join(dir, 'cached')), data)).toBe(0);
  });

  it('gives its staging buffers back after files finished and aborted, so later files are still written directly', async () => {
    const dir = await tempDir('cairn-direct-write');
    // More files than the process has staging buffers for at once (64, two per file).
    for (let i = 0; i < 40; i++) {
      const file = await createAppendFile(join(dir, `f${i}`), true);
      expect(file.direct, `file ${i}`).toBe(true);
      await file.append(randomBytes(STAGE_BYTES + 10));
      if (i % 2 === 0) await file.finish();
      else await file.abort();
    }
    // While 32 files hold their pairs, a 33rd goes through the cache rather than failing.
    const open = await Promise.all(Array.from({ length: 33 }, (_, i) => createAppendFile(join(dir, `held${i}`), true)));
    expect(open.filter((f) => f.direct)).toHaveLength(32);
    await Promise.all(open.map((f) => f.finish()));
    expect((await createAppendFile(join(dir, 'after'), true)).direct).toBe(true);
  });

  it('writes through the cache in a process refused the aligned buffers\' address space (ulimit -v)', async () => {
    const dir = await tempDir('cairn-direct-write');
    const built = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'direct-write.js');
    const script = [
      `const { createAppendFile, supportsDirectWrites } = await import(${JSON.stringify(built)});`,
      `const file = await createAppendFile(${JSON.stringify(join(dir, 'limited'))}, await supportsDirectWrites(${JSON.stringify(dir)}) || true);`,
      'await file.append(new Uint8Array(600000).fill(7));',
      'process.stdout.write(JSON.stringify({ direct: file.direct, length: await file.finish() }));',
    ].join('\n');
    // 4 GB of address space runs node, not the 10 GiB V8 reserves around a WebAssembly.Memory.
    const r = spawnSync('bash', ['-c', 'ulimit -v 4000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ direct: false, length: 600000 });
    expect(Buffer.compare(await readFile(join(dir, 'limited')), Buffer.alloc(600000, 7))).toBe(0);
  });

  it('refuses to replace a file that exists', async () => {
    const dir = await tempDir('cairn-direct-write');
    await (await createAppendFile(join(dir, 'x'), true)).finish();
    await expect(createAppendFile(join(dir, 'x'), true)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(createAppendFile(join(dir, 'x'), false)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});

describe('supportsDirectWrites', () => {
  it('asks each filesystem once per process, whichever directory or storage asks', async () => {
    const dirs = await Promise.all([tempDir('cairn-direct-write'), tempDir('cairn-direct-write')]);
    expect(await supportsDirectWrites(dirs[0]!)).toBe(true);
    const probes = directWriteProbes();
    expect(await supportsDirectWrites(dirs[1]!)).toBe(true);
    for (const dir of dirs) {
      const storage = new LocalDirStorage(join(dir, 'root'));
      await storage.writeFile('x/y.sst', (async function* () {
        yield randomBytes(10_000);
      })());
    }
    expect(directWriteProbes()).toBe(probes);
  });
});

describe('LocalDirStorage streamed writes', () => {
  it('stores a streamed file whole, leaving no probe or temp file behind', async () => {
    const root = join(await tempDir('cairn-direct-write'), 'root');
    const storage = new LocalDirStorage(root);
    const data = randomBytes(STAGE_BYTES * 2 + 4321);
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000);
    }
    expect(await storage.writeFile('a/b.sst', body())).toEqual({ bytes: data.length });
    expect(Buffer.compare(await readFile(join(root, 'a', 'b.sst')), data)).toBe(0);
    expect(await readdir(join(root, 'a'))).toEqual(['b.sst']);
  });
});
