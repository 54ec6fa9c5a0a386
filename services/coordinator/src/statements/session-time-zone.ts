import { formatTimestampIn, parseShownTimestamp, UTC, type TimeZone } from '@cairn/jobs';
import type { Statement } from '@cairn/sql';
import type { StatementResult } from './result.js';

/**
 * The TIMESTAMPTZ columns of each SHOW statement. Their executors print them in UTC; the
 * session's time zone (`SET TIME ZONE`) is applied here, in one place, as CockroachDB prints
 * TIMESTAMPTZ values in the session's zone.
 */
const TIMESTAMPTZ_COLUMNS: Partial<Record<Statement['kind'], ReadonlySet<string>>> = {
  showBackup: new Set(['start_time', 'end_time']),
  showSchedules: new Set(['next_run', 'created']),
  showSchedule: new Set(['next_run', 'created']),
  showJobs: new Set(['created', 'started', 'finished', 'modified']),
  showJob: new Set(['created', 'started', 'finished', 'modified']),
  showProtectedTimestamps: new Set(['created']),
  createSchedule: new Set(['first_run']),
  alterBackupSchedule: new Set(['first_run']),
};

/** `result` with its TIMESTAMPTZ cells shown in `zone` (unchanged in UTC). */
export function inSessionTimeZone(stmt: Statement, result: StatementResult, zone: TimeZone): StatementResult {
  const columns = TIMESTAMPTZ_COLUMNS[stmt.kind];
  if (zone === UTC || columns === undefined) return result;
  const ordinals = result.columns.flatMap((c, i) => (columns.has(c) ? [i] : []));
  if (ordinals.length === 0) return result;
  const rows = result.rows.map((row) => {
    const out = [...row];
    for (const i of ordinals) {
      const cell = out[i];
      const t = cell === null || cell === undefined ? undefined : parseShownTimestamp(cell);
      if (t !== undefined) out[i] = formatTimestampIn(zone, t.ms, t.micros);
    }
    return out;
  });
  return { ...result, rows };
}
