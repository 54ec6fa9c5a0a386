import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type NatsConnection } from 'nats';
import { ErrorCode } from '@cairn/errors';
import { LocalDirStorage, collectBytes } from '@cairn/cloud';
import { startNatsServer, tempDir, waitFor, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { RemoteNodelocalStorage, serveNodelocal } from './nodelocal-proxy.js';

let server: NatsServerHandle;
let ncServer: NatsConnection;
let ncClient: NatsConnection;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  ncServer = await connectNats(server.url, 'extern-server');
  ncClient = await connectNats(server.url, 'extern-client');
  dir = await tempDir('nodelocal-proxy');
  serveNodelocal(ncServer, 4, new LocalDirStorage(dir));
  // The subscription is live at the server only once the connection has flushed; a request
  // from the other connection before that finds no responder (seen on a loaded CI machine).
  await ncServer.flush();
});

afterAll(async () => {
  await ncServer.close();
  await ncClient.close();
  await server.stop();
});

async function* chunks(n: number, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(i % 251);
}

describe('nodelocal proxy', () => {
  it('writes, reads ranges, lists, sizes and deletes files on another node', async () => {
    const remote = new RemoteNodelocalStorage(ncClient, 4, 'backups');
    const { bytes } = await remote.writeFile('2024/a/data/1.sst', chunks(5, 300_000));
    expect(bytes).toBe(1_500_000);
    await remote.writeFile('2024/a/BACKUP_MANIFEST', new TextEncoder().encode('manifest'));
    expect(await remote.size('2024/a/data/1.sst')).toBe(1_500_000);
    const all = await collectBytes(remote.readFile('2024/a/data/1.sst'));
    expect(all.byteLength).toBe(1_500_000);
    expect(all[299_999]).toBe(0);
    expect(all[300_000]).toBe(1);
    const part = await collectBytes(remote.readFile('2024/a/data/1.sst', { offset: 599_990, length: 20 }));
    expect([...part]).toEqual([...new Array(10).fill(1), ...new Array(10).fill(2)]);
    const listed: string[] = [];
    for await (const p of remote.list('')) listed.push(p);
    expect(listed).toEqual(['2024/a/BACKUP_MANIFEST', '2024/a/data/1.sst']);
    expect(await remote.exists('2024/a/BACKUP_MANIFEST')).toBe(true);
    await remote.delete('2024/a/BACKUP_MANIFEST');
    expect(await remote.exists('2024/a/BACKUP_MANIFEST')).toBe(false);
    // The bytes really are in node 4's extern dir.
    const local = new LocalDirStorage(dir);
    expect(await local.size('backups/2024/a/data/1.sst')).toBe(1_500_000);
  });

  it('deletes a prefix on another node, inside its base path only', async () => {
    const remote = new RemoteNodelocalStorage(ncClient, 4, 'expiry');
    const beside = new RemoteNodelocalStorage(ncClient, 4, 'expiry-beside');
    for (const f of ['2024/01/01-000000.00/BACKUP_MANIFEST', '2024/01/01-000000.00/data/1.sst', '2024/01/02-000000.00/BACKUP_MANIFEST']) {
      await remote.writeFile(f, new TextEncoder().encode(f));
    }
    await beside.writeFile('2024/01/01-000000.00/data/1.sst', new Uint8Array([1]));
    expect(await remote.deletePrefix('2024/01/01-000000.00/')).toBe(2);
    const listed: string[] = [];
    for await (const p of remote.list('')) listed.push(p);
    expect(listed).toEqual(['2024/01/02-000000.00/BACKUP_MANIFEST']);
    expect(await beside.exists('2024/01/01-000000.00/data/1.sst')).toBe(true);
    expect(await remote.deletePrefix('2024/01/01-000000.00/')).toBe(0);
    // The empty prefix would be the base path itself: refused before anything is sent.
    await expect(remote.deletePrefix('')).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(await remote.exists('2024/01/02-000000.00/BACKUP_MANIFEST')).toBe(true);
  });

  it('a failed write leaves no file, and errors keep their codes', async () => {
    const remote = new RemoteNodelocalStorage(ncClient, 4, 'x');
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      throw new Error('source failed');
    }
    await expect(remote.writeFile('partial.sst', broken())).rejects.toThrow('source failed');
    expect(await remote.exists('partial.sst')).toBe(false);
    await expect(remote.size('missing')).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('sends a file of mixed chunk sizes in order, large chunks split, several messages in flight', async () => {
    // Node 5's storage takes nothing of a streamed file until released: every write message
    // the writer sends before that is one sent before any was answered.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    class HeldStorage extends LocalDirStorage {
      override writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ bytes: number }> {
        if (body instanceof Uint8Array) return super.writeFile(path, body);
        async function* gated(): AsyncGenerator<Uint8Array> {
          await held;
          yield* body as AsyncIterable<Uint8Array>;
        }
        return super.writeFile(path, gated());
      }
    }
    const heldDir = await tempDir('nodelocal-proxy-held');
    const sub = serveNodelocal(ncServer, 5, new HeldStorage(heldDir));
    const seen = ncServer.subscribe('cairn.node.5.extern.write-chunk');
    let messages = 0;
    let largest = 0;
    void (async () => {
      for await (const m of seen) {
        messages++;
        largest = Math.max(largest, m.data.byteLength);
      }
    })();
    await ncServer.flush();
    try {
      // A data file writer's chunks are a little over 512 KiB; others are tiny or far larger.
      const sizes = [540_000, 3, 540_000, 2_500_000, 100, 70_000, 540_000, 540_000, 540_000];
      const parts = sizes.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) % 251));
      async function* produce(): AsyncGenerator<Uint8Array> {
        yield* parts;
      }
      const remote = new RemoteNodelocalStorage(ncClient, 5, 'mixed');
      const writing = remote.writeFile('f.sst', produce());
      // Three messages are sent before the first is answered.
      await waitFor(async () => (messages >= 3 ? true : undefined), { timeoutMs: 10_000, what: 'three write messages in flight' });
      await new Promise((r) => setTimeout(r, 100));
      expect(messages).toBe(3);
      release();
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(await writing).toEqual({ bytes: total });
      expect(Buffer.from(await collectBytes(remote.readFile('f.sst'))).equals(Buffer.concat(parts))).toBe(true);
      // Each message stays below NATS's 1 MiB payload limit.
      expect(largest).toBeGreaterThan(512 * 1024);
      expect(largest).toBeLessThan(1024 * 1024);
    } finally {
      release();
      seen.unsubscribe();
      sub.unsubscribe();
    }
  });

  it('writes a small whole file in one request, a large one in steps, and falls back to steps on a node without it', async () => {
    const ops = (nodeId: number) => {
      const seen: string[] = [];
      const sub = ncServer.subscribe(`cairn.node.${nodeId}.extern.*`, { callback: (_err, m) => void seen.push(m.subject.slice(m.subject.lastIndexOf('.') + 1)) });
      return { seen, sub };
    };
    const small = Uint8Array.from({ length: 4000 }, (_, i) => i % 251);
    const large = new Uint8Array(3 * 1024 * 1024).fill(7);

    const watch = ops(4);
    await ncServer.flush();
    const remote = new RemoteNodelocalStorage(ncClient, 4, 'whole');
    expect(await remote.writeFile('BACKUP_MANIFEST', small)).toEqual({ bytes: 4000 });
    expect(watch.seen).toEqual(['write']);
    expect(Buffer.from(await remote.readAll('BACKUP_MANIFEST')).equals(Buffer.from(small))).toBe(true);
    watch.seen.length = 0;
    expect(await remote.writeFile('big.sst', large)).toEqual({ bytes: large.byteLength });
    expect(watch.seen[0]).toBe('write-begin');
    expect(watch.seen).not.toContain('write');
    expect(await remote.size('big.sst')).toBe(large.byteLength);
    watch.sub.unsubscribe();

    // Node 6 is a node from before the one-request write: an unknown operation to it; every
    // other one it passes to node 7's real server (in node 7's dir).
    const oldDir = await tempDir('nodelocal-proxy-old');
    const storage = new LocalDirStorage(oldDir);
    const real = serveNodelocal(ncServer, 7, storage);
    const old = ncServer.subscribe('cairn.node.6.extern.*', {
      callback: (_err, m) => {
        const op = m.subject.slice(m.subject.lastIndexOf('.') + 1);
        if (op === 'write') {
          const h = headers();
          h.set('error-code', ErrorCode.InvalidArgument);
          h.set('error', 'unknown nodelocal operation write');
          m.respond(new Uint8Array(0), { headers: h });
          return;
        }
        void ncServer.request(`cairn.node.7.extern.${op}`, m.data, { timeout: 10_000, ...(m.headers ? { headers: m.headers } : {}) }).then((r) => m.respond(r.data, r.headers ? { headers: r.headers } : {}));
      },
    });
    await ncServer.flush();
    try {
      const older = new RemoteNodelocalStorage(ncClient, 6, 'old');
      expect(await older.writeFile('BACKUP_MANIFEST', small)).toEqual({ bytes: 4000 });
      expect(Buffer.from(await storage.readAll('old/BACKUP_MANIFEST')).equals(Buffer.from(small))).toBe(true);
    } finally {
      old.unsubscribe();
      real.unsubscribe();
    }
  });

  it('an absent node is a retryable Unavailable error', async () => {
    const remote = new RemoteNodelocalStorage(ncClient, 99, '');
    await expect(remote.exists('a')).rejects.toMatchObject({ code: ErrorCode.Unavailable, retryable: true });
  });
});
