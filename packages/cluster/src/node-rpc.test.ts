import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { NodeStatsRequest, NodeStatsResponse } from '@cairn/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { callNode, nodeSubject, serveNodeMethod } from './node-rpc.js';

let server: NatsServerHandle;
// The node serves on one connection, the caller uses another, as across processes.
let nodeConn: NatsConnection;
let callerConn: NatsConnection;
const subs: Array<{ unsubscribe(): void }> = [];

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nodeConn = await connectNats(server.url, 'rpc-node');
  callerConn = await connectNats(server.url, 'rpc-caller');
});
afterEach(() => {
  for (const s of subs.splice(0)) s.unsubscribe();
});
afterAll(async () => {
  await nodeConn?.close();
  await callerConn?.close();
  await server?.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function serve(nodeId: number, handler: (r: NodeStatsRequest) => Promise<NodeStatsResponse>): Promise<void> {
  subs.push(serveNodeMethod(nodeConn, nodeId, 'stats', NodeStatsRequest, NodeStatsResponse, handler));
  // The subscription must reach the server before a caller's request does.
  await nodeConn.flush();
}

function call(nodeId: number, request: NodeStatsRequest, timeoutMs?: number): Promise<NodeStatsResponse> {
  return callNode(callerConn, nodeId, 'stats', NodeStatsRequest, NodeStatsResponse, request, timeoutMs);
}

async function callError(nodeId: number, timeoutMs?: number): Promise<CairnError> {
  const err = await call(nodeId, { startKey: bytes('a'), endKey: bytes('b') }, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CairnError);
  return err as CairnError;
}

describe('nodeSubject', () => {
  it('is per node and method', () => {
    expect(nodeSubject(3, 'scan')).toBe('cairn.node.3.scan');
    expect(nodeSubject(3, 'scan')).not.toBe(nodeSubject(4, 'scan'));
  });
});

describe('serveNodeMethod / callNode', () => {
  it('round-trips a request and its response', async () => {
    const seen: NodeStatsRequest[] = [];
    await serve(1, async (r) => {
      seen.push(r);
      return { keys: 10n, liveKeys: 7n, bytes: 1n << 40n, liveBytes: 5n, midKey: r.endKey };
    });
    const res = await call(1, { startKey: bytes('a'), endKey: bytes('m') });
    expect({ ...res, midKey: text(res.midKey) }).toEqual({ keys: 10n, liveKeys: 7n, bytes: 1n << 40n, liveBytes: 5n, midKey: 'm' });
    expect(seen.map((r) => [text(r.startKey), text(r.endKey)])).toEqual([['a', 'm']]);
  });

  it('reaches the node it names', async () => {
    await serve(1, async () => ({ keys: 1n, liveKeys: 0n, bytes: 0n, liveBytes: 0n, midKey: new Uint8Array(0) }));
    await serve(2, async () => ({ keys: 2n, liveKeys: 0n, bytes: 0n, liveBytes: 0n, midKey: new Uint8Array(0) }));
    const empty = { startKey: new Uint8Array(0), endKey: new Uint8Array(0) };
    expect((await call(2, empty)).keys).toBe(2n);
    expect((await call(1, empty)).keys).toBe(1n);
  });

  it('rebuilds a CairnError thrown by the handler with its code and message', async () => {
    await serve(1, async () => {
      throw new CairnError(ErrorCode.NotFound, 'span [a, b) is not here');
    });
    const err = await callError(1);
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toBe('span [a, b) is not here');
    expect(err.retryable).toBe(false);
  });

  it('keeps an Unavailable error from the handler retryable', async () => {
    await serve(1, async () => {
      throw new CairnError(ErrorCode.Unavailable, 'replica is behind', { retryable: true });
    });
    const err = await callError(1);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toBe('replica is behind');
    expect(err.retryable).toBe(true);
  });

  it('reports any other exception as INTERNAL with its message', async () => {
    await serve(1, async () => {
      throw new TypeError('boom');
    });
    const err = await callError(1);
    expect(err.code).toBe(ErrorCode.Internal);
    expect(err.message).toBe('boom');
    expect(err.retryable).toBe(false);
  });

  it('asks a node nobody serves again for a few seconds (it may be reconnecting), then fails with a retryable Unavailable', async () => {
    const t0 = Date.now();
    const err = await callError(99, 2000);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^node 99 did not answer stats: /);
    expect(err.cause).toBeDefined();
    // No responders is answered at once: the wait is the retry budget, not the 2 s timeout.
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(1000);
    expect(waited).toBeLessThan(4500);
  });

  it('reaches a node that subscribes while the call is being retried (a node reconnecting to another server)', async () => {
    const stats = NodeStatsResponse.fromPartial({ keys: 7n });
    const calling = call(98, NodeStatsRequest.fromPartial({}), 2000);
    await new Promise((r) => setTimeout(r, 700));
    await serve(98, async () => stats);
    expect((await calling).keys).toBe(7n);
  });

  it('times out a node that does not answer with a retryable Unavailable', async () => {
    // Subscribed (so the request has a responder) but never replying, like a hung node.
    const hung = nodeConn.subscribe(nodeSubject(5, 'stats'));
    subs.push(hung);
    await nodeConn.flush();
    const t0 = Date.now();
    const err = await callError(5, 300);
    const elapsed = Date.now() - t0;
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^node 5 did not answer stats: .*TIMEOUT/i);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  });

  it('stops answering once unsubscribed', async () => {
    const sub = serveNodeMethod(nodeConn, 1, 'stats', NodeStatsRequest, NodeStatsResponse, async () => ({
      keys: 1n,
      liveKeys: 0n,
      bytes: 0n,
      liveBytes: 0n,
      midKey: new Uint8Array(0),
    }));
    await nodeConn.flush();
    expect((await call(1, { startKey: new Uint8Array(0), endKey: new Uint8Array(0) })).keys).toBe(1n);
    sub.unsubscribe();
    await nodeConn.flush();
    expect((await callError(1, 1000)).code).toBe(ErrorCode.Unavailable);
  });
});
