import { namespaceName } from '@cairn/catalog';
import { CairnError, ErrorCode } from '@cairn/errors';
import { parseStorageUri } from '@cairn/cloud';
import type { BackupStatement, Statement, TablePattern } from '@cairn/sql';
import { ADMIN_ROLE, ROOT_USER, holds, isAdmin, unknownUserError, userExists, type PrivilegeState } from './privilege-model.js';

/**
 * Which privileges each statement needs from a non-admin user, and the check itself, as pure
 * functions of the statement, the privilege state and a view of the catalog.
 *
 * The backup and restore rules are the seed's table (CockroachDB's):
 * - full cluster BACKUP: the admin role (or the BACKUP system privilege, as CockroachDB 22.2+);
 * - BACKUP DATABASE d: BACKUP on d;
 * - BACKUP TABLE t: SELECT on t (SELECT or ALL on its database counts);
 * - full cluster RESTORE: the admin role or the RESTORE system privilege;
 * - RESTORE DATABASE: the RESTORE system privilege;
 * - RESTORE TABLE: RESTORE on the database the tables are restored into.
 * Every storage URI a non-admin names is checked as CockroachDB's cloudprivilege does:
 * `external://name` needs USAGE on the connection; a URI that uses the cluster's own access
 * (nodelocal://, file://, AUTH=implicit) needs the EXTERNALIOIMPLICITACCESS system privilege.
 * CREATE SCHEDULE FOR BACKUP needs what its BACKUP needs (CockroachDB 22.2+); the schedule's
 * owner may then pause, resume, alter and drop it (checked by the handlers, which know owners).
 * CREATE EXTERNAL CONNECTION needs the EXTERNALCONNECTION system privilege.
 * SHOW BACKUP(S) needs a BACKUP or RESTORE privilege somewhere; jobs are visible to their
 * owner (and admins); reads (SELECT, SHOW FINGERPRINTS) need SELECT; everything else a
 * non-admin might run (DDL, DML, settings, users, grants, schedules, external connections)
 * needs the admin role.
 */

/** A table a statement reads, or every table of a database (`table` absent). */
export interface TableRef {
  readonly database: string;
  readonly table?: string;
}

/** What a statement requires of a user who is not an admin. */
export type Requirement =
  | { readonly kind: 'anyone' }
  | { readonly kind: 'admin'; readonly action: string }
  | { readonly kind: 'systemPrivilege'; readonly privilege: 'BACKUP' | 'RESTORE'; readonly action: string }
  | {
      readonly kind: 'databasePrivilege';
      readonly privilege: 'BACKUP' | 'RESTORE';
      readonly database: string;
      /** A database that does not exist needs nothing: the statement itself fails on it. */
      readonly missingOk: boolean;
    }
  | { readonly kind: 'select'; readonly tables: readonly TableRef[] }
  | { readonly kind: 'backupOrRestoreAnywhere'; readonly action: string }
  /** Storage URIs the statement reads or writes (see `checkStorage`). */
  | { readonly kind: 'storage'; readonly uris: readonly string[] }
  /** The system privilege EXTERNALCONNECTION (CREATE EXTERNAL CONNECTION). */
  | { readonly kind: 'externalConnectionSystem' }
  /** A privilege on a named external connection (DROP needs DROP). */
  | { readonly kind: 'externalConnectionPrivilege'; readonly privilege: 'DROP' | 'USAGE'; readonly name: string }
  | { readonly kind: 'all'; readonly of: readonly Requirement[] };

/** The part of the catalog the checks look at: live databases and tables by name. */
export interface ObjectDirectory {
  databaseId(name: string): number | undefined;
  tableId(database: string, table: string): number | undefined;
  /** Ids of the live tables of `database` (none if it does not exist). */
  tableIds(database: string): number[];
}

export const ANYONE: Requirement = { kind: 'anyone' };

/** CockroachDB's RequireAdminRole for the schedule option `updates_cluster_last_backup_time_metric`. */
const UPDATES_METRIC_ADMIN: Requirement = { kind: 'admin', action: 'updates_cluster_last_backup_time_metric' };

/** The statement's name as its error messages show it, e.g. `CREATE TABLE`. */
export function statementName(stmt: Statement): string {
  switch (stmt.kind) {
    case 'grantRole':
      return 'GRANT';
    case 'revokeRole':
      return 'REVOKE';
    case 'controlJobs':
      return `${stmt.action.toUpperCase()} JOB`;
    case 'controlSchedules':
      return `${stmt.action.toUpperCase()} SCHEDULE`;
    case 'alterBackupSchedule':
      return 'ALTER BACKUP SCHEDULE';
    case 'showExternalConnections':
      return 'SHOW EXTERNAL CONNECTIONS';
    case 'useDatabase':
      return 'USE';
    default:
      return stmt.kind.replace(/[A-Z]/g, (c) => ` ${c}`).toUpperCase();
  }
}

function patternRef(p: TablePattern, sessionDb: string): TableRef {
  if (p.kind === 'allTables') return { database: p.database ?? sessionDb };
  return { database: p.table.database ?? sessionDb, table: namespaceName(p.table.name, p.table.schema) };
}

/** What `stmt` requires of a non-admin user whose session database is `sessionDb`. */
export function requirementFor(stmt: Statement, sessionDb: string): Requirement {
  const admin: Requirement = { kind: 'admin', action: `run ${statementName(stmt)}` };
  switch (stmt.kind) {
    case 'selectFromShow':
      // A query over a SHOW needs what the SHOW alone needs.
      return requirementFor(stmt.show, sessionDb);
    case 'setTimeZone':
    case 'showTimeZone':
    case 'showSchemas':
    case 'showEnums':
    case 'useDatabase':
    case 'showDatabases':
    case 'showTables':
    case 'showCreateTable':
    case 'showGrants':
    case 'showJob':
      return ANYONE;
    case 'showJobs':
      // Filtered to the user's own jobs; schedules are an admin's business.
      return stmt.filter?.kind === 'forSchedules' ? admin : ANYONE;
    case 'controlJobs':
      // The handler refuses someone else's job and skips others' jobs in a query.
      return stmt.jobs.kind === 'forSchedules' ? admin : ANYONE;
    case 'select':
      return { kind: 'select', tables: [{ database: stmt.from.database ?? sessionDb, table: namespaceName(stmt.from.name, stmt.from.schema) }] };
    case 'showFingerprints':
      return stmt.table !== undefined
        ? { kind: 'select', tables: [{ database: stmt.table.database ?? sessionDb, table: stmt.table.name }] }
        : { kind: 'select', tables: [{ database: stmt.database ?? sessionDb }] };
    case 'backup':
      return backupRequirement(stmt, sessionDb);
    case 'createSchedule': {
      // What the scheduled BACKUP would need: a user who may back the targets up may schedule it.
      const backup = backupRequirement(stmt.backup, sessionDb);
      // A cluster-wide metric is an admin's to drive, as in CockroachDB.
      return stmt.scheduleOptions.updatesClusterLastBackupTimeMetric === undefined ? backup : { kind: 'all', of: [UPDATES_METRIC_ADMIN, backup] };
    }
    case 'alterBackupSchedule':
      if (stmt.commands.some((c) => c.kind === 'setScheduleOption' && c.options.updatesClusterLastBackupTimeMetric !== undefined)) return UPDATES_METRIC_ADMIN;
      // Otherwise checked against the schedules the user owns by the handler.
      return ANYONE;
    case 'showSchedules':
    case 'showSchedule':
    case 'showCreateSchedule':
    case 'controlSchedules':
      // Filtered to (or checked against) the schedules the user owns by the handler.
      return ANYONE;
    case 'restore': {
      const storage: Requirement = { kind: 'storage', uris: [...stmt.source.uris, ...(stmt.incrementalSources ?? []).flatMap((l) => l.uris), ...(stmt.options.incrementalLocation ?? [])] };
      switch (stmt.targets.kind) {
        case 'cluster':
          return { kind: 'all', of: [{ kind: 'systemPrivilege', privilege: 'RESTORE', action: 'perform a cluster restore' }, storage] };
        case 'databases':
          return { kind: 'all', of: [{ kind: 'systemPrivilege', privilege: 'RESTORE', action: 'restore databases' }, storage] };
        case 'tables': {
          const into = stmt.options.intoDb;
          const targets = new Set(stmt.targets.tables.map((p) => into ?? patternRef(p, sessionDb).database));
          return {
            kind: 'all',
            of: [...[...targets].map((database): Requirement => ({ kind: 'databasePrivilege', privilege: 'RESTORE', database, missingOk: true })), storage],
          };
        }
      }
      break;
    }
    case 'showBackups':
      return { kind: 'all', of: [{ kind: 'backupOrRestoreAnywhere', action: 'run SHOW BACKUPS' }, { kind: 'storage', uris: stmt.collection.uris }] };
    case 'showBackup':
      return {
        kind: 'all',
        of: [{ kind: 'backupOrRestoreAnywhere', action: 'run SHOW BACKUP' }, { kind: 'storage', uris: [...stmt.source.uris, ...(stmt.options.incrementalLocation ?? [])] }],
      };
    case 'createExternalConnection':
      return { kind: 'all', of: [{ kind: 'externalConnectionSystem' }, { kind: 'storage', uris: [stmt.uri] }] };
    case 'dropExternalConnection':
      return { kind: 'externalConnectionPrivilege', privilege: 'DROP', name: stmt.name };
    default:
      return admin;
  }
}

/** BACKUP's requirement: on its targets (the seed's table), and on every URI it writes. */
function backupRequirement(stmt: BackupStatement, sessionDb: string): Requirement {
  const storage: Requirement = {
    kind: 'storage',
    uris: [...stmt.destination.uris, ...stmt.incrementalFrom, ...(stmt.options.incrementalLocation ?? [])],
  };
  switch (stmt.targets.kind) {
    case 'cluster':
      return { kind: 'all', of: [{ kind: 'systemPrivilege', privilege: 'BACKUP', action: 'perform full cluster backups' }, storage] };
    case 'databases':
      return {
        kind: 'all',
        of: [...stmt.targets.names.map((database): Requirement => ({ kind: 'databasePrivilege', privilege: 'BACKUP', database, missingOk: false })), storage],
      };
    case 'tables':
      return { kind: 'all', of: [{ kind: 'select', tables: stmt.targets.tables.map((p) => patternRef(p, sessionDb)) }, storage] };
  }
}

/**
 * Which privilege a storage URI needs of a non-admin: USAGE on the external connection it
 * names, or EXTERNALIOIMPLICITACCESS when the access is the cluster's own (nodelocal://,
 * file://, AUTH=implicit), with CockroachDB's provider name for the message. A URI that does
 * not parse needs nothing here: the statement itself refuses it with the parse error.
 */
export function storageAccess(uri: string): { kind: 'usage'; name: string } | { kind: 'implicit'; provider: string } | undefined {
  let loc;
  try {
    loc = parseStorageUri(uri);
  } catch {
    return undefined;
  }
  switch (loc.scheme) {
    case 'external':
      return { kind: 'usage', name: loc.name };
    case 'nodelocal':
      return { kind: 'implicit', provider: 'nodelocal' };
    case 'file':
      return { kind: 'implicit', provider: 'file' };
    case 's3':
      return loc.auth === 'implicit' ? { kind: 'implicit', provider: 's3' } : undefined;
    case 'gs':
      return loc.auth === 'implicit' ? { kind: 'implicit', provider: 'gs' } : undefined;
    case 'azure':
      return undefined;
  }
}

function checkStorage(state: PrivilegeState, user: string, uri: string): void {
  const access = storageAccess(uri);
  if (access === undefined) return;
  if (access.kind === 'usage') {
    if (holds(state, user, { kind: 'externalConnection', name: access.name }, 'USAGE')) return;
    throw denied(`user ${user} does not have USAGE privilege on external_connection ${access.name}`);
  }
  if (holds(state, user, { kind: 'system' }, 'EXTERNALIOIMPLICITACCESS')) return;
  throw denied(`only users with the ${ADMIN_ROLE} role or the EXTERNALIOIMPLICITACCESS system privilege are allowed to access the specified ${access.provider} URI`);
}

function denied(message: string): CairnError {
  return new CairnError(ErrorCode.InsufficientPrivilege, message);
}

/**
 * Throws INSUFFICIENT_PRIVILEGE (CockroachDB's wording) unless `user` meets `req`; admins meet
 * every requirement.
 */
export function authorize(state: PrivilegeState, user: string, req: Requirement, dir: ObjectDirectory): void {
  if (isAdmin(state, user)) return;
  check(state, user, req, dir);
}

function check(state: PrivilegeState, user: string, req: Requirement, dir: ObjectDirectory): void {
  switch (req.kind) {
    case 'anyone':
      return;
    case 'admin':
      throw denied(`only users with the ${ADMIN_ROLE} role are allowed to ${req.action}`);
    case 'systemPrivilege':
      if (holds(state, user, { kind: 'system' }, req.privilege)) return;
      throw denied(
        `only users with the ${ADMIN_ROLE} role or the ${req.privilege} system privilege are allowed to ${req.action}: ` +
          `user ${user} does not have ${req.privilege} system privilege`,
      );
    case 'databasePrivilege': {
      const id = dir.databaseId(req.database);
      if (id === undefined && req.missingOk) return;
      if (id !== undefined && holds(state, user, { kind: 'database', id }, req.privilege)) return;
      throw denied(`user ${user} does not have ${req.privilege} privilege on database ${req.database}`);
    }
    case 'select':
      for (const t of req.tables) checkSelect(state, user, t, dir);
      return;
    case 'backupOrRestoreAnywhere':
      if (state.grants.some((g) => g.grantee === user && ['ALL', 'BACKUP', 'RESTORE'].includes(g.privilege))) return;
      throw denied(`only users with the ${ADMIN_ROLE} role or a BACKUP or RESTORE privilege are allowed to ${req.action}`);
    case 'storage':
      for (const uri of req.uris) checkStorage(state, user, uri);
      return;
    case 'externalConnectionSystem':
      if (holds(state, user, { kind: 'system' }, 'EXTERNALCONNECTION')) return;
      throw denied('only users with the EXTERNALCONNECTION system privilege are allowed to CREATE EXTERNAL CONNECTION');
    case 'externalConnectionPrivilege':
      if (holds(state, user, { kind: 'externalConnection', name: req.name }, req.privilege)) return;
      throw denied(`user ${user} does not have ${req.privilege} privilege on external_connection ${req.name}`);
    case 'all':
      for (const r of req.of) check(state, user, r, dir);
      return;
  }
}

/** Whether `user` may see and control a schedule owned by `owner`: its owner, or an admin. */
export function canAccessSchedule(state: PrivilegeState, user: string, owner: string): boolean {
  return user === ROOT_USER || owner === user || isAdmin(state, user);
}

/** The error for PAUSE / RESUME / DROP / ALTER of a schedule the user does not own. */
export function scheduleAccessError(user: string, scheduleId: string, action: string): CairnError {
  return denied(`user ${user} must be a member of the ${ADMIN_ROLE} role or the owner of schedule ${scheduleId} to ${action} it`);
}

/** SELECT on a table (or every table of a database): on the table itself, or on its database. */
function checkSelect(state: PrivilegeState, user: string, ref: TableRef, dir: ObjectDirectory): void {
  const dbId = dir.databaseId(ref.database);
  if (dbId !== undefined && holds(state, user, { kind: 'database', id: dbId }, 'SELECT')) return;
  const tableIds = ref.table === undefined ? dir.tableIds(ref.database) : [dir.tableId(ref.database, ref.table)];
  const onTable = (id: number | undefined) => id !== undefined && holds(state, user, { kind: 'table', id }, 'SELECT');
  // A database that does not exist (or a `db.*` naming none) grants nothing to read.
  if (dbId !== undefined && tableIds.length > 0 && tableIds.every(onTable)) return;
  const what = ref.table === undefined ? `every relation of database ${ref.database}` : `relation ${ref.table}`;
  throw denied(`user ${user} does not have SELECT privilege on ${what}`);
}

/**
 * Whether `user` may run statements at all: root, or a user created with CREATE USER (admin
 * is a role, which cannot log in).
 */
export function checkSessionUser(state: PrivilegeState, user: string): void {
  if (user === ADMIN_ROLE) throw denied(`${ADMIN_ROLE} is a role, not a user: it cannot run statements`);
  if (!userExists(state, user)) {
    const e = unknownUserError(user);
    throw new CairnError(ErrorCode.InsufficientPrivilege, e.message);
  }
}

/** Whether `user` may see and control a job owned by `owner`: its owner, or an admin. */
export function canAccessJob(state: PrivilegeState, user: string, owner: string): boolean {
  return user === ROOT_USER || owner === user || isAdmin(state, user);
}

/** The error for PAUSE / RESUME / CANCEL of a job the user may not touch. */
export function jobAccessError(user: string, jobId: string): CairnError {
  return denied(`user ${user} does not have privileges for job ${jobId}`);
}
