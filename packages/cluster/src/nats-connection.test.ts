import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';

async function connectError(url: string, timeoutMs?: number): Promise<{ err: CairnError; elapsedMs: number }> {
  const t0 = Date.now();
  try {
    const nc = await connectNats(url, 'connect-test', timeoutMs);
    await nc.close();
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    return { err, elapsedMs: Date.now() - t0 };
  }
  throw new Error(`connectNats(${url}) succeeded`);
}

describe('connectNats failures', () => {
  it('fails fast with UNAVAILABLE naming the URL when nothing listens', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const { err, elapsedMs } = await connectError(url);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`cannot reach NATS at ${url}`);
    expect(err.cause).toBeDefined();
    // Refused connections are not retried for the whole timeout.
    expect(elapsedMs).toBeLessThan(2000);
  });

  it('gives up after the timeout when the address accepts but never speaks NATS', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const url = `127.0.0.1:${port}`;
      const { err, elapsedMs } = await connectError(url, 500);
      expect(err.code).toBe(ErrorCode.Unavailable);
      expect(err.message).toContain(url);
      expect(elapsedMs).toBeGreaterThanOrEqual(400);
      expect(elapsedMs).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it.each(['', ' , ', 'nats://'])('rejects the empty server list %j as an invalid argument', async (url) => {
    const { err } = await connectError(url);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`invalid NATS URL "${url}"`);
  });
});

describe('connectNats to a running server', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('accepts a comma-separated list with and without the nats:// scheme', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const nc = await connectNats(` ${dead} , nats://127.0.0.1:${server.port} `, 'list-test');
    try {
      await nc.flush();
      expect(nc.getServer()).toBe(`127.0.0.1:${server.port}`);
    } finally {
      await nc.close();
    }
  });

  it('reconnects by itself after the server restarts', async () => {
    const nc: NatsConnection = await connectNats(server.url, 'reconnect-test');
    try {
      const sub = nc.subscribe('echo', { callback: (_err, m) => m.respond(m.data) });
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return true;
        return false;
      })();
      await server.kill();
      // Several failed reconnect attempts pass while the server is down.
      await sleep(1000);
      expect(nc.isClosed()).toBe(false);
      await server.restart();
      expect(await reconnected).toBe(true);
      // The subscription made before the outage is restored on the new connection.
      const reply = await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 5000 });
      expect(new TextDecoder().decode(reply.data)).toBe('hi');
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  });
});
