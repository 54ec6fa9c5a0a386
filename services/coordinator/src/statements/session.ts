import type { TimeZone } from '@cairn/jobs';
import type { LeaderCapabilities } from '../leader-capabilities.js';

/** Who runs a request, and where: the session's current database, user and time zone. */
export interface SessionContext {
  readonly database: string;
  /** The SQL user statements run as (normalized; `root` unless the client named another). */
  readonly user: string;
  /** `SET TIME ZONE`: the zone TIMESTAMPTZ results are shown in (absent: `UTC`). */
  readonly timeZone?: TimeZone;
}

/** Per-request context: who runs it, and the leader's capabilities statements may use. */
export interface Session extends SessionContext, LeaderCapabilities {}

/**
 * A session that carries only the capabilities `K`: what a statement family declares it
 * uses (a DML statement reads and writes keys; it does not reach the scheduler).
 */
export type SessionWith<K extends keyof LeaderCapabilities> = SessionContext & Pick<LeaderCapabilities, K>;

/**
 * A session over (some of) a leader's capabilities: an RPC that only lists jobs opens one over
 * the job registry and the privilege state, `executeSql` one over all of them.
 */
export function openSession<C extends Partial<LeaderCapabilities>>(capabilities: C, context: SessionContext): SessionContext & C {
  const session = { ...capabilities, ...context };
  // The leader replaces its catalog when it loads it: read the current one at each use.
  if ('catalog' in capabilities) Object.defineProperty(session, 'catalog', { get: () => capabilities.catalog, enumerable: true });
  return session;
}
