import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { ErrorCode } from '@cairn/errors';
import { LocalDirStorage, collectBytes } from '@cairn/cloud';
import { startNatsServer, tempDir, type NatsServerHandle } from '@cairn/testing';
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

  it('an absent node is a retryable Unavailable error', async () => {
    const remote = new RemoteNodelocalStorage(ncClient, 99, '');
    await expect(remote.exists('a')).rejects.toMatchObject({ code: ErrorCode.Unavailable, retryable: true });
  });
});
