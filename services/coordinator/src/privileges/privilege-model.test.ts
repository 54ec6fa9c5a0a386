import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  EMPTY_PRIVILEGE_STATE,
  checkPrivileges,
  createUser,
  dropUser,
  forgetDroppedObjects,
  forgetObject,
  grant,
  holds,
  isAdmin,
  normalizeUsername,
  privilegesOn,
  revoke,
  setAdminMembership,
  validateUsername,
  type PrivilegeObject,
  type PrivilegeState,
} from './privilege-model.js';

const BANK: PrivilegeObject = { kind: 'database', id: 104 };
const CUSTOMERS: PrivilegeObject = { kind: 'table', id: 105 };
const SYSTEM: PrivilegeObject = { kind: 'system' };

function withUsers(...names: string[]): PrivilegeState {
  return names.reduce((s, n) => createUser(s, n, 1), EMPTY_PRIVILEGE_STATE);
}

function thrown(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected an error');
}

const describeObject = (o: PrivilegeObject) =>
  o.kind === 'system' ? 'system privileges' : o.kind === 'externalConnection' ? `privileges for external connection ${o.name}` : `privileges for ${o.kind} ${o.id}`;

describe('user names', () => {
  it('normalizes to lower case NFC and enforces CockroachDB\'s rules', () => {
    expect(normalizeUsername('MaxRoach')).toBe('maxroach');
    expect(normalizeUsername('Cafe\u0301')).toBe('caf\u00e9');
    for (const ok of ['maxroach', '_x', '9lives', 'a.b-c_d', 'été']) expect(() => validateUsername(ok)).not.toThrow();
    for (const bad of ['', '-x', '.x', 'has space', 'semi;colon', 'x'.repeat(64)]) {
      const e = thrown(() => validateUsername(bad));
      expect(e.code).toBe(ErrorCode.InvalidArgument);
      expect(e.message).toContain(`username "${bad}" invalid`);
    }
  });
});

describe('users', () => {
  it('creates users once, refuses reserved and existing names, honours IF NOT EXISTS', () => {
    const s = withUsers('maxroach');
    expect(s.users).toEqual([{ name: 'maxroach', admin: false, createdAtMs: 1 }]);
    expect(thrown(() => createUser(s, 'maxroach', 2)).message).toBe('a role/user named maxroach already exists');
    expect(thrown(() => createUser(s, 'root', 2)).code).toBe(ErrorCode.DuplicateObject);
    expect(thrown(() => createUser(s, 'admin', 2)).message).toBe('a role/user named admin already exists');
    expect(thrown(() => createUser(s, 'public', 2)).message).toBe('role name "public" is reserved');
    expect(thrown(() => createUser(s, 'pg_x', 2)).message).toBe('role name "pg_x" is reserved');
    expect(createUser(s, 'maxroach', 2, true)).toBe(s);
  });

  it('drops a user only once nothing depends on it, and never root or admin', () => {
    const s = grant(withUsers('maxroach', 'carl'), [BANK], ['BACKUP'], ['maxroach']);
    const e = thrown(() => dropUser(s, 'maxroach', describeObject));
    expect(e.code).toBe(ErrorCode.FailedPrecondition);
    expect(e.message).toBe('role maxroach cannot be dropped because some objects depend on it: privileges for database 104');
    expect(thrown(() => dropUser(s, 'carl', describeObject, ['owner of schedule 7'])).message).toContain('owner of schedule 7');
    expect(dropUser(s, 'carl', describeObject).users.map((u) => u.name)).toEqual(['maxroach']);
    const revoked = revoke(s, [BANK], ['BACKUP'], ['maxroach']);
    expect(dropUser(revoked, 'maxroach', describeObject).users.map((u) => u.name)).toEqual(['carl']);
    expect(thrown(() => dropUser(s, 'root', describeObject)).message).toBe('cannot drop special role root');
    expect(thrown(() => dropUser(s, 'admin', describeObject)).message).toBe('cannot drop special role admin');
    expect(thrown(() => dropUser(s, 'nobody', describeObject)).message).toBe('role/user "nobody" does not exist');
  });

  it('grants and revokes membership in admin; root stays an admin', () => {
    let s = withUsers('maxroach');
    expect(isAdmin(s, 'root')).toBe(true);
    expect(isAdmin(s, 'maxroach')).toBe(false);
    s = setAdminMembership(s, ['admin'], ['maxroach'], true);
    expect(isAdmin(s, 'maxroach')).toBe(true);
    s = setAdminMembership(s, ['admin'], ['maxroach'], false);
    expect(isAdmin(s, 'maxroach')).toBe(false);
    expect(thrown(() => setAdminMembership(s, ['admin'], ['root'], false)).message).toBe(
      'user root cannot be removed from role admin or lose the ADMIN OPTION',
    );
    expect(thrown(() => setAdminMembership(s, ['admin'], ['ghost'], true)).message).toBe('role/user "ghost" does not exist');
    expect(thrown(() => setAdminMembership(s, ['maxroach'], ['root'], true)).code).toBe(ErrorCode.FeatureNotSupported);
    expect(thrown(() => setAdminMembership(s, ['nosuchrole'], ['maxroach'], true)).message).toBe('role/user "nosuchrole" does not exist');
  });
});

describe('privileges', () => {
  it('accepts CockroachDB\'s privilege names per object kind with its errors', () => {
    expect(checkPrivileges(['restore', 'Backup'], 'system')).toEqual(['RESTORE', 'BACKUP']);
    expect(checkPrivileges(['SELECT', 'CONNECT'], 'database')).toEqual(['SELECT', 'CONNECT']);
    expect(thrown(() => checkPrivileges(['INSERT'], 'database')).message).toBe('invalid privilege type INSERT for database');
    expect(thrown(() => checkPrivileges(['CONNECT'], 'system')).message).toBe('invalid privilege type CONNECT for system');
    expect(thrown(() => checkPrivileges(['RESTORE'], 'table')).message).toBe('invalid privilege type RESTORE for table');
    const unknown = thrown(() => checkPrivileges(['FROBNICATE'], 'table'));
    expect(unknown.code).toBe(ErrorCode.InvalidArgument);
    expect(unknown.message).toBe('not a valid privilege: "frobnicate"');
    expect(thrown(() => checkPrivileges(['VIEWJOB'], 'system')).code).toBe(ErrorCode.FeatureNotSupported);
  });

  it('grants to existing users only; root and admin need no stored grant', () => {
    const s = withUsers('maxroach');
    expect(thrown(() => grant(s, [BANK], ['BACKUP'], ['ghost'])).message).toBe('role/user "ghost" does not exist');
    expect(grant(s, [BANK], ['BACKUP'], ['root', 'admin']).grants).toEqual([]);
    const g = grant(s, [BANK, SYSTEM], ['RESTORE'], ['maxroach']);
    expect(holds(g, 'maxroach', BANK, 'RESTORE')).toBe(true);
    expect(holds(g, 'maxroach', SYSTEM, 'RESTORE')).toBe(true);
    expect(holds(g, 'maxroach', BANK, 'BACKUP')).toBe(false);
    expect(holds(g, 'maxroach', { kind: 'database', id: 999 }, 'RESTORE')).toBe(false);
    // Granting twice changes nothing.
    expect(grant(g, [BANK], ['RESTORE'], ['maxroach']).grants).toEqual(g.grants);
  });

  it('folds privileges into ALL and expands ALL when one privilege is revoked', () => {
    let s = grant(withUsers('maxroach'), [BANK], ['BACKUP', 'CONNECT'], ['maxroach']);
    s = grant(s, [BANK], ['ALL'], ['maxroach']);
    expect(privilegesOn(s, 'maxroach', BANK)).toEqual(['ALL']);
    expect(grant(s, [BANK], ['SELECT'], ['maxroach'])).toEqual(s);
    s = revoke(s, [BANK], ['BACKUP'], ['maxroach']);
    expect(privilegesOn(s, 'maxroach', BANK)).toEqual(['CONNECT', 'CREATE', 'DROP', 'RESTORE', 'SELECT', 'ZONECONFIG']);
    expect(holds(s, 'maxroach', BANK, 'BACKUP')).toBe(false);
    s = revoke(s, [BANK], ['ALL'], ['maxroach']);
    expect(privilegesOn(s, 'maxroach', BANK)).toEqual([]);
    // Revoking what is not held is a no-op, as in CockroachDB.
    expect(revoke(s, [CUSTOMERS], ['SELECT'], ['maxroach']).grants).toEqual(s.grants);
    expect(thrown(() => revoke(s, [BANK], ['ALL'], ['root'])).message).toContain('cannot revoke privileges from root');
  });

  it('forgets the grants of dropped objects and keeps system grants', () => {
    let s = withUsers('maxroach');
    s = grant(s, [BANK, CUSTOMERS], ['SELECT'], ['maxroach']);
    s = grant(s, [SYSTEM], ['RESTORE'], ['maxroach']);
    const after = forgetDroppedObjects(s, (o) => o.kind === 'table');
    expect(after.grants.map((g) => g.object)).toEqual([SYSTEM, CUSTOMERS]);
    expect(forgetDroppedObjects(after, () => true)).toBe(after);
  });
});

describe('external connections', () => {
  const CONN = { kind: 'externalConnection', name: 'conn-foo' } as const;
  const OTHER = { kind: 'externalConnection', name: 'conn-bar' } as const;

  it('take USAGE (and ALL, DROP, UPDATE), by name; USAGE is no privilege of a database', () => {
    expect(checkPrivileges(['usage', 'ALL'], 'externalConnection')).toEqual(['USAGE', 'ALL']);
    expect(() => checkPrivileges(['USAGE'], 'database')).toThrow('invalid privilege type USAGE for database');
    expect(() => checkPrivileges(['SELECT'], 'externalConnection')).toThrow('invalid privilege type SELECT for external_connection');
    expect(checkPrivileges(['EXTERNALIOIMPLICITACCESS', 'EXTERNALCONNECTION'], 'system')).toEqual(['EXTERNALIOIMPLICITACCESS', 'EXTERNALCONNECTION']);
    const s = grant(createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 0), [CONN], ['USAGE'], ['maxroach']);
    expect(holds(s, 'maxroach', CONN, 'USAGE')).toBe(true);
    expect(holds(s, 'maxroach', OTHER, 'USAGE')).toBe(false);
    // REVOKE USAGE from ALL keeps the connection's other privileges.
    const all = revoke(grant(s, [CONN], ['ALL'], ['maxroach']), [CONN], ['USAGE'], ['maxroach']);
    expect(privilegesOn(all, 'maxroach', CONN).sort()).toEqual(['DROP', 'UPDATE']);
  });

  it('lose their grants when dropped, and only theirs; a DROP of tables keeps them', () => {
    let s = createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 0);
    s = grant(grant(s, [CONN], ['USAGE'], ['maxroach']), [OTHER], ['USAGE'], ['maxroach']);
    expect(forgetDroppedObjects(s, () => false)).toBe(s);
    expect(forgetObject(s, CONN).grants.map((g) => g.object)).toEqual([OTHER]);
  });
});
