import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from 'nats';
import { CairnError, ErrorCode, type ErrorCode as Code } from '@cairn/errors';
import { checkDeletePrefix, joinPath, openWritePipe, type ExternalStorage, type ListOptions, type ReadRange, type WritePipe } from '@cairn/cloud';
import type { DirectUploadClient, DirectUploadRoute } from './nodelocal-direct.js';

/**
 * `nodelocal://N/...` is node N's local "extern" directory. Other processes (the coordinator
 * writing a manifest, a node reading another node's files during restore) reach it through
 * this proxy: request/reply on `cairn.node.<N>.extern.<op>` with metadata in headers and file
 * bytes as message bodies, chunked well below NATS's payload limit.
 */
const CHUNK = 512 * 1024;
/**
 * A written file's bytes go in messages of at least CHUNK (what a data file writer hands over
 * at a time, a little over 512 KiB) and at most this, below NATS's default 1 MiB payload limit
 * with room for the headers; a server configured lower lowers it (`messageLimit`).
 */
const MAX_WRITE_MESSAGE = 1024 * 1024 - 16 * 1024;
/**
 * Write messages of one upload in flight at once. The serving node queues them in order (one
 * connection delivers them in order, and each is queued before its handler first awaits) and
 * answers each once its file has taken it, so a few in flight keep its file writes going
 * while the next messages cross NATS, in bounded memory (this many messages per upload).
 */
const WRITE_WINDOW = 3;
const subject = (nodeId: number, op: string) => `cairn.node.${nodeId}.extern.${op}`;

/**
 * Serves this node's extern dir to other processes. With `direct`, an upload's bytes may also
 * come over HTTP straight from the writer (nodelocal-direct.ts): `write-begin` offers it.
 */
export function serveNodelocal(nc: NatsConnection, nodeId: number, storage: ExternalStorage, direct?: DirectUploadRoute): { unsubscribe(): void } {
  const uploads = new Map<string, WritePipe>();
  const handlers: Record<string, (h: MsgHdrs | undefined, body: Uint8Array) => Promise<{ headers?: Record<string, string>; body?: Uint8Array }>> = {
    // A whole small file in one request (a manifest, its checksum, a part descriptor): one
    // round trip where begin, chunk and commit take three.
    write: async (h, body) => ({ headers: { bytes: String((await storage.writeFile(header(h, 'path'), body)).bytes) } }),
    'write-begin': async (h) => {
      const id = randomUUID();
      const pipe = openWritePipe(storage, header(h, 'path'));
      uploads.set(id, pipe);
      const headers: Record<string, string> = { upload: id };
      if (direct !== undefined) {
        const { url, token } = direct.offer(id, pipe, storage.releasesChunksOnPull === true);
        headers['direct-url'] = url;
        headers['direct-token'] = token;
      }
      return { headers };
    },
    'write-chunk': async (h, body) => {
      await upload(header(h, 'upload')).write(body);
      return {};
    },
    'write-commit': async (h) => {
      const id = header(h, 'upload');
      const u = upload(id);
      direct?.withdraw(id);
      try {
        const { bytes } = await u.end();
        return { headers: { bytes: String(bytes) } };
      } finally {
        uploads.delete(id);
      }
    },
    'write-abort': async (h) => {
      const id = header(h, 'upload');
      direct?.withdraw(id);
      await uploads.get(id)?.abort(new CairnError(ErrorCode.Canceled, 'upload aborted by the writer'));
      uploads.delete(id);
      return {};
    },
    read: async (h) => {
      const offset = Number(header(h, 'offset'));
      const length = Number(header(h, 'length'));
      const parts: Uint8Array[] = [];
      let total = 0;
      for await (const c of storage.readFile(header(h, 'path'), { offset, length })) {
        parts.push(c);
        total += c.byteLength;
      }
      return { body: Buffer.concat(parts, total) };
    },
    size: async (h) => ({ headers: { size: String(await storage.size(header(h, 'path'))) } }),
    exists: async (h) => ({ headers: { exists: String(await storage.exists(header(h, 'path'))) } }),
    list: async (h) => {
      const out: string[] = [];
      const delimiter = h?.get('delimiter');
      // The prefix travels as "=<prefix>" so that an empty prefix (everything) is not absent.
      const prefix = header(h, 'prefix').slice(1);
      for await (const p of storage.list(prefix, delimiter ? { delimiter } : {})) out.push(p);
      return { body: new TextEncoder().encode(JSON.stringify(out)) };
    },
    delete: async (h) => {
      await storage.delete(header(h, 'path'));
      return {};
    },
    'delete-prefix': async (h) => ({ headers: { deleted: String(await storage.deletePrefix(header(h, 'prefix'))) } }),
  };
  function upload(id: string): WritePipe {
    const u = uploads.get(id);
    if (!u) throw new CairnError(ErrorCode.NotFound, `no upload ${id} in progress on node ${nodeId}`);
    return u;
  }
  const sub = nc.subscribe(`cairn.node.${nodeId}.extern.*`, {
    callback: (err, msg) => {
      if (err) return;
      const op = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
      const handler = handlers[op];
      void (async () => {
        const reply = natsHeaders();
        try {
          if (!handler) throw new CairnError(ErrorCode.InvalidArgument, `unknown nodelocal operation ${op}`);
          const res = await handler(msg.headers, msg.data);
          for (const [k, v] of Object.entries(res.headers ?? {})) reply.set(k, v);
          msg.respond(res.body ?? new Uint8Array(0), { headers: reply });
        } catch (e) {
          reply.set('error-code', e instanceof CairnError ? e.code : ErrorCode.Internal);
          reply.set('error', (e instanceof Error ? e.message : String(e)).replace(/\r?\n/g, ' '));
          msg.respond(new Uint8Array(0), { headers: reply });
        }
      })();
    },
  });
  return sub;
}

/** The largest write message this connection's server takes (MAX_WRITE_MESSAGE, or less). */
function messageLimit(nc: NatsConnection): number {
  const serverMax = nc.info?.max_payload;
  return serverMax === undefined ? MAX_WRITE_MESSAGE : Math.min(MAX_WRITE_MESSAGE, serverMax - 16 * 1024);
}

function header(h: MsgHdrs | undefined, name: string): string {
  const v = h?.get(name);
  if (v === undefined || v === '') throw new CairnError(ErrorCode.InvalidArgument, `nodelocal request without "${name}"`);
  return v;
}

/** A client for another node's extern dir, rooted at `basePath` inside it. */
export class RemoteNodelocalStorage implements ExternalStorage {
  readonly uri: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: number,
    private readonly basePath: string,
    /** Streams a large file's bytes straight to the node when it offers that (a node's writers). */
    private readonly direct?: DirectUploadClient,
  ) {
    this.uri = `nodelocal://${nodeId}/${basePath}`;
  }

  private async call(op: string, hdrs: Record<string, string>, body: Uint8Array = new Uint8Array(0), timeoutMs = 60_000) {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    let reply;
    try {
      reply = await this.nc.request(subject(this.nodeId, op), body, { headers: h, timeout: timeoutMs });
    } catch (err) {
      throw new CairnError(ErrorCode.Unavailable, `nodelocal://${this.nodeId} did not answer (${op}): ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        retryable: true,
      });
    }
    const code = reply.headers?.get('error-code');
    if (code) {
      throw new CairnError(code as Code, reply.headers?.get('error') ?? 'nodelocal error', { retryable: code === ErrorCode.Unavailable });
    }
    return reply;
  }

  private full(path: string): string {
    return joinPath(this.basePath, path);
  }

  async writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
    if (body instanceof Uint8Array && body.byteLength <= messageLimit(this.nc)) {
      try {
        const done = await this.call('write', { path: this.full(path) }, body);
        return { bytes: Number(done.headers!.get('bytes')) };
      } catch (err) {
        // A node from before the one-request write answers InvalidArgument (an unknown
        // operation): write it in the steps every node serves. Any other failure is the write's.
        if (!(err instanceof CairnError) || err.code !== ErrorCode.InvalidArgument) throw err;
      }
    }
    return this.writeInSteps(path, body instanceof Uint8Array ? [body] : body);
  }

  /**
   * begin, the bytes, commit: any size, in bounded memory. The bytes go over HTTP straight to
   * the node when it offers that and this writer can reach it, else in NATS messages.
   */
  private async writeInSteps(path: string, body: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<{ bytes: number }> {
    const begin = await this.call('write-begin', { path: this.full(path) });
    const upload = begin.headers!.get('upload')!;
    const url = begin.headers?.get('direct-url');
    const token = begin.headers?.get('direct-token');
    try {
      const streamed = this.direct !== undefined && url && token ? await this.direct.stream(url, token, body) : undefined;
      if (streamed !== undefined) {
        this.direct?.noteUploaded('http', streamed);
      } else {
        const sent = await this.sendChunks(upload, body);
        this.direct?.noteUploaded('nats', sent);
      }
    } catch (err) {
      await this.call('write-abort', { upload }).catch(() => undefined);
      throw err;
    }
    const done = await this.call('write-commit', { upload });
    return { bytes: Number(done.headers!.get('bytes')) };
  }

  /** The bytes of an upload as NATS messages, a few in flight; resolves with how many. */
  private async sendChunks(upload: string, body: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number> {
    const limit = messageLimit(this.nc);
    let total = 0;
    // Small chunks are gathered into one message and large ones split; a chunk of the usual
    // size (a data file writer's) goes as it is. Parts are views, not copies: writeFile's
    // caller never changes a chunk it has handed over.
    const inflight: Array<Promise<unknown>> = [];
    let gathered: Uint8Array[] = [];
    let gatheredBytes = 0;
    const send = async (): Promise<void> => {
      if (gatheredBytes === 0) return;
      total += gatheredBytes;
      const message = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, gatheredBytes);
      gathered = [];
      gatheredBytes = 0;
      if (inflight.length >= WRITE_WINDOW) await inflight.shift();
      const sent = this.call('write-chunk', { upload }, message);
      // Awaited in turn (or settled on failure) below; not an unhandled rejection meanwhile.
      sent.catch(() => undefined);
      inflight.push(sent);
    };
    try {
      for await (const c of body) {
        for (let i = 0; i < c.byteLength; i += limit) {
          const part = c.subarray(i, i + limit);
          if (gatheredBytes + part.byteLength > limit) await send();
          gathered.push(part);
          gatheredBytes += part.byteLength;
          if (gatheredBytes >= Math.min(CHUNK, limit)) await send();
        }
      }
      await send();
      while (inflight.length > 0) await inflight.shift();
    } catch (err) {
      await Promise.allSettled(inflight);
      throw err;
    }
    return total;
  }

  async *readFile(path: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    let offset = range?.offset ?? 0;
    const end = range?.length !== undefined ? offset + range.length : await this.size(path);
    while (offset < end) {
      const length = Math.min(CHUNK, end - offset);
      const r = await this.call('read', { path: this.full(path), offset: String(offset), length: String(length) });
      if (r.data.byteLength === 0) return;
      yield r.data;
      offset += r.data.byteLength;
    }
  }

  async readAll(path: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const c of this.readFile(path)) parts.push(c);
    return Buffer.concat(parts);
  }

  async size(path: string): Promise<number> {
    return Number((await this.call('size', { path: this.full(path) })).headers!.get('size'));
  }

  async exists(path: string): Promise<boolean> {
    return (await this.call('exists', { path: this.full(path) })).headers!.get('exists') === 'true';
  }

  /**
   * A listing prefix inside the base path. The base always ends in '/' here: the empty prefix
   * under `backups` must select `backups/...`, not also `backups-old/...`.
   */
  private fullPrefix(prefix: string): string {
    const rel = joinPath(prefix);
    const inside = `${rel}${prefix.endsWith('/') && rel !== '' ? '/' : ''}`;
    const base = joinPath(this.basePath);
    return base === '' ? inside : `${base}/${inside}`;
  }

  async *list(prefix: string, opts?: ListOptions): AsyncIterable<string> {
    const h: Record<string, string> = { prefix: `=${this.fullPrefix(prefix)}` };
    if (opts?.delimiter) h['delimiter'] = opts.delimiter;
    const r = await this.call('list', h);
    const base = this.basePath ? `${this.basePath.replace(/\/+$/, '')}/` : '';
    for (const p of JSON.parse(new TextDecoder().decode(r.data)) as string[]) yield base && p.startsWith(base) ? p.slice(base.length) : p;
  }

  async delete(path: string): Promise<void> {
    await this.call('delete', { path: this.full(path) });
  }

  async deletePrefix(prefix: string): Promise<number> {
    // Checked here too: joined to the base path, an empty prefix would no longer look empty.
    checkDeletePrefix(prefix, this.uri);
    const r = await this.call('delete-prefix', { prefix: this.fullPrefix(prefix) });
    return Number(r.headers!.get('deleted'));
  }

  async close(): Promise<void> {}
}
