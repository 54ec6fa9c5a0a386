import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writing a new file through the page cache costs a page of fresh kernel memory per 4 KiB
 * written, and a copy into it; on a VM whose host backs guest memory lazily (the machines of
 * docs/throughput.md's seventh pass) each fresh page also costs a host fault: 1.4-3 CPU-s per
 * GiB written, against 0.2-0.5 with O_DIRECT (measured in one process writing 2 GiB in 512 KiB
 * writes). Backup files are written once and read, if ever,
 * much later, so their pages in the cache are also pages taken from what LMDB's map needs.
 * Files a storage streams are therefore written with O_DIRECT where the filesystem takes it,
 * through page-aligned staging buffers: O_DIRECT wants the buffer's address, the file offset
 * and the length aligned to the device's logical block, which 4 KiB covers.
 */
const ALIGN = 4096;
/** Bytes of one staging buffer: each O_DIRECT write but a file's last is this long. */
export const STAGE_BYTES = 512 * 1024;
/** Staging buffers a process holds at most (two per file being written): 32 MiB of address space, touched as used. */
const MAX_STAGES = 64;
const WASM_PAGE = 64 * 1024;

/** The one WebAssembly API used here: the workspace's lib has no DOM types, which declare it. */
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer } };

/**
 * Page-aligned buffers: views into one WebAssembly.Memory, whose backing store V8 maps whole
 * pages for (Node has no other way to get memory at an aligned address). Made on first use,
 * never grown (growing would detach the views), given back for the next file. V8 reserves
 * guard regions around it: 10 GiB more address space (VmSize), no memory. Where that
 * reservation is refused (`ulimit -v`), files go through the cache.
 */
class AlignedStages {
  private memory: { readonly buffer: ArrayBuffer } | undefined;
  private unavailable = false;
  private readonly free: Uint8Array[] = [];
  private made = 0;

  /** Two buffers, or undefined when every buffer is in use (the caller writes through the cache). */
  takePair(): [Uint8Array, Uint8Array] | undefined {
    if (this.free.length + (MAX_STAGES - this.made) < 2 || !this.mapped()) return undefined;
    return [this.take(), this.take()];
  }

  private mapped(): boolean {
    if (this.memory === undefined && !this.unavailable) {
      const pages = (MAX_STAGES * STAGE_BYTES) / WASM_PAGE;
      try {
        this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
      } catch {
        this.unavailable = true;
      }
    }
    return this.memory !== undefined;
  }

  give(stages: readonly Uint8Array[]): void {
    this.free.push(...stages);
  }

  private take(): Uint8Array {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    return new Uint8Array(this.memory!.buffer, this.made++ * STAGE_BYTES, STAGE_BYTES);
  }
}

const stages = new AlignedStages();

/** A new file written front to back; `finish` makes it durable (fsync) and closes it. */
export interface AppendFile {
  /** Takes the chunk's bytes; the caller may reuse the chunk once this resolves. */
  append(chunk: Uint8Array): Promise<void>;
  /** Writes what is staged, syncs and closes; resolves to the file's length. */
  finish(): Promise<number>;
  /** Closes without syncing; the caller removes the file. */
  abort(): Promise<void>;
  /** Whether the bytes bypass the page cache (for tests and logs). */
  readonly direct: boolean;
}

/** What each filesystem (by device id) answered: asked once per process, not per storage opened. */
const answers = new Map<number, Promise<boolean | undefined>>();

/**
 * Does the filesystem holding `dir` take O_DIRECT writes of aligned buffers? tmpfs before
 * Linux 6.6 refuses the flag at open; some FUSE and network filesystems refuse the write.
 * Asked with a 4 KiB probe file, removed again, once per filesystem: a backup opens a storage
 * per span and must not pay a device write for each. A probe that could not ask (no staging
 * buffer free, a full disk, too many open files) answers no for now and is asked again later.
 */
export async function supportsDirectWrites(dir: string): Promise<boolean> {
  if (constants.O_DIRECT === undefined) return false;
  let device: number;
  try {
    device = (await stat(dir)).dev;
  } catch {
    return false;
  }
  let answer = answers.get(device);
  if (answer === undefined) {
    answer = probeDirectWrite(dir);
    answers.set(device, answer);
    void answer.then((known) => known === undefined && answers.delete(device));
  }
  return (await answer) === true;
}

let probes = 0;

/** Probe files written so far by this process (for tests). */
export function directWriteProbes(): number {
  return probes;
}

/** true or false when the filesystem answered, undefined when the probe could not ask. */
async function probeDirectWrite(dir: string): Promise<boolean | undefined> {
  probes++;
  const pair = stages.takePair();
  if (pair === undefined) return undefined;
  const probe = join(dir, `.cairn-tmp-direct-probe-${randomUUID()}`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
    const block = pair[0].subarray(0, ALIGN).fill(0);
    const { bytesWritten } = await handle.write(block, 0, ALIGN, 0);
    return bytesWritten === ALIGN;
  } catch (err) {
    // EINVAL is the filesystem refusing O_DIRECT (at open or at the write); anything else
    // says nothing about it.
    return (err as NodeJS.ErrnoException).code === 'EINVAL' ? false : undefined;
  } finally {
    stages.give(pair);
    await handle?.close().catch(() => undefined);
    await unlink(probe).catch(() => undefined);
  }
}

/**
 * Creates `path` (which must not exist) for appending: with O_DIRECT when `direct` (the
 * caller asked `supportsDirectWrites`) and staging buffers are free, else through the cache.
 */
export async function createAppendFile(path: string, direct: boolean): Promise<AppendFile> {
  const pair = direct && constants.O_DIRECT !== undefined ? stages.takePair() : undefined;
  if (pair === undefined) return new CachedAppendFile(await open(path, 'wx'));
  try {
    return new DirectAppendFile(await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644), pair);
  } catch (err) {
    stages.give(pair);
    throw err;
  }
}

/** Writes each chunk as it comes, through the page cache. */
class CachedAppendFile implements AppendFile {
  readonly direct = false;
  private length = 0;

  constructor(private readonly handle: FileHandle) {}

  async append(chunk: Uint8Array): Promise<void> {
    await writeAll(this.handle, chunk, chunk.byteLength, this.length);
    this.length += chunk.byteLength;
  }

  async finish(): Promise<number> {
    await this.handle.sync();
    await this.handle.close();
    return this.length;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Gathers chunks into two aligned staging buffers and writes each full one with O_DIRECT
 * while the other fills, so the device write overlaps the producer. The last, partial buffer
 * is written padded to a whole block and the file truncated back to its length.
 */
class DirectAppendFile implements AppendFile {
  readonly direct = true;
  private filling = 0;
  /** Bytes in the buffer being filled. */
  private staged = 0;
  /** File offset of the buffer being filled: everything before it is written or in flight. */
  private offset = 0;
  private inFlight: Promise<void> | undefined;
  private released = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly pair: [Uint8Array, Uint8Array],
  ) {}

  async append(chunk: Uint8Array): Promise<void> {
    let from = 0;
    while (from < chunk.byteLength) {
      const stage = this.pair[this.filling]!;
      const n = Math.min(chunk.byteLength - from, STAGE_BYTES - this.staged);
      stage.set(chunk.subarray(from, from + n), this.staged);
      this.staged += n;
      from += n;
      if (this.staged === STAGE_BYTES) await this.writeStage(STAGE_BYTES);
    }
  }

  /** Waits for the other buffer's write, then starts this one's (`length` bytes, aligned). */
  private async writeStage(length: number): Promise<void> {
    await this.inFlight;
    const write = writeAll(this.handle, this.pair[this.filling]!, length, this.offset);
    // Awaited by the next writeStage or finish; until then a failure must not go unhandled.
    write.catch(() => undefined);
    this.inFlight = write;
    this.offset += length;
    this.filling ^= 1;
    this.staged = 0;
  }

  async finish(): Promise<number> {
    try {
      const length = this.offset + this.staged;
      if (this.staged > 0) {
        const padded = Math.ceil(this.staged / ALIGN) * ALIGN;
        this.pair[this.filling]!.fill(0, this.staged, padded);
        await this.writeStage(padded);
      }
      await this.inFlight;
      if (this.offset !== length) await this.handle.truncate(length);
      // O_DIRECT bypasses the cache, not the device's write cache nor the metadata: still sync.
      await this.handle.sync();
      await this.handle.close();
      return length;
    } finally {
      this.release();
    }
  }

  async abort(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    this.release();
  }

  /** Once no write reads the buffers any more. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    stages.give(this.pair);
  }
}

async function writeAll(handle: FileHandle, buffer: Uint8Array, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write of ${length - done} bytes at ${position + done} wrote nothing`);
    done += bytesWritten;
  }
}
