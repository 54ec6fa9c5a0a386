import type { Logger } from '@cairn/metrics';

/**
 * What the audit log records: security-relevant actions, one structured line each, under
 * the `audit` component so they can be routed apart from operational logs.
 *
 * - `BACKUP`, `RESTORE`: a statement starting one (or refused).
 * - `SCHEDULE`: CREATE / ALTER / PAUSE / RESUME / DROP of backup schedules.
 * - `GRANT`, `REVOKE`: privilege and role membership changes.
 * - `USER`: CREATE / ALTER / DROP USER (the password is never written, only whether one was set).
 * - `LOGIN_FAILED`: a call that could not be authenticated.
 * - `PERMISSION_DENIED`: an authenticated call refused by an RPC's privilege check (or an
 *   HTTP API key's role).
 * - `API`: a call of the HTTP API that changes state (PATCH, POST, DELETE), with its method
 *   and path in `rpc` and the API key in `user` (`api-key:<name>`).
 */
export type AuditEvent = 'BACKUP' | 'RESTORE' | 'SCHEDULE' | 'GRANT' | 'REVOKE' | 'USER' | 'LOGIN_FAILED' | 'PERMISSION_DENIED' | 'API';

export interface AuditRecord {
  event: AuditEvent;
  /** The user the action ran as (for a failed login, the user the client claimed, if any). */
  user: string;
  /** `ok`, or `error` with `error` holding the error code. */
  outcome: 'ok' | 'error';
  /** The statement with every secret replaced by `redacted` (formatStatement's redact mode). */
  statement?: string;
  /** The RPC, `/cairn.v1.DataService/Scan`, or an HTTP call, `POST /api/v1/clusters/<id>/restores`. */
  rpc?: string;
  peer?: string;
  error?: string;
  jobIds?: readonly string[];
  /** Why the call failed to authenticate: never the password or key it carried. */
  reason?: string;
}

/** Writes audit records as JSON lines through the process's logger (stderr). */
export class AuditLog {
  constructor(private readonly log: Logger) {}

  record(r: AuditRecord): void {
    this.log.info({ audit: true, ...r }, `audit ${r.event}`);
  }
}
