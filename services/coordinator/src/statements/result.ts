import type { ExecuteResponse } from '@cairn/proto';

/** What a statement returns: a table of text cells (NULL as null) and a command tag. */
export interface StatementResult {
  columns: string[];
  rows: (string | null)[][];
  tag: string;
  database?: string;
  /** The session's time zone after the statement (SET TIME ZONE changes it). */
  timeZone?: string;
  jobIds?: string[];
}

export function tagOnly(tag: string): StatementResult {
  return { columns: [], rows: [], tag };
}

export function rowsResult(columns: string[], rows: (string | null)[][], verb = 'SELECT'): StatementResult {
  return { columns, rows, tag: `${verb} ${rows.length}` };
}

export function toResponse(r: StatementResult, database: string): ExecuteResponse {
  return {
    columns: r.columns,
    rows: r.rows.map((row) => ({ values: row.map((v) => (v === null ? {} : { text: v })) })),
    tag: r.tag,
    database: r.database ?? database,
    timeZone: r.timeZone ?? '',
    jobIds: r.jobIds ?? [],
  };
}
