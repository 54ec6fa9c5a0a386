/**
 * @cairn/catalog: the schema and the rows of SQL tables in the keyspace. Descriptor and
 * namespace keys, typed datums and literal coercion, row key/value codecs, table fingerprints,
 * the in-memory Catalog with CREATE TABLE validation, and RESTORE's id rewriting.
 */
export {
  ROOT_PARENT_ID,
  decodeDescriptor,
  decodeDescriptorKey,
  decodeNamespaceKey,
  decodeNamespaceValue,
  descriptorKey,
  descriptorSpan,
  encodeDescriptor,
  encodeNamespaceValue,
  namespaceKey,
  namespaceName,
  namespaceSpan,
  namespaceSpanForParent,
} from './catalog-keys.js';
export {
  INT64_MAX,
  INT64_MIN,
  canonicalDecimal,
  coerceLiteral,
  columnTypeFromName,
  columnTypeName,
  datumMatchesType,
  formatDatum,
  formatTimestamp,
  parseTimestamp,
} from './datum.js';
export type { Datum, Literal } from './datum.js';
export {
  PRIMARY_INDEX_ID,
  decodePrimaryKey,
  decodeRow,
  encodePrimaryKey,
  encodeRowKey,
  encodeRowValue,
  keySpanForPkRange,
  primaryIndexPrefix,
  primaryIndexSpan,
} from './row-codec.js';
export type { PkBound } from './row-codec.js';
export {
  findIndex,
  indexEntry,
  indexEntryOps,
  primaryKeyOfEntry,
  secondaryIndexPrefix,
  secondaryIndexSpan,
  withIndex,
} from './secondary-index.js';
export { TableFingerprinter, combineFingerprints } from './fingerprint.js';
export { Catalog, DEFAULT_DATABASES, enumTypesOf, formatTableName, schemasOf, withObjects } from './catalog.js';
export type { TableName } from './catalog.js';
export { ROWID_COLUMN, buildTableDescriptor, isImplicitRowId } from './table-builder.js';
export type { ColumnDefinition, ForeignKeyDefinition, TableDefinition } from './table-builder.js';
export { KeyRewriter, missingViewDependency, rewriteDescriptor, rewriteKeyTableId } from './rewrite.js';
export type { RewriteDescriptorOptions } from './rewrite.js';
