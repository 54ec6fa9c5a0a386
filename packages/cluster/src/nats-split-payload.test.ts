import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers, type Msg, type NatsConnection } from 'nats';
import { seededRandom, startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';

/**
 * Payloads larger than one socket read reach nats.js's parser in pieces. The workspace patches
 * its parser (patches/nats@2.29.3.patch) to give such a payload one buffer of its exact size and
 * copy the pieces in, instead of growing a buffer by doubling: restore's staged batches and the
 * nodelocal relay's file chunks are all such payloads. These tests pin both what the patch must
 * keep (every byte where it was, across any split) and what it is for (one buffer per payload).
 *
 * On the way out, nats.js joined everything a flush sent (protocol lines, headers, payloads)
 * into one fresh buffer, a copy of every byte published. The patch writes a payload of 32 KiB
 * or more to the socket as given, corked with the small frames around it (one writev).
 */

let server: NatsServerHandle;
let pub: NatsConnection;
let sub: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  pub = await connectNats(server.url, 'split-payload-pub');
  sub = await connectNats(server.url, 'split-payload-sub');
});

afterAll(async () => {
  await pub.close();
  await sub.close();
  await server.stop();
});

/** `size` bytes that differ with `seed` and with the position in the payload. */
function payload(size: number, seed: number): Uint8Array {
  const next = seededRandom(seed);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Subscribes to `subject` and resolves with the first `count` messages. */
function collect(subject: string, count: number): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    sub.subscribe(subject, {
      max: count,
      callback: (err, msg) => {
        if (err) return reject(err);
        got.push(msg);
        if (got.length === count) resolve(got);
      },
    });
  });
}

describe('payloads split across socket reads', () => {
  it('arrive byte-exact in a buffer of their own size', async () => {
    const size = 900 * 1024; // many 64 KiB socket reads, below the server's 1 MiB limit
    const sent = payload(size, 1);
    const received = collect('split.one', 1);
    await sub.flush();
    pub.publish('split.one', sent);
    const [msg] = await received;
    expect(Buffer.compare(msg!.data, sent)).toBe(0);
    // Unpatched, it is the capacity the last doubling left, larger than the payload.
    expect(msg!.data.buffer.byteLength).toBe(size);
  });

  it('arrive byte-exact when many of varied sizes, with and without headers, follow each other', async () => {
    const next = seededRandom(7);
    // Sizes around the socket read size and its multiples, tiny and empty payloads between
    // large ones, so that payloads start and end at many offsets within the reads.
    const fixed = [0, 1, 2, 65_535, 65_536, 65_537, 131_072, 300_001, 1_000_000];
    const sizes = [...fixed, ...Array.from({ length: 120 }, () => (next() < 0.3 ? Math.floor(next() * 64) : Math.floor(next() * 1_000_000)))];
    const received = collect('split.many', sizes.length);
    await sub.flush();
    sizes.forEach((size, i) => {
      if (i % 3 === 0) {
        const h = headers();
        h.set('seq', String(i));
        pub.publish('split.many', payload(size, 100 + i), { headers: h });
      } else {
        pub.publish('split.many', payload(size, 100 + i));
      }
    });
    await pub.flush();
    const msgs = await received;
    expect(msgs.map((m) => m.data.byteLength)).toEqual(sizes);
    msgs.forEach((m, i) => {
      expect(Buffer.compare(m.data, payload(sizes[i]!, 100 + i)), `message ${i} of ${sizes[i]} bytes`).toBe(0);
      expect(m.headers?.get('seq') ?? '', `headers of message ${i}`).toBe(i % 3 === 0 ? String(i) : '');
    });
  });
});

describe('payloads sent', () => {
  it('go to the socket as given when large, joined with their neighbours when small', async () => {
    // The connection's socket, as nats.js's Node transport holds it.
    const socket = (pub as unknown as { protocol: { transport: { socket: { write: (chunk: Uint8Array, cb?: unknown) => boolean } } } }).protocol.transport.socket;
    const written: Uint8Array[] = [];
    const write = socket.write.bind(socket);
    socket.write = (chunk, cb) => {
      written.push(chunk);
      return write(chunk, cb);
    };
    try {
      const large = payload(200 * 1024, 3);
      const small = payload(100, 4);
      const received = collect('sent.frames', 3);
      await sub.flush();
      pub.publish('sent.frames', small);
      pub.publish('sent.frames', large);
      pub.publish('sent.frames', small);
      await pub.flush();
      const msgs = await received;
      expect(msgs.map((m) => Buffer.compare(m.data, [small, large, small][msgs.indexOf(m)]!))).toEqual([0, 0, 0]);
      // Unpatched, one packed buffer holds all three, and the large payload is never written itself.
      expect(written.some((w) => w === large)).toBe(true);
      // The first protocol line and the small payload went as one frame, not one write each.
      const first = Buffer.from(written[0]!).toString('latin1');
      expect(first.startsWith('PUB sent.frames 100')).toBe(true);
      expect(written[0]!.byteLength).toBeGreaterThan(100);
    } finally {
      socket.write = write;
    }
  });
});
