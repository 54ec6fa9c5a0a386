/*
 * SQL values as JavaScript values, one representation per column type, plus the coercion of
 * parser literals into them and the text `cockroach sql` prints for them.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { ColumnType } from '@cairn/proto';
import type { ColumnDescriptor } from '@cairn/proto';

/**
 * One SQL value. The column type decides which representation is used:
 * - INT: `bigint` (the full int64 range)
 * - FLOAT: `number`
 * - STRING: `string`
 * - BOOL: `boolean`
 * - BYTES: `Uint8Array`
 * - TIMESTAMP: `Date` (UTC, millisecond precision)
 * - DECIMAL: `string` holding canonical decimal text (see `canonicalDecimal`)
 * - NULL in any column: `null`
 */
export type Datum = null | bigint | number | string | boolean | Uint8Array | Date;

/** A literal as the SQL parser yields it, before it meets a column type. */
export interface Literal {
  kind: 'int' | 'decimal' | 'string' | 'bool' | 'null';
  /** Source text: digits for numbers, the unquoted content for strings, `true`/`false` for bools. */
  value: string;
}

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

/** Longest canonical decimal text accepted; guards against `1e1000000000`. */
const MAX_DECIMAL_DIGITS = 1000;

const TYPE_NAMES: Record<number, string> = {
  [ColumnType.INT]: 'INT',
  [ColumnType.FLOAT]: 'FLOAT',
  [ColumnType.STRING]: 'STRING',
  [ColumnType.BOOL]: 'BOOL',
  [ColumnType.BYTES]: 'BYTES',
  [ColumnType.TIMESTAMP]: 'TIMESTAMP',
  [ColumnType.DECIMAL]: 'DECIMAL',
};

/** The SQL name of a column type as CockroachDB shows it (`INT`, `STRING`, ...). */
export function columnTypeName(type: ColumnType): string {
  return TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
}

const TYPE_ALIASES: Record<string, ColumnType> = {
  INT: ColumnType.INT,
  INTEGER: ColumnType.INT,
  INT2: ColumnType.INT,
  INT4: ColumnType.INT,
  INT8: ColumnType.INT,
  INT64: ColumnType.INT,
  BIGINT: ColumnType.INT,
  SMALLINT: ColumnType.INT,
  FLOAT: ColumnType.FLOAT,
  FLOAT4: ColumnType.FLOAT,
  FLOAT8: ColumnType.FLOAT,
  REAL: ColumnType.FLOAT,
  DOUBLE: ColumnType.FLOAT,
  'DOUBLE PRECISION': ColumnType.FLOAT,
  STRING: ColumnType.STRING,
  TEXT: ColumnType.STRING,
  VARCHAR: ColumnType.STRING,
  CHAR: ColumnType.STRING,
  BOOL: ColumnType.BOOL,
  BOOLEAN: ColumnType.BOOL,
  BYTES: ColumnType.BYTES,
  BYTEA: ColumnType.BYTES,
  BLOB: ColumnType.BYTES,
  TIMESTAMP: ColumnType.TIMESTAMP,
  TIMESTAMPTZ: ColumnType.TIMESTAMP,
  DECIMAL: ColumnType.DECIMAL,
  NUMERIC: ColumnType.DECIMAL,
  DEC: ColumnType.DECIMAL,
};

/**
 * Maps a type name from a statement (`BIGINT`, `text`, `NUMERIC`, ...) to a column type, or
 * `undefined` for a type cairn does not support. Length/precision arguments are the parser's
 * to strip (`VARCHAR(10)` → `VARCHAR`).
 */
export function columnTypeFromName(name: string): ColumnType | undefined {
  return TYPE_ALIASES[name.trim().toUpperCase().replace(/\s+/g, ' ')];
}

function mismatch(text: string, col: ColumnDescriptor): CairnError {
  return new CairnError(
    ErrorCode.DatatypeMismatch,
    `value "${text}" is not of type ${columnTypeName(col.type)} for column "${col.name}"`,
  );
}

/**
 * Turns a parser literal into the datum stored in `col`, or throws a `CairnError`:
 * DatatypeMismatch for a value that is not of the column's type (or out of its range),
 * InvalidArgument for NULL in a NOT NULL column.
 *
 * Like CockroachDB, string literals parse into any type (`'42'` into INT, `'2024-01-01'`
 * into TIMESTAMP, `'\x00ff'` into BYTES); numbers do not become strings or booleans.
 */
export function coerceLiteral(col: ColumnDescriptor, lit: Literal): Datum {
  if (lit.kind === 'null') {
    if (!col.nullable) {
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `null value in column "${col.name}" violates not-null constraint`,
      );
    }
    return null;
  }
  const text = lit.value;
  switch (col.type) {
    case ColumnType.INT: {
      if (lit.kind === 'bool') throw mismatch(text, col);
      const dec = parseDecimal(text.trim());
      if (dec === undefined || dec.exp10 < 0) throw mismatch(text, col);
      const v = BigInt(dec.sign < 0 ? '-' + dec.digits : dec.digits) * 10n ** BigInt(dec.exp10);
      if (v < INT64_MIN || v > INT64_MAX) {
        throw new CairnError(
          ErrorCode.DatatypeMismatch,
          `value "${text}" is out of range for type INT for column "${col.name}"`,
        );
      }
      return v;
    }
    case ColumnType.FLOAT: {
      if (lit.kind === 'bool') throw mismatch(text, col);
      const v = parseFloatText(text.trim(), lit.kind === 'string');
      if (v === undefined) throw mismatch(text, col);
      return v;
    }
    case ColumnType.DECIMAL: {
      if (lit.kind === 'bool') throw mismatch(text, col);
      const canonical = canonicalDecimalOrUndefined(text.trim());
      if (canonical === undefined) throw mismatch(text, col);
      return canonical;
    }
    case ColumnType.STRING:
      if (lit.kind !== 'string') throw mismatch(text, col);
      return text;
    case ColumnType.BOOL: {
      if (lit.kind === 'bool' || lit.kind === 'string') {
        const v = parseBoolText(text);
        if (v !== undefined) return v;
      }
      throw mismatch(text, col);
    }
    case ColumnType.BYTES: {
      if (lit.kind !== 'string') throw mismatch(text, col);
      if (text.startsWith('\\x')) {
        const hex = text.slice(2);
        if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw mismatch(text, col);
        return Uint8Array.from(Buffer.from(hex, 'hex'));
      }
      return new TextEncoder().encode(text);
    }
    case ColumnType.TIMESTAMP: {
      if (lit.kind !== 'string') throw mismatch(text, col);
      const v = parseTimestamp(text);
      if (v === undefined) throw mismatch(text, col);
      return v;
    }
    default:
      throw new CairnError(
        ErrorCode.FeatureNotSupported,
        `column "${col.name}" has unsupported type ${columnTypeName(col.type)}`,
      );
  }
}

/**
 * True when `d` has the representation of `type` (or is null). Encoders call this so a
 * wrongly typed row fails loudly instead of being stored.
 */
export function datumMatchesType(d: Datum, type: ColumnType): boolean {
  if (d === null) return true;
  switch (type) {
    case ColumnType.INT:
      return typeof d === 'bigint' && d >= INT64_MIN && d <= INT64_MAX;
    case ColumnType.FLOAT:
      return typeof d === 'number';
    case ColumnType.STRING:
    case ColumnType.DECIMAL:
      return typeof d === 'string';
    case ColumnType.BOOL:
      return typeof d === 'boolean';
    case ColumnType.BYTES:
      return d instanceof Uint8Array;
    case ColumnType.TIMESTAMP:
      return d instanceof Date && !Number.isNaN(d.getTime());
    default:
      return false;
  }
}

const BOOL_WORDS: Record<string, boolean> = {
  true: true,
  t: true,
  yes: true,
  y: true,
  on: true,
  '1': true,
  false: false,
  f: false,
  no: false,
  n: false,
  off: false,
  '0': false,
};

function parseBoolText(text: string): boolean | undefined {
  return BOOL_WORDS[text.trim().toLowerCase()];
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseFloatText(text: string, allowSpecial: boolean): number | undefined {
  if (NUMBER_RE.test(text)) return Number(text);
  if (!allowSpecial) return undefined;
  switch (text.toLowerCase()) {
    case 'nan':
      return NaN;
    case 'inf':
    case '+inf':
    case 'infinity':
    case '+infinity':
      return Infinity;
    case '-inf':
    case '-infinity':
      return -Infinity;
    default:
      return undefined;
  }
}

/** A decimal as sign × digits × 10^exp10, with `digits` free of leading and trailing zeros. */
export interface DecimalParts {
  sign: -1 | 0 | 1;
  /** Significant digits; empty for zero. */
  digits: string;
  exp10: number;
}

const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Parses decimal text (`-12.50`, `1e3`, `.5`) into normalized parts, or `undefined`. */
export function parseDecimal(text: string): DecimalParts | undefined {
  const m = DECIMAL_RE.exec(text);
  if (!m) return undefined;
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? '';
  if (intPart.length + fracPart.length === 0) return undefined;
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isSafeInteger(exp)) return undefined;
  let digits = intPart + fracPart;
  let exp10 = exp - fracPart.length;
  let start = 0;
  while (start < digits.length && digits.charCodeAt(start) === 48) start++;
  let end = digits.length;
  while (end > start && digits.charCodeAt(end - 1) === 48) end--;
  if (start === end) return { sign: 0, digits: '', exp10: 0 };
  exp10 += digits.length - end;
  digits = digits.slice(start, end);
  return { sign: m[1] === '-' ? -1 : 1, digits, exp10 };
}

/** Renders normalized parts as plain decimal text (never exponent notation). */
export function formatDecimalParts(p: DecimalParts): string {
  if (p.sign === 0) return '0';
  const neg = p.sign < 0 ? '-' : '';
  if (p.exp10 >= 0) return neg + p.digits + '0'.repeat(p.exp10);
  const point = p.digits.length + p.exp10;
  if (point > 0) return neg + p.digits.slice(0, point) + '.' + p.digits.slice(point);
  return neg + '0.' + '0'.repeat(-point) + p.digits;
}

function canonicalDecimalOrUndefined(text: string): string | undefined {
  const p = parseDecimal(text);
  if (p === undefined) return undefined;
  if (p.digits.length + Math.abs(p.exp10) > MAX_DECIMAL_DIGITS) return undefined;
  return formatDecimalParts(p);
}

/**
 * The canonical text of a decimal: plain notation, no leading zeros, no trailing fractional
 * zeros, no `-0` (`'-001.500'` → `'-1.5'`, `'1e3'` → `'1000'`). Equal values have equal text,
 * so DECIMAL primary keys and fingerprints compare values, not spellings. Throws
 * DatatypeMismatch for text that is not a decimal.
 */
export function canonicalDecimal(text: string): string {
  const c = canonicalDecimalOrUndefined(text.trim());
  if (c === undefined) throw new CairnError(ErrorCode.DatatypeMismatch, `value "${text}" is not of type DECIMAL`);
  return c;
}

const TIMESTAMP_RE =
  /^(\d{4,6})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Parses `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]` (space or `T`). Without a zone the
 * time is UTC. Fractions below a millisecond are truncated (a `Date` holds milliseconds).
 */
export function parseTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP_RE.exec(text.trim());
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  // Reject dates that rolled over, such as February 30th.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month - 1) return undefined;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z' && zone.toUpperCase() !== 'UTC') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
    d.setTime(d.getTime() - sign * offsetMin * 60_000);
  }
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** `2024-01-01 00:00:00+00:00`, with `.fff` (trailing zeros trimmed) when there are millis. */
export function formatTimestamp(d: Date): string {
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? '' : '.' + pad(ms, 3).replace(/0+$/, '');
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}${frac}+00:00`
  );
}

function formatBytes(b: Uint8Array): string {
  return '\\x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

/**
 * A datum as `cockroach sql` prints it in result tables: `NULL`, `true`/`false`, integers
 * and decimals as written, floats in shortest round-trip form (`+Inf`, `NaN`), timestamps as
 * `2024-01-01 00:00:00+00:00`, bytes as `\x` + hex, strings unquoted.
 */
export function formatDatum(d: Datum, type: ColumnType): string {
  if (d === null) return 'NULL';
  switch (type) {
    case ColumnType.FLOAT:
      return formatFloat(d as number);
    case ColumnType.BYTES:
      return formatBytes(d as Uint8Array);
    case ColumnType.TIMESTAMP:
      return formatTimestamp(d as Date);
    default:
      if (d instanceof Date) return formatTimestamp(d);
      if (d instanceof Uint8Array) return formatBytes(d);
      return String(d);
  }
}
