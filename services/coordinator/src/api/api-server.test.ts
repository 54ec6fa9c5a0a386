import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { CairnClient } from '@cairn/client';
import { CairnError, ErrorCode } from '@cairn/errors';
import { startApiServer, type ApiServer } from './api-server.js';
import type { LeaderForwarder } from './leader-forwarder.js';

// A coordinator with no leader and a forwarder that reports none: the API must still answer
// health checks and reflection, and leader-only calls must fail with a retryable code.
let server: ApiServer;
const forwarder = {
  forward: async () => {
    throw new CairnError(ErrorCode.NotLeader, 'no coordinator leader elected yet; retry shortly', { retryable: true });
  },
} as unknown as LeaderForwarder;

beforeAll(async () => {
  server = await startApiServer(
    { coordinatorId: 'c-test', clusterId: 'cluster-test', advertisedAddress: () => 'c-test:26257', leader: () => undefined, forwarder },
    '127.0.0.1',
    0,
  );
});

afterAll(async () => {
  await server.stop();
});

type Untyped = Record<string, new (addr: string, creds: unknown) => Record<string, (...args: unknown[]) => unknown>>;

function reflectionClient(): Record<string, (...args: unknown[]) => unknown> {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@grpc/reflection/package.json'));
  const def = loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [join(pkgDir, 'build', 'proto')], keepCase: true });
  const pkg = loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: Untyped } } };
  const Ctor = pkg.grpc.reflection.v1alpha['ServerReflection']!;
  return new Ctor(server.address, credentials.createInsecure());
}

describe('gRPC API server', () => {
  it('binds port 0 and answers the standard health check: NOT_SERVING until told it is ready', async () => {
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    const def = loadSync('health.proto', {
      includeDirs: [join(dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto', 'health', 'v1')],
      enums: String,
    });
    const pkg = loadPackageDefinition(def) as unknown as { grpc: { health: { v1: Untyped } } };
    const client = new pkg.grpc.health.v1['Health']!(server.address, credentials.createInsecure());
    const check = (service: string): Promise<string> =>
      new Promise<{ status: string }>((resolve, reject) =>
        client['check']!({ service }, (err: ServiceError | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
      ).then((r) => r.status);
    expect(await check('')).toBe('NOT_SERVING');
    server.setServing(true);
    expect(await check('')).toBe('SERVING');
    expect(await check('cairn.v1.SqlService')).toBe('SERVING');
    server.setServing(false);
    expect(await check('')).toBe('NOT_SERVING');
  });

  it('lists cairn services through server reflection', async () => {
    const client = reflectionClient();
    const call = client['ServerReflectionInfo']!(new Metadata()) as {
      write(m: unknown): void;
      end(): void;
      on(ev: string, cb: (x: unknown) => void): void;
    };
    const services = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (m) => resolve(((m as { list_services_response: { service: Array<{ name: string }> } }).list_services_response.service).map((s) => s.name)));
      call.on('error', (e) => reject(e as Error));
      call.write({ list_services: '' });
    });
    call.end();
    expect(services).toEqual(expect.arrayContaining(['cairn.v1.SqlService', 'cairn.v1.ClusterService', 'cairn.v1.DataService']));
  });

  it('a coordinator without a leader answers leader-only calls with a retryable error', async () => {
    const client = new CairnClient({ addresses: [server.address], retryForMs: 0 });
    try {
      await expect(client.execute('SHOW NODES')).rejects.toMatchObject({ code: ErrorCode.NotLeader, retryable: true });
    } finally {
      client.close();
    }
  });
});
