import { CairnError, ErrorCode } from '@cairn/errors';
import { namespaceName, type Catalog } from '@cairn/catalog';
import type { Job } from '@cairn/jobs';
import { DescriptorState, ObjectKind, type TableDescriptor } from '@cairn/proto';
import type {
  AlterUserStatement,
  CreateUserStatement,
  DropUserStatement,
  GrantRoleStatement,
  GrantStatement,
  PrivilegeTarget,
  ShowGrantsStatement,
  Statement,
  TablePattern,
} from '@cairn/sql';
import { rowsResult, tagOnly, type StatementResult } from '../statements/result.js';
import type { SessionWith } from '../statements/session.js';
import {
  SHOW_ALL_GRANTS_COLUMNS,
  SHOW_DATABASE_GRANTS_COLUMNS,
  SHOW_EXTERNAL_CONNECTION_GRANTS_COLUMNS,
  externalConnectionGrantRows,
  SHOW_SYSTEM_GRANTS_COLUMNS,
  SHOW_TABLE_GRANTS_COLUMNS,
  SHOW_USERS_COLUMNS,
  allGrantRows,
  databaseGrantRows,
  systemGrantRows,
  tableGrantRows,
  userRows,
  type NamedObject,
} from './grant-rows.js';
import {
  authorize,
  canAccessJob,
  canAccessSchedule,
  checkSessionUser,
  jobAccessError,
  requirementFor,
  scheduleAccessError,
  type ObjectDirectory,
} from './privilege-checks.js';
import {
  ROOT_USER,
  checkPrivileges,
  createUser as addUser,
  dropUser as removeUser,
  forgetDroppedObjects,
  forgetObject,
  grant,
  normalizeUsername,
  revoke,
  setAdminMembership,
  setPasswordHash,
  unknownUserError,
  userExists,
  validateUsername,
  type PrivilegeObject,
} from './privilege-model.js';
import { hashPassword } from './password-hash.js';
import { currentRequest } from '../auth/request-context.js';

/** Users and grants: the privilege state, and the objects grants name. */
type PrivilegeSession = SessionWith<'readiness' | 'catalog' | 'privileges' | 'meta' | 'schedules'>;
/** What checking a user's access to jobs, schedules and connections takes: the privilege state. */
type PrivilegeReads = SessionWith<'privileges'>;

/**
 * The SQL surface of users and privileges (CREATE / DROP USER, GRANT / REVOKE, SHOW USERS,
 * SHOW [SYSTEM] GRANTS) and the gate every statement passes before it runs.
 */

/** The catalog as the checks see it: live (non-dropped) databases and tables by name. */
export function objectDirectory(catalog: Catalog): ObjectDirectory {
  const live = <T extends { state: DescriptorState }>(d: T | undefined) => (d !== undefined && d.state !== DescriptorState.DROPPED ? d : undefined);
  return {
    databaseId: (name) => live(catalog.database(name))?.id,
    tableId: (db, table) => live(catalog.table(db, table))?.id,
    tableIds: (db) => {
      const d = live(catalog.database(db));
      return d === undefined ? [] : catalog.tablesIn(d.id).map((t) => t.id);
    },
  };
}

/** A normalized, well-formed session user name (empty: root). */
export function sessionUser(requested: string): string {
  const user = normalizeUsername(requested === '' ? ROOT_USER : requested);
  validateUsername(user);
  return user;
}

/**
 * Refuses the statement unless the session's user may run it (see privilege-checks.ts).
 * root is never refused and costs no read; any other user's statements read the privilege
 * state once each, so a GRANT takes effect on the very next statement.
 */
export async function authorizeStatement(s: SessionWith<'readiness' | 'catalog' | 'privileges'>, stmt: Statement): Promise<void> {
  if (s.user === ROOT_USER) return;
  // The checks resolve names in the catalog: until it is loaded they could not be fair.
  s.readiness.assertReady();
  const state = await s.privileges.read();
  checkSessionUser(state, s.user);
  // As in CockroachDB, every user may change its own password; other users' need admin.
  if (stmt.kind === 'alterUser' && normalizeUsername(stmt.name) === s.user) return;
  authorize(state, s.user, requirementFor(stmt, s.database), objectDirectory(s.catalog));
}

/**
 * Which jobs the session's user may see and control: every job for an admin, else their own
 * (as CockroachDB's SHOW JOBS shows a non-admin only the jobs they own).
 */
export async function jobAccess(s: PrivilegeReads): Promise<(job: Job) => boolean> {
  if (s.user === ROOT_USER) return () => true;
  const state = await s.privileges.read();
  return (job) => canAccessJob(state, s.user, job.spec.userName);
}

/** Throws unless the session's user may pause, resume or cancel `job`. */
export async function assertJobAccess(s: PrivilegeReads, job: Job): Promise<void> {
  if (!(await jobAccess(s))(job)) throw jobAccessError(s.user, job.id);
}

/**
 * Which schedules the session's user may see and control: every schedule for an admin, else
 * the ones it owns (CockroachDB 22.2+: the owner may pause, resume, alter and drop its own).
 */
export async function scheduleAccess(s: PrivilegeReads): Promise<(owner: string) => boolean> {
  if (s.user === ROOT_USER) return () => true;
  const state = await s.privileges.read();
  return (owner) => canAccessSchedule(state, s.user, owner);
}

/** Throws unless the session's user may `action` every one of `schedules`. */
export async function assertScheduleAccess(s: PrivilegeReads, schedules: ReadonlyArray<{ id: string; owner: string }>, action: string): Promise<void> {
  const may = await scheduleAccess(s);
  const other = schedules.find((x) => !may(x.owner));
  if (other) throw scheduleAccessError(s.user, other.id, action);
}

/**
 * CREATE EXTERNAL CONNECTION's grant: its creator holds ALL on it (CockroachDB grants the
 * creator ALL on the new connection); DROP takes every grant on it away.
 */
export async function grantConnectionToCreator(s: PrivilegeReads, name: string): Promise<void> {
  await s.privileges.update((state) => ({ state: grant(state, [{ kind: 'externalConnection', name }], ['ALL'], [s.user]), result: undefined }));
}

export async function forgetConnectionGrants(s: PrivilegeReads, name: string): Promise<void> {
  await s.privileges.update((state) => ({ state: forgetObject(state, { kind: 'externalConnection', name }), result: undefined }));
}

/** Whether a granted object is still live in the catalog (not dropped, not gone). */
function objectExists(catalog: Catalog): (o: PrivilegeObject) => boolean {
  return (o) => {
    const d = o.kind === 'database' ? catalog.databaseById(o.id) : o.kind === 'table' ? catalog.tableById(o.id) : undefined;
    return o.kind === 'system' || (d !== undefined && d.state !== DescriptorState.DROPPED);
  };
}

/** After a DROP: the grants on objects that no longer exist go with them. */
export async function forgetDroppedGrants(s: SessionWith<'catalog' | 'privileges'>): Promise<void> {
  const exists = objectExists(s.catalog);
  await s.privileges.update((state) => ({ state: forgetDroppedObjects(state, exists), result: undefined }));
}

/**
 * A password is accepted only when the coordinator runs secure (with certificates): in
 * insecure mode nothing authenticates, so a stored password would only give a false sense of
 * security. The API's authentication layer says which mode this call is served in.
 */
function requireSecureForPassword(): void {
  if (currentRequest()?.secure !== true) {
    throw new CairnError(ErrorCode.FeatureNotSupported, 'setting or updating a password is not supported in insecure mode');
  }
}

export async function createUser(s: PrivilegeSession, stmt: CreateUserStatement): Promise<StatementResult> {
  if (typeof stmt.password === 'string') requireSecureForPassword();
  const name = normalizeUsername(stmt.name);
  // Hashed before the store's compare-and-set: scrypt is slow on purpose and must not run
  // inside a retried change.
  const hash = typeof stmt.password === 'string' ? await hashPassword(stmt.password) : undefined;
  await s.privileges.update((state) => {
    const added = addUser(state, name, Date.now(), stmt.ifNotExists);
    // IF NOT EXISTS on an existing user changes nothing, its password included (as CockroachDB).
    return { state: added === state || hash === undefined ? added : setPasswordHash(added, name, hash), result: undefined };
  });
  return tagOnly('CREATE ROLE');
}

/** `ALTER USER name WITH PASSWORD 'pw' | PASSWORD NULL` (PASSWORD NULL removes password login). */
export async function alterUser(s: PrivilegeSession, stmt: AlterUserStatement): Promise<StatementResult> {
  if (stmt.password !== null) requireSecureForPassword();
  const name = normalizeUsername(stmt.name);
  const hash = stmt.password === null ? undefined : await hashPassword(stmt.password);
  await s.privileges.update((state) => ({ state: setPasswordHash(state, name, hash, stmt.ifExists), result: undefined }));
  return tagOnly('ALTER ROLE');
}

export async function dropUser(s: PrivilegeSession, stmt: DropUserStatement): Promise<StatementResult> {
  const names = stmt.names.map(normalizeUsername);
  const schedules = await s.schedules.store.list();
  const describe = describeObject(s.catalog);
  await s.privileges.update((state) => {
    let next = state;
    for (const name of names) {
      if (stmt.ifExists && !userExists(next, name)) continue;
      const owned = schedules.filter((x) => x.owner === name).map((x) => `owner of schedule ${x.id}`);
      next = removeUser(next, name, describe, owned);
    }
    return { state: next, result: undefined };
  });
  return tagOnly('DROP ROLE');
}

function describeObject(catalog: Catalog): (o: PrivilegeObject) => string {
  return (o) => {
    if (o.kind === 'system') return 'system privileges';
    if (o.kind === 'externalConnection') return `privileges for external connection ${o.name}`;
    if (o.kind === 'database') return `privileges for database ${catalog.databaseById(o.id)?.name ?? `[${o.id}]`}`;
    const t = catalog.tableById(o.id);
    const db = t === undefined ? undefined : catalog.databaseById(t.parentId);
    return `privileges for table ${db?.name ?? '?'}.${t?.name ?? `[${o.id}]`}`;
  };
}

export async function showUsers(s: PrivilegeSession): Promise<StatementResult> {
  return rowsResult([...SHOW_USERS_COLUMNS], userRows(await s.privileges.read()));
}

/** The tables a pattern names now: one table, or every live table of a database. */
function tablesOf(catalog: Catalog, p: TablePattern, sessionDb: string): TableDescriptor[] {
  if (p.kind === 'allTables') return catalog.tablesIn(catalog.resolveDatabase(p.database ?? sessionDb).id);
  const table = namespaceName(p.table.name, p.table.schema);
  const name = p.table.database !== undefined ? { db: p.table.database, table } : { table };
  return [catalog.resolveTable(name, sessionDb)];
}

/** Throws unless every named external connection exists. */
async function requireConnections(s: PrivilegeSession, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const e = await s.meta.get(`external-connection.${name}`);
    if (!e || e.operation !== 'PUT') throw new CairnError(ErrorCode.UndefinedObject, `external connection with name ${name} does not exist`);
  }
}

/** The objects a GRANT / REVOKE target names, by id (unknown names fail here). */
async function grantObjects(s: PrivilegeSession, on: PrivilegeTarget): Promise<PrivilegeObject[]> {
  const catalog = s.catalog;
  switch (on.kind) {
    case 'externalConnections':
      await requireConnections(s, on.names);
      return on.names.map((name) => ({ kind: 'externalConnection', name }));
    case 'system':
      return [{ kind: 'system' }];
    case 'databases':
      return on.names.map((n) => ({ kind: 'database', id: catalog.resolveDatabase(n).id }));
    case 'tables':
      return on.tables.flatMap((p) => tablesOf(catalog, p, s.database)).map((t) => ({ kind: 'table', id: t.id }));
  }
}

const OBJECT_KIND_OF = { system: 'system', databases: 'database', tables: 'table', externalConnections: 'externalConnection' } as const;
const objectKindOf = (on: PrivilegeTarget) => OBJECT_KIND_OF[on.kind];

export async function grantOrRevoke(s: PrivilegeSession, stmt: GrantStatement): Promise<StatementResult> {
  s.readiness.assertReady();
  const privileges = checkPrivileges(stmt.privileges, objectKindOf(stmt.on));
  const objects = await grantObjects(s, stmt.on);
  const grantees = stmt.roles.map(normalizeUsername);
  const apply = stmt.kind === 'grant' ? grant : revoke;
  const exists = objectExists(s.catalog);
  await s.privileges.update((state) => ({
    // Each write also drops grants left on objects dropped since (should a drop's cleanup have failed).
    state: forgetDroppedObjects(apply(state, objects, privileges, grantees), exists),
    result: undefined,
  }));
  return tagOnly(stmt.kind === 'grant' ? 'GRANT' : 'REVOKE');
}

export async function grantOrRevokeRole(s: PrivilegeSession, stmt: GrantRoleStatement): Promise<StatementResult> {
  const roles = stmt.roles.map(normalizeUsername);
  const members = stmt.members.map(normalizeUsername);
  await s.privileges.update((state) => ({ state: setAdminMembership(state, roles, members, stmt.kind === 'grantRole'), result: undefined }));
  return tagOnly(stmt.kind === 'grantRole' ? 'GRANT' : 'REVOKE');
}

function namedDatabase(catalog: Catalog, name: string): NamedObject {
  const db = catalog.resolveDatabase(name);
  return { kind: 'database', id: db.id, database: db.name };
}

function namedTable(catalog: Catalog, t: TableDescriptor): NamedObject {
  return {
    kind: 'table',
    id: t.id,
    database: catalog.databaseById(t.parentId)?.name ?? '',
    table: t.name,
    objectType: t.kind === ObjectKind.SEQUENCE ? 'sequence' : 'table',
  };
}

export async function showGrants(s: PrivilegeSession, stmt: ShowGrantsStatement): Promise<StatementResult> {
  s.readiness.assertReady();
  const state = await s.privileges.read();
  const users = stmt.grantees?.map(normalizeUsername);
  for (const u of users ?? []) if (!userExists(state, u)) throw unknownUserError(u);
  const catalog = s.catalog;
  const on = stmt.on;
  if (on?.kind === 'system') return rowsResult([...SHOW_SYSTEM_GRANTS_COLUMNS], systemGrantRows(state, users));
  if (on?.kind === 'externalConnections') {
    await requireConnections(s, on.names);
    return rowsResult([...SHOW_EXTERNAL_CONNECTION_GRANTS_COLUMNS], externalConnectionGrantRows(state, on.names, users));
  }
  if (on?.kind === 'databases') {
    return rowsResult([...SHOW_DATABASE_GRANTS_COLUMNS], databaseGrantRows(state, on.names.map((n) => namedDatabase(catalog, n)), users));
  }
  if (on?.kind === 'tables') {
    const tables = on.tables.flatMap((p) => tablesOf(catalog, p, s.database)).map((t) => namedTable(catalog, t));
    return rowsResult([...SHOW_TABLE_GRANTS_COLUMNS], tableGrantRows(state, tables, users));
  }
  // No target: the session database and its tables (every database without one).
  const dbs = s.database !== '' ? [catalog.resolveDatabase(s.database)] : catalog.databases();
  const objects: NamedObject[] = dbs.flatMap((db) => [
    { kind: 'database' as const, id: db.id, database: db.name },
    ...catalog.tablesIn(db.id).map((t) => namedTable(catalog, t)),
  ]);
  return rowsResult([...SHOW_ALL_GRANTS_COLUMNS], allGrantRows(state, objects, users));
}
