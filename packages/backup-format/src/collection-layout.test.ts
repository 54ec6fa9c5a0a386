import { describe, expect, it } from 'vitest';
import {
  BACKUP_MANIFEST,
  BACKUP_MANIFEST_CHECKSUM,
  ENCRYPTION_INFO,
  checkpointFileName,
  checksumFileName,
  dataFileName,
  fullBackupSubdir,
  incrementalSubdir,
  latestFileName,
  newestLatestFile,
  parseCheckpointFileName,
  parseFullBackupSubdir,
  parseIncrementalLayerName,
  parseLatestFileName,
  partFileName,
  sanitizeLocality,
} from './index.js';

const NS = 1_000_000n;
const at = (iso: string): bigint => BigInt(Date.parse(iso)) * NS;

describe('collection layout', () => {
  it('names full backups /YYYY/MM/DD-HHMMSS.ss in UTC, truncating to hundredths', () => {
    expect(fullBackupSubdir(new Date('2024-03-01T10:00:00Z'))).toBe('/2024/03/01-100000.00');
    expect(fullBackupSubdir(at('2024-03-01T10:00:00Z'))).toBe('/2024/03/01-100000.00');
    expect(fullBackupSubdir(at('2024-12-31T23:59:59Z') + 999_999_999n)).toBe('/2024/12/31-235959.99');
    expect(fullBackupSubdir(new Date('2023-07-04T01:02:03.456+02:00'))).toBe('/2023/07/03-230203.45');
    expect(parseFullBackupSubdir('/2024/03/01-100000.12')).toBe(at('2024-03-01T10:00:00.120Z'));
    expect(() => parseFullBackupSubdir('2024-03-01')).toThrow(/not a full backup subdirectory/);
  });

  it('names incrementals by end time, then start time, under the full', () => {
    const full = fullBackupSubdir(at('2024-03-01T10:00:00Z'));
    const inc = incrementalSubdir(full, at('2024-03-01T10:00:00Z'), at('2024-03-01T11:00:00.5Z'));
    expect(inc).toBe('incrementals/2024/03/01-100000.00/20240301/110000.50-20240301-100000.00');
    expect(incrementalSubdir('2024/03/01-100000.00', new Date('2024-03-02T00:00:00Z'), new Date('2024-03-02T01:00:00Z'))).toBe(
      'incrementals/2024/03/01-100000.00/20240302/010000.00-20240302-000000.00',
    );
    expect(parseIncrementalLayerName('20240301/110000.50-20240301-100000.00')).toEqual({
      startTime: at('2024-03-01T10:00:00Z'),
      endTime: at('2024-03-01T11:00:00.5Z'),
    });
    expect(parseIncrementalLayerName('20240301/110000.50')).toBeUndefined();
  });

  it('encodes LATEST names like CockroachDB: hex of the descending encoding of Go time.String()', () => {
    const t = at('2024-03-01T10:00:00Z');
    const goString = '2024-03-01 10:00:00 +0000 UTC';
    const expected = `13${Buffer.from(Buffer.from(goString).map((c) => ~c & 0xff)).toString('hex')}fffe`;
    expect(latestFileName(t)).toBe(`metadata/latest/LATEST-${expected}`);
    expect(parseLatestFileName(latestFileName(t))).toBe(t);
    const precise = t + 123_456_789n;
    expect(parseLatestFileName(latestFileName(precise))).toBe(precise);
    expect(parseLatestFileName('metadata/latest/LATEST-zz')).toBeUndefined();
    expect(parseLatestFileName('LATEST')).toBeUndefined();
  });

  it('sorts LATEST names newest first in a plain lexical listing', () => {
    const base = at('2024-03-01T10:00:00Z');
    // Whole seconds, sub-second parts of varying length, across days and years.
    const times = [
      base,
      base + 500_000_000n,
      base + 450_000_000n,
      base + 1n,
      base + 1_000_000_000n,
      base + 86_400n * 1_000_000_000n,
      at('2025-01-01T00:00:00Z'),
      at('2023-12-31T23:59:59.999Z'),
    ];
    for (let i = 0; i < 200; i++) times.push(base + BigInt(Math.floor(Math.random() * 1e15)));
    const names = times.map((t) => latestFileName(t));
    const listed = [...names].sort();
    const parsed = listed.map((n) => parseLatestFileName(n) as bigint);
    const desc = [...times].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    expect(parsed).toEqual(desc);
    expect(newestLatestFile(names)).toBe(latestFileName(desc[0] as bigint));
  });

  it('names checkpoints, checksums, parts and data files', () => {
    const t = at('2024-03-01T10:00:00Z');
    const cp = checkpointFileName(t);
    expect(cp.startsWith('progress/BACKUP-CHECKPOINT-13')).toBe(true);
    expect(parseCheckpointFileName(cp)).toBe(t);
    expect(parseCheckpointFileName(checksumFileName(cp))).toBeUndefined();
    expect(checkpointFileName(t + 1n) < cp).toBe(true);
    expect(checksumFileName(BACKUP_MANIFEST)).toBe(BACKUP_MANIFEST_CHECKSUM);
    expect(BACKUP_MANIFEST_CHECKSUM).toBe('BACKUP_MANIFEST-CHECKSUM');
    expect(ENCRYPTION_INFO).toBe('ENCRYPTION-INFO');
    expect(partFileName(1, 'region=us-east1')).toBe('BACKUP_PART_1_region=us-east1');
    expect(partFileName(2, 'zone=a b/c')).toBe('BACKUP_PART_2_zone=a_b_c');
    expect(sanitizeLocality('Region=EU.west-1')).toBe('Region=EU_west-1');

    const now = new Date('2030-03-01T10:00:00Z');
    const a = dataFileName(3, now);
    expect(a).toMatch(/^data\/\d+\.sst$/);
    const unique = BigInt(/\d+/.exec(a)?.[0] ?? '0');
    expect(unique & 0x7fffn).toBe(3n);
    expect(unique >> 15n).toBe(at('2030-03-01T10:00:00Z') / 10_000n);
    // Same node, same instant (or a clock that went back): still a new name each time.
    const names = [a, dataFileName(3, now), dataFileName(3, now), dataFileName(3, new Date('2020-01-01T00:00:00Z'))];
    expect(new Set(names).size).toBe(4);
    expect(dataFileName(4, now)).toMatch(/^data\/\d+\.sst$/);
    expect(dataFileName(7)).not.toBe(dataFileName(7));
  });
});
