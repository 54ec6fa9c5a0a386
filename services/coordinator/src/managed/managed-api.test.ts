import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { sendError } from './managed-api.js';

// Each request's path names the error the server answers with.
const errors: Record<string, CairnError> = {
  '/unavailable': new CairnError(ErrorCode.Unavailable, 'no leader right now; try again\nsecond line', { retryable: true }),
  '/unauthenticated': new CairnError(ErrorCode.Unauthenticated, 'no API key'),
  '/not-found': new CairnError(ErrorCode.NotFound, 'no such backup'),
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => sendError(res, errors[req.url ?? ''] ?? new Error('boom')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('sendError', () => {
  it('answers a transient error 503 with Retry-After, and the code and first line as JSON', async () => {
    const res = await fetch(`${base}/unavailable`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ code: ErrorCode.Unavailable, message: 'no leader right now; try again' });
  });

  it('asks for a bearer token on 401, and sends no Retry-After for errors a retry cannot fix', async () => {
    const unauthenticated = await fetch(`${base}/unauthenticated`);
    expect([unauthenticated.status, unauthenticated.headers.get('www-authenticate'), unauthenticated.headers.get('retry-after')]).toEqual([401, 'Bearer', null]);
    const notFound = await fetch(`${base}/not-found`);
    expect([notFound.status, notFound.headers.get('retry-after')]).toEqual([404, null]);
    const internal = await fetch(`${base}/other`);
    expect([internal.status, internal.headers.get('retry-after')]).toEqual([500, null]);
  });
});
