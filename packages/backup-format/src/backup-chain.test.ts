import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { BACKUP_MANIFEST, fullBackupSubdir, incrementalSubdir, orderChain, resolveChain } from './index.js';

const at = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;
const T = (h: number, m = 0): bigint => at(`2024-03-01T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00Z`);
const FULL = fullBackupSubdir(T(10));

function listing(layers: Array<[bigint, bigint]>, extra: string[] = []): string[] {
  const out = [...extra];
  for (const [s, e] of layers) {
    const dir = incrementalSubdir(FULL, s, e);
    out.push(`${dir}/${BACKUP_MANIFEST}`, `${dir}/BACKUP_MANIFEST-CHECKSUM`, `${dir}/data/123.sst`);
  }
  return out.sort(() => Math.random() - 0.5);
}

function errorOf(f: () => unknown): CairnError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    return e as CairnError;
  }
  throw new Error('expected an error');
}

describe('resolveChain', () => {
  it('orders the full and its incrementals by end time', () => {
    const chain = resolveChain(
      listing(
        [
          [T(12), T(13)],
          [T(10), T(11)],
          [T(11), T(12)],
        ],
        [
          // An unfinished layer (no manifest) and another full's incrementals are ignored.
          `${incrementalSubdir(FULL, T(13), T(14))}/data/1.sst`,
          `incrementals/2024/02/01-100000.00/20240201/110000.00-20240201-100000.00/${BACKUP_MANIFEST}`,
        ],
      ),
      FULL,
    );
    expect(chain.map((l) => l.subdir)).toEqual([
      '/2024/03/01-100000.00',
      'incrementals/2024/03/01-100000.00/20240301/110000.00-20240301-100000.00',
      'incrementals/2024/03/01-100000.00/20240301/120000.00-20240301-110000.00',
      'incrementals/2024/03/01-100000.00/20240301/130000.00-20240301-120000.00',
    ]);
    expect(chain.map((l) => [l.startTime, l.endTime])).toEqual([
      [0n, T(10)],
      [T(10), T(11)],
      [T(11), T(12)],
      [T(12), T(13)],
    ]);
  });

  it('accepts paths relative to the incrementals folder and a full with no incrementals', () => {
    const rel = [`20240301/110000.00-20240301-100000.00/${BACKUP_MANIFEST}`];
    expect(resolveChain(rel, FULL)).toHaveLength(2);
    expect(resolveChain([], '2024/03/01-100000.00')).toEqual([{ subdir: FULL, startTime: 0n, endTime: T(10) }]);
  });

  it('reports a gap when a layer is missing', () => {
    const err = errorOf(() =>
      resolveChain(
        listing([
          [T(10), T(11)],
          [T(12), T(13)],
        ]),
        FULL,
      ),
    );
    expect(err.code).toBe(ErrorCode.Corruption);
    expect(err.message).toContain('backup chain has a gap');
    expect(err.message).toContain('20240301/110000.00-20240301-100000.00 ends at 2024-03-01T11:00:00.000Z');
    expect(err.message).toContain('130000.00-20240301-120000.00, starts at 2024-03-01T12:00:00.000Z');
    // A chain whose first incremental does not start at the full's end.
    expect(errorOf(() => resolveChain(listing([[T(10, 30), T(11)]]), FULL)).message).toContain('has a gap');
  });

  it('reports forks and overlapping layers', () => {
    const fork = errorOf(() =>
      resolveChain(
        listing([
          [T(10), T(11)],
          [T(10), T(12)],
        ]),
        FULL,
      ),
    );
    expect(fork.message).toMatch(/ambiguous backup chain: .* both start where \/2024\/03\/01-100000.00 ends/);
    const overlap = errorOf(() =>
      resolveChain(
        listing([
          [T(10), T(11)],
          [T(11), T(12)],
          [T(10, 30), T(11, 30)],
        ]),
        FULL,
      ),
    );
    expect(overlap.message).toContain('does not continue the chain');
  });
});

describe('orderChain', () => {
  it('checks exact manifest times', () => {
    const full = { subdir: '/f', startTime: 0n, endTime: 100n };
    const a = { subdir: 'a', startTime: 100n, endTime: 200n };
    const b = { subdir: 'b', startTime: 200n, endTime: 300n };
    expect(orderChain([b, full, a])).toEqual([full, a, b]);
    expect(errorOf(() => orderChain([full, { ...b, startTime: 201n }, a])).message).toContain('gap');
    expect(errorOf(() => orderChain([a, b])).message).toBe('backup chain has no full backup');
    expect(errorOf(() => orderChain([full, { ...full, subdir: '/g' }])).message).toContain('2 full backups');
    expect(errorOf(() => orderChain([full, { subdir: 'x', startTime: 100n, endTime: 100n }])).message).toContain(
      'ends (',
    );
  });
});
