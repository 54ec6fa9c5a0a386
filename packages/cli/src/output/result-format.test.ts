import { describe, expect, it } from 'vitest';
import { displayWidth } from './display-width.js';
import { formatResult } from './result-format.js';

describe('formatResult table', () => {
  it('matches cockroach sql for a SHOW JOBS style result', () => {
    const out = formatResult(
      {
        columns: ['job_id', 'status', 'fraction_completed', 'rows', 'index_entries', 'bytes'],
        rows: [['123', 'succeeded', '1', '10', '0', '100']],
      },
      'table',
    );
    expect(out).toBe(
      [
        '  job_id |  status   | fraction_completed | rows | index_entries | bytes',
        '---------+-----------+--------------------+------+---------------+--------',
        '     123 | succeeded |                  1 |   10 |             0 |   100',
        '(1 row)',
      ].join('\n'),
    );
  });

  it('prints the header and (0 rows) for an empty result', () => {
    expect(formatResult({ columns: ['x'], rows: [] }, 'table')).toBe('  x\n-----\n(0 rows)');
  });

  it('prints NULL, aligned like its column, and counts rows', () => {
    const out = formatResult(
      { columns: ['id', 'name'], rows: [['1', null], [null, 'bob'], ['10', 'alice']] },
      'table',
    );
    expect(out).toBe(
      [
        '   id  | name',
        '-------+--------',
        '     1 | NULL',
        '  NULL | bob',
        '    10 | alice',
        '(3 rows)',
      ].join('\n'),
    );
  });

  it('left-aligns a column holding any non-number', () => {
    const out = formatResult({ columns: ['v'], rows: [['1'], ['x']] }, 'table');
    expect(out.split('\n').slice(2, 4)).toEqual(['  1', '  x']);
  });

  it('splits multi-line names and values over several lines, as cockroach does', () => {
    const out = formatResult(
      { columns: ['f"oo', 'short\nvery very long\nnot much', 'κόσμε'], rows: [['0', '0', 'a\nbc']] },
      'table',
    );
    expect(out).toBe(
      [
        '  f"oo |     short      | κόσμε',
        '       | very very long |',
        '       |    not much    |',
        '-------+----------------+--------',
        '     0 |              0 | a',
        '       |                | bc',
        '(1 row)',
      ].join('\n'),
    );
  });

  it('counts CJK characters as two columns', () => {
    const out = formatResult({ columns: ['name', 'n'], rows: [['日本語', '1'], ['abc', '22']] }, 'table');
    const lines = out.split('\n');
    expect(lines).toEqual([
      '   name  | n',
      '---------+-----',
      '  日本語 |  1',
      '  abc    | 22',
      '(2 rows)',
    ]);
    const bars = lines.slice(0, 4).map((l) => displayWidth(l.slice(0, l.indexOf(l.includes('|') ? '|' : '+'))));
    expect(new Set(bars).size).toBe(1);
  });

  it('escapes control characters and expands tabs', () => {
    const out = formatResult({ columns: ['s'], rows: [['a\tb\x01']] }, 'table');
    expect(out.split('\n')[2]).toBe('  a   b\\x01');
  });

  it('prints the tag for statements without result columns', () => {
    expect(formatResult({ columns: [], rows: [], tag: 'CREATE TABLE' }, 'table')).toBe('CREATE TABLE');
    expect(formatResult({ columns: [], rows: [], tag: 'INSERT 0 3' }, 'csv')).toBe('INSERT 0 3');
  });

  it('prints -- for rows without columns', () => {
    expect(formatResult({ columns: [], rows: [[], []] }, 'table')).toBe('--\n(2 rows)');
  });
});

describe('formatResult csv/tsv', () => {
  it('quotes fields with separators, quotes and line breaks (RFC 4180)', () => {
    const out = formatResult(
      {
        columns: ['s', 'a, b'],
        rows: [
          ['plain', 'a, b'],
          ['"a", "b"', 'line\nbreak'],
          ['tab\there', null],
          ['cr\r', ''],
        ],
      },
      'csv',
    );
    expect(out).toBe(
      [
        's,"a, b"',
        'plain,"a, b"',
        '"""a"", ""b""","line\nbreak"',
        'tab\there,NULL',
        '"cr\r",',
      ].join('\n'),
    );
  });

  it('quotes tabs rather than commas in tsv', () => {
    const out = formatResult({ columns: ['s', 't'], rows: [['a, b', 'a\tb'], ['"q"', null]] }, 'tsv');
    expect(out).toBe(['s\tt', 'a, b\t"a\tb"', '"""q"""\tNULL'].join('\n'));
  });

  it('prints only the header when there are no rows', () => {
    expect(formatResult({ columns: ['x', 'y'], rows: [] }, 'csv')).toBe('x,y');
  });

  it('keeps an empty single-field record visible', () => {
    expect(formatResult({ columns: ['x'], rows: [['']] }, 'csv')).toBe('x\n""');
  });
});

describe('formatResult json', () => {
  it('prints one object per row in column order, NULL as null', () => {
    const out = formatResult({ columns: ['b', '1', 'a'], rows: [['x', '2', null], ['y', '3', 'z']] }, 'json');
    expect(out).toBe('[\n  {"b":"x","1":"2","a":null},\n  {"b":"y","1":"3","a":"z"}\n]');
    expect(JSON.parse(out)).toEqual([
      { b: 'x', 1: '2', a: null },
      { b: 'y', 1: '3', a: 'z' },
    ]);
  });

  it('prints an empty array for no rows', () => {
    expect(JSON.parse(formatResult({ columns: ['x'], rows: [] }, 'json'))).toEqual([]);
  });
});

describe('displayWidth', () => {
  it('measures ASCII, wide, combining and zero-width characters', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本')).toBe(4);
    expect(displayWidth('ｶ')).toBe(1);
    expect(displayWidth('Ａ')).toBe(2);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('a\u200bb')).toBe(2);
    expect(displayWidth('😀')).toBe(2);
  });
});
