import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  /** Whether the port serves TLS (options.tls given). */
  secure: boolean;
  /** Takes options.tls's certificate again for new TLS connections (SIGHUP); open ones keep theirs. */
  reloadTls(): void;
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
  /**
   * Secure mode: the port serves HTTPS with the certificate and key `tls()` returns (read again
   * by `reloadTls`). Plaintext connections to the same port are still answered, but only for
   * what anyone may read without credentials — `/health`, `/metrics` and `openPaths` — so
   * probes and Prometheus need no CA; any other path over plaintext is redirected to https
   * (GET, HEAD) or refused (403), so no credential is ever accepted in the clear.
   */
  tls?: { options: () => SecureContextOptions; openPaths?: string[] };
}

/** Paths served over plaintext even in secure mode: probes and Prometheus read them without credentials. */
const ALWAYS_OPEN = ['/health', '/metrics'];
/** The first byte of a TLS connection (a handshake record); an HTTP request starts with a method's letter. */
const TLS_HANDSHAKE = 0x16;
/** How long a new connection may stay silent before its first byte. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

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

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${err instanceof Error ? err.message : String(err)}\n`);
    });
  };
  if (o.tls === undefined) {
    const server: Server = createServer(handle);
    await listen(server, host, port);
    return { address: boundAddress(host, server), secure: false, reloadTls: () => undefined, close: () => closeAll(server, [server]) };
  }

  // One port, both protocols: the first byte of a connection tells a TLS handshake from a
  // plaintext request, and the connection is handed to the server that speaks it.
  const tls = o.tls;
  const open = new Set([...ALWAYS_OPEN, ...(tls.openPaths ?? [])]);
  const https = createHttpsServer(tls.options(), handle);
  const plain: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (open.has(url.pathname)) return handle(req, res);
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.writeHead(308, { location: `https://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, 'content-type': 'text/plain' });
      res.end('this cluster is secure: use https\n');
      return;
    }
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ code: 'UNAUTHENTICATED', message: 'this cluster is secure: use https (nothing but /health and /metrics is served over plaintext)' })}\n`);
  });
  // Connections not yet handed on (no first byte yet) are the front's to end on close.
  const waiting = new Set<Socket>();
  const front = createNetServer((socket: Socket) => {
    waiting.add(socket);
    socket.once('close', () => waiting.delete(socket));
    socket.once('error', () => socket.destroy());
    // A connection that never says anything must not hold a socket forever; once handed on,
    // the HTTP server's own timeouts apply.
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      waiting.delete(socket);
      socket.setTimeout(0);
      socket.unshift(first);
      (first[0] === TLS_HANDSHAKE ? https : plain).emit('connection', socket);
    });
  });
  await listen(front, host, port);
  return {
    address: boundAddress(host, front),
    secure: true,
    reloadTls: () => https.setSecureContext(tls.options()),
    close: () => closeAll(front, [plain, https, { closeAllConnections: () => waiting.forEach((s) => s.destroy()) }]),
  };
}

function listen(server: Server | ReturnType<typeof createNetServer>, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

function boundAddress(host: string, server: { address(): AddressInfo | string | null }): string {
  const a = server.address() as AddressInfo;
  return `${host.includes(':') ? `[${host}]` : host}:${a.port}`;
}

/** Stops listening and ends every open connection (keep-alive ones included) of `servers`. */
function closeAll(listener: { close(cb: () => void): unknown }, servers: Array<{ closeAllConnections(): void }>): Promise<void> {
  return new Promise((r) => {
    listener.close(() => r());
    for (const s of servers) s.closeAllConnections();
  });
}
