import { createHash, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A STAND-IN for Google Cloud Storage, not an emulator of it: no GCS emulator installs here
 * (fake-gcs-server is a Go binary, the gcloud one needs the SDK), so this speaks the subset of
 * the JSON API that cairn's `GcsStorage` uses, over real HTTP, to the real
 * `@google-cloud/storage` client:
 *
 * - `GET /storage/v1/b/<bucket>`: bucket metadata (404 when missing);
 * - `GET /storage/v1/b/<bucket>/o/<object>`: object metadata, `?alt=media` the bytes (with
 *   `Range`), also under `/download/storage/v1/...`;
 * - `GET /storage/v1/b/<bucket>/o?prefix&delimiter&pageToken&maxResults`: listing in name
 *   order with `prefixes` and page tokens;
 * - `POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart`: a `multipart/related` upload
 *   (metadata part, media part); the object appears only when the whole body arrived;
 * - `DELETE /storage/v1/b/<bucket>/o/<object>`.
 *
 * Every request must carry `Authorization: Bearer <token>`: a self-signed service-account JWT
 * (RS256, checked against the key of `credentials()`, as GCS accepts them) or a token from
 * `issueAccessToken()`. Objects live in memory. Errors use GCS's JSON error shape.
 */
export interface GcsStandIn {
  /** `http://127.0.0.1:PORT`, the client's `apiEndpoint`. */
  readonly endpoint: string;
  /** A service-account key file (JSON text) whose self-signed JWTs the stand-in accepts. */
  credentials(): string;
  /** Another key file, unknown to the stand-in: its requests are refused with 401. */
  unknownCredentials(): string;
  /** An OAuth2 access token the stand-in accepts as a bearer token. */
  issueAccessToken(): string;
  createBucket(name: string): void;
  /** Names of the objects in a bucket. */
  objectNames(bucket: string): string[];
  /** The stored bytes of an object, to check what reached the server. */
  objectBytes(bucket: string, name: string): Buffer | undefined;
  /** Requests answered so far (method and path), for tests of what the client did. */
  readonly requests: ReadonlyArray<{ method: string; path: string; status: number }>;
  stop(): Promise<void>;
}

interface StoredObject {
  data: Buffer;
  generation: number;
  updated: string;
  contentType: string;
}

interface ServiceAccount {
  email: string;
  keyId: string;
  privateKeyPem: string;
  publicKey: KeyObject;
}

function newServiceAccount(name: string): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    email: `${name}@cairn-test.iam.gserviceaccount.com`,
    keyId: randomBytes(20).toString('hex'),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
  };
}

function keyFile(sa: ServiceAccount): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: 'cairn-test',
    private_key_id: sa.keyId,
    private_key: sa.privateKeyPem,
    client_email: sa.email,
    client_id: '1',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

function b64url(s: string): Buffer {
  return Buffer.from(s.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
}

/** Starts the stand-in on a free loopback port, in this process (it ends with it). */
export async function startGcsStandIn(options: { buckets?: string[] } = {}): Promise<GcsStandIn> {
  const account = newServiceAccount('cairn-backup');
  const stranger = newServiceAccount('stranger');
  const accessTokens = new Set<string>();
  const buckets = new Map<string, Map<string, StoredObject>>();
  for (const b of options.buckets ?? []) buckets.set(b, new Map());
  const requests: Array<{ method: string; path: string; status: number }> = [];
  let generation = 1;

  function authenticate(req: IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(header);
    if (m?.[1] === undefined) throw new HttpError(401, 'Anonymous caller does not have storage.objects.get access.', 'required');
    const token = m[1];
    if (accessTokens.has(token)) return;
    const parts = token.split('.');
    if (parts.length !== 3) throw new HttpError(401, 'Invalid Credentials', 'authError');
    const [h, p, s] = parts as [string, string, string];
    let claims: { iss?: string; exp?: number };
    try {
      claims = JSON.parse(b64url(p).toString('utf8')) as { iss?: string; exp?: number };
      JSON.parse(b64url(h).toString('utf8'));
    } catch {
      throw new HttpError(401, 'Invalid Credentials', 'authError');
    }
    const ok =
      claims.iss === account.email &&
      verify('RSA-SHA256', Buffer.from(`${h}.${p}`), account.publicKey, b64url(s)) &&
      typeof claims.exp === 'number' &&
      claims.exp * 1000 > Date.now();
    if (!ok) throw new HttpError(401, 'Invalid Credentials', 'authError');
  }

  function bucketOf(name: string): Map<string, StoredObject> {
    const b = buckets.get(name);
    if (b === undefined) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return b;
  }

  function resource(bucket: string, name: string, o: StoredObject): Record<string, unknown> {
    return {
      kind: 'storage#object',
      id: `${bucket}/${name}/${String(o.generation)}`,
      name,
      bucket,
      generation: String(o.generation),
      metageneration: '1',
      contentType: o.contentType,
      size: String(o.data.length),
      md5Hash: createHash('md5').update(o.data).digest('base64'),
      updated: o.updated,
      timeCreated: o.updated,
      storageClass: 'STANDARD',
    };
  }

  async function body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** Splits a `multipart/related` body into its metadata JSON and media bytes. */
  function parseMultipart(contentType: string, raw: Buffer): { metadata: { name?: string; contentType?: string }; media: Buffer } {
    const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
    if (boundary === undefined) throw new HttpError(400, 'multipart upload without a boundary', 'invalid');
    const delim = Buffer.from(`--${boundary}`);
    const partsRaw: Buffer[] = [];
    let at = raw.indexOf(delim);
    while (at >= 0) {
      const next = raw.indexOf(delim, at + delim.length);
      if (next < 0) break;
      partsRaw.push(raw.subarray(at + delim.length, next));
      at = next;
    }
    const parts = partsRaw.map((p) => {
      const headerEnd = p.indexOf('\r\n\r\n');
      // A part is CRLF, headers, CRLF CRLF, content, CRLF.
      return p.subarray(headerEnd + 4, p.length - 2);
    });
    if (parts.length !== 2) throw new HttpError(400, `multipart upload with ${String(parts.length)} parts`, 'invalid');
    return { metadata: JSON.parse(parts[0]!.toString('utf8')) as { name?: string }, media: parts[1]! };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    authenticate(req);
    const path = url.pathname.replace(/^\/download/, '');
    const method = req.method ?? 'GET';
    let m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m !== null && method === 'POST') {
      const objects = bucketOf(decodeURIComponent(m[1]!));
      if (url.searchParams.get('uploadType') !== 'multipart') {
        throw new HttpError(400, `the stand-in supports uploadType=multipart only, got ${String(url.searchParams.get('uploadType'))}`, 'invalid');
      }
      // Read it all first: a body cut short never becomes an object.
      const { metadata, media } = parseMultipart(req.headers['content-type'] ?? '', await body(req));
      const name = metadata.name ?? url.searchParams.get('name');
      if (name === null || name === undefined) throw new HttpError(400, 'object name missing', 'required');
      const o: StoredObject = {
        data: Buffer.from(media),
        generation: generation++,
        updated: new Date().toISOString(),
        contentType: metadata.contentType ?? 'application/octet-stream',
      };
      objects.set(name, o);
      return json(res, 200, resource(decodeURIComponent(m[1]!), name, o));
    }
    m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (m !== null && method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      bucketOf(name);
      return json(res, 200, { kind: 'storage#bucket', id: name, name });
    }
    m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m !== null && method === 'GET') {
      const bucket = decodeURIComponent(m[1]!);
      const objects = bucketOf(bucket);
      const prefix = url.searchParams.get('prefix') ?? '';
      const delimiter = url.searchParams.get('delimiter') ?? '';
      const max = Math.min(Number(url.searchParams.get('maxResults') ?? '1000') || 1000, 1000);
      const after = url.searchParams.get('pageToken') ?? '';
      const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const items: Record<string, unknown>[] = [];
      const prefixes: string[] = [];
      let next: string | undefined;
      for (const n of names) {
        if (after !== '' && Buffer.compare(Buffer.from(n), Buffer.from(after)) <= 0) continue;
        const i = delimiter === '' ? -1 : n.indexOf(delimiter, prefix.length);
        const rolled = i >= 0 ? n.slice(0, i + delimiter.length) : undefined;
        if (rolled !== undefined && prefixes[prefixes.length - 1] === rolled) continue;
        if (items.length + prefixes.length >= max) {
          next = lastEntry(items, prefixes);
          break;
        }
        if (rolled !== undefined) prefixes.push(rolled);
        else items.push(resource(bucket, n, objects.get(n)!));
      }
      return json(res, 200, { kind: 'storage#objects', items, prefixes, ...(next === undefined ? {} : { nextPageToken: next }) });
    }
    m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (m !== null) {
      const bucket = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const objects = bucketOf(bucket);
      const o = objects.get(name);
      if (method === 'DELETE') {
        if (o === undefined) throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
        objects.delete(name);
        res.writeHead(204).end();
        return 204;
      }
      if (method !== 'GET') throw new HttpError(405, `${method} not supported by the stand-in`, 'invalid');
      if (o === undefined) throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
      if (url.searchParams.get('alt') !== 'media') return json(res, 200, resource(bucket, name, o));
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const headers = { 'content-type': o.contentType, 'x-goog-generation': String(o.generation), 'x-goog-hash': `md5=${createHash('md5').update(o.data).digest('base64')}` };
      if (range === null) {
        res.writeHead(200, { ...headers, 'content-length': String(o.data.length) }).end(o.data);
        return 200;
      }
      const start = Number(range[1]);
      const end = range[2] === '' ? o.data.length - 1 : Math.min(Number(range[2]), o.data.length - 1);
      if (start >= o.data.length) {
        res.writeHead(416, { 'content-range': `bytes */${String(o.data.length)}` }).end();
        return 416;
      }
      const slice = o.data.subarray(start, end + 1);
      res
        .writeHead(206, { ...headers, 'content-length': String(slice.length), 'content-range': `bytes ${String(start)}-${String(end)}/${String(o.data.length)}` })
        .end(slice);
      return 206;
    }
    throw new HttpError(404, `the stand-in has no route for ${method} ${url.pathname}`, 'notFound');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res)
      .then((status) => requests.push({ method: req.method ?? '', path: req.url ?? '', status }))
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const reason = err instanceof HttpError ? err.reason : 'backendError';
        const message = err instanceof Error ? err.message : String(err);
        requests.push({ method: req.method ?? '', path: req.url ?? '', status });
        // Drain what is left of the body so the client sees the answer, not a reset.
        req.resume();
        if (!res.headersSent) json(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const stop = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    endpoint,
    credentials: () => keyFile(account),
    unknownCredentials: () => keyFile(stranger),
    issueAccessToken() {
      const t = `ya29.${randomBytes(24).toString('base64url')}`;
      accessTokens.add(t);
      return t;
    },
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    objectNames: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    objectBytes: (bucket, name) => buckets.get(bucket)?.get(name)?.data,
    requests,
    stop,
  };
}

function lastEntry(items: Record<string, unknown>[], prefixes: string[]): string {
  const lastItem = items[items.length - 1]?.['name'] as string | undefined;
  const lastPrefix = prefixes[prefixes.length - 1];
  if (lastItem === undefined) return lastPrefix ?? '';
  if (lastPrefix === undefined) return lastItem;
  // A roll-up stands for every name under it: continue after all of them.
  return Buffer.compare(Buffer.from(lastItem), Buffer.from(lastPrefix)) > 0 ? lastItem : `${lastPrefix}\uffff`;
}

function json(res: ServerResponse, status: number, value: unknown): number {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) }).end(text);
  return status;
}
