import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * cairn's users, role membership and privileges, as CockroachDB models them in insecure mode,
 * held as one immutable value and changed by pure functions (the store persists the value).
 *
 * - `root` always exists and is a member of `admin`; neither can be dropped. `admin` is the
 *   only role: membership in it is granted with `GRANT admin TO user`. Both hold every
 *   privilege without a stored grant.
 * - Grants name objects by descriptor id, never by name: a dropped database or table takes its
 *   grants with it, and a new object reusing the name starts with none.
 * - `ALL` stands for every privilege of the object's kind; holding ALL, a grantee holds no
 *   other row on that object, and revoking one privilege from ALL keeps the rest.
 */

/** The name of the superuser, always present and always an admin. */
export const ROOT_USER = 'root';
/** The role whose members may do anything (`GRANT admin TO ...`). */
export const ADMIN_ROLE = 'admin';

/**
 * What a grant applies to: the cluster (system privileges), a database or a table by id, or
 * an external connection by name (CockroachDB keys those by name too: they are not descriptors).
 */
export type PrivilegeObject =
  | { kind: 'system' }
  | { kind: 'database'; id: number }
  | { kind: 'table'; id: number }
  | { kind: 'externalConnection'; name: string };
export type ObjectKind = PrivilegeObject['kind'];

/** A user created with CREATE USER (root and admin are implicit). */
export interface UserRecord {
  readonly name: string;
  /** Member of the admin role. */
  readonly admin: boolean;
  readonly createdAtMs: number;
  /** The scrypt hash of the user's password (password-hash.ts); absent: no password login. */
  readonly passwordHash?: string;
}

/** One privilege held by one grantee on one object. `privilege` is upper case. */
export interface GrantRecord {
  readonly object: PrivilegeObject;
  readonly grantee: string;
  readonly privilege: string;
}

/** Every user and grant of the cluster. */
export interface PrivilegeState {
  readonly users: readonly UserRecord[];
  readonly grants: readonly GrantRecord[];
}

export const EMPTY_PRIVILEGE_STATE: PrivilegeState = { users: [], grants: [] };

/**
 * The privileges cairn accepts per kind of object (CockroachDB's names). `SELECT` on a
 * database stands for SELECT on each of its tables. Only BACKUP, RESTORE and SELECT (and ALL)
 * are checked today: every other statement of a non-admin needs the admin role.
 */
export const VALID_PRIVILEGES: Readonly<Record<ObjectKind, readonly string[]>> = {
  system: ['ALL', 'BACKUP', 'EXTERNALCONNECTION', 'EXTERNALIOIMPLICITACCESS', 'RESTORE'],
  database: ['ALL', 'BACKUP', 'CONNECT', 'CREATE', 'DROP', 'RESTORE', 'SELECT', 'ZONECONFIG'],
  table: ['ALL', 'BACKUP', 'CHANGEFEED', 'CREATE', 'DELETE', 'DROP', 'INSERT', 'SELECT', 'UPDATE', 'ZONECONFIG'],
  externalConnection: ['ALL', 'DROP', 'UPDATE', 'USAGE'],
};

/** CockroachDB privileges cairn does not implement: refused as unsupported, not as unknown. */
const UNSUPPORTED_PRIVILEGES: ReadonlySet<string> = new Set([
  'EXECUTE', 'TRIGGER', 'MODIFYCLUSTERSETTING', 'MODIFYSQLCLUSTERSETTING', 'VIEWCLUSTERSETTING',
  'VIEWACTIVITY', 'VIEWACTIVITYREDACTED', 'CANCELQUERY', 'NOSQLLOGIN', 'VIEWCLUSTERMETADATA', 'VIEWDEBUG',
  'VIEWJOB', 'CONTROLJOB', 'CREATEDB', 'CREATELOGIN',
  'CREATEROLE', 'VIEWSYSTEMTABLE', 'REPAIRCLUSTER', 'REPLICATION', 'MANAGEVIRTUALCLUSTER', 'INSPECT',
]);

const MAX_USERNAME_LENGTH = 63;
// CockroachDB's rule: a lower-case letter, digit or underscore, then also dashes and periods.
const USERNAME_PATTERN = /^[\p{Ll}0-9_][-\p{Ll}0-9_.]*$/u;

/** CockroachDB's normal form of a user name: Unicode NFC, lower case. */
export function normalizeUsername(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** Throws unless `name` (already normalized) is a well-formed user name. */
export function validateUsername(name: string): void {
  if (name.length > 0 && name.length <= MAX_USERNAME_LENGTH && USERNAME_PATTERN.test(name)) return;
  throw new CairnError(
    ErrorCode.InvalidArgument,
    `username "${name}" invalid; usernames are case insensitive, must start with a letter, digit or underscore, ` +
      `may contain letters, digits, dashes, periods, or underscores, and must not exceed ${MAX_USERNAME_LENGTH} characters`,
  );
}

/** `role/user "x" does not exist`, CockroachDB's wording. */
export function unknownUserError(name: string): CairnError {
  return new CairnError(ErrorCode.UndefinedObject, `role/user "${name}" does not exist`);
}

export function userExists(state: PrivilegeState, name: string): boolean {
  return name === ROOT_USER || name === ADMIN_ROLE || state.users.some((u) => u.name === name);
}

/** Whether `user` has the admin role: root, or a member of admin. */
export function isAdmin(state: PrivilegeState, user: string): boolean {
  return user === ROOT_USER || user === ADMIN_ROLE || state.users.some((u) => u.name === user && u.admin);
}

/** Whether two grant objects are the same object. */
export function sameObject(a: PrivilegeObject, b: PrivilegeObject): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'system') return true;
  if (a.kind === 'externalConnection') return a.name === (b as { name: string }).name;
  return a.id === (b as { id: number }).id;
}

/** The privileges `grantee` holds directly on `object` (not through admin). */
export function privilegesOn(state: PrivilegeState, grantee: string, object: PrivilegeObject): string[] {
  return state.grants.filter((g) => g.grantee === grantee && sameObject(g.object, object)).map((g) => g.privilege);
}

/** Whether `grantee` holds `privilege` on `object` directly, ALL included. */
export function holds(state: PrivilegeState, grantee: string, object: PrivilegeObject, privilege: string): boolean {
  const held = privilegesOn(state, grantee, object);
  return held.includes('ALL') || held.includes(privilege);
}

/**
 * Upper-cases the privileges a GRANT / REVOKE names and checks them against the object kind:
 * CockroachDB's `not a valid privilege: "x"` for an unknown name, `invalid privilege type X
 * for database` for one that does not apply.
 */
export function checkPrivileges(names: readonly string[], kind: ObjectKind): string[] {
  const valid = VALID_PRIVILEGES[kind];
  const known = new Set(Object.values(VALID_PRIVILEGES).flat());
  return names.map((raw) => {
    const p = raw.toUpperCase();
    if (UNSUPPORTED_PRIVILEGES.has(p)) throw new CairnError(ErrorCode.FeatureNotSupported, `privilege ${p} is not supported by cairn`);
    if (!known.has(p)) throw new CairnError(ErrorCode.InvalidArgument, `not a valid privilege: "${raw.toLowerCase()}"`);
    if (!valid.includes(p)) throw new CairnError(ErrorCode.InvalidArgument, `invalid privilege type ${p} for ${kind === 'externalConnection' ? 'external_connection' : kind}`);
    return p;
  });
}

/** CREATE USER. `ifNotExists` makes an existing name a no-op. */
export function createUser(state: PrivilegeState, name: string, nowMs: number, ifNotExists = false): PrivilegeState {
  validateUsername(name);
  if (name === 'public' || name === 'none' || name.startsWith('pg_') || name.startsWith('crdb_internal')) {
    throw new CairnError(ErrorCode.InvalidArgument, `role name "${name}" is reserved`);
  }
  if (userExists(state, name)) {
    if (ifNotExists) return state;
    throw new CairnError(ErrorCode.DuplicateObject, `a role/user named ${name} already exists`);
  }
  const users = [...state.users, { name, admin: false, createdAtMs: nowMs }].sort((a, b) => compare(a.name, b.name));
  return { ...state, users };
}

/**
 * Sets (a hash) or clears (`undefined`, PASSWORD NULL) a user's password. root and admin have
 * no stored record: root gets one on its first password; admin is a role and cannot log in.
 */
export function setPasswordHash(state: PrivilegeState, name: string, passwordHash: string | undefined, ifExists = false): PrivilegeState {
  if (name === ADMIN_ROLE) throw new CairnError(ErrorCode.InvalidArgument, 'cannot set a password for the admin role');
  let users = state.users;
  if (name === ROOT_USER && !users.some((u) => u.name === ROOT_USER)) {
    users = [...users, { name: ROOT_USER, admin: true, createdAtMs: 0 }].sort((a, b) => compare(a.name, b.name));
  }
  if (!users.some((u) => u.name === name)) {
    if (ifExists) return state;
    throw unknownUserError(name);
  }
  return {
    ...state,
    users: users.map((u) => {
      if (u.name !== name) return u;
      const { passwordHash: _old, ...rest } = u;
      return passwordHash === undefined ? rest : { ...rest, passwordHash };
    }),
  };
}

/** The stored password hash of `name`, if it has one. */
export function passwordHashOf(state: PrivilegeState, name: string): string | undefined {
  return state.users.find((u) => u.name === name)?.passwordHash;
}

/**
 * DROP USER. As CockroachDB, a user that still holds privileges cannot be dropped (revoke
 * them first); `dependents` names other things that depend on it (schedules it owns).
 */
export function dropUser(state: PrivilegeState, name: string, describeObject: (o: PrivilegeObject) => string, dependents: readonly string[] = []): PrivilegeState {
  if (name === ROOT_USER || name === ADMIN_ROLE) throw new CairnError(ErrorCode.InvalidArgument, `cannot drop special role ${name}`);
  if (!state.users.some((u) => u.name === name)) throw unknownUserError(name);
  const held = state.grants.filter((g) => g.grantee === name);
  const objects = [...new Set(held.map((g) => describeObject(g.object))), ...dependents];
  if (objects.length > 0) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      `role ${name} cannot be dropped because some objects depend on it: ${objects.join(', ')}`,
    );
  }
  return { ...state, users: state.users.filter((u) => u.name !== name) };
}

/** GRANT / REVOKE admin TO / FROM members: the only role membership cairn has. */
export function setAdminMembership(state: PrivilegeState, roles: readonly string[], members: readonly string[], admin: boolean): PrivilegeState {
  for (const role of roles) {
    if (role === ADMIN_ROLE) continue;
    if (!userExists(state, role)) throw unknownUserError(role);
    throw new CairnError(ErrorCode.FeatureNotSupported, `cairn has no roles but ${ADMIN_ROLE}: cannot grant membership in ${role}`);
  }
  for (const m of members) {
    if (!userExists(state, m)) throw unknownUserError(m);
    if (m === ADMIN_ROLE) throw new CairnError(ErrorCode.InvalidArgument, `${ADMIN_ROLE} cannot be a member of itself`);
    if (m === ROOT_USER && !admin) {
      throw new CairnError(ErrorCode.InvalidArgument, `user ${ROOT_USER} cannot be removed from role ${ADMIN_ROLE} or lose the ADMIN OPTION`);
    }
  }
  const users = state.users.map((u) => (members.includes(u.name) ? { ...u, admin } : u));
  return { ...state, users };
}

/**
 * GRANT privileges ON objects TO grantees. Granting to root or admin changes nothing (they hold
 * everything); granting ALL replaces a grantee's other rows on the object; a privilege
 * covered by a held ALL is not added.
 */
export function grant(state: PrivilegeState, objects: readonly PrivilegeObject[], privileges: readonly string[], grantees: readonly string[]): PrivilegeState {
  for (const g of grantees) if (!userExists(state, g)) throw unknownUserError(g);
  let grants = [...state.grants];
  for (const object of objects) {
    for (const grantee of grantees) {
      if (grantee === ROOT_USER || grantee === ADMIN_ROLE) continue;
      const mine = (g: GrantRecord) => g.grantee === grantee && sameObject(g.object, object);
      const held = grants.filter(mine).map((g) => g.privilege);
      if (held.includes('ALL')) continue;
      if (privileges.includes('ALL')) {
        grants = [...grants.filter((g) => !mine(g)), { object, grantee, privilege: 'ALL' }];
        continue;
      }
      for (const p of privileges) if (!held.includes(p)) grants.push({ object, grantee, privilege: p });
    }
  }
  return { ...state, grants: sortGrants(grants) };
}

/**
 * REVOKE privileges ON objects FROM grantees. Revoking a privilege from a holder of ALL
 * leaves every other privilege of the object's kind; revoking what is not held is a no-op
 * (as in CockroachDB). root and admin cannot lose privileges.
 */
export function revoke(state: PrivilegeState, objects: readonly PrivilegeObject[], privileges: readonly string[], grantees: readonly string[]): PrivilegeState {
  for (const g of grantees) {
    if (!userExists(state, g)) throw unknownUserError(g);
    if (g === ROOT_USER || g === ADMIN_ROLE) {
      throw new CairnError(ErrorCode.InvalidArgument, `cannot revoke privileges from ${g}: ${ROOT_USER} and the ${ADMIN_ROLE} role always hold ALL privileges`);
    }
  }
  let grants = [...state.grants];
  for (const object of objects) {
    for (const grantee of grantees) {
      const mine = (g: GrantRecord) => g.grantee === grantee && sameObject(g.object, object);
      const held = grants.filter(mine).map((g) => g.privilege);
      const expanded = held.includes('ALL') ? VALID_PRIVILEGES[object.kind].filter((p) => p !== 'ALL') : held;
      const kept = privileges.includes('ALL') ? [] : expanded.filter((p) => !privileges.includes(p));
      grants = [...grants.filter((g) => !mine(g)), ...kept.map((privilege) => ({ object, grantee, privilege }))];
    }
  }
  return { ...state, grants: sortGrants(grants) };
}

/**
 * Drops the grants on databases and tables that no longer exist (`exists` says which do).
 * External connections take their grants with them when dropped (`forgetObject`).
 */
export function forgetDroppedObjects(state: PrivilegeState, exists: (o: PrivilegeObject) => boolean): PrivilegeState {
  const grants = state.grants.filter((g) => g.object.kind === 'system' || g.object.kind === 'externalConnection' || exists(g.object));
  return grants.length === state.grants.length ? state : { ...state, grants };
}

/** Drops every grant on `object` (DROP EXTERNAL CONNECTION). */
export function forgetObject(state: PrivilegeState, object: PrivilegeObject): PrivilegeState {
  const grants = state.grants.filter((g) => !sameObject(g.object, object));
  return grants.length === state.grants.length ? state : { ...state, grants };
}

const KIND_ORDER: Record<ObjectKind, number> = { system: 0, database: 1, table: 2, externalConnection: 3 };

function objectKey(o: PrivilegeObject): number | string {
  return o.kind === 'system' ? 0 : o.kind === 'externalConnection' ? o.name : o.id;
}

function compareKeys(a: number | string, b: number | string): number {
  return typeof a === 'number' && typeof b === 'number' ? a - b : compare(String(a), String(b));
}

/** Grants in a stable order (object, grantee, privilege), so equal states encode equally. */
function sortGrants(grants: GrantRecord[]): GrantRecord[] {
  return grants.sort(
    (a, b) =>
      KIND_ORDER[a.object.kind] - KIND_ORDER[b.object.kind] ||
      compareKeys(objectKey(a.object), objectKey(b.object)) ||
      compare(a.grantee, b.grantee) ||
      compare(a.privilege, b.privilege),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
