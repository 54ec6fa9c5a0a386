/*
 * Table rows in the keyspace, as CockroachDB lays them out:
 *   key   = tablePrefix(table.id) + uvarint(PRIMARY_INDEX_ID) + ordered encoding of each PK column
 *   value = a tagged record of the non-PK, non-NULL columns keyed by column id
 * Values name columns by id, so a column added later reads as NULL in old rows and a dropped
 * column's bytes are skipped.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { KeyBuilder, KeyReader, prefixEnd, tablePrefix } from '@cairn/keys';
import type { Span } from '@cairn/keys';
import { ColumnType } from '@cairn/proto';
import type { TableDescriptor } from '@cairn/proto';
import { columnTypeName, formatDecimalParts, parseDecimal } from './datum.js';
import type { Datum, DecimalParts } from './datum.js';
import {
  corruptValue,
  readUvarint,
  readZigzag,
  writeUvarint,
  writeZigzag,
} from './varint.js';
import type { ByteCursor } from './varint.js';

/** Index id of every table's primary index (the only index for now). */
export const PRIMARY_INDEX_ID = 1;

/** First byte of every row value: the value format version. */
const VALUE_FORMAT_V1 = 0x01;

const TAG_INT = 1;
const TAG_FLOAT = 2;
const TAG_STRING = 3;
const TAG_FALSE = 4;
const TAG_TRUE = 5;
const TAG_BYTES = 6;
const TAG_TIMESTAMP = 7;
const TAG_DECIMAL = 8;

/** Sign markers of the decimal key encoding (as uvarints, so 0 < 1 < 2). */
const DEC_NEG = 0;
const DEC_ZERO = 1;
const DEC_POS = 2;

interface ValueColumn {
  ordinal: number;
  id: number;
  type: ColumnType;
  name: string;
}

/** Everything the codecs need about one table, computed once per descriptor object. */
interface TableLayout {
  id: number;
  columnCount: number;
  indexPrefix: Uint8Array;
  pkOrdinals: number[];
  pkTypes: ColumnType[];
  /** Non-PK columns in ascending id order. */
  valueColumns: ValueColumn[];
  /** Column id → position in `valueColumns`. */
  valueById: Map<number, ValueColumn>;
}

const layouts = new WeakMap<TableDescriptor, TableLayout>();

/**
 * The cached layout of `table`. Descriptors are treated as immutable; the id/column-count
 * check only guards against the most likely accidental mutation.
 */
function layoutOf(table: TableDescriptor): TableLayout {
  const cached = layouts.get(table);
  if (cached !== undefined && cached.id === table.id && cached.columnCount === table.columns.length) {
    return cached;
  }
  const pkOrdinals: number[] = [];
  const pkTypes: ColumnType[] = [];
  if (table.primaryKey.length === 0) {
    throw new CairnError(ErrorCode.Internal, `table "${table.name}" (id ${table.id}) has no primary key`);
  }
  for (const name of table.primaryKey) {
    const ordinal = table.columns.findIndex((c) => c.name === name);
    const col = table.columns[ordinal];
    if (col === undefined) {
      throw new CairnError(
        ErrorCode.Internal,
        `table "${table.name}" (id ${table.id}): primary key column "${name}" does not exist`,
      );
    }
    pkOrdinals.push(ordinal);
    pkTypes.push(col.type);
  }
  const valueColumns: ValueColumn[] = [];
  table.columns.forEach((c, ordinal) => {
    if (!pkOrdinals.includes(ordinal)) valueColumns.push({ ordinal, id: c.id, type: c.type, name: c.name });
  });
  valueColumns.sort((a, b) => a.id - b.id);
  const layout: TableLayout = {
    id: table.id,
    columnCount: table.columns.length,
    indexPrefix: primaryIndexPrefix(table.id),
    pkOrdinals,
    pkTypes,
    valueColumns,
    valueById: new Map(valueColumns.map((v) => [v.id, v])),
  };
  layouts.set(table, layout);
  return layout;
}

/** `tablePrefix(tableId) + uvarint(PRIMARY_INDEX_ID)`: the prefix of every row key of a table. */
export function primaryIndexPrefix(tableId: number): Uint8Array {
  return new KeyBuilder(12).raw(tablePrefix(tableId)).uvarint(PRIMARY_INDEX_ID).finish();
}

/** Every row key of a table's primary index. */
export function primaryIndexSpan(table: TableDescriptor): Span {
  const start = layoutOf(table).indexPrefix;
  return { start, end: prefixEnd(start) };
}

function wrongDatum(table: TableDescriptor, ordinal: number, d: Datum): CairnError {
  const col = table.columns[ordinal];
  const shown = d instanceof Uint8Array ? 'bytes' : d instanceof Date ? 'Date' : typeof d;
  return new CairnError(
    ErrorCode.DatatypeMismatch,
    `column "${col?.name}" of table "${table.name}" is ${columnTypeName(col?.type ?? ColumnType.UNRECOGNIZED)}, got a ${shown} value`,
  );
}

function decimalPartsOf(text: string): DecimalParts {
  const p = parseDecimal(text);
  if (p === undefined) throw new CairnError(ErrorCode.DatatypeMismatch, `value "${text}" is not of type DECIMAL`);
  return p;
}

/**
 * Order-preserving decimal: sign marker, then for non-zero values the exponent `e` of
 * 0.DIGITS × 10^e (negated for negatives) and the digit string. Negative digits are
 * complemented ('9' - d) and closed by ':' (above every digit), so that a longer digit string,
 * which is further from zero, sorts first.
 */
function appendDecimalKey(b: KeyBuilder, text: string): void {
  const p = decimalPartsOf(text);
  if (p.sign === 0) {
    b.uvarint(DEC_ZERO);
    return;
  }
  const e = p.digits.length + p.exp10;
  if (p.sign > 0) {
    b.uvarint(DEC_POS).int(e).string(p.digits);
    return;
  }
  let digits = '';
  for (let i = 0; i < p.digits.length; i++) digits += String.fromCharCode(105 - p.digits.charCodeAt(i));
  b.uvarint(DEC_NEG).int(-e).string(digits + ':');
}

function readDecimalKey(r: KeyReader): string {
  const marker = r.uvarint();
  if (marker === DEC_ZERO) return '0';
  if (marker !== DEC_POS && marker !== DEC_NEG) throw corruptKey(`decimal sign marker ${marker}`);
  const neg = marker === DEC_NEG;
  const e = Number(r.int()) * (neg ? -1 : 1);
  let digits = r.string();
  if (neg) {
    if (!digits.endsWith(':')) throw corruptKey('negative decimal without terminator');
    let plain = '';
    for (let i = 0; i < digits.length - 1; i++) plain += String.fromCharCode(105 - digits.charCodeAt(i));
    digits = plain;
  }
  return formatDecimalParts({ sign: neg ? -1 : 1, digits, exp10: e - digits.length });
}

function corruptKey(message: string): CairnError {
  return new CairnError(ErrorCode.Corruption, `malformed row key: ${message}`);
}

/** Appends one non-NULL datum in the order-preserving key encoding (index-codec.ts uses it too). */
export function appendKeyDatum(b: KeyBuilder, type: ColumnType, d: Datum, table: TableDescriptor, ordinal: number): void {
  switch (type) {
    case ColumnType.INT:
      if (typeof d !== 'bigint') break;
      b.int(d);
      return;
    case ColumnType.FLOAT:
      if (typeof d !== 'number') break;
      b.float(d);
      return;
    case ColumnType.STRING:
      if (typeof d !== 'string') break;
      b.string(d);
      return;
    case ColumnType.BOOL:
      if (typeof d !== 'boolean') break;
      b.bool(d);
      return;
    case ColumnType.BYTES:
      if (!(d instanceof Uint8Array)) break;
      b.bytes(d);
      return;
    case ColumnType.TIMESTAMP:
      if (!(d instanceof Date) || Number.isNaN(d.getTime())) break;
      b.int(d.getTime());
      return;
    case ColumnType.DECIMAL:
      if (typeof d !== 'string') break;
      appendDecimalKey(b, d);
      return;
    default:
      break;
  }
  if (d === null) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `null value in column "${table.columns[ordinal]?.name}" violates not-null constraint`,
    );
  }
  throw wrongDatum(table, ordinal, d);
}

function readKeyDatum(r: KeyReader, type: ColumnType): Datum {
  switch (type) {
    case ColumnType.INT:
      return r.int();
    case ColumnType.FLOAT:
      return r.float();
    case ColumnType.STRING:
      return r.string();
    case ColumnType.BOOL:
      return r.bool();
    case ColumnType.BYTES:
      return r.bytes();
    case ColumnType.TIMESTAMP:
      return new Date(Number(r.int()));
    case ColumnType.DECIMAL:
      return readDecimalKey(r);
    default:
      throw corruptKey(`column type ${type} cannot be read from a key`);
  }
}

function buildPkKey(table: TableDescriptor, layout: TableLayout, pkValues: readonly Datum[]): KeyBuilder {
  const b = new KeyBuilder(layout.indexPrefix.length + 16 * pkValues.length).raw(layout.indexPrefix);
  for (let i = 0; i < pkValues.length; i++) {
    appendKeyDatum(b, layout.pkTypes[i] as ColumnType, pkValues[i] as Datum, table, layout.pkOrdinals[i] as number);
  }
  return b;
}

/**
 * The row key for primary key values given in `table.primaryKey` order. Throws for a wrong
 * count, NULL, or a value of the wrong representation.
 */
export function encodePrimaryKey(table: TableDescriptor, pkValues: readonly Datum[]): Uint8Array {
  const layout = layoutOf(table);
  if (pkValues.length !== layout.pkTypes.length) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `table "${table.name}" has ${layout.pkTypes.length} primary key column(s), got ${pkValues.length} value(s)`,
    );
  }
  return buildPkKey(table, layout, pkValues).finish();
}

/** The row key of a full row given in `table.columns` order. */
export function encodeRowKey(table: TableDescriptor, row: readonly Datum[]): Uint8Array {
  const layout = layoutOf(table);
  checkRowLength(table, layout, row);
  const pk: Datum[] = layout.pkOrdinals.map((o) => row[o] as Datum);
  return buildPkKey(table, layout, pk).finish();
}

/** The primary key values of a row key, in `table.primaryKey` order. */
export function decodePrimaryKey(table: TableDescriptor, key: Uint8Array): Datum[] {
  const layout = layoutOf(table);
  const prefix = layout.indexPrefix;
  if (key.length < prefix.length || !hasPrefix(key, prefix)) {
    throw corruptKey(`key does not belong to the primary index of table "${table.name}" (id ${table.id})`);
  }
  const r = new KeyReader(key, prefix.length);
  const out: Datum[] = [];
  for (const type of layout.pkTypes) out.push(readKeyDatum(r, type));
  if (!r.done()) throw corruptKey(`trailing bytes after the primary key of table "${table.name}"`);
  return out;
}

function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

function checkRowLength(table: TableDescriptor, layout: TableLayout, row: readonly Datum[]): void {
  if (row.length !== layout.columnCount) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `table "${table.name}" has ${layout.columnCount} column(s), got a row of ${row.length} value(s)`,
    );
  }
}

// One scratch buffer for value encoding: rows are encoded synchronously, so it is never shared.
let scratch = new Uint8Array(4096);
let scratchBuf = Buffer.from(scratch.buffer, 0, scratch.length);

function ensure(at: number, extra: number): void {
  if (at + extra <= scratch.length) return;
  let cap = scratch.length * 2;
  while (cap < at + extra) cap *= 2;
  const next = new Uint8Array(cap);
  next.set(scratch.subarray(0, at));
  scratch = next;
  scratchBuf = Buffer.from(next.buffer, 0, next.length);
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);

function writeFloat64(at: number, n: number): number {
  float64[0] = n;
  for (let i = 0; i < 8; i++) scratch[at + i] = float64Bytes[i] as number;
  return at + 8;
}

function readFloat64(c: ByteCursor): number {
  if (c.pos + 8 > c.buf.length) throw corruptValue('truncated float');
  for (let i = 0; i < 8; i++) float64Bytes[i] = c.buf[c.pos + i] as number;
  c.pos += 8;
  return float64[0] as number;
}

function writeString(at: number, s: string): number {
  // Short strings: at most 3 bytes per UTF-16 unit, so the length fits one varint byte.
  if (s.length <= 42) {
    ensure(at, 1 + s.length * 3);
    const n = scratchBuf.write(s, at + 1, 'utf8');
    scratch[at] = n;
    return at + 1 + n;
  }
  const n = Buffer.byteLength(s, 'utf8');
  ensure(at, 10 + n);
  at = writeUvarint(scratch, at, n);
  scratchBuf.write(s, at, 'utf8');
  return at + n;
}

/**
 * The value of a row given in `table.columns` order: a format byte, then for each non-PK,
 * non-NULL column in id order `uvarint(id delta) tag payload`. Never empty, so an empty MVCC
 * value can mean a deletion.
 */
export function encodeRowValue(table: TableDescriptor, row: readonly Datum[]): Uint8Array {
  const layout = layoutOf(table);
  checkRowLength(table, layout, row);
  let at = 0;
  ensure(0, 1);
  scratch[at++] = VALUE_FORMAT_V1;
  let prevId = 0;
  for (const vc of layout.valueColumns) {
    const d = row[vc.ordinal] as Datum;
    if (d === null) continue;
    ensure(at, 10 + 1 + 10);
    at = writeUvarint(scratch, at, vc.id - prevId);
    prevId = vc.id;
    switch (vc.type) {
      case ColumnType.INT:
        if (typeof d !== 'bigint') throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_INT;
        at = writeZigzag(scratch, at, d);
        break;
      case ColumnType.FLOAT:
        if (typeof d !== 'number') throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_FLOAT;
        at = writeFloat64(at, d);
        break;
      case ColumnType.STRING:
        if (typeof d !== 'string') throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_STRING;
        at = writeString(at, d);
        break;
      case ColumnType.DECIMAL:
        if (typeof d !== 'string') throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_DECIMAL;
        at = writeString(at, d);
        break;
      case ColumnType.BOOL:
        if (typeof d !== 'boolean') throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = d ? TAG_TRUE : TAG_FALSE;
        break;
      case ColumnType.BYTES:
        if (!(d instanceof Uint8Array)) throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_BYTES;
        ensure(at, 10 + d.length);
        at = writeUvarint(scratch, at, d.length);
        scratch.set(d, at);
        at += d.length;
        break;
      case ColumnType.TIMESTAMP:
        if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw wrongDatum(table, vc.ordinal, d);
        scratch[at++] = TAG_TIMESTAMP;
        at = writeFloat64(at, d.getTime());
        break;
      default:
        throw wrongDatum(table, vc.ordinal, d);
    }
  }
  return scratch.slice(0, at);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readLengthPrefixed(c: ByteCursor): Uint8Array {
  const n = readUvarint(c);
  if (c.pos + n > c.buf.length) throw corruptValue('truncated string or bytes');
  const out = c.buf.subarray(c.pos, c.pos + n);
  c.pos += n;
  return out;
}

function readValueDatum(c: ByteCursor, tag: number): Datum {
  switch (tag) {
    case TAG_INT:
      return readZigzag(c);
    case TAG_FLOAT:
      return readFloat64(c);
    case TAG_STRING:
    case TAG_DECIMAL:
      try {
        return utf8.decode(readLengthPrefixed(c));
      } catch (err) {
        if (err instanceof CairnError) throw err;
        throw corruptValue('invalid UTF-8');
      }
    case TAG_FALSE:
      return false;
    case TAG_TRUE:
      return true;
    case TAG_BYTES:
      return readLengthPrefixed(c).slice();
    case TAG_TIMESTAMP:
      return new Date(readFloat64(c));
    default:
      throw corruptValue(`unknown tag ${tag}`);
  }
}

const TAG_OF_TYPE: Record<number, readonly number[]> = {
  [ColumnType.INT]: [TAG_INT],
  [ColumnType.FLOAT]: [TAG_FLOAT],
  [ColumnType.STRING]: [TAG_STRING],
  [ColumnType.BOOL]: [TAG_FALSE, TAG_TRUE],
  [ColumnType.BYTES]: [TAG_BYTES],
  [ColumnType.TIMESTAMP]: [TAG_TIMESTAMP],
  [ColumnType.DECIMAL]: [TAG_DECIMAL],
};

/**
 * A row in `table.columns` order from its key and value. Columns absent from the value
 * (NULL, or added after the row was written) are `null`; unknown column ids are skipped.
 */
export function decodeRow(table: TableDescriptor, key: Uint8Array, value: Uint8Array): Datum[] {
  const layout = layoutOf(table);
  const row: Datum[] = new Array<Datum>(layout.columnCount).fill(null);
  const pk = decodePrimaryKey(table, key);
  for (let i = 0; i < pk.length; i++) row[layout.pkOrdinals[i] as number] = pk[i] as Datum;
  if (value.length === 0) throw corruptValue('empty value (a deletion is not a row)');
  if (value[0] !== VALUE_FORMAT_V1) throw corruptValue(`unknown format byte ${value[0]}`);
  const c: ByteCursor = { buf: value, pos: 1 };
  let id = 0;
  while (c.pos < value.length) {
    id += readUvarint(c);
    const tag = value[c.pos++];
    if (tag === undefined) throw corruptValue('truncated column');
    const d = readValueDatum(c, tag);
    const vc = layout.valueById.get(id);
    if (vc === undefined) continue;
    if (!TAG_OF_TYPE[vc.type]?.includes(tag)) {
      throw corruptValue(`column "${vc.name}" is ${columnTypeName(vc.type)} but holds tag ${tag}`);
    }
    row[vc.ordinal] = d;
  }
  return row;
}

/** One end of a primary-key range: values for a prefix of the PK columns. */
export interface PkBound {
  values: readonly Datum[];
  inclusive: boolean;
}

/**
 * The key span holding the rows with `lower <= pk <= upper` (each end inclusive or not,
 * either end optional). Bounds may name a prefix of the PK columns: on a PK (a, b),
 * `{ values: [5n], inclusive: false }` as lower bound means `a > 5`.
 */
export function keySpanForPkRange(table: TableDescriptor, lower?: PkBound, upper?: PkBound): Span {
  const layout = layoutOf(table);
  const bound = (b: PkBound): Uint8Array => {
    if (b.values.length > layout.pkTypes.length) {
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `table "${table.name}" has ${layout.pkTypes.length} primary key column(s), bound has ${b.values.length}`,
      );
    }
    return buildPkKey(table, layout, b.values).finish();
  };
  let start = layout.indexPrefix;
  if (lower !== undefined) {
    const k = bound(lower);
    start = lower.inclusive ? k : prefixEnd(k);
  }
  let end = prefixEnd(layout.indexPrefix);
  if (upper !== undefined) {
    const k = bound(upper);
    end = upper.inclusive ? prefixEnd(k) : k;
  }
  return { start, end };
}
