import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { cairnRejection } from '@cairn/testing';
import type { Logger } from '@cairn/metrics';
import type { ApiKeyRecord, ApiKeyStore } from './api-keys.js';
import { AuditLog, type AuditRecord } from './audit-log.js';
import { HttpAuthenticator, requireWriter, type HttpCaller } from './http-auth.js';

const GOOD_KEY = 'cairn-good-key-0123456789';
const BAD_KEY = 'cairn-guessed-key-9876543210';

const viewer: ApiKeyRecord = { id: 'k1', name: 'dash', role: 'CLUSTER_VIEWER', secretHash: '', createdAtMs: 0, createdBy: 'root' };

/** An audit log whose lines land in `lines`. */
function capture(): { audit: AuditLog; lines: AuditRecord[] } {
  const lines: AuditRecord[] = [];
  const logger = { info: (fields: AuditRecord & { audit: true }) => lines.push(fields) } as unknown as Logger;
  return { audit: new AuditLog(logger), lines };
}

function request(method: string, url: string, authorization?: string): IncomingMessage {
  return { method, url, headers: authorization ? { authorization } : {}, socket: { remoteAddress: '10.0.0.9', remotePort: 5555 } } as unknown as IncomingMessage;
}

function authenticator(audit: AuditLog): HttpAuthenticator {
  const keys = { verify: async (k: string) => (k === GOOD_KEY ? viewer : undefined) } as unknown as ApiKeyStore;
  return new HttpAuthenticator(true, keys, audit);
}

describe('HttpAuthenticator audit lines', () => {
  it('a missing or wrong key: LOGIN_FAILED naming the call and the reason, never the key', async () => {
    const { audit, lines } = capture();
    const auth = authenticator(audit);
    expect((await cairnRejection(auth.authenticate(request('GET', '/api/v1/clusters?x=1')))).code).toBe('UNAUTHENTICATED');
    expect((await cairnRejection(auth.authenticate(request('POST', '/api/v1/clusters/c/restores', `Bearer ${BAD_KEY}`)))).message).toBe('invalid API key');
    expect(lines.map((l) => [l.event, l.rpc, l.reason, l.peer])).toEqual([
      ['LOGIN_FAILED', 'GET /api/v1/clusters', 'this cluster is secure: send an API key as "Authorization: Bearer <key>" (cairn api-key create)', '10.0.0.9:5555'],
      ['LOGIN_FAILED', 'POST /api/v1/clusters/c/restores', 'invalid API key', '10.0.0.9:5555'],
    ]);
    expect(JSON.stringify(lines)).not.toContain(BAD_KEY);
  });

  it('a state-changing call: API with the key and the outcome; a role refused: PERMISSION_DENIED; reads: nothing', async () => {
    const { audit, lines } = capture();
    const auth = authenticator(audit);
    const patch = request('PATCH', '/api/v1/clusters/c/backups-config', `Bearer ${GOOD_KEY}`);
    const caller: HttpCaller = await auth.authenticate(patch);
    expect(await auth.audited(caller, patch, async () => 'changed')).toBe('changed');
    const post = request('POST', '/api/v1/clusters/c/restores', `Bearer ${GOOD_KEY}`);
    await cairnRejection(auth.audited(caller, post, async () => requireWriter(caller, 'restoring')));
    await auth.audited(caller, request('GET', '/api/v1/clusters/c/backups'), async () => undefined);
    expect(lines.map((l) => [l.event, l.user, l.rpc, l.outcome, l.error])).toEqual([
      ['API', 'api-key:dash', 'PATCH /api/v1/clusters/c/backups-config', 'ok', undefined],
      ['PERMISSION_DENIED', 'api-key:dash', 'POST /api/v1/clusters/c/restores', 'error', 'INSUFFICIENT_PRIVILEGE'],
    ]);
    expect(JSON.stringify(lines)).not.toContain(GOOD_KEY);
  });
});
