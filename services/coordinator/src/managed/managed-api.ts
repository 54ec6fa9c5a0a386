import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { NODE_USER } from '@cairn/cluster';
import { CairnError, ErrorCode, toCairnError } from '@cairn/errors';
import type { Logger } from '@cairn/metrics';
import { requireWriter, type HttpAuthenticator } from '../auth/http-auth.js';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import type { ManagedBackups } from './managed-backups.js';
import { parseConfigChange } from './managed-backups.js';
import { createRestore, getRestore, listRestores, parseRestoreRequest } from './managed-restores.js';
import { openApiDocument, type OpenApiExtension } from './openapi.js';

/** The prefix the API is served under (a prefix route of the coordinator's HTTP server). */
export const MANAGED_API_PREFIX = '/api/v1/';
/** Set on a request a standby forwarded, so that it is never forwarded twice. */
const FORWARDED_HEADER = 'x-cairn-forwarded';
const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_PAGE_LIMIT = 100;
const MAX_PAGE_LIMIT = 500;

/**
 * A route another module adds under `/api/v1/clusters/{cluster_id}/` (the console's jobs,
 * nodes and schedules views): the router authenticates it, forwards it to the leader,
 * checks `write` routes' role and frames its errors like its own.
 */
export interface ClusterApiRoute {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path segments after the cluster id; `:name` matches one segment into `params.name`. */
  readonly path: string;
  /** Changes state: needs CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER in secure mode. */
  readonly write: boolean;
  handler(leader: LeaderCapabilities, params: Record<string, string>, body: unknown, query: URLSearchParams): Promise<unknown>;
}

/** What the API needs of the coordinator process. */
export interface ManagedApiContext {
  /** Further routes under the cluster (see ClusterApiRoute). */
  readonly extraRoutes?: readonly ClusterApiRoute[];
  /** Their part of the OpenAPI document. */
  readonly extraOpenApi?: readonly OpenApiExtension[];
  readonly clusterId: string;
  readonly clusterName: string;
  readonly auth: HttpAuthenticator;
  readonly managed: ManagedBackups;
  leader(): LeaderCapabilities | undefined;
  /** The current leader's HTTP address (host:port), to forward to from a standby. */
  leaderHttpAddress(): Promise<string | undefined>;
  /**
   * Secure mode: the cluster's CA. The HTTP port then serves HTTPS (and nothing of this API in
   * plaintext), so a forward goes over TLS and accepts the leader's node certificate.
   */
  leaderCa?(): Buffer;
  readonly log: Logger;
}

/** HTTP status of each error code (the JSON body carries the code itself). */
function httpStatus(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidArgument:
    case ErrorCode.Syntax:
    case ErrorCode.DatatypeMismatch:
      return 400;
    case ErrorCode.Unauthenticated:
      return 401;
    case ErrorCode.InsufficientPrivilege:
      return 403;
    case ErrorCode.NotFound:
    case ErrorCode.UndefinedObject:
      return 404;
    case ErrorCode.FailedPrecondition:
    case ErrorCode.DuplicateObject:
      return 409;
    case ErrorCode.Unavailable:
    case ErrorCode.NotLeader:
    case ErrorCode.Timeout:
      return 503;
    default:
      return 500;
  }
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra });
  res.end(`${JSON.stringify(body)}\n`);
}

/** `{"code": "...", "message": "one line"}` with the code's HTTP status. */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = toCairnError(err);
  const status = httpStatus(e.code);
  // 503 is transient (no leader for a moment, NATS electing): Retry-After tells HTTP clients
  // to try again, as gRPC clients do on UNAVAILABLE.
  const extra: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : status === 503 ? { 'retry-after': '1' } : {};
  send(res, status, { code: e.code, message: e.message.split('\n')[0] }, extra);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new CairnError(ErrorCode.InvalidArgument, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new CairnError(ErrorCode.InvalidArgument, 'the body must be a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CairnError(ErrorCode.InvalidArgument, 'the body is not valid JSON');
  }
}

interface PageQuery {
  start?: number;
  end?: number;
  limit: number;
  order: 'ASC' | 'DESC';
  after?: { t: number; id: string };
}

function parseTime(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw new CairnError(ErrorCode.InvalidArgument, `${name} "${v}" is not an RFC 3339 time (e.g. 2026-12-06T00:00:00Z)`);
  return t;
}

function parsePageQuery(url: URL): PageQuery {
  const q: PageQuery = { limit: DEFAULT_PAGE_LIMIT, order: 'DESC' };
  const start = parseTime(url, 'start_time');
  const end = parseTime(url, 'end_time');
  if (start !== undefined) q.start = start;
  if (end !== undefined) q.end = end;
  const limit = url.searchParams.get('pagination.limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_LIMIT) throw new CairnError(ErrorCode.InvalidArgument, `pagination.limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
    q.limit = n;
  }
  const order = url.searchParams.get('pagination.sort_order');
  if (order !== null) {
    if (order !== 'ASC' && order !== 'DESC') throw new CairnError(ErrorCode.InvalidArgument, `pagination.sort_order must be ASC or DESC, not "${order}"`);
    q.order = order;
  }
  const page = url.searchParams.get('pagination.page');
  if (page !== null && page !== '') {
    try {
      const after = JSON.parse(Buffer.from(page, 'base64url').toString('utf8')) as { t: unknown; id: unknown };
      if (typeof after.t !== 'number' || typeof after.id !== 'string') throw new Error('shape');
      q.after = { t: after.t, id: after.id };
    } catch {
      throw new CairnError(ErrorCode.InvalidArgument, 'pagination.page is not a page token from this API (use pagination.next_page)');
    }
  }
  return q;
}

/**
 * One page of `items`: those in [start_time, end_time), sorted by time (then id), after the
 * page token's item. Tokens carry the last item's time and id, so items added meanwhile never
 * shift a listing in progress.
 */
function paginate<T>(items: readonly T[], q: PageQuery, key: (x: T) => { t: number; id: string }) {
  const cmp = (a: { t: number; id: string }, b: { t: number; id: string }) => (a.t - b.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) * (q.order === 'ASC' ? 1 : -1);
  const matching = items.filter((x) => {
    const { t } = key(x);
    return (q.start === undefined || t >= q.start) && (q.end === undefined || t < q.end);
  });
  const sorted = [...matching].sort((a, b) => cmp(key(a), key(b)));
  const rest = q.after === undefined ? sorted : sorted.filter((x) => cmp(key(x), q.after!) > 0);
  const page = rest.slice(0, q.limit);
  const last = page[page.length - 1];
  const pagination: { next_page?: string; limit: number; total_results: number } = { limit: q.limit, total_results: matching.length };
  if (rest.length > page.length && last !== undefined) pagination.next_page = Buffer.from(JSON.stringify(key(last))).toString('base64url');
  return { page, pagination };
}

/**
 * Forwards a request to the leader's HTTP address as it came (method, path, Authorization,
 * body), and relays the answer.
 */
/**
 * The `Idempotency-Key` header of a POST, as the IETF draft and Stripe-style APIs name it: a
 * client that repeats a request (a browser resends a POST whose connection closed before the
 * answer) gets the restore the first one started instead of a second one.
 */
function idempotencyKey(req: IncomingMessage): string | undefined {
  const v = req.headers['idempotency-key'];
  if (v === undefined) return undefined;
  const key = Array.isArray(v) ? v[0] : v;
  if (key === undefined || !/^[A-Za-z0-9_-]{1,128}$/.test(key)) {
    throw new CairnError(ErrorCode.InvalidArgument, 'Idempotency-Key must be 1-128 letters, digits, "-" or "_"');
  }
  return key;
}

async function forward(ctx: ManagedApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.headers[FORWARDED_HEADER] !== undefined) throw new CairnError(ErrorCode.Unavailable, 'no leader right now; try again', { retryable: true });
  const address = await ctx.leaderHttpAddress();
  if (address === undefined) throw new CairnError(ErrorCode.Unavailable, 'no leader right now; try again', { retryable: true });
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readRaw(req);
  const [host, port] = splitAddress(address);
  const ca = ctx.leaderCa?.();
  // As a standby's gRPC forward (tls-certificates.ts): any node certificate of the cluster's CA,
  // whatever address the leader was dialled at.
  const tls = ca && { ca, checkServerIdentity: (_host: string, cert: PeerCertificate) => (cert.subject?.CN === NODE_USER ? undefined : new Error(`the leader's certificate is for ${String(cert.subject?.CN)}, not a node`)) };
  await new Promise<void>((resolve, reject) => {
    const out = (tls ? httpsRequest : httpRequest)(
      {
        ...(tls ?? {}),
        host,
        port,
        method: req.method,
        path: req.url,
        headers: {
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}),
          ...(req.headers['idempotency-key'] ? { 'idempotency-key': req.headers['idempotency-key'] } : {}),
          [FORWARDED_HEADER]: '1',
        },
        timeout: 60_000,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, Object.fromEntries(Object.entries(answer.headers).filter(([k]) => k === 'content-type' || k === 'www-authenticate' || k === 'retry-after')) as Record<string, string>);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    out.on('timeout', () => out.destroy(new Error('the leader did not answer in 60 s')));
    out.on('error', (err) => reject(new CairnError(ErrorCode.Unavailable, `cannot reach the leader at ${address}: ${err.message}`, { retryable: true, cause: err })));
    out.end(body);
  });
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function splitAddress(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), Number(a.slice(i + 1))];
}

function methodNotAllowed(allowed: string[]): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, `method not allowed here: use ${allowed.join(' or ')}`);
}

/**
 * The `/api/v1/` route: the managed-backups API. The OpenAPI document is public; everything
 * else is authenticated (secure mode) and runs on the leader (a standby forwards it).
 */
export function managedApiRoute(ctx: ManagedApiContext) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      if (url.pathname === '/api/v1/openapi.json') {
        if (req.method !== 'GET') throw methodNotAllowed(['GET']);
        send(res, 200, openApiDocument(ctx.extraOpenApi));
        return;
      }
      const leader = ctx.leader();
      if (!leader) {
        await forward(ctx, req, res);
        return;
      }
      const caller = await ctx.auth.authenticate(req);
      await ctx.auth.audited(caller, req, () => handle(ctx, leader, caller, req, res, url));
    } catch (err) {
      if (!(err instanceof CairnError)) ctx.log.warn({ err, path: url.pathname }, 'managed backups API call failed');
      if (res.headersSent) res.end();
      else sendError(res, err);
    }
  };
}

async function handle(
  ctx: ManagedApiContext,
  leader: LeaderCapabilities,
  caller: Awaited<ReturnType<HttpAuthenticator['authenticate']>>,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const parts = url.pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  // parts: api, v1, clusters, {cluster_id}, resource, ...
  if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'clusters') throw new CairnError(ErrorCode.NotFound, `no such API path: ${url.pathname}`);
  const method = req.method ?? 'GET';
  if (parts.length === 3) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    send(res, 200, { clusters: [{ id: ctx.clusterId, name: ctx.clusterName, secure: ctx.auth.isSecure }] });
    return;
  }
  if (parts[3] !== ctx.clusterId) throw new CairnError(ErrorCode.NotFound, `cluster "${parts[3]}" is not this cluster (${ctx.clusterId})`);
  const rest = parts.slice(4);
  const m = ctx.managed;
  const route = rest.join('/');
  if (route === 'backups-config') {
    if (method === 'GET') return send(res, 200, await m.getConfig());
    if (method === 'PATCH' || method === 'PUT') {
      requireWriter(caller, 'changing the backup configuration');
      return send(res, 200, await m.updateConfig(leader, parseConfigChange(await readJson(req))));
    }
    throw methodNotAllowed(['GET', 'PATCH']);
  }
  if (route === 'backups') {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const { page, pagination } = paginate(await m.backups(leader), parsePageQuery(url), (b) => ({ t: Date.parse(b.as_of_time), id: b.id }));
    return send(res, 200, { backups: page, pagination });
  }
  if (rest[0] === 'backups' && rest[2] === 'databases' && (rest.length === 3 || (rest.length === 5 && rest[4] === 'tables'))) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const { record } = await m.completeBackup(leader, rest[1]!);
    if (rest.length === 3) return send(res, 200, { databases: record.databases.map((d) => ({ name: d.name, table_count: d.tables.length })) });
    const db = record.databases.find((d) => d.name === rest[3]);
    if (!db) throw new CairnError(ErrorCode.NotFound, `database "${rest[3]}" is not in backup ${rest[1]}`);
    return send(res, 200, { tables: db.tables.map((name) => ({ name, schema: 'public' })) });
  }
  if (route === 'incomplete-backups') {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const { page, pagination } = paginate(await m.incomplete(leader), parsePageQuery(url), (b) => ({ t: Date.parse(b.started_at), id: b.job_id }));
    return send(res, 200, { incomplete_backups: page, pagination });
  }
  if (route === 'restores') {
    if (method === 'GET') {
      const { page, pagination } = paginate(await listRestores(leader, m), parsePageQuery(url), (r) => ({ t: Date.parse(r.created_at), id: r.id }));
      return send(res, 200, { restores: page, pagination });
    }
    if (method === 'POST') {
      requireWriter(caller, 'restoring');
      return send(res, 200, await createRestore(leader, m, ctx.clusterName, parseRestoreRequest(await readJson(req)), idempotencyKey(req)));
    }
    throw methodNotAllowed(['GET', 'POST']);
  }
  if (rest[0] === 'restores' && rest.length === 2) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    return send(res, 200, await getRestore(leader, m, rest[1]!));
  }
  for (const r of ctx.extraRoutes ?? []) {
    const params = matchPath(r.path, rest);
    if (params === undefined || r.method !== method) continue;
    if (r.write) requireWriter(caller, `${method} ${r.path}`);
    const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req);
    return send(res, 200, await r.handler(leader, params, body, url.searchParams));
  }
  throw new CairnError(ErrorCode.NotFound, `no such API path: ${url.pathname}`);
}

function matchPath(pattern: string, segments: readonly string[]): Record<string, string> | undefined {
  const want = pattern.split('/').filter((p) => p !== '');
  if (want.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = segments[i]!;
    else if (w !== segments[i]) return undefined;
  }
  return params;
}
