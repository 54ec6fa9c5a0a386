/**
 * @cairn/keys: the keyspace. Order-preserving key encodings, table key prefixes, spans and
 * span sets, readable keys, and MVCC timestamps.
 */
export { KeyBuilder, KeyReader } from './key-codec.js';
export {
  KEY_MAX,
  KEY_MIN,
  SpanSet,
  compareKeys,
  hexToKey,
  intersectSpans,
  keyToHex,
  keysEqual,
  prefixEnd,
  spanContains,
  spanIsEmpty,
  spansOverlap,
} from './spans.js';
export type { Span } from './spans.js';
export {
  DESCRIPTOR_TABLE_ID,
  FIRST_USER_ID,
  NAMESPACE_TABLE_ID,
  SETTINGS_TABLE_ID,
  SYSTEM_SPAN,
  decodeTableId,
  tablePrefix,
  tableSpan,
} from './table-keys.js';
export { prettyKey } from './pretty-key.js';
export type { KeySuffixDecoder, PrettyKeyOptions } from './pretty-key.js';
export { dateToTimestamp, formatTimestamp, parseTimestamp, timestampToDate } from './timestamp.js';
export type { Timestamp } from './timestamp.js';
export type { MvccRevision, RevisionSlot } from './revision.js';
