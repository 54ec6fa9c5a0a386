import { randomBytes, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { CairnError, ErrorCode, type ErrorCode as Code } from '@cairn/errors';
import type { WritePipe } from '@cairn/cloud';

/*
 * The bytes of a nodelocal upload straight from the writing node to the node that stores
 * them, over one HTTP request to the storing node's own HTTP port, instead of as NATS
 * messages relayed by nats-server (CockroachDB's nodes stream such files to each other over
 * their blob service). The upload is still begun, committed and aborted over NATS
 * (nodelocal-proxy.ts): `write-begin` answers with this upload's URL and a one-time token,
 * so only a process allowed to talk to the node over NATS can stream into it. A writer that
 * cannot reach the URL sends the same bytes as NATS messages instead.
 */

/** Where a node's upload route is served (under its HTTP address). */
export const DIRECT_UPLOAD_PATH = '/_nodelocal/upload/';
/** What one push into the upload gathers (the socket hands over 64 KiB at a time). */
const GATHER_BYTES = 512 * 1024;
/** How long a writer waits to connect before it sends the bytes over NATS instead. */
const CONNECT_TIMEOUT_MS = 3_000;
/** After a failed connection a node's URL is not tried again for this long. */
const UNREACHABLE_FOR_MS = 60_000;
/** An upload whose connection moves no byte for this long fails (retryable), as a NATS chunk's request would. */
const IDLE_TIMEOUT_MS = 60_000;

interface Offered {
  readonly token: Buffer;
  readonly pipe: WritePipe;
  /** The storage is done with a chunk once it takes the next (`releasesChunksOnPull`). */
  readonly reusesChunks: boolean;
  streaming: boolean;
}

/** Gathering buffers kept between uploads: fresh 512 KiB buffers cost page faults each. */
const SPARE_BUFFERS = 8;

/**
 * The storing node's side: uploads begun over NATS are offered here under a random id and
 * token, and `route` takes a writer's PUT of the bytes into the upload's pipe.
 */
export class DirectUploadRoute {
  private readonly offered = new Map<string, Offered>();
  private readonly spare: Buffer[] = [];

  /** `baseUrl`: scheme and advertised address of this node's HTTP port (https in secure mode). */
  constructor(private readonly baseUrl: () => string) {}

  /**
   * Makes `pipe` writable at a URL with a token, until `withdraw`. `reusesChunks`: its storage
   * is done with each chunk when it takes the next one, so the gathering buffers are reused.
   */
  offer(id: string, pipe: WritePipe, reusesChunks: boolean): { url: string; token: string } {
    const token = randomBytes(32);
    this.offered.set(id, { token, pipe, reusesChunks, streaming: false });
    return { url: `${this.baseUrl()}${DIRECT_UPLOAD_PATH}${encodeURIComponent(id)}`, token: token.toString('hex') };
  }

  withdraw(id: string): void {
    this.offered.delete(id);
  }

  /** The HTTP route (a prefix route at DIRECT_UPLOAD_PATH). */
  readonly route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const id = decodeURIComponent(url.pathname.slice(DIRECT_UPLOAD_PATH.length));
    const offered = this.offered.get(id);
    const given = /^Bearer ([0-9a-f]{64})$/.exec(req.headers.authorization ?? '')?.[1];
    if (req.method !== 'PUT') return refuse(res, 405, ErrorCode.InvalidArgument, 'uploads are PUT');
    // Unknown id and wrong token answer alike, and the token is compared in constant time.
    if (offered === undefined || given === undefined || !timingSafeEqual(Buffer.from(given, 'hex'), offered.token)) {
      return refuse(res, 403, ErrorCode.Unauthenticated, 'no such upload, or not this token');
    }
    if (offered.streaming) return refuse(res, 409, ErrorCode.FailedPrecondition, `upload ${id} is already being streamed`);
    offered.streaming = true;
    let bytes = 0;
    // The socket's reads are copied into GATHER_BYTES buffers, each pushed whole. Where the
    // storage is done with a chunk once it takes the next, two buffers take turns (when the
    // push of one resolves, the other is free again), kept for later uploads; else each
    // push has a fresh one.
    const fresh = (): Buffer => (offered.reusesChunks ? this.spare.pop() : undefined) ?? Buffer.allocUnsafe(GATHER_BYTES);
    let current = fresh();
    let other: Buffer | undefined;
    let filled = 0;
    try {
      // for-await pauses the socket while a push waits on the file: backpressure to the writer.
      for await (const chunk of req as AsyncIterable<Buffer>) {
        for (let at = 0; at < chunk.byteLength; ) {
          const n = Math.min(chunk.byteLength - at, GATHER_BYTES - filled);
          chunk.copy(current, filled, at, at + n);
          filled += n;
          at += n;
          if (filled === GATHER_BYTES) {
            await offered.pipe.write(current);
            bytes += filled;
            filled = 0;
            if (offered.reusesChunks) [current, other] = [other ?? fresh(), current];
            else current = fresh();
          }
        }
      }
      if (filled > 0) await offered.pipe.write(current.subarray(0, filled));
      bytes += filled;
      // The storage may still hold the last buffer pushed; the other one is free.
      const free = filled > 0 ? other : current;
      if (offered.reusesChunks && free !== undefined && this.spare.length < SPARE_BUFFERS) this.spare.push(free);
    } catch (err) {
      // The writer fails the whole upload when its stream breaks (and aborts it over NATS if
      // it still can): the temp file goes now, not when a writer that died would have said so.
      this.offered.delete(id);
      await offered.pipe.abort(err instanceof Error ? err : new Error(String(err))).catch(() => undefined);
      const code = err instanceof CairnError ? err.code : ErrorCode.Internal;
      return refuse(res, 500, code, err instanceof Error ? err.message : String(err));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ bytes }));
  };
}

function refuse(res: ServerResponse, status: number, code: Code, message: string): void {
  // The request's body may be unread: the connection ends with the answer, not kept alive.
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(`${JSON.stringify({ code, message: message.replace(/\r?\n/g, ' ') })}\n`);
}

/**
 * The writing node's side: how it reaches other nodes' upload routes (`ca`: the cluster CA
 * that signs their certificates in secure mode). URLs that did not connect are remembered
 * for a while, so a node behind a firewall costs one timeout per minute, not one per file.
 */
export class DirectUploadClient {
  private readonly unreachableUntil = new Map<string, number>();

  constructor(
    private readonly options: {
      /** The cluster CA (PEM), for https URLs; without it those go over NATS. */
      ca?: () => string | Buffer | undefined;
      /** Told the bytes of each upload and which way they went (a node's metrics). */
      onUploaded?: (via: 'http' | 'nats', bytes: number) => void;
    } = {},
  ) {}

  /** Counts an upload's bytes (RemoteNodelocalStorage calls this for both ways). */
  noteUploaded(via: 'http' | 'nats', bytes: number): void {
    this.options.onUploaded?.(via, bytes);
  }

  /**
   * Streams `body` to `url`. Resolves `undefined` without having taken anything from `body`
   * when the URL cannot be reached (the caller sends the bytes another way); otherwise the
   * bytes the storing node took, or throws.
   */
  async stream(url: string, token: string, body: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number | undefined> {
    const origin = new URL(url).origin;
    if ((this.unreachableUntil.get(origin) ?? 0) > Date.now()) return undefined;
    const secure = url.startsWith('https:');
    const ca = this.options.ca?.();
    if (secure && ca === undefined) return undefined;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' };
    const req: ClientRequest = secure
      ? // The chain must lead to the cluster's CA; the certificate's names need not match the
        // advertised address (the token names the upload, the CA the cluster).
        httpsRequest(url, { method: 'PUT', headers, ca, checkServerIdentity: () => undefined })
      : httpRequest(url, { method: 'PUT', headers });
    // The node may answer before it has read everything (a failed write): stop sending then.
    let answered = false;
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', (res: IncomingMessage) => {
        answered = true;
        resolve(res);
      });
      req.once('error', reject);
    });
    response.catch(() => undefined);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
    if (!(await connected(req, secure))) {
      req.destroy();
      this.unreachableUntil.set(origin, Date.now() + UNREACHABLE_FOR_MS);
      return undefined;
    }
    try {
      let sent = true;
      for await (const chunk of body) {
        if (answered) {
          sent = false;
          break;
        }
        if (!req.write(chunk)) await Promise.race([once(req, 'drain'), response]);
      }
      if (sent && !answered) req.end();
      const res = await response;
      const text = await readText(res);
      if (res.statusCode !== 200 || !sent) {
        let e: { code?: string; message?: string } = {};
        try {
          e = JSON.parse(text) as typeof e;
        } catch {
          // Not ours: reported with its status below.
        }
        throw new CairnError((e.code as Code | undefined) ?? ErrorCode.Unavailable, e.message ?? `upload to ${origin} answered ${res.statusCode}`);
      }
      return (JSON.parse(text) as { bytes: number }).bytes;
    } catch (err) {
      req.destroy();
      if (err instanceof CairnError) throw err;
      throw new CairnError(ErrorCode.Unavailable, `upload to ${origin} failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        retryable: true,
      });
    }
  }
}

/** Whether the request's connection (and TLS handshake) was made within the timeout. */
function connected(req: ClientRequest, secure: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), CONNECT_TIMEOUT_MS);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    req.once('error', () => done(false));
    req.once('socket', (socket) => {
      // A kept-alive socket the agent hands over again is connected (and its TLS done) already.
      if (!socket.connecting) done(true);
      else socket.once(secure ? 'secureConnect' : 'connect', () => done(true));
    });
    // Headers go out at once, so the connection is made before the body's first chunk.
    req.flushHeaders();
  });
}

async function readText(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}
