import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from './index.js';

/** A self-signed certificate for 127.0.0.1 (openssl: this package has no X.509 library of its own). */
function selfSigned(dir: string, name: string): { cert: Buffer; key: Buffer } {
  const [cert, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

/** One HTTPS GET trusting `ca`: status, body and the serial of the certificate presented. */
function httpsGet(address: string, path: string, ca: Buffer): Promise<{ status: number; body: string; serial: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, ca, agent: false }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('startMetricsServer with tls (secure mode)', () => {
  let dir: string;
  let server: MetricsServer;
  let current: { cert: Buffer; key: Buffer };
  let first: { cert: Buffer; key: Buffer };
  let second: { cert: Buffer; key: Buffer };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-metrics-tls-'));
    first = selfSigned(dir, 'first');
    second = selfSigned(dir, 'second');
    current = first;
    server = await startMetricsServer('127.0.0.1', 0, new Registry(), {
      routes: { '/sd/prometheus': (_req, res) => void res.end('[]') },
      prefixRoutes: { '/api/v1/': (_req, res) => void res.end('api') },
      tls: { options: () => ({ cert: current.cert, key: current.key }), openPaths: ['/sd/prometheus'] },
    });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves every path over HTTPS on the one port', async () => {
    expect(server.secure).toBe(true);
    expect((await httpsGet(server.address, '/api/v1/clusters', first.cert)).body).toBe('api');
    expect((await httpsGet(server.address, '/health', first.cert)).status).toBe(200);
  });

  it('answers only /health, /metrics and the open paths over plaintext: other reads are sent to https, the rest refused', async () => {
    const plain = `http://${server.address}`;
    expect((await fetch(`${plain}/health`)).status).toBe(200);
    expect((await fetch(`${plain}/metrics`)).status).toBe(200);
    expect(await (await fetch(`${plain}/sd/prometheus`)).text()).toBe('[]');
    const get = await fetch(`${plain}/api/v1/clusters?x=1`, { redirect: 'manual' });
    expect(get.status).toBe(308);
    expect(get.headers.get('location')).toBe(`https://${server.address}/api/v1/clusters?x=1`);
    const post = await fetch(`${plain}/api/v1/clusters`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(403);
    expect(((await post.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it('reloadTls: new connections get the new certificate', async () => {
    const before = (await httpsGet(server.address, '/health', first.cert)).serial;
    current = second;
    server.reloadTls();
    const after = await httpsGet(server.address, '/health', second.cert);
    expect(after.status).toBe(200);
    expect(after.serial).not.toBe(before);
    await expect(httpsGet(server.address, '/health', first.cert)).rejects.toThrow(/self[- ]signed|unable to verify/i);
  });
});
