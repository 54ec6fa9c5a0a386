import type { NatsConnection } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { followStream } from './stream-follower.js';

let server: NatsServerHandle;
let nc: NatsConnection;
const STREAM = 'BOUNDED_TEST';
const MESSAGES = 200;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'bounded-consume-test');
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: STREAM, subjects: ['bounded.>'] });
  const js = nc.jetstream();
  const body = new Uint8Array(32 * 1024);
  for (let i = 0; i < MESSAGES; i++) await js.publish('bounded.x', body);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('followStream', () => {
  it('holds at most maxMessages ahead of a reader that stops, and still delivers every message in order', async () => {
    const abort = new AbortController();
    const seqs: number[] = [];
    const before = nc.stats().inMsgs;
    let heldWhilePaused = 0;
    for await (const m of followStream(nc, nc.jetstream(), STREAM, { fromSeq: 1, maxMessages: 8, signal: abort.signal })) {
      seqs.push(m.seq);
      if (seqs.length === 1) {
        // The reader stalls on its first message: what arrives meanwhile is what the client
        // buffers. nats.js's consume() kept pulling here until it held the whole stream.
        await sleep(1500);
        heldWhilePaused = nc.stats().inMsgs - before;
      }
      if (seqs.length === MESSAGES) abort.abort();
    }
    // 8 messages plus a few protocol messages (pull answers, heartbeats) and the consumer's
    // creation reply; far below the 200 an unbounded pull would have delivered.
    expect(heldWhilePaused).toBeLessThanOrEqual(16);
    expect(seqs).toEqual(Array.from({ length: MESSAGES }, (_, i) => i + 1));
  });
});
