import { CairnError, ErrorCode } from '@cairn/errors';
import { parse, type Statement } from '@cairn/sql';
import { auditStatement } from '../auth/statement-audit.js';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { createDatabase, createSequence, createTable, createView, dropDatabase, dropObject } from './ddl-statements.js';
import { deleteRows, insert, select, update } from './dml-statements.js';
import { controlJobs, showJob, showJobs } from './job-statements.js';
import {
  alterBackupSchedule,
  controlSchedules,
  createSchedule,
  showCreateScheduleStatement,
  showScheduleStatement,
  showSchedulesStatement,
} from './schedule-statements.js';
import {
  backup,
  createExternalConnection,
  dropExternalConnection,
  restore,
  showBackup,
  alterBackupKms,
  showBackups,
  showExternalConnections,
} from './backup-statements.js';
import { checkExternalConnection } from './connection-check.js';
import { alterTableSet, configureZone, showZoneConfiguration } from '../zones/zone-statements.js';
import { inSessionTimeZone } from './session-time-zone.js';
import { selectFromShow } from './show-query.js';
import { createIndex, dropIndex } from './index-statements.js';
import { commentOn } from './comment-statements.js';
import { createSchema, createType, dropSchema, dropType, showEnums, showSchemas } from './schema-statements.js';
import { resolveTimeZone, UTC } from '@cairn/jobs';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import { showProtectedTimestamps } from './protected-ts-statements.js';
import { openSession, type Session, type SessionContext } from './session.js';
import {
  alterUser,
  authorizeStatement,
  createUser,
  dropUser,
  forgetDroppedGrants,
  grantOrRevoke,
  grantOrRevokeRole,
  sessionUser,
  showGrants,
  showUsers,
} from '../privileges/privilege-statements.js';
import {
  showClusterSetting,
  showClusterSettings,
  showCreateTable,
  showDatabases,
  showFingerprints,
  showNodes,
  showRanges,
  showTables,
} from './show-statements.js';

/**
 * Runs a string of statements in order as `user` (empty: root) and returns the last one's
 * result (as `cockroach sql -e` prints each; the CLI sends one statement per call). Each
 * statement is checked against the user's privileges first. A failing statement stops the run.
 */
/** Statements a starting leader can run: they touch neither the catalog nor the keyspace. */
const WITHOUT_CATALOG: ReadonlySet<Statement['kind']> = new Set(['showNodes', 'setClusterSetting', 'showClusterSetting', 'showClusterSettings']);

/** Statements that change the keyspace: refused while the cluster is restored in place. */
const WRITES: ReadonlySet<Statement['kind']> = new Set([
  'createDatabase',
  'dropDatabase',
  'createTable',
  'createView',
  'createSequence',
  'dropTable',
  'dropView',
  'dropSequence',
  'insert',
  'update',
  'delete',
  'restore',
  'createIndex',
  'dropIndex',
  'commentOn',
  'createSchema',
  'dropSchema',
  'createType',
  'dropType',
  'alterTableSet',
  'configureZone',
]);

export async function executeSql(leader: LeaderCapabilities, sql: string, database: string, user = '', timeZone = ''): Promise<StatementResult[]> {
  let context: SessionContext = { database, user: sessionUser(user), timeZone: resolveTimeZone(timeZone) };
  const results: StatementResult[] = [];
  for (const stmt of parse(sql)) {
    // Until the ranges are bootstrapped and the catalog loaded, a statement would read an
    // empty catalog (or write descriptors a loading catalog then misses): refuse, retryably.
    if (!WITHOUT_CATALOG.has(stmt.kind)) leader.readiness.assertReady();
    if (WRITES.has(stmt.kind)) await leader.restoreGate.assertWritable();
    const session = openSession(leader, context);
    // Audited statements (BACKUP, RESTORE, schedules, grants, users) leave one line, refused or not.
    const r = await auditStatement(session.user, stmt, async () => {
      await authorizeStatement(session, stmt);
      return executeStatement(session, stmt);
    });
    // USE and SET TIME ZONE change the session for the statements after them.
    context = { ...context, ...(r.database !== undefined ? { database: r.database } : {}), ...(r.timeZone !== undefined ? { timeZone: r.timeZone } : {}) };
    results.push({ ...r, database: context.database, timeZone: context.timeZone });
  }
  return results;
}

/** Runs one statement; TIMESTAMPTZ cells of its result are shown in the session's time zone. */
async function executeStatement(s: Session, stmt: Statement): Promise<StatementResult> {
  return inSessionTimeZone(stmt, await executeKind(s, stmt), s.timeZone ?? UTC);
}

async function executeKind(s: Session, stmt: Statement): Promise<StatementResult> {
  switch (stmt.kind) {
    case 'createDatabase':
      return createDatabase(s, stmt);
    case 'dropDatabase': {
      const r = await dropDatabase(s, stmt);
      await forgetDroppedGrants(s);
      return r;
    }
    case 'useDatabase':
      s.catalog.resolveDatabase(stmt.name);
      return { ...tagOnly('SET'), database: stmt.name };
    case 'createTable':
      return createTable(s, stmt);
    case 'createView':
      return createView(s, stmt);
    case 'createSequence':
      return createSequence(s, stmt);
    case 'dropTable':
    case 'dropView':
    case 'dropSequence': {
      const r = await dropObject(s, stmt);
      await forgetDroppedGrants(s);
      return r;
    }
    case 'insert':
      return insert(s, stmt);
    case 'update':
      return update(s, stmt);
    case 'delete':
      return deleteRows(s, stmt);
    case 'select':
      return select(s, stmt);
    case 'showDatabases':
      return showDatabases(s);
    case 'showTables':
      return showTables(s, stmt);
    case 'showNodes':
      return showNodes(s);
    case 'showRanges':
      return showRanges(s, stmt);
    case 'showFingerprints':
      return showFingerprints(s, stmt);
    case 'showCreateTable':
      return showCreateTable(s, stmt);
    case 'setClusterSetting':
      await s.settings.set(stmt.name, stmt.value?.kind === 'null' ? undefined : literalText(stmt.value));
      return tagOnly('SET CLUSTER SETTING');
    case 'showClusterSetting':
      return showClusterSetting(s, stmt);
    case 'showClusterSettings':
      return showClusterSettings(s);
    case 'showJobs':
      return showJobs(s, stmt);
    case 'showJob':
      return showJob(s, stmt);
    case 'controlJobs':
      return controlJobs(s, stmt);
    case 'backup':
      return backup(s, stmt);
    case 'restore':
      return restore(s, stmt);
    case 'showBackups':
      return showBackups(s, stmt);
    case 'showBackup':
      return showBackup(s, stmt);
    case 'alterBackupKms':
      return alterBackupKms(s, stmt);
    case 'checkExternalConnection':
      return checkExternalConnection(s, stmt);
    case 'createExternalConnection':
      return createExternalConnection(s, stmt);
    case 'dropExternalConnection':
      return dropExternalConnection(s, stmt);
    case 'showExternalConnections':
      return showExternalConnections(s, stmt);
    case 'createSchedule':
      return createSchedule(s, stmt);
    case 'showSchedules':
      return showSchedulesStatement(s, stmt);
    case 'showSchedule':
      return showScheduleStatement(s, stmt);
    case 'showCreateSchedule':
      return showCreateScheduleStatement(s, stmt);
    case 'alterTableSet':
      return alterTableSet(s, stmt);
    case 'configureZone':
      return configureZone(s, stmt);
    case 'showZoneConfiguration':
      return showZoneConfiguration(s, stmt);
    case 'controlSchedules':
      return controlSchedules(s, stmt);
    case 'alterBackupSchedule':
      return alterBackupSchedule(s, stmt);
    case 'showProtectedTimestamps':
      return showProtectedTimestamps(s);
    case 'createUser':
      return createUser(s, stmt);
    case 'alterUser':
      return alterUser(s, stmt);
    case 'dropUser':
      return dropUser(s, stmt);
    case 'showUsers':
      return showUsers(s);
    case 'grant':
    case 'revoke':
      return grantOrRevoke(s, stmt);
    case 'grantRole':
    case 'revokeRole':
      return grantOrRevokeRole(s, stmt);
    case 'showGrants':
      return showGrants(s, stmt);
    case 'createIndex':
      return createIndex(s, stmt);
    case 'dropIndex':
      return dropIndex(s, stmt);
    case 'commentOn':
      return commentOn(s, stmt);
    case 'createSchema':
      return createSchema(s, stmt);
    case 'dropSchema':
      return dropSchema(s, stmt);
    case 'createType':
      return createType(s, stmt);
    case 'dropType':
      return dropType(s, stmt);
    case 'showSchemas':
      return showSchemas(s, stmt);
    case 'showEnums':
      return showEnums(s, stmt);
    case 'selectFromShow':
      // The SHOW is authorized as if run alone (requirementFor looks through the query).
      return selectFromShow(stmt, (show) => executeStatement(s, show));
    case 'setTimeZone': {
      const timeZone = resolveTimeZone(stmt.zone);
      return { ...tagOnly('SET'), timeZone };
    }
    case 'showTimeZone':
      return rowsResult(['timezone'], [[s.timeZone ?? UTC]]);
    default: {
      // Every statement the parser produces has an executor; the compiler checks it here.
      const unhandled: never = stmt;
      throw new CairnError(ErrorCode.Internal, `no executor for statement ${(unhandled as Statement).kind}`);
    }
  }
}

function literalText(v: { kind: string; value?: unknown } | undefined): string | undefined {
  if (!v) return undefined;
  return String(v.value);
}
