import type { Server, ServerUnaryCall, ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { CairnError, ErrorCode, toCairnError } from '@cairn/errors';
import type { PrivilegeChecking } from '../leader-capabilities.js';
import { normalizeUsername } from '../privileges/privilege-model.js';
import { toServiceError } from '../api/grpc-errors.js';
import type { AuditLog } from './audit-log.js';
import { Authenticator, type Principal } from './authenticator.js';
import { withRequestContext, type RequestContext } from './request-context.js';
import { authorizeRpc } from './rpc-privileges.js';
import type { ReloadableCertificates } from './tls-certificates.js';
import type { PrivilegeState } from '../privileges/privilege-model.js';

/** How the API server runs: insecure (names taken as given) or secure (TLS, authenticated calls). */
export type ApiSecurity =
  | { mode: 'insecure'; audit: AuditLog }
  | { mode: 'secure'; certificates: ReloadableCertificates; readPrivileges: () => Promise<PrivilegeState>; audit: AuditLog };

/** Services callable without credentials: load balancers and probes must reach health. */
const UNGUARDED_PREFIXES = ['/grpc.health.v1.Health/'];

type AnyCall = ServerUnaryCall<unknown, unknown> & { request?: unknown };

/**
 * Makes every service later added to `server` pass through authentication and the per-RPC
 * privilege check (rpc-privileges.ts) before its handler runs, and run its handler inside a
 * RequestContext. Wrapping `addService` itself means a service registered by any module gets
 * the same guard without knowing about it.
 */
export function guardServer(server: Server, security: ApiSecurity, leader: () => PrivilegeChecking | undefined): void {
  const gate = new CallGate(security, leader);
  const add = server.addService.bind(server);
  server.addService = (service: ServiceDefinition, implementation: UntypedServiceImplementation) => {
    const guarded: UntypedServiceImplementation = {};
    for (const [name, handler] of Object.entries(implementation)) {
      const def = service[name] ?? Object.values(service).find((d) => d.originalName === name);
      guarded[name] = def === undefined || UNGUARDED_PREFIXES.some((p) => def.path.startsWith(p)) ? handler : gate.wrap(def.path, def.responseStream, handler);
    }
    add(service, guarded);
  };
}

class CallGate {
  private readonly authenticator: Authenticator | undefined;

  constructor(private readonly security: ApiSecurity, private readonly leader: () => PrivilegeChecking | undefined) {
    this.authenticator = security.mode === 'secure' ? new Authenticator(security.readPrivileges) : undefined;
  }

  wrap(path: string, responseStream: boolean, handler: UntypedHandleCall): UntypedHandleCall {
    const h = handler as (call: AnyCall, callback?: (err: unknown, res: unknown) => void) => void;
    if (!responseStream) {
      // Unary and client-streaming handlers answer through a callback.
      return ((call: AnyCall, callback: (err: unknown, res: unknown) => void) => {
        this.admit(path, call).then(
          (ctx) => withRequestContext(ctx, () => h(call, callback)),
          (err: unknown) => callback(toServiceError(err), null),
        );
      }) as UntypedHandleCall;
    }
    return ((call: AnyCall) => {
      this.admit(path, call).then(
        (ctx) => withRequestContext(ctx, () => h(call)),
        (err: unknown) => call.emit('error', toServiceError(err)),
      );
    }) as UntypedHandleCall;
  }

  /** Authenticates and authorizes one call; the context its handler runs in. */
  private async admit(path: string, call: AnyCall): Promise<RequestContext> {
    const peer = call.getPeer();
    const audit = this.security.audit;
    const request = call.request as { user?: unknown } | undefined;
    if (this.security.mode === 'insecure') {
      // CockroachDB's insecure mode: the user is whoever the client says it is.
      const named = typeof request?.user === 'string' && request.user !== '' ? request.user : 'root';
      return { secure: false, user: named, method: 'insecure', peer, audit };
    }
    let principal: Principal;
    try {
      // Present only when the TLS layer verified the client's certificate against the CA.
      const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
      principal = await this.authenticator!.authenticate({ metadata: call.metadata, certificateCn: Array.isArray(cn) ? cn[0] : cn });
      // A request that names its user (Execute) must name the one proven.
      if (typeof request?.user === 'string') {
        if (request.user !== '' && normalizeUsername(request.user) !== principal.user) {
          throw new CairnError(ErrorCode.Unauthenticated, `requested user is ${normalizeUsername(request.user)}, but the call is authenticated as ${principal.user}`);
        }
        request.user = principal.user;
      }
    } catch (err) {
      const e = toCairnError(err);
      const claimed = call.metadata.get('cairn-user')[0];
      audit.record({ event: 'LOGIN_FAILED', user: claimed === undefined ? '' : String(claimed), outcome: 'error', rpc: path, peer, error: e.code, reason: e.message });
      throw e.code === ErrorCode.Unauthenticated ? e : new CairnError(ErrorCode.Unauthenticated, e.message, { cause: e });
    }
    // The leader decides; a standby forwards the call (and who made it) to the leader, which
    // authorizes it there, against the catalog and privileges it holds.
    const leader = this.leader();
    if (leader !== undefined) {
      try {
        await authorizeRpc(leader, principal.user, path, call.request);
      } catch (err) {
        const e = toCairnError(err);
        if (e.code === ErrorCode.InsufficientPrivilege) {
          audit.record({ event: 'PERMISSION_DENIED', user: principal.user, outcome: 'error', rpc: path, peer, error: e.code, reason: e.message });
        }
        throw e;
      }
    }
    return { secure: true, user: principal.user, method: principal.method, peer, audit };
  }
}
