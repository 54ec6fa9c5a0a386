import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditLog } from './audit-log.js';

/**
 * What the authentication layer established about the call being served, visible to
 * everything the handler runs (statements, the forwarder) without threading it through every
 * signature, the way Go code carries it in a `context.Context`.
 */
export interface RequestContext {
  /** Whether the coordinator runs with certificates: passwords may be set only then. */
  secure: boolean;
  /** The authenticated user (secure mode) or the name the client gave (insecure mode). */
  user: string;
  /** How the user proved who it is. */
  method: 'cert' | 'password' | 'forwarded' | 'insecure';
  /** Where the call came from (the peer's address), for audit lines. */
  peer: string;
  audit: AuditLog;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `ctx` as the current call's context. */
export function withRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current call's context; undefined outside an API call (a scheduled run, a test). */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}
