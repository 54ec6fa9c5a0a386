import { CairnError, ErrorCode } from '@cairn/errors';
import { ColumnType } from '@cairn/proto';
import type { ColumnDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { canonicalDecimal, coerceLiteral, columnTypeFromName, formatDatum, parseTimestamp } from './datum.js';
import type { Literal } from './datum.js';

function col(type: ColumnType, name = 'c', nullable = true): ColumnDescriptor {
  return { id: 1, name, type, nullable };
}
const int = (value: string): Literal => ({ kind: 'int', value });
const dec = (value: string): Literal => ({ kind: 'decimal', value });
const str = (value: string): Literal => ({ kind: 'string', value });
const bool = (value: string): Literal => ({ kind: 'bool', value });
const NULL: Literal = { kind: 'null', value: 'NULL' };

function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('coerceLiteral', () => {
  it('coerces each type', () => {
    expect(coerceLiteral(col(ColumnType.INT), int('42'))).toBe(42n);
    expect(coerceLiteral(col(ColumnType.INT), int('-9223372036854775808'))).toBe(-(1n << 63n));
    expect(coerceLiteral(col(ColumnType.INT), str(' 17 '))).toBe(17n);
    expect(coerceLiteral(col(ColumnType.INT), dec('1e3'))).toBe(1000n);
    expect(coerceLiteral(col(ColumnType.FLOAT), dec('1.5'))).toBe(1.5);
    expect(coerceLiteral(col(ColumnType.FLOAT), int('3'))).toBe(3);
    expect(coerceLiteral(col(ColumnType.FLOAT), str('-Infinity'))).toBe(-Infinity);
    expect(coerceLiteral(col(ColumnType.FLOAT), str('NaN'))).toBeNaN();
    expect(coerceLiteral(col(ColumnType.STRING), str('héllo'))).toBe('héllo');
    expect(coerceLiteral(col(ColumnType.BOOL), bool('true'))).toBe(true);
    expect(coerceLiteral(col(ColumnType.BOOL), str('off'))).toBe(false);
    expect(coerceLiteral(col(ColumnType.BYTES), str('\\x00ff'))).toEqual(Uint8Array.of(0, 255));
    expect(coerceLiteral(col(ColumnType.BYTES), str('ab'))).toEqual(Uint8Array.of(97, 98));
    expect(coerceLiteral(col(ColumnType.TIMESTAMP), str('2024-01-01 12:34:56.789'))).toEqual(
      new Date(Date.UTC(2024, 0, 1, 12, 34, 56, 789)),
    );
    expect(coerceLiteral(col(ColumnType.DECIMAL), dec('-0012.500'))).toBe('-12.5');
    expect(coerceLiteral(col(ColumnType.DECIMAL), int('42'))).toBe('42');
    expect(coerceLiteral(col(ColumnType.DECIMAL), str('1.2e-3'))).toBe('0.0012');
    expect(coerceLiteral(col(ColumnType.INT), NULL)).toBeNull();
  });

  it('rejects values of the wrong type with a clear message', () => {
    const e = errorOf(() => coerceLiteral(col(ColumnType.INT, 'balance'), str('abc')));
    expect(e.code).toBe(ErrorCode.DatatypeMismatch);
    expect(e.message).toBe('value "abc" is not of type INT for column "balance"');
    expect(errorOf(() => coerceLiteral(col(ColumnType.INT), dec('1.5'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.INT), bool('true'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.STRING), int('1'))).message).toBe(
      'value "1" is not of type STRING for column "c"',
    );
    expect(errorOf(() => coerceLiteral(col(ColumnType.BOOL), int('1'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.BOOL), str('maybe'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.TIMESTAMP), str('2024-02-30'))).code).toBe(
      ErrorCode.DatatypeMismatch,
    );
    expect(errorOf(() => coerceLiteral(col(ColumnType.BYTES), str('\\xzz'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.DECIMAL), str('1.2.3'))).code).toBe(ErrorCode.DatatypeMismatch);
    expect(errorOf(() => coerceLiteral(col(ColumnType.FLOAT), str('x1'))).code).toBe(ErrorCode.DatatypeMismatch);
  });

  it('rejects INT values outside int64', () => {
    const e = errorOf(() => coerceLiteral(col(ColumnType.INT, 'n'), int('9223372036854775808')));
    expect(e.code).toBe(ErrorCode.DatatypeMismatch);
    expect(e.message).toBe('value "9223372036854775808" is out of range for type INT for column "n"');
  });

  it('rejects NULL in a NOT NULL column', () => {
    const e = errorOf(() => coerceLiteral(col(ColumnType.STRING, 'x', false), NULL));
    expect(e.message).toBe('null value in column "x" violates not-null constraint');
    expect(e.code).toBe(ErrorCode.InvalidArgument);
  });
});

describe('timestamps and decimals', () => {
  it('parses zones and dates', () => {
    expect(parseTimestamp('2024-01-01')).toEqual(new Date(Date.UTC(2024, 0, 1)));
    expect(parseTimestamp('2024-01-01T02:00:00+02:00')).toEqual(new Date(Date.UTC(2024, 0, 1)));
    expect(parseTimestamp('2024-01-01 00:00:00Z')).toEqual(new Date(Date.UTC(2024, 0, 1)));
    expect(parseTimestamp('0001-01-01 00:00:00')?.getUTCFullYear()).toBe(1);
    expect(parseTimestamp('yesterday')).toBeUndefined();
  });

  it('canonicalizes decimals', () => {
    expect(canonicalDecimal('0.000')).toBe('0');
    expect(canonicalDecimal('-0')).toBe('0');
    expect(canonicalDecimal('+.5')).toBe('0.5');
    expect(canonicalDecimal('100')).toBe('100');
    expect(canonicalDecimal('1.23E+5')).toBe('123000');
    expect(() => canonicalDecimal('1e100000')).toThrow(CairnError);
  });
});

describe('formatDatum', () => {
  it('prints like cockroach sql', () => {
    expect(formatDatum(null, ColumnType.INT)).toBe('NULL');
    expect(formatDatum(123456789012345678901n, ColumnType.INT)).toBe('123456789012345678901');
    expect(formatDatum(true, ColumnType.BOOL)).toBe('true');
    expect(formatDatum(false, ColumnType.BOOL)).toBe('false');
    expect(formatDatum(1.5, ColumnType.FLOAT)).toBe('1.5');
    expect(formatDatum(Infinity, ColumnType.FLOAT)).toBe('+Inf');
    expect(formatDatum(new Date(Date.UTC(2024, 0, 1)), ColumnType.TIMESTAMP)).toBe('2024-01-01 00:00:00+00:00');
    expect(formatDatum(new Date(Date.UTC(2024, 0, 1, 1, 2, 3, 450)), ColumnType.TIMESTAMP)).toBe(
      '2024-01-01 01:02:03.45+00:00',
    );
    expect(formatDatum(Uint8Array.of(0xde, 0xad), ColumnType.BYTES)).toBe('\\xdead');
    expect(formatDatum('12.5', ColumnType.DECIMAL)).toBe('12.5');
    expect(formatDatum("it's", ColumnType.STRING)).toBe("it's");
  });

  it('maps type names', () => {
    expect(columnTypeFromName('bigint')).toBe(ColumnType.INT);
    expect(columnTypeFromName('double  precision')).toBe(ColumnType.FLOAT);
    expect(columnTypeFromName('TEXT')).toBe(ColumnType.STRING);
    expect(columnTypeFromName('jsonb')).toBeUndefined();
  });
});
