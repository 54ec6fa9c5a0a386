import { ADMIN_ROLE, ROOT_USER, isAdmin, sameObject, type PrivilegeObject, type PrivilegeState } from './privilege-model.js';

/**
 * The rows of SHOW GRANTS, SHOW SYSTEM GRANTS and SHOW USERS, with CockroachDB's columns and
 * order. root and admin hold ALL on every database and table without a stored grant, and are
 * shown so (grantable, as in CockroachDB). `FOR users` also lists what a user holds through
 * the admin role, under the grantee admin.
 */

type Cell = string | null;

export const SHOW_DATABASE_GRANTS_COLUMNS = ['database_name', 'grantee', 'privilege_type', 'is_grantable'] as const;
export const SHOW_TABLE_GRANTS_COLUMNS = ['database_name', 'schema_name', 'table_name', 'grantee', 'privilege_type', 'is_grantable'] as const;
export const SHOW_ALL_GRANTS_COLUMNS = ['database_name', 'schema_name', 'object_name', 'object_type', 'grantee', 'privilege_type', 'is_grantable'] as const;
export const SHOW_SYSTEM_GRANTS_COLUMNS = ['grantee', 'privilege_type', 'is_grantable'] as const;
export const SHOW_EXTERNAL_CONNECTION_GRANTS_COLUMNS = ['connection_name', 'grantee', 'privilege_type', 'is_grantable'] as const;
export const SHOW_USERS_COLUMNS = ['username', 'options', 'member_of'] as const;

/** A live database or table, named. */
export type NamedObject =
  | { readonly kind: 'database'; readonly id: number; readonly database: string }
  | { readonly kind: 'table'; readonly id: number; readonly database: string; readonly table: string; readonly objectType: 'table' | 'sequence' };

interface Held {
  grantee: string;
  privilege: string;
  grantable: boolean;
}

/** Who holds what on `object`: root and admin implicitly, then the stored grants. */
function holders(state: PrivilegeState, object: PrivilegeObject): Held[] {
  const implicit: Held[] =
    object.kind === 'system' ? [] : [ADMIN_ROLE, ROOT_USER].map((grantee) => ({ grantee, privilege: 'ALL', grantable: true }));
  const stored = state.grants
    .filter((g) => sameObject(g.object, object))
    .map((g) => ({ grantee: g.grantee, privilege: g.privilege, grantable: false }));
  return [...implicit, ...stored];
}

/** `FOR users`: a user's own rows, and admin's rows for a member of admin. */
function granteeFilter(state: PrivilegeState, users: readonly string[] | undefined): (grantee: string) => boolean {
  if (users === undefined) return () => true;
  const viaAdmin = users.some((u) => u !== ADMIN_ROLE && isAdmin(state, u));
  return (grantee) => users.includes(grantee) || (grantee === ADMIN_ROLE && viaAdmin);
}

const bool = (b: boolean): string => String(b);

function compareRows(a: readonly Cell[], b: readonly Cell[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    // NULLs first, as CockroachDB's ORDER BY ascending.
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** `SHOW GRANTS ON DATABASE d, ... [FOR users]`. */
export function databaseGrantRows(state: PrivilegeState, databases: readonly NamedObject[], users?: readonly string[]): Cell[][] {
  const keep = granteeFilter(state, users);
  const rows: Cell[][] = [];
  for (const d of databases) {
    for (const h of holders(state, { kind: 'database', id: d.id })) {
      if (keep(h.grantee)) rows.push([d.database, h.grantee, h.privilege, bool(h.grantable)]);
    }
  }
  return rows.sort(compareRows);
}

/** `SHOW GRANTS ON TABLE t, ... [FOR users]`. */
export function tableGrantRows(state: PrivilegeState, tables: readonly NamedObject[], users?: readonly string[]): Cell[][] {
  const keep = granteeFilter(state, users);
  const rows: Cell[][] = [];
  for (const t of tables) {
    if (t.kind !== 'table') continue;
    for (const h of holders(state, { kind: 'table', id: t.id })) {
      if (keep(h.grantee)) rows.push([t.database, 'public', t.table, h.grantee, h.privilege, bool(h.grantable)]);
    }
  }
  return rows.sort(compareRows);
}

/** `SHOW GRANTS [FOR users]`: the databases and tables given (the session database's). */
export function allGrantRows(state: PrivilegeState, objects: readonly NamedObject[], users?: readonly string[]): Cell[][] {
  const keep = granteeFilter(state, users);
  const rows: Cell[][] = [];
  for (const o of objects) {
    for (const h of holders(state, { kind: o.kind, id: o.id })) {
      if (!keep(h.grantee)) continue;
      rows.push(
        o.kind === 'database'
          ? [o.database, null, null, 'database', h.grantee, h.privilege, bool(h.grantable)]
          : [o.database, 'public', o.table, o.objectType, h.grantee, h.privilege, bool(h.grantable)],
      );
    }
  }
  return rows.sort(compareRows);
}

/** `SHOW SYSTEM GRANTS [FOR users]`: the stored system privileges. */
export function systemGrantRows(state: PrivilegeState, users?: readonly string[]): Cell[][] {
  const keep = granteeFilter(state, users);
  return holders(state, { kind: 'system' })
    .filter((h) => keep(h.grantee))
    .map((h) => [h.grantee, h.privilege, bool(h.grantable)])
    .sort(compareRows);
}

/** `SHOW GRANTS ON EXTERNAL CONNECTION name, ... [FOR users]`. */
export function externalConnectionGrantRows(state: PrivilegeState, names: readonly string[], users?: readonly string[]): Cell[][] {
  const keep = granteeFilter(state, users);
  const rows: Cell[][] = [];
  for (const name of names) {
    for (const h of holders(state, { kind: 'externalConnection', name })) {
      if (keep(h.grantee)) rows.push([name, h.grantee, h.privilege, bool(h.grantable)]);
    }
  }
  return rows.sort(compareRows);
}

/** `SHOW USERS`: admin, root and every created user, with their role membership. */
export function userRows(state: PrivilegeState): Cell[][] {
  const rows: Cell[][] = [
    [ADMIN_ROLE, '{}', '{}'],
    [ROOT_USER, '{}', `{${ADMIN_ROLE}}`],
    ...state.users.filter((u) => u.name !== ROOT_USER).map((u) => [u.name, '{}', u.admin ? `{${ADMIN_ROLE}}` : '{}']),
  ];
  return rows.sort(compareRows);
}
