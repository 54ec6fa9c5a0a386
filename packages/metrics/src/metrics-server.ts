import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

/** What `/health?ready=1` reports: ready, or the reasons the process is not (yet). */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/**
 * A handler for one path (matched without the query string). It owns the response; a thrown
 * error or rejected promise becomes a 500.
 */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface MetricsServerOptions {
  /** `/health`: the process is alive (200) or broken beyond repair (503). Default: alive. */
  live?: () => boolean;
  /** `/health?ready=1`: joined the cluster and able to serve. Default: same as `live`. */
  ready?: () => Readiness | Promise<Readiness>;
  /** Further paths this process serves beside `/metrics` and `/health` (exact path match). */
  routes?: Record<string, HttpRoute>;
  /**
   * Paths served by prefix (e.g. `/api/v1/` for an API with ids in its paths); the longest
   * matching prefix wins, and exact `routes` win over prefixes.
   */
  prefixRoutes?: Record<string, HttpRoute>;
}

/**
 * Serves `/metrics` (Prometheus text format), `/health` (liveness) and `/health?ready=1`
 * (readiness, as Kubernetes probes and load balancers read them) on every cairn process, plus
 * whatever `routes` the process adds (the coordinator's service discovery, for one).
 */
export async function startMetricsServer(
  host: string,
  port: number,
  registry: Registry,
  options: MetricsServerOptions | (() => boolean) = {},
): Promise<MetricsServer> {
  const o: MetricsServerOptions = typeof options === 'function' ? { live: options } : options;
  const live = o.live ?? (() => true);
  const ready = o.ready ?? ((): Readiness => (live() ? { ready: true, reasons: [] } : { ready: false, reasons: ['not live'] }));
  const prefixes = Object.entries(o.prefixRoutes ?? {}).sort((a, b) => b[0].length - a[0].length);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/metrics') {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
      return;
    }
    if (url.pathname === '/health') {
      const wantsReady = ['1', 'true'].includes(url.searchParams.get('ready') ?? '');
      const r: Readiness = wantsReady ? await ready() : live() ? { ready: true, reasons: [] } : { ready: false, reasons: ['not live'] };
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(r.ready ? 'ok\n' : `unavailable: ${r.reasons.join('; ')}\n`);
      return;
    }
    const handler = o.routes?.[url.pathname] ?? prefixes.find(([p]) => url.pathname.startsWith(p))?.[1];
    if (handler) {
      await handler(req, res, url);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  };

  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${a.port}`,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
