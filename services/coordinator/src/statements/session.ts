import type { TimeZone } from '@cairn/jobs';
import type { Leader } from '../leader.js';

/** Per-request context: the leader's state, the session's current database, user and time zone. */
export interface Session {
  leader: Leader;
  database: string;
  /** The SQL user statements run as (normalized; `root` unless the client named another). */
  user: string;
  /** `SET TIME ZONE`: the zone TIMESTAMPTZ results are shown in (absent: `UTC`). */
  timeZone?: TimeZone;
}
