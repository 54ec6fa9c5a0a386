import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format) and `/health` (200 while `healthy()` is true) on
 * every cairn process.
 */
export async function startMetricsServer(
  host: string,
  port: number,
  registry: Registry,
  healthy: () => boolean = () => true,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
    } else if (req.url === '/health') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'unavailable\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${host}:${a.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
