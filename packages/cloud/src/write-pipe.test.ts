import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@cairn/testing';
import { describe, expect, it } from 'vitest';
import { LocalDirStorage, openWritePipe, type ExternalStorage } from './index.js';

function chunkOf(fill: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

describe('openWritePipe', () => {
  it('reports each chunk a local dir has written, in order, and no more once the write fails', async () => {
    const dir = await tempDir('cairn-write-pipe-');
    const storage = new LocalDirStorage(dir);
    const chunks = [chunkOf(1, 1000), chunkOf(2, 2000), chunkOf(3, 3000)];
    const done: Uint8Array[] = [];
    const pipe = openWritePipe(storage, 'a/f', {
      onChunkDone: (c) => {
        // Done means written: the chunk may be scribbled on and the file keeps its bytes.
        done.push(c);
        c.fill(0xee);
      },
    });
    for (const c of chunks) await pipe.write(c);
    expect((await pipe.end()).bytes).toBe(6000);
    expect(done.length).toBe(3);
    done.forEach((c, i) => expect(c).toBe(chunks[i]));
    const file = await readFile(join(dir, 'a/f'));
    expect([file[0], file[999], file[1000], file[2999], file[3000], file[5999]]).toEqual([1, 1, 2, 2, 3, 3]);

    const failedDone: Uint8Array[] = [];
    const written = chunkOf(4, 10);
    const failing = openWritePipe(storage, 'a/g', { onChunkDone: (c) => failedDone.push(c) });
    await failing.write(written);
    await failing.abort(new Error('producer failed'));
    await failing.write(chunkOf(5, 10)).catch(() => undefined);
    // The chunk taken before the abort was written, so it is reported; nothing after; the file is not kept.
    expect(failedDone).toEqual([written]);
    expect(failedDone[0]).toBe(written);
    await expect(readFile(join(dir, 'a/g'))).rejects.toThrow();
  });

  it('reports nothing for a storage that does not say when it is done with a chunk', async () => {
    const kept: Uint8Array[] = [];
    const storage = {
      uri: 'test://keeps-chunks',
      async writeFile(_path: string, body: AsyncIterable<Uint8Array> | Uint8Array) {
        let bytes = 0;
        for await (const c of body as AsyncIterable<Uint8Array>) {
          kept.push(c);
          bytes += c.length;
        }
        return { bytes };
      },
    } as unknown as ExternalStorage;
    const done: Uint8Array[] = [];
    const pipe = openWritePipe(storage, 'f', { onChunkDone: (c) => done.push(c) });
    await pipe.write(chunkOf(1, 10));
    await pipe.write(chunkOf(2, 10));
    expect((await pipe.end()).bytes).toBe(20);
    expect(kept.length).toBe(2);
    expect(done).toEqual([]);
  });
});
