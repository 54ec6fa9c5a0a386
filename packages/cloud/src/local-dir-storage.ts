import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  applyDelimiter,
  checkDeletePrefix,
  checkRange,
  collectBytes,
  compareBytewise,
  fileNotFound,
  rangeBeyondEnd,
  type ExternalStorage,
  type ListOptions,
  type ReadRange,
} from './external-storage.js';
import { createAppendFile, supportsDirectWrites, type AppendFile } from './direct-write.js';
import { filePath, listPrefix } from './storage-path.js';

/** Files being written carry this prefix until renamed into place; listings skip them. */
const TEMP_PREFIX = '.cairn-tmp-';
const READ_CHUNK = 256 * 1024;

export interface LocalDirStorageOptions {
  /** The URI shown in messages (e.g. `nodelocal://self/backups`); defaults to `file://<root>`. */
  uri?: string;
}

/**
 * Storage in a directory of the local filesystem: `file://` URIs and this node's own
 * `nodelocal://` dir. Writes go to a temp file beside the target, are synced and renamed into
 * place, so readers see the whole file or nothing.
 */
export class LocalDirStorage implements ExternalStorage {
  readonly uri: string;
  /** writeFile writes each chunk (awaited) before it pulls the next. */
  readonly releasesChunksOnPull = true;
  /** Absolute; created on the first write. */
  readonly root: string;

  constructor(root: string, options: LocalDirStorageOptions = {}) {
    if (!isAbsolute(root)) {
      throw new CairnError(ErrorCode.InvalidArgument, `local storage dir must be absolute, got ${JSON.stringify(root)}`);
    }
    this.root = resolve(root);
    this.uri = options.uri ?? `file://${this.root}`;
  }

  private abs(path: string): { rel: string; abs: string } {
    const rel = filePath(path, this.uri);
    return { rel, abs: join(this.root, rel) };
  }

  async writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
    const { rel, abs } = this.abs(path);
    const dir = dirname(abs);
    const tmp = join(dir, `${TEMP_PREFIX}${basename(abs)}.${randomUUID()}`);
    const source = body instanceof Uint8Array ? undefined : body[Symbol.asyncIterator]();
    let file: AppendFile | undefined;
    let sourceFailed = false;
    try {
      await mkdir(dir, { recursive: true });
      // Streamed files are the large ones (data files): they bypass the page cache where the
      // filesystem allows (direct-write.ts says why). A whole small body goes through it.
      file = await createAppendFile(tmp, source !== undefined && (await supportsDirectWrites(dir)));
      if (source === undefined) {
        await file.append(body as Uint8Array);
      } else {
        while (true) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = await source.next();
          } catch (err) {
            sourceFailed = true;
            throw err;
          }
          if (next.done === true) break;
          await file.append(next.value);
        }
      }
      const bytes = await file.finish();
      file = undefined;
      await rename(tmp, abs);
      await syncDir(dir);
      return { bytes };
    } catch (err) {
      await file?.abort();
      await rm(tmp, { force: true }).catch(() => undefined);
      if (sourceFailed) throw err;
      // Let the producer release what it holds; it will not be read further.
      await source?.return?.().catch(() => undefined);
      throw fsError(err, 'write', rel, this.uri);
    }
  }

  async *readFile(path: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    const { offset, end } = checkRange(range);
    const { rel, abs } = this.abs(path);
    let handle: FileHandle;
    try {
      handle = await open(abs, 'r');
    } catch (err) {
      throw fsError(err, 'read', rel, this.uri);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw fileNotFound(rel, this.uri);
      if (offset > st.size) throw rangeBeyondEnd(rel, offset, st.size, this.uri);
      const stop = end === undefined ? st.size : Math.min(end, st.size);
      let pos = offset;
      while (pos < stop) {
        // A fresh buffer per chunk: the consumer may keep chunks it was given.
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, stop - pos));
        const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
    } catch (err) {
      throw fsError(err, 'read', rel, this.uri);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  readAll(path: string): Promise<Uint8Array> {
    return collectBytes(this.readFile(path));
  }

  async size(path: string): Promise<number> {
    const { rel, abs } = this.abs(path);
    try {
      const st = await stat(abs);
      if (!st.isFile()) throw fileNotFound(rel, this.uri);
      return st.size;
    } catch (err) {
      throw fsError(err, 'stat', rel, this.uri);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.size(path);
      return true;
    } catch (err) {
      if (err instanceof CairnError && err.code === ErrorCode.NotFound) return false;
      throw err;
    }
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<string> {
    const pfx = listPrefix(prefix);
    const slash = pfx.lastIndexOf('/');
    const startDir = slash < 0 ? '' : pfx.slice(0, slash);
    const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
    yield* applyDelimiter(this.walk(startDir, pfx, delimiter), pfx, delimiter);
  }

  /**
   * Files under `dir` starting with `prefix`, in byte order. Sorting each directory by name,
   * with `/` appended to directory names, gives the byte order of the full paths. With a `/`
   * delimiter a directory that rolls up whole is not descended, only checked for a file.
   */
  private async *walk(dir: string, prefix: string, delimiter: string | undefined): AsyncIterable<string> {
    const entries = await this.readDir(dir);
    for (const { name, isDir } of entries) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!isDir) {
        if (rel.startsWith(prefix)) yield rel;
        continue;
      }
      const asDir = `${rel}/`;
      if (!asDir.startsWith(prefix) && !prefix.startsWith(asDir)) continue;
      if (delimiter === '/' && asDir.length > prefix.length) {
        if (await this.hasFile(rel)) yield asDir;
        continue;
      }
      yield* this.walk(rel, prefix, delimiter);
    }
  }

  private async hasFile(dir: string): Promise<boolean> {
    for (const { name, isDir } of await this.readDir(dir)) {
      if (!isDir || (await this.hasFile(`${dir}/${name}`))) return true;
    }
    return false;
  }

  private async readDir(dir: string): Promise<Array<{ name: string; isDir: boolean }>> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.root, dir), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw fsError(err, 'list', dir, this.uri);
    }
    return entries
      .filter((e) => (e.isFile() || e.isDirectory()) && !e.name.startsWith(TEMP_PREFIX))
      .map((e) => ({ name: e.name, isDir: e.isDirectory(), key: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => compareBytewise(a.key, b.key));
  }

  async delete(path: string): Promise<void> {
    const { rel, abs } = this.abs(path);
    try {
      await unlink(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsError(err, 'delete', rel, this.uri);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const pfx = checkDeletePrefix(prefix, this.uri);
    // Listed first: unlinking while the walk reads directories would change what it reads.
    const files: string[] = [];
    for await (const rel of this.list(pfx)) files.push(rel);
    const dirs = new Set<string>();
    for (const rel of files) {
      await this.delete(rel);
      for (let dir = dirname(rel); dir !== '.' && `${dir}/`.startsWith(pfx); dir = dirname(dir)) dirs.add(dir);
    }
    // Directories wholly inside the prefix held only deleted files; left behind they would
    // pile up. Deepest first, and only when empty: one a writer has just refilled stays.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
      try {
        await rmdir(join(this.root, dir));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw fsError(err, 'delete', dir, this.uri);
      }
    }
    return files.length;
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}

/** Makes a rename durable; some filesystems cannot sync a directory, which is no error. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort: the file itself is already synced and in place.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

const TRANSIENT_FS_CODES = new Set(['ENOSPC', 'EIO', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EDQUOT', 'ESTALE']);

/** Maps a filesystem error to a CairnError that names the file and the storage. */
function fsError(err: unknown, op: string, path: string, uri: string): CairnError {
  if (err instanceof CairnError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const detail = err instanceof Error ? err.message : String(err);
  if (code === 'ENOENT' && op !== 'write') return fileNotFound(path, uri, err);
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOENT') {
    return new CairnError(ErrorCode.FailedPrecondition, `cannot ${op} "${path}" in ${uri}: ${detail}`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new CairnError(ErrorCode.FailedPrecondition, `permission denied to ${op} "${path}" in ${uri}: ${detail}`, {
      cause: err,
    });
  }
  if (code !== undefined && TRANSIENT_FS_CODES.has(code)) {
    return new CairnError(ErrorCode.Unavailable, `cannot ${op} "${path}" in ${uri}: ${detail}`, {
      cause: err,
      retryable: true,
    });
  }
  return new CairnError(ErrorCode.Internal, `cannot ${op} "${path}" in ${uri}: ${detail}`, { cause: err });
}
