import { describe, expect, it } from 'vitest';
import { protectedTimestampRows, SHOW_PROTECTED_TIMESTAMPS_COLUMNS } from './protected-ts-statements.js';

describe('SHOW PROTECTED TIMESTAMPS', () => {
  it('shows one row per record, with the owner as CockroachDB names its meta type', () => {
    const created = Date.UTC(2024, 2, 1, 10, 0, 0, 250);
    const span = { start: new Uint8Array([1]), end: new Uint8Array([2]) };
    const rows = protectedTimestampRows([
      { id: 'a1', timestamp: 1_709_287_200_000_000_000n, spans: [span, span], owner: { kind: 'job', jobId: '977' }, createdAtMs: created },
      { id: 'b2', timestamp: 1_709_287_300_000_000_000n, spans: 'all', owner: { kind: 'schedule', scheduleId: '55' }, createdAtMs: created },
    ]);
    expect(SHOW_PROTECTED_TIMESTAMPS_COLUMNS).toEqual(['id', 'ts', 'meta_type', 'owner_id', 'num_spans', 'target', 'created']);
    expect(rows).toEqual([
      ['a1', '1709287200000000000.0000000000', 'jobs', '977', '2', 'spans', '2024-03-01 10:00:00.25+00:00'],
      ['b2', '1709287300000000000.0000000000', 'schedules', '55', '0', 'cluster', '2024-03-01 10:00:00.25+00:00'],
    ]);
  });
});
