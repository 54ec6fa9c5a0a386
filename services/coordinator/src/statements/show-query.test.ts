import { parseOne, type SelectFromShowStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { rowsResult } from './result.js';
import { inSessionTimeZone } from './session-time-zone.js';
import { selectFromShow } from './show-query.js';

// Rows shaped like SHOW JOBS (ids beyond 2^53, UTC timestamps, NULLs).
const JOBS = rowsResult(
  ['job_id', 'job_type', 'status', 'created', 'fraction_completed'],
  [
    ['1034567890123456789', 'BACKUP', 'succeeded', '2024-01-02 10:00:00+00:00', '1'],
    ['1034567890123456790', 'RESTORE', 'running', '2024-01-03 10:00:00.5+00:00', '0.25'],
    ['1034567890123456788', 'BACKUP', 'failed', '2024-01-01 23:30:00+00:00', null],
    ['934567890123456788', 'BACKUP', 'running', '2023-12-31 00:00:00+00:00', '0.5'],
  ],
);

async function run(sql: string, source = JOBS) {
  const stmt = parseOne(sql) as SelectFromShowStatement;
  expect(stmt.kind).toBe('selectFromShow');
  const shows: string[] = [];
  const result = await selectFromShow(stmt, async (show) => {
    shows.push(show.kind);
    return source;
  });
  expect(shows).toEqual([stmt.show.kind]);
  return result;
}

describe('SELECT over a SHOW statement', () => {
  it('projects, filters, orders and limits', async () => {
    const r = await run("SELECT job_id, status FROM [SHOW JOBS] WHERE job_type = 'BACKUP' ORDER BY job_id DESC LIMIT 2");
    expect(r.columns).toEqual(['job_id', 'status']);
    // Ids compare as integers, not as text or doubles.
    expect(r.rows).toEqual([
      ['1034567890123456789', 'succeeded'],
      ['1034567890123456788', 'failed'],
    ]);
    expect(r.tag).toBe('SELECT 2');
  });

  it('reads WITH x AS (SHOW ...) and keeps every column for *', async () => {
    const r = await run("WITH x AS (SHOW JOBS) SELECT * FROM x WHERE status IN ('running') ORDER BY created");
    expect(r.columns).toEqual(JOBS.columns);
    expect(r.rows.map((row) => row[0])).toEqual(['934567890123456788', '1034567890123456790']);
  });

  it('compares by the literal: numbers numerically, timestamps by instant, NULL never', async () => {
    expect((await run('SELECT job_id FROM [SHOW JOBS] WHERE fraction_completed >= 0.5')).rows).toEqual([['1034567890123456789'], ['934567890123456788']]);
    expect((await run("SELECT job_id FROM [SHOW JOBS] WHERE created > '2024-01-02'")).rows).toEqual([['1034567890123456789'], ['1034567890123456790']]);
    // The same instant written in another zone.
    expect((await run("SELECT job_id FROM [SHOW JOBS] WHERE created = '2024-01-02 05:00:00-05:00'")).rows).toEqual([['1034567890123456789']]);
    expect((await run('SELECT job_id FROM [SHOW JOBS] WHERE fraction_completed != 7')).rows).toHaveLength(3);
  });

  it('aggregates over the filtered rows', async () => {
    const r = await run("SELECT count(*), count(fraction_completed), max(created), avg(fraction_completed) FROM [SHOW JOBS] WHERE job_type = 'BACKUP'");
    expect(r.columns).toEqual(['count', 'count', 'max', 'avg']);
    expect(r.rows).toEqual([['3', '2', '2024-01-02 10:00:00+00:00', '0.75']]);
  });

  it('refuses an unknown column and a number compared with text', async () => {
    await expect(run('SELECT nope FROM [SHOW JOBS]')).rejects.toThrow('column "nope" does not exist in the SHOW statement');
    await expect(run('WITH j AS (SHOW JOBS) SELECT * FROM j ORDER BY nope')).rejects.toThrow('column "nope" does not exist in j');
    await expect(run('SELECT * FROM [SHOW JOBS] WHERE status = 1')).rejects.toThrow(/could not parse "succeeded"/);
  });
});

describe('the session time zone over SHOW results', () => {
  it('re-renders only the TIMESTAMPTZ columns of the statement', () => {
    const stmt = parseOne('SHOW JOBS');
    const shown = inSessionTimeZone(stmt, JOBS, 'America/New_York');
    expect(shown.rows.map((r) => r[3])).toEqual([
      '2024-01-02 05:00:00-05:00',
      '2024-01-03 05:00:00.5-05:00',
      '2024-01-01 18:30:00-05:00',
      '2023-12-30 19:00:00-05:00',
    ]);
    expect(shown.rows.map((r) => r[0])).toEqual(JOBS.rows.map((r) => r[0]));
    expect(inSessionTimeZone(stmt, JOBS, 'UTC')).toBe(JOBS);
    // A statement without TIMESTAMPTZ columns is left as it is, whatever its cells hold.
    expect(inSessionTimeZone(parseOne('SHOW DATABASES'), JOBS, 'Asia/Tokyo')).toBe(JOBS);
  });
});
