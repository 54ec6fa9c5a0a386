import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError, ErrorCode } from '@cairn/errors';
import { freePort, startS3Server, type S3ServerHandle } from '@cairn/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, parseStorageUri, type ExternalStorage, type S3Location } from './index.js';
import { S3Storage } from './s3-storage.js';

const MiB = 1024 * 1024;
const FAST_RETRY = { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };

type Fault = 'pass' | 'fail503' | 'fail500' | 'cut' | 'hang';

/**
 * A real HTTP proxy in front of s3rver that injects faults per request, so retries run
 * against genuine failures: 5xx answers, bodies cut off mid-stream, requests that hang.
 */
class FaultProxy {
  readonly requests: string[] = [];
  private readonly hung: ServerResponse[] = [];
  decide: (req: IncomingMessage, n: number) => Fault = () => 'pass';
  private readonly server: Server;
  private endpointUrl = '';

  private constructor(private readonly upstream: URL) {
    this.server = createServer((req, res) => this.handle(req, res, this.upstream));
  }

  get endpoint(): string {
    return this.endpointUrl;
  }

  static async start(target: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(target));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.server.address() as AddressInfo;
    proxy.endpointUrl = `http://127.0.0.1:${String(port)}`;
    return proxy;
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    this.requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const fault = this.decide(req, this.requests.length);
    if (fault === 'hang') {
      this.hung.push(res);
      req.resume();
      return;
    }
    if (fault === 'fail503' || fault === 'fail500') {
      req.resume();
      req.on('end', () => {
        const [status, code] = fault === 'fail503' ? [503, 'SlowDown'] : [500, 'InternalError'];
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>`);
      });
      return;
    }
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (fault !== 'cut') {
          upRes.pipe(res);
          return;
        }
        // Send a little of the body, then drop the connection.
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= 100_000) return;
          res.write(chunk.subarray(0, 100_000 - sent));
          sent += chunk.length;
          if (sent >= 100_000) {
            upRes.destroy();
            res.socket?.destroy();
          }
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.socket?.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function failure(p: Promise<unknown> | (() => Promise<unknown>)): Promise<CairnError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a failure');
}

async function* chunks(total: number, size: number): AsyncIterable<Uint8Array> {
  for (let done = 0; done < total; done += size) yield new Uint8Array(Math.min(size, total - done)).fill(done % 251);
}

function s3Loc(uri: string): S3Location {
  const loc = parseStorageUri(uri);
  if (loc.scheme !== 's3') throw new Error('not s3');
  return loc;
}

describe('S3Storage against s3rver', () => {
  let server: S3ServerHandle;
  const open: ExternalStorage[] = [];
  beforeAll(async () => {
    server = await startS3Server({ buckets: ['b'] });
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  function storage(uri: string, retry = FAST_RETRY): S3Storage {
    const s = new S3Storage(s3Loc(uri), { retry });
    open.push(s);
    return s;
  }

  it('shows only the redacted URI', () => {
    const s = storage(server.uri('b', 'x'));
    expect(s.uri).toContain('AWS_SECRET_ACCESS_KEY=redacted');
    expect(s.uri).not.toContain(`AWS_SECRET_ACCESS_KEY=${server.secretAccessKey}`);
  });

  it('fails terminally with a clear message when the credentials are refused', async () => {
    // s3rver checks the access key ID but not SigV4 signatures, so a wrong secret would pass
    // here; an unknown key gets the same refusal (403) that AWS gives a wrong secret.
    const uri = server.uri('b', 'creds').replace(/AWS_ACCESS_KEY_ID=[^&]*/, 'AWS_ACCESS_KEY_ID=NOBODY');
    const s = storage(uri);
    for (const attempt of [
      () => s.writeFile('f', new Uint8Array([1])),
      () => s.writeFile('f', chunks(10, 10)),
      () => s.readAll('f'),
      () => s.exists('f'),
      () => s.size('f'),
      async () => {
        for await (const _ of s.list('')) break;
      },
      () => s.delete('f'),
    ]) {
      const err = await failure(attempt);
      expect(err.code).toBe(ErrorCode.FailedPrecondition);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/^access denied to s3:\/\/b\/creds\?.*AWS_SECRET_ACCESS_KEY=redacted.* \((InvalidAccessKeyId|HTTP 403|Forbidden)\): /);
      expect(err.message).toContain('check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY');
      expect(err.message).not.toContain(`AWS_SECRET_ACCESS_KEY=${server.secretAccessKey}`);
    }
  });

  it('fails terminally naming the bucket when it does not exist', async () => {
    const s = storage(server.uri('no-such-bucket', 'p'));
    for (const attempt of [
      () => s.writeFile('f', new Uint8Array([1])),
      () => s.writeFile('f', chunks(10, 10)),
      () => s.readAll('f'),
      () => s.size('f'),
      () => s.exists('f'),
      async () => {
        for await (const _ of s.list('')) break;
      },
      () => s.delete('f'),
    ]) {
      const err = await failure(attempt);
      expect(err.code).toBe(ErrorCode.FailedPrecondition);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/^bucket "no-such-bucket" does not exist \(s3:\/\/no-such-bucket\/p\?.*AWS_SECRET_ACCESS_KEY=redacted/);
    }
  });

  it('marks an unreachable endpoint retryable after retrying', async () => {
    const port = await freePort();
    const uri = server.uri('b', 'p').replace(/AWS_ENDPOINT=[^&]*/, `AWS_ENDPOINT=${encodeURIComponent(`http://127.0.0.1:${String(port)}`)}`);
    const s = storage(uri);
    const err = await failure(s.readAll('f'));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^read "f" in s3:\/\/b\/p\?.* failed after 3 attempts: /);
    expect(err.message).toContain('ECONNREFUSED');
  });

  describe('through a fault-injecting proxy', () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await FaultProxy.start(server.endpoint);
    });
    afterEach(() => {
      proxy.requests.length = 0;
      proxy.decide = () => 'pass';
    });
    afterAll(async () => {
      await proxy.stop();
    });

    const viaProxy = (path: string): string =>
      server.uri('b', path).replace(/AWS_ENDPOINT=[^&]*/, `AWS_ENDPOINT=${encodeURIComponent(proxy.endpoint)}`);

    it('uploads a stream above the part size as a multipart upload and a small one with one PUT', async () => {
      const s = storage(viaProxy('multipart'));
      await s.writeFile('big', chunks(17 * MiB, 100_000));
      expect(proxy.requests.filter((r) => r.startsWith('POST') && r.includes('uploads'))).toHaveLength(1);
      expect(proxy.requests.filter((r) => r.startsWith('PUT') && r.includes('partNumber='))).toHaveLength(3);
      expect(proxy.requests.filter((r) => r.startsWith('POST') && r.includes('uploadId='))).toHaveLength(1);
      proxy.requests.length = 0;
      await s.writeFile('small', chunks(1000, 100));
      expect(proxy.requests).toEqual([expect.stringMatching(/^PUT \/b\/multipart\/small/)]);
      expect(await s.size('big')).toBe(17 * MiB);
    });

    it('retries 5xx answers with backoff and succeeds', async () => {
      const s = storage(viaProxy('retry'));
      proxy.decide = (_req, n) => (n <= 2 ? 'fail503' : 'pass');
      await s.writeFile('f', new TextEncoder().encode('hello'));
      expect(proxy.requests).toHaveLength(3);
      proxy.requests.length = 0;
      proxy.decide = (_req, n) => (n % 2 === 1 ? 'fail500' : 'pass');
      expect(new TextDecoder().decode(await s.readAll('f'))).toBe('hello');
      expect(await s.size('f')).toBe(5);
      expect(await s.exists('f')).toBe(true);
      const listed: string[] = [];
      for await (const p of s.list('')) listed.push(p);
      expect(listed).toEqual(['f']);
      await s.delete('f');
      expect(proxy.requests.length).toBeGreaterThanOrEqual(10);
    });

    it('marks errors retryable once retries run out', async () => {
      const s = storage(viaProxy('exhaust'));
      proxy.decide = () => 'fail503';
      const err = await failure(s.writeFile('f', new Uint8Array([1])));
      expect(err.code).toBe(ErrorCode.Unavailable);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/^write "f" in s3:\/\/b\/exhaust\?.* failed after 3 attempts: SlowDown: injected$/);
      expect(proxy.requests).toHaveLength(3);
    });

    it('retries a failed part of a multipart upload', async () => {
      const s = storage(viaProxy('parts'));
      let failedPart = false;
      proxy.decide = (req) => {
        if (!failedPart && req.method === 'PUT' && (req.url ?? '').includes('partNumber=2')) {
          failedPart = true;
          return 'fail500';
        }
        return 'pass';
      };
      expect(await s.writeFile('big', chunks(17 * MiB, 256 * 1024))).toEqual({ bytes: 17 * MiB });
      expect(failedPart).toBe(true);
      expect(await s.size('big')).toBe(17 * MiB);
    });

    it('resumes a read whose body was cut off mid-stream', async () => {
      const s = storage(viaProxy('resume'));
      const data = new Uint8Array(3 * MiB).map((_, i) => (i * 7) % 256);
      await s.writeFile('f', data);
      proxy.requests.length = 0;
      proxy.decide = (req, n) => (req.method === 'GET' && n === 1 ? 'cut' : 'pass');
      const got = Buffer.from(await s.readAll('f'));
      expect(got.equals(Buffer.from(data))).toBe(true);
      expect(proxy.requests).toHaveLength(2);
      proxy.requests.length = 0;
      const range: Buffer[] = [];
      for await (const c of s.readFile('f', { offset: 1000, length: 2 * MiB })) range.push(Buffer.from(c));
      expect(Buffer.concat(range).equals(Buffer.from(data.subarray(1000, 1000 + 2 * MiB)))).toBe(true);
      expect(proxy.requests).toHaveLength(2);
    });

    it('times out a hanging request and marks it retryable', async () => {
      const s = new S3Storage(s3Loc(viaProxy('hang')), { retry: { ...FAST_RETRY, maxAttempts: 2 }, idleTimeoutMs: 300 });
      open.push(s);
      proxy.decide = () => 'hang';
      const err = await failure(s.size('f'));
      expect(err.retryable).toBe(true);
      expect([ErrorCode.Timeout, ErrorCode.Unavailable]).toContain(err.code);
      expect(err.message).toMatch(/failed after 2 attempts/);
      expect(proxy.requests).toHaveLength(2);
    });
  });

  it('opens through openStorage with test knobs', async () => {
    const s = await openStorage(server.uri('b', 'opened'), { s3: { retry: FAST_RETRY } });
    open.push(s);
    expect(s).toBeInstanceOf(S3Storage);
    await s.writeFile('x', new Uint8Array([1, 2, 3]));
    expect(await s.size('x')).toBe(3);
  });
});
