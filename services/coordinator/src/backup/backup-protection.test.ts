import { describe, expect, it } from 'vitest';
import { descriptorSpan } from '@cairn/catalog';
import { ErrorCode } from '@cairn/errors';
import { tableSpan } from '@cairn/keys';
import { backupBelowGcThresholdError, backupProtectedSpans, findBelowGcThreshold, readStart } from './backup-protection.js';
import { hex, type PlannedSpan } from './backup-details.js';

const S = 1_000_000_000n;

function planned(tableId: number, startTime: bigint): PlannedSpan {
  const s = tableSpan(tableId);
  return { start: hex(s.start), end: hex(s.end), startTime: String(startTime), replicas: [1, 2, 3] };
}

describe('backup read windows against GC thresholds', () => {
  it('reads a span exported from time zero at the end time, an incremental span from its start', () => {
    expect(readStart(planned(104, 0n), 50n * S)).toBe(50n * S);
    expect(readStart(planned(104, 20n * S), 50n * S)).toBe(20n * S);
  });

  it('finds the first span whose read starts below its threshold', () => {
    const window = { incremental: true, revisionHistory: false, startTime: 20n * S, endTime: 50n * S };
    // A table new in this incremental (from zero) reads at 50 s; the others from 20 s.
    const spans = [planned(104, 20n * S), planned(105, 0n), planned(106, 20n * S)];
    expect(findBelowGcThreshold({ ...window, spans }, [20n * S, 40n * S, 10n * S])).toBeUndefined();
    expect(findBelowGcThreshold({ ...window, spans }, [0n, 40n * S, 21n * S])).toEqual({ index: 2, readTs: 20n * S, threshold: 21n * S });
    expect(findBelowGcThreshold({ ...window, spans }, [0n, 51n * S, 0n])).toEqual({ index: 1, readTs: 50n * S, threshold: 51n * S });
  });

  it('words the error like CockroachDB and says what to do', () => {
    const inc = backupBelowGcThresholdError(20n * S, 21n * S, 'db.t', true);
    expect(inc.code).toBe(ErrorCode.FailedPrecondition);
    expect(inc.message).toBe(
      'batch timestamp 20000000000.0000000000 must be at or after replica GC threshold 21000000000.0000000000 (table db.t): ' +
        'the revisions since the previous backup were garbage-collected (gc.ttlseconds); take a new full backup',
    );
    expect(backupBelowGcThresholdError(20n * S, 21n * S, 'db.t', false).message).toMatch(/\(table db\.t\): AS OF SYSTEM TIME is older than gc\.ttlseconds allows$/);
  });

  it('protects the exported spans, merged where they touch, and the descriptors', () => {
    const a = tableSpan(104);
    const mid = new Uint8Array([...a.start, 0x88]);
    const spans = [
      { start: hex(a.start), end: hex(mid), startTime: '0', replicas: [1] },
      { start: hex(mid), end: hex(a.end), startTime: '0', replicas: [2] },
      planned(106, 0n),
    ];
    expect(backupProtectedSpans({ spans })).toEqual([descriptorSpan(), { start: a.start, end: a.end }, tableSpan(106)]);
  });
});
