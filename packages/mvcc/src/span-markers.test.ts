import { describe, expect, it } from 'vitest';
import { KEY_MIN, type Span } from '@cairn/keys';
import { MAX_MVCC_KEY_LEN, MVCC_TS_LEN, encodeRevisionPrefix } from './mvcc-key.js';
import { isSpanMarker, readSpanMarker, spanMarkerKey, spanMarkerValue, spanMinus, widenedMarkerValue } from './span-markers.js';

const k = (...bytes: number[]) => Uint8Array.from(bytes);
const hex = (span: Span) => `${Buffer.from(span.start).toString('hex')}-${Buffer.from(span.end).toString('hex')}`;

describe('span markers', () => {
  it('no per-key change index entry reads as a marker, whatever bytes its key holds', () => {
    const keys = [KEY_MIN, k(0), k(0, 0), k(0, 1), k(0, 0xff), k(1), k(0xff, 0), k(0x12, 0, 0, 0x34)];
    for (const key of keys) {
      const entry = Buffer.concat([Buffer.alloc(MVCC_TS_LEN, 7), encodeRevisionPrefix(key)]);
      expect(isSpanMarker(entry), Buffer.from(key).toString('hex')).toBe(false);
    }
    expect(isSpanMarker(spanMarkerKey(5n, { start: KEY_MIN, end: KEY_MIN }))).toBe(true);
    expect(isSpanMarker(spanMarkerKey(5n, { start: k(0, 1), end: k(2) }))).toBe(true);
  });

  it('round-trips a span, cutting only a start too long for a key (which widens it)', () => {
    for (const span of [{ start: k(1, 2), end: k(3) }, { start: KEY_MIN, end: KEY_MIN }, { start: k(0), end: KEY_MIN }]) {
      expect(hex(readSpanMarker(spanMarkerKey(9n, span), spanMarkerValue(span)))).toBe(hex(span));
    }
    const long = { start: new Uint8Array(4000).fill(7), end: k(8) };
    const key = spanMarkerKey(9n, long);
    expect(key.length).toBeLessThanOrEqual(MAX_MVCC_KEY_LEN);
    const read = readSpanMarker(key, spanMarkerValue(long));
    expect(Buffer.compare(read.start, long.start)).toBeLessThan(0);
    expect(() => readSpanMarker(key, Buffer.of(1))).toThrow(/has no span end/);
  });

  it('keeps what lies outside a cut: none, one side or both', () => {
    const m = { start: k(2), end: k(8) };
    expect(spanMinus(m, { start: k(1), end: k(9) }).map(hex)).toEqual([]);
    expect(spanMinus(m, { start: k(4), end: k(9) }).map(hex)).toEqual(['02-04']);
    expect(spanMinus(m, { start: k(1), end: k(5) }).map(hex)).toEqual(['05-08']);
    expect(spanMinus(m, { start: k(3), end: k(5) }).map(hex)).toEqual(['02-03', '05-08']);
    expect(spanMinus({ start: k(2), end: KEY_MIN }, { start: k(3), end: k(5) }).map(hex)).toEqual(['02-03', '05-']);
    expect(spanMinus(m, { start: KEY_MIN, end: KEY_MIN }).map(hex)).toEqual([]);
  });

  it('a marker put over one with the same key keeps the wider end', () => {
    const end = (v: Buffer) => Buffer.from(v.subarray(1)).toString('hex');
    expect(end(widenedMarkerValue({ start: k(1), end: k(5) }, undefined))).toBe('05');
    expect(end(widenedMarkerValue({ start: k(1), end: k(5) }, spanMarkerValue({ start: k(1), end: k(7) })))).toBe('07');
    expect(end(widenedMarkerValue({ start: k(1), end: k(7) }, spanMarkerValue({ start: k(1), end: k(5) })))).toBe('07');
    expect(end(widenedMarkerValue({ start: k(1), end: k(7) }, spanMarkerValue({ start: k(1), end: KEY_MIN })))).toBe('');
    expect(end(widenedMarkerValue({ start: k(1), end: KEY_MIN }, spanMarkerValue({ start: k(1), end: k(5) })))).toBe('');
  });
});
