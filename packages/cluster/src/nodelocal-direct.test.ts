import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { LocalDirStorage, collectBytes, type ExternalStorage } from '@cairn/cloud';
import { startNatsServer, tempDir, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { DIRECT_UPLOAD_PATH, DirectUploadClient, DirectUploadRoute } from './nodelocal-direct.js';
import { RemoteNodelocalStorage, serveNodelocal } from './nodelocal-proxy.js';

/*
 * A nodelocal upload's bytes over HTTP, straight to the storing node (one nats-server, the
 * storing "node" an HTTP server with the upload route): what goes which way is counted by
 * a subscriber beside the node on the NATS chunk subject and by the client's own tally.
 */

let nats: NatsConnection;
let writer: NatsConnection;
let spy: NatsConnection;
let server: NatsServerHandle;
let http: Server;
let baseUrl: string;
let dir: string;
/** write-chunk messages seen on NATS for node 7 (bytes that did not go over HTTP). */
let natsChunks = 0;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nats = await connectNats(server.url, 'direct-node');
  writer = await connectNats(server.url, 'direct-writer');
  spy = await connectNats(server.url, 'direct-spy');
  dir = await tempDir('nodelocal-direct');
  const route = new DirectUploadRoute(() => baseUrl);
  http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith(DIRECT_UPLOAD_PATH)) void route.route(req, res, url);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  serveNodelocal(nats, 7, new LocalDirStorage(dir), route);
  spy.subscribe('cairn.node.7.extern.write-chunk', { callback: () => natsChunks++ });
  await Promise.all([nats.flush(), spy.flush()]);
});

afterAll(async () => {
  await Promise.all([nats?.close(), writer?.close(), spy?.close()]);
  await new Promise((r) => http?.close(r));
  await server?.stop();
});

async function* chunks(n: number, size: number, first = 0): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) yield new Uint8Array(size).fill((first + i) % 251);
}

/** The byte each `size` block of `bytes` is filled with, or -1 for a block of mixed bytes. */
function blocksOf(bytes: Uint8Array, size: number): number[] {
  const out: number[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) {
    const block = bytes.subarray(at, at + size);
    out.push(block.byteLength === size && block.every((b) => b === block[0]) ? block[0]! : -1);
  }
  return out;
}

describe('nodelocal uploads over HTTP', () => {
  it('streams a large file straight to the node, none of it over NATS, and commits it', async () => {
    const tally = { http: 0, nats: 0 };
    const client = new DirectUploadClient({ onUploaded: (via, bytes) => (tally[via] += bytes) });
    const remote = new RemoteNodelocalStorage(writer, 7, 'b', client);
    const before = natsChunks;
    expect(await remote.writeFile('data/1.sst', chunks(20, 300_000))).toEqual({ bytes: 6_000_000 });
    await spy.flush();
    expect(natsChunks - before).toBe(0);
    expect(tally).toEqual({ http: 6_000_000, nats: 0 });
    const stored = await collectBytes(new LocalDirStorage(dir).readFile('b/data/1.sst'));
    expect(stored.byteLength).toBe(6_000_000);
    expect(blocksOf(stored, 300_000)).toEqual(Array.from({ length: 20 }, (_, i) => i % 251));
    // A second upload, through the gathering buffers the first one left: its own bytes only.
    await remote.writeFile('data/1b.sst', chunks(7, 300_000, 100));
    const second = await collectBytes(new LocalDirStorage(dir).readFile('b/data/1b.sst'));
    expect(blocksOf(second, 300_000)).toEqual(Array.from({ length: 7 }, (_, i) => (i + 100) % 251));
  });

  it('sends the bytes over NATS when the node offers no route, or its URL cannot be reached', async () => {
    const tally = { http: 0, nats: 0 };
    const unreachable = new DirectUploadClient({ onUploaded: (via, bytes) => (tally[via] += bytes) });
    // A route whose advertised address nobody listens on: the upload still lands, over NATS.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const other = await connectNats(server.url, 'direct-node-8');
    serveNodelocal(other, 8, new LocalDirStorage(dir), new DirectUploadRoute(() => deadUrl));
    await other.flush();
    try {
      const remote = new RemoteNodelocalStorage(writer, 8, 'fallback', unreachable);
      expect(await remote.writeFile('data/2.sst', chunks(4, 300_000))).toEqual({ bytes: 1_200_000 });
      expect(tally).toEqual({ http: 0, nats: 1_200_000 });
      expect(await new LocalDirStorage(dir).size('fallback/data/2.sst')).toBe(1_200_000);
    } finally {
      await other.close();
    }
    // A writer without a client (the coordinator) uses NATS even where the node offers HTTP.
    const before = natsChunks;
    await new RemoteNodelocalStorage(writer, 7, 'plain').writeFile('data/3.sst', chunks(3, 300_000));
    await spy.flush();
    expect(natsChunks - before).toBeGreaterThan(0);
    expect(await new LocalDirStorage(dir).size('plain/data/3.sst')).toBe(900_000);
  });

  it('takes nothing without the upload token, and only by PUT', async () => {
    // An upload begun over NATS, as a writer would; its URL then tried with the wrong token.
    const { url, token } = await beginUpload('guarded/x.sst');
    expect((await put(url, 'f'.repeat(64), 'x')).status).toBe(403);
    expect((await put(`${baseUrl}${DIRECT_UPLOAD_PATH}no-such-upload`, token, 'x')).status).toBe(403);
    expect((await put(url, token, 'x', 'POST')).status).toBe(405);
    expect((await put(url, token, 'hello')).status).toBe(200);
    expect(await new LocalDirStorage(dir).exists('guarded/x.sst')).toBe(false);
  });

  it('fails the write with the storage error, and leaves no file', async () => {
    const failing: ExternalStorage = Object.assign(Object.create(new LocalDirStorage(dir)) as ExternalStorage, {
      async writeFile(_path: string, body: AsyncIterable<Uint8Array>): Promise<{ bytes: number }> {
        let n = 0;
        for await (const c of body) {
          n += c.byteLength;
          if (n > 1_000_000) throw new CairnError(ErrorCode.Unavailable, 'disk full');
        }
        return { bytes: n };
      },
    });
    const node9 = await connectNats(server.url, 'direct-node-9');
    let url9 = '';
    const route = new DirectUploadRoute(() => url9);
    const http9 = createServer((req, res) => void route.route(req, res, new URL(req.url ?? '/', 'http://localhost')));
    await new Promise<void>((r) => http9.listen(0, '127.0.0.1', r));
    url9 = `http://127.0.0.1:${(http9.address() as AddressInfo).port}`;
    serveNodelocal(node9, 9, failing, route);
    await node9.flush();
    try {
      const remote = new RemoteNodelocalStorage(writer, 9, 'full', new DirectUploadClient());
      await expect(remote.writeFile('data/4.sst', chunks(10, 300_000))).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: 'disk full' });
      expect(await new LocalDirStorage(dir).exists('full/data/4.sst')).toBe(false);
    } finally {
      await node9.close();
      await new Promise((r) => http9.close(r));
    }
  });
});

/** write-begin over NATS, as RemoteNodelocalStorage sends it: the upload's URL and token. */
async function beginUpload(path: string): Promise<{ url: string; token: string }> {
  const { headers } = await import('nats');
  const h = headers();
  h.set('path', path);
  const reply = await writer.request('cairn.node.7.extern.write-begin', new Uint8Array(0), { headers: h, timeout: 5000 });
  return { url: reply.headers!.get('direct-url'), token: reply.headers!.get('direct-token') };
}

function put(url: string, token: string, body: string, method = 'PUT'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
