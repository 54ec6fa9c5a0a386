import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, startNatsServer, waitFor, type NatsClusterHandle, type NatsServerHandle } from './index.js';

const connections: NatsConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(connections.splice(0).map((nc) => nc.close()));
});

async function open(servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  connections.push(nc);
  return nc;
}

describe('startNatsServer', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves JetStream KV', async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const nc = await open(server.url);
    const kv = await nc.jetstream().views.kv('harness_kv');
    await kv.put('greeting', 'hello');
    expect((await kv.get('greeting'))?.string()).toBe('hello');
  });

  it('keeps stream data across SIGKILL and restart on the same port', async () => {
    const nc = await open(server.url);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'durable', subjects: ['durable.>'] });
    const js = nc.jetstream();
    for (let i = 0; i < 10; i++) await js.publish('durable.x', `m${i}`);
    const firstPid = server.pid;

    await server.kill();
    expect(server.running).toBe(false);
    await server.restart();
    expect(server.pid).not.toBe(firstPid);

    const nc2 = await open(server.url);
    const info = await (await nc2.jetstreamManager()).streams.info('durable');
    expect(info.state.messages).toBe(10);
    const kv = await nc2.jetstream().views.kv('harness_kv');
    expect((await kv.get('greeting'))?.string()).toBe('hello');
  });

  it('runs without JetStream when asked', async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      const nc = await open(plain.url);
      await nc.flush();
      expect(plain.storeDir).toBe('');
    } finally {
      await plain.stop();
    }
  });
});

describe('startNatsCluster', () => {
  let cluster: NatsClusterHandle;
  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('replicates an R3 stream and stays writable when its leader dies', async () => {
    expect(cluster.servers).toHaveLength(3);
    expect(cluster.url).toBe(cluster.urls.join(','));
    const nc = await open(cluster.urls);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'r3', subjects: ['r3.>'], num_replicas: 3 });
    const js = nc.jetstream();
    for (let i = 0; i < 5; i++) await js.publish('r3.a', `m${i}`);

    const info = await jsm.streams.info('r3');
    expect(info.cluster?.replicas).toHaveLength(2);
    const leader = cluster.servers.find((s) => s.name === info.cluster?.leader);
    expect(leader).toBeDefined();
    await leader?.kill();

    // A new stream leader needs an election; publish until one accepts.
    await waitFor(async () => (await js.publish('r3.a', 'after-kill', { timeout: 2_000 })).seq, {
      what: 'a publish to r3 after its leader died',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const after = await waitFor(async () => (await jsm.streams.info('r3')).state.messages, {
      what: 'stream info after failover',
      timeoutMs: 30_000,
    });
    expect(after).toBe(6);

    await leader?.restart();
    expect(leader?.running).toBe(true);
  });
});
