/** SHOW statements: which family parses each `SHOW <what>`, and the simple ones themselves. */
import type { Statement, TableName } from '../ast.js';
import { showGrants } from './access.js';
import { connectionCheck, connectionName, showBackup } from './backup-restore.js';
import { optAsOf } from './expressions.js';
import type { Parser } from './parser-base.js';
import { showJob, showJobs } from './schedules-jobs.js';

/** `SHOW ...`. */
export function show(p: Parser): Statement {
  const pos = p.expectKw('SHOW').pos;
  const t = p.peek();
  const word = t.kind === 'word' ? t.upper : '';
  switch (word) {
    case 'DATABASES':
      p.next();
      return { kind: 'showDatabases', pos };
    case 'TIME':
      p.next();
      p.expectKw('ZONE');
      return { kind: 'showTimeZone', pos };
    case 'TIMEZONE':
      p.next();
      return { kind: 'showTimeZone', pos };
    case 'SCHEMAS':
    case 'ENUMS':
    case 'TYPES': {
      p.next();
      const kind = word === 'SCHEMAS' ? 'showSchemas' : 'showEnums';
      if (p.acceptKw('FROM')) return { kind, pos, database: p.ident('database name') };
      return { kind, pos };
    }
    case 'TABLES': {
      p.next();
      if (p.acceptKw('FROM')) return { kind: 'showTables', pos, database: p.ident('database name') };
      return { kind: 'showTables', pos };
    }
    case 'RANGES': {
      p.next();
      p.expectKw('FROM');
      if (p.acceptKw('TABLE')) return { kind: 'showRanges', pos, table: p.tableName() };
      if (p.acceptKw('DATABASE')) return { kind: 'showRanges', pos, database: p.ident('database name') };
      p.expected('TABLE or DATABASE');
      break;
    }
    case 'NODES':
      p.next();
      return { kind: 'showNodes', pos };
    case 'FINGERPRINTS': {
      p.next();
      p.expectKw('FROM');
      let stmt: Statement;
      if (p.acceptKw('TABLE')) stmt = { kind: 'showFingerprints', pos, table: p.tableName() };
      else if (p.acceptKw('DATABASE')) stmt = { kind: 'showFingerprints', pos, database: p.ident('database name') };
      else p.expected('TABLE or DATABASE');
      const asOf = optAsOf(p);
      if (asOf !== undefined) stmt.asOf = asOf;
      return stmt;
    }
    case 'CREATE':
      p.next();
      if (p.acceptKw('SCHEDULE')) return { kind: 'showCreateSchedule', pos, id: p.id('schedule id') };
      if (p.acceptKw('ALL')) {
        p.expectKw('SCHEDULES');
        return { kind: 'showCreateSchedule', pos };
      }
      p.expectKw('TABLE', 'TABLE, SCHEDULE or ALL SCHEDULES');
      return { kind: 'showCreateTable', pos, table: p.tableName() };
    case 'ZONE': {
      p.next();
      p.expectKw('CONFIGURATION');
      p.expectKw('FROM', 'FROM (SHOW ZONE CONFIGURATION FROM TABLE t | DATABASE d)');
      return { kind: 'showZoneConfiguration', pos, target: zoneTarget(p) };
    }
    case 'CLUSTER':
      p.next();
      if (p.acceptKw('SETTINGS')) return { kind: 'showClusterSettings', pos, all: false };
      p.expectKw('SETTING', 'SETTING or SETTINGS');
      return { kind: 'showClusterSetting', pos, name: p.settingName() };
    case 'ALL':
      p.next();
      p.expectKw('CLUSTER');
      p.expectKw('SETTINGS');
      return { kind: 'showClusterSettings', pos, all: true };
    case 'PROTECTED':
      p.next();
      p.expectKw('TIMESTAMPS');
      return { kind: 'showProtectedTimestamps', pos };
    case 'BACKUPS':
      p.next();
      p.expectKw('IN');
      return { kind: 'showBackups', pos, collection: p.uriList() };
    case 'BACKUP':
      p.next();
      return p.acceptKw('CONNECTION') ? connectionCheck(p, pos, 'showBackup') : showBackup(p, pos);
    case 'EXTERNAL':
      p.next();
      if (p.acceptKw('CONNECTIONS')) return { kind: 'showExternalConnections', pos };
      p.expectKw('CONNECTION', 'CONNECTIONS or CONNECTION');
      return { kind: 'showExternalConnections', pos, name: connectionName(p) };
    case 'JOBS':
      return showJobs(p, pos);
    case 'JOB':
      p.next();
      return showJob(p, pos);
    case 'SCHEDULES':
    case 'RUNNING':
    case 'PAUSED': {
      p.next();
      let status: 'running' | 'paused' | undefined;
      if (word !== 'SCHEDULES') {
        status = word === 'RUNNING' ? 'running' : 'paused';
        p.expectKw('SCHEDULES');
      }
      let backupOnly = false;
      if (p.acceptKw('FOR')) {
        p.expectKw('BACKUP');
        backupOnly = true;
      }
      const stmt: Statement = { kind: 'showSchedules', pos, backupOnly };
      if (status !== undefined) stmt.status = status;
      return stmt;
    }
    case 'SCHEDULE':
      p.next();
      return { kind: 'showSchedule', pos, id: p.id('schedule id') };
    case 'USERS':
    case 'ROLES':
      p.next();
      return { kind: 'showUsers', pos };
    case 'GRANTS':
      p.next();
      return showGrants(p, pos, false, t.pos);
    case 'SYSTEM':
      p.next();
      p.expectKw('GRANTS');
      return showGrants(p, pos, true, t.pos);
  }
  p.fail(t, 'expected what to show (JOBS, SCHEDULES, BACKUP, BACKUPS, DATABASES, TABLES, GRANTS, USERS, ...)');
}

/** `TABLE t` or `DATABASE d`: what a zone configuration belongs to. */
export function zoneTarget(p: Parser): { kind: 'table'; table: TableName } | { kind: 'database'; name: string } {
  if (p.acceptKw('DATABASE')) return { kind: 'database', name: p.ident('database name') };
  p.expectKw('TABLE', 'TABLE or DATABASE');
  return { kind: 'table', table: p.tableName() };
}
