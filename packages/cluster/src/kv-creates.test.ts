import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { ensureKv } from './jetstream-setup.js';
import { createKvEntries } from './kv-creates.js';
import { connectNats } from './nats-connection.js';
import { JsApiCode, isJsApiError } from './nats-errors.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'kv-creates-test');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);

describe('createKvEntries', () => {
  it('creates every key once with more keys than the window, reports each as stored, and refuses a key that exists as kv.create does', async () => {
    const bucket = `creates_${Date.now()}`;
    const kv = await ensureKv(nc, bucket, { replicas: 1 });
    await kv.create('k.7', bytes('earlier'));
    const entries = Array.from({ length: 300 }, (_, i) => ({ key: `k.${i}`, value: bytes(`v${i}`) }));
    const reported = new Map<number, number>();
    const results = await createKvEntries(nc, bucket, kv, entries.length, (i) => entries[i]!, { window: 32, onCreated: (i, rev) => reported.set(i, rev) });
    expect(isJsApiError(results[7], JsApiCode.WrongLastSequence)).toBe(true);
    expect((await kv.get('k.7'))?.string()).toBe('earlier');
    for (const [i, r] of results.entries()) {
      if (i === 7) continue;
      expect(typeof r).toBe('number');
      expect(reported.get(i)).toBe(r);
      const e = await kv.get(`k.${i}`);
      expect([e?.string(), e?.revision]).toEqual([`v${i}`, r]);
    }
    expect(reported.size).toBe(299);
    // One message per key ever stored: nothing was written twice.
    expect((await kv.status()).streamInfo.state.last_seq).toBe(300);
  });

  it('refuses a key KV would refuse, and creates the others', async () => {
    const bucket = `creates_bad_${Date.now()}`;
    const kv = await ensureKv(nc, bucket, { replicas: 1 });
    const entries = [{ key: 'ok', value: bytes('x') }, { key: 'a b', value: bytes('y') }, { key: 'x.', value: bytes('z') }];
    const [ok, space, dot] = await createKvEntries(nc, bucket, kv, entries.length, (i) => entries[i]!);
    expect(ok).toBe(1);
    for (const err of [space, dot]) expect([err instanceof CairnError, (err as CairnError).code]).toEqual([true, ErrorCode.InvalidArgument]);
    expect((await kv.status()).values).toBe(1);
  });
});
