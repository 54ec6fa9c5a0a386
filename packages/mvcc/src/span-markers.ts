import { CairnError, ErrorCode } from '@cairn/errors';
import { compareKeys, type Span, type Timestamp } from '@cairn/keys';
import { MAX_MVCC_KEY_LEN, MVCC_TS_LEN } from './mvcc-key.js';

/*
 * A span marker is a change index entry that stands for every revision a bulk load (a
 * restore's ingest) wrote in a span at one timestamp, instead of one entry per row: an
 * incremental whose window holds it reads the span in full, as CockroachDB's time-bound
 * iteration reads an AddSSTable'd span in full.
 *
 * Key: timestamp (8 bytes, big-endian, as every change index key) 0x00 0x00, then the span's
 * start key as is. No revision prefix starts 0x00 0x00 (an escaped key's 0x00 is followed by
 * 0xFF, the terminator is 0x00 0x01; see mvcc-key.ts), so markers and per-key entries share
 * the timestamp order (one range read finds both, GC trims both) and never collide.
 * Value: SPAN_MARKER_FLAG then the span's end key (empty: the keyspace's end).
 */

const SPAN_MARKER_TAG_LEN = 2;
const SPAN_MARKER_FLAG = 2;
/** Longest start key a marker key holds; a longer one is cut, which only widens the marker. */
const MAX_MARKER_START_LEN = MAX_MVCC_KEY_LEN - MVCC_TS_LEN - SPAN_MARKER_TAG_LEN;

export function isSpanMarker(changeKey: Uint8Array): boolean {
  return changeKey.length >= MVCC_TS_LEN + SPAN_MARKER_TAG_LEN && changeKey[MVCC_TS_LEN] === 0 && changeKey[MVCC_TS_LEN + 1] === 0;
}

/** The change index key of the marker of `span` at `ts` (see above). */
export function spanMarkerKey(ts: Timestamp, span: Span): Buffer {
  const start = span.start.subarray(0, MAX_MARKER_START_LEN);
  const k = Buffer.alloc(MVCC_TS_LEN + SPAN_MARKER_TAG_LEN + start.length);
  k.writeBigUInt64BE(ts, 0);
  k.set(start, MVCC_TS_LEN + SPAN_MARKER_TAG_LEN);
  return k;
}

export function spanMarkerValue(span: Span): Buffer {
  const v = Buffer.allocUnsafe(1 + span.end.length);
  v[0] = SPAN_MARKER_FLAG;
  v.set(span.end, 1);
  return v;
}

/**
 * The value to put for the marker of `span` where the index may hold `existing` under the
 * same key (same timestamp and start): the wider end wins, so a marker never shrinks.
 */
export function widenedMarkerValue(span: Span, existing: Uint8Array | undefined): Buffer {
  const mine = spanMarkerValue(span);
  if (existing === undefined || existing[0] !== SPAN_MARKER_FLAG) return mine;
  const theirs = existing.subarray(1);
  if (theirs.length === 0) return Buffer.from(existing);
  return span.end.length > 0 && compareKeys(theirs, span.end) > 0 ? Buffer.from(existing) : mine;
}

/** The span a marker stands for, from its key and value (copies: lmdb-js reuses its buffers). */
export function readSpanMarker(changeKey: Uint8Array, value: Uint8Array | undefined): Span {
  if (value === undefined || value[0] !== SPAN_MARKER_FLAG) {
    throw new CairnError(ErrorCode.Corruption, `change index marker ${Buffer.from(changeKey).toString('hex')} has no span end`);
  }
  return { start: changeKey.slice(MVCC_TS_LEN + SPAN_MARKER_TAG_LEN), end: value.slice(1) };
}

/**
 * What is left of `marker` outside `cut` (none, one or two spans): after GC trims `cut`, a
 * marker that also covers keys beyond it must keep covering those.
 */
export function spanMinus(marker: Span, cut: Span): Span[] {
  const out: Span[] = [];
  if (compareKeys(marker.start, cut.start) < 0) out.push({ start: marker.start, end: cut.start });
  if (cut.end.length > 0 && (marker.end.length === 0 || compareKeys(cut.end, marker.end) < 0)) out.push({ start: cut.end, end: marker.end });
  return out;
}
