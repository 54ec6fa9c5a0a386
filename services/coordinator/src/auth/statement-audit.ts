import { toCairnError } from '@cairn/errors';
import { formatStatement, type Statement } from '@cairn/sql';
import type { StatementResult } from '../statements/result.js';
import type { AuditEvent } from './audit-log.js';
import { currentRequest } from './request-context.js';

/** The audit event of a statement, or undefined for statements the audit log leaves out. */
export function auditEventOf(stmt: Statement): AuditEvent | undefined {
  switch (stmt.kind) {
    case 'backup':
      return 'BACKUP';
    case 'restore':
      return 'RESTORE';
    case 'createSchedule':
    case 'alterBackupSchedule':
    case 'controlSchedules':
      return 'SCHEDULE';
    case 'grant':
    case 'grantRole':
      return 'GRANT';
    case 'revoke':
    case 'revokeRole':
      return 'REVOKE';
    case 'createUser':
    case 'alterUser':
    case 'dropUser':
      return 'USER';
    default:
      return undefined;
  }
}

/**
 * Runs `run` and, for an audited statement served through the API, writes one audit line
 * with its outcome. The statement is written in its redacted form: passwords, keys in
 * storage URIs and encryption passphrases become `redacted`.
 */
export async function auditStatement(user: string, stmt: Statement, run: () => Promise<StatementResult>): Promise<StatementResult> {
  const ctx = currentRequest();
  const event = auditEventOf(stmt);
  if (ctx === undefined || event === undefined) return run();
  const statement = formatStatement(stmt, { redact: true });
  try {
    const r = await run();
    ctx.audit.record({ event, user, outcome: 'ok', statement, peer: ctx.peer, ...(r.jobIds?.length ? { jobIds: r.jobIds } : {}) });
    return r;
  } catch (err) {
    ctx.audit.record({ event, user, outcome: 'error', statement, peer: ctx.peer, error: toCairnError(err).code });
    throw err;
  }
}
