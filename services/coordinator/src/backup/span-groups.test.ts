import { describe, expect, it } from 'vitest';
import type { PlannedSpan } from './backup-details.js';
import { groupAdjacentSpans } from './span-groups.js';

const span = (start: string, end: string, replicas = [1, 2, 3], startTime = '10'): PlannedSpan => ({ start, end, startTime, replicas });

/** Ten adjacent ranges a0..a9 (hex keys 00..0a). */
const ranges = Array.from({ length: 10 }, (_, i) => span(i.toString(16).padStart(2, '0'), (i + 1).toString(16).padStart(2, '0')));

describe('groupAdjacentSpans', () => {
  it('joins adjacent spans into about the asked number of groups, covering the same keys', () => {
    const groups = groupAdjacentSpans(ranges, 3);
    expect(groups.map((g) => [g.start, g.end])).toEqual([
      ['00', '04'],
      ['04', '08'],
      ['08', '0a'],
    ]);
    expect(groups.every((g) => g.startTime === '10')).toBe(true);
  });

  it('never joins spans with other replicas, another start time, or a gap between them', () => {
    const spans = [span('00', '01'), span('01', '02', [1, 2, 4]), span('02', '03', [2, 4, 1]), span('03', '04', [1, 2, 4], '0'), span('05', '06', [1, 2, 4], '0')];
    expect(groupAdjacentSpans(spans, 1).map((g) => [g.start, g.end, g.replicas.join(), g.startTime])).toEqual([
      ['00', '01', '1,2,3', '10'],
      ['01', '03', '1,2,4', '10'],
      ['03', '04', '1,2,4', '0'],
      ['05', '06', '1,2,4', '0'],
    ]);
  });

  it('leaves a span ending at the end of the keyspace alone, and the input unchanged', () => {
    const spans = [span('00', '01'), span('01', ''), span('', '02')];
    const before = JSON.stringify(spans);
    expect(groupAdjacentSpans(spans, 1).map((g) => [g.start, g.end])).toEqual([
      ['00', ''],
      ['', '02'],
    ]);
    expect(JSON.stringify(spans)).toBe(before);
    expect(groupAdjacentSpans([], 4)).toEqual([]);
  });

  it('keeps one span per range when asked for more groups than ranges', () => {
    expect(groupAdjacentSpans(ranges, 64)).toEqual(ranges);
  });
});
