import { describe, expect, it } from 'vitest';
import { Metadata } from '@grpc/grpc-js';
import { cairnRejection } from '@cairn/testing';
import { hashPassword, verifyPassword } from '../privileges/password-hash.js';
import { EMPTY_PRIVILEGE_STATE, createUser, setPasswordHash, type PrivilegeState } from '../privileges/privilege-model.js';
import { Authenticator } from './authenticator.js';
import { RPC_REQUIREMENTS } from './rpc-privileges.js';

function md(entries: Record<string, string>): Metadata {
  const m = new Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

const refusal = cairnRejection;

describe('password hashes', () => {
  it('are salted scrypt strings that verify only the right password', async () => {
    const a = await hashPassword('s3cret');
    const b = await hashPassword('s3cret');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(await verifyPassword('s3cret', a)).toBe(true);
    expect(await verifyPassword('s3cret ', a)).toBe(false);
    await expect(hashPassword('')).rejects.toThrow(/empty passwords are not permitted/);
  });
});

describe('Authenticator', () => {
  let state: PrivilegeState = createUser(EMPTY_PRIVILEGE_STATE, 'alice', 0);
  const auth = new Authenticator(async () => state);

  it('takes a verified certificate CN as the user; node may carry a forwarded user', async () => {
    state = setPasswordHash(state, 'alice', await hashPassword('pw'));
    expect(await auth.authenticate({ metadata: md({}), certificateCn: 'alice' })).toEqual({ user: 'alice', method: 'cert' });
    expect(await auth.authenticate({ metadata: md({}), certificateCn: 'node' })).toEqual({ user: 'root', method: 'cert' });
    expect(await auth.authenticate({ metadata: md({ 'cairn-forwarded-user': 'alice' }), certificateCn: 'node' })).toEqual({ user: 'alice', method: 'forwarded' });
    // Only a node certificate may speak for someone else.
    expect(await auth.authenticate({ metadata: md({ 'cairn-forwarded-user': 'root' }), certificateCn: 'alice' })).toEqual({ user: 'alice', method: 'cert' });
    expect((await refusal(auth.authenticate({ metadata: md({ 'cairn-user': 'root' }), certificateCn: 'alice' }))).message).toBe(
      'requested user is root, but the client certificate is for alice',
    );
    expect((await refusal(auth.authenticate({ metadata: md({}), certificateCn: 'bob' }))).code).toBe('UNAUTHENTICATED');
  });

  it('checks passwords, with one message for a wrong password, an unknown user and a user without one', async () => {
    expect(await auth.authenticate({ metadata: md(basic('alice', 'pw')), certificateCn: undefined })).toEqual({ user: 'alice', method: 'password' });
    // Remembered: the second check costs no scrypt, and still refuses a different password.
    expect(await auth.authenticate({ metadata: md(basic('alice', 'pw')), certificateCn: undefined })).toEqual({ user: 'alice', method: 'password' });
    for (const [user, pw] of [['alice', 'wrong'], ['mallory', 'pw'], ['root', 'pw']] as const) {
      const e = await refusal(auth.authenticate({ metadata: md(basic(user, pw)), certificateCn: undefined }));
      expect(e.code).toBe('UNAUTHENTICATED');
      expect(e.message).toBe(`password authentication failed for user ${user}`);
    }
    const none = await refusal(auth.authenticate({ metadata: md({ 'cairn-user': 'alice' }), certificateCn: undefined }));
    expect(none.message).toMatch(/^no client certificate signed by the cluster's CA and no password for user alice/);
  });

  it('PASSWORD NULL removes password login', async () => {
    state = setPasswordHash(state, 'alice', undefined);
    expect((await refusal(auth.authenticate({ metadata: md(basic('alice', 'pw2')), certificateCn: undefined }))).code).toBe('UNAUTHENTICATED');
  });
});

describe('RPC requirements', () => {
  it('name every RPC of the data plane; anything else is admin-only', () => {
    for (const path of ['/cairn.v1.SqlService/Execute', '/cairn.v1.DataService/Write', '/cairn.v1.DataService/Scan', '/cairn.v1.DataService/Fingerprint', '/cairn.v1.DataService/GetTable']) {
      expect(RPC_REQUIREMENTS[path], path).toBeDefined();
    }
    const write = RPC_REQUIREMENTS['/cairn.v1.DataService/Write']!({} as never, {});
    expect(write.kind).toBe('admin');
  });
});
