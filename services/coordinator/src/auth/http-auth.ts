import type { IncomingMessage } from 'node:http';
import { CairnError, ErrorCode, toCairnError } from '@cairn/errors';
import type { ApiKeyRole } from '../managed/allowed-values.js';
import type { ApiKeyStore } from './api-keys.js';
import type { AuditLog } from './audit-log.js';

/**
 * Who made an HTTP request. Insecure clusters authenticate nobody (as their SQL and gRPC API
 * do): every caller may do everything. Secure clusters require an API key.
 */
export type HttpCaller =
  | { readonly kind: 'insecure' }
  | { readonly kind: 'api-key'; readonly keyId: string; readonly name: string; readonly role: ApiKeyRole };

/** Roles that may change settings and start restores (CockroachDB Cloud's). */
const WRITER_ROLES: ReadonlySet<ApiKeyRole> = new Set(['CLUSTER_ADMIN', 'CLUSTER_OPERATOR_WRITER']);

/**
 * The one authentication of the coordinator's HTTP endpoints: what a handler calls first.
 * In secure mode it accepts `Authorization: Bearer <API key>` (keys from `cairn api-key
 * create`); any other endpoint that reveals or changes state should call it too.
 */
export class HttpAuthenticator {
  constructor(
    private readonly secure: boolean,
    private readonly keys: ApiKeyStore,
    /** Where failed authentications and state-changing calls are recorded (the gRPC API's audit log). */
    private readonly audit?: AuditLog,
  ) {}

  get isSecure(): boolean {
    return this.secure;
  }

  /** The caller, or UNAUTHENTICATED (HTTP 401) without a valid key in secure mode. */
  async authenticate(req: IncomingMessage): Promise<HttpCaller> {
    if (!this.secure) return { kind: 'insecure' };
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const refuse = (message: string): CairnError => {
      // The audit line names what was refused and why, never the key that was sent.
      this.audit?.record({ event: 'LOGIN_FAILED', user: '', outcome: 'error', rpc: httpCall(req), peer: httpPeer(req), error: ErrorCode.Unauthenticated, reason: message });
      return new CairnError(ErrorCode.Unauthenticated, message);
    };
    if (!m) throw refuse('this cluster is secure: send an API key as "Authorization: Bearer <key>" (cairn api-key create)');
    const record = await this.keys.verify(m[1]!);
    if (!record) throw refuse('invalid API key');
    return { kind: 'api-key', keyId: record.id, name: record.name, role: record.role };
  }

  /**
   * Runs a call that changes state (any method but GET and HEAD) and writes its audit line:
   * `API` with the caller, the method and path, and the outcome; a role refused by
   * `requireWriter` is a `PERMISSION_DENIED` line, as on the gRPC API.
   */
  async audited<T>(caller: HttpCaller, req: IncomingMessage, run: () => Promise<T>): Promise<T> {
    if (this.audit === undefined || req.method === 'GET' || req.method === 'HEAD') return run();
    const base = { user: callerName(caller), rpc: httpCall(req), peer: httpPeer(req) };
    try {
      const r = await run();
      this.audit.record({ event: 'API', outcome: 'ok', ...base });
      return r;
    } catch (err) {
      const e = toCairnError(err);
      const denied = e.code === ErrorCode.InsufficientPrivilege;
      this.audit.record({ event: denied ? 'PERMISSION_DENIED' : 'API', outcome: 'error', ...base, error: e.code, ...(denied ? { reason: e.message } : {}) });
      throw err;
    }
  }
}

/** Throws INSUFFICIENT_PRIVILEGE (HTTP 403) unless the caller may change settings or restore. */
export function requireWriter(caller: HttpCaller, action: string): void {
  if (caller.kind === 'insecure' || WRITER_ROLES.has(caller.role)) return;
  throw new CairnError(
    ErrorCode.InsufficientPrivilege,
    `API key "${caller.name}" has role ${caller.role}; ${action} needs CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER`,
  );
}

/** How the audit log and job owners name an HTTP caller. */
export function callerName(caller: HttpCaller): string {
  return caller.kind === 'insecure' ? 'root' : `api-key:${caller.name}`;
}

/** `PATCH /api/v1/clusters/.../backups-config`: the method and path, without the query. */
function httpCall(req: IncomingMessage): string {
  return `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]}`;
}

function httpPeer(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`;
}
