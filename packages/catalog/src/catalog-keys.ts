/*
 * Where the schema lives in the MVCC keyspace, so a backup at time T captures it as of T:
 *   /Table/1/<id>                 → Descriptor (protobuf)
 *   /Table/2/<parentId>/<name>    → descriptor id (parentId 0 for databases)
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { DESCRIPTOR_TABLE_ID, KeyBuilder, KeyReader, NAMESPACE_TABLE_ID, tablePrefix, tableSpan } from '@cairn/keys';
import type { Span } from '@cairn/keys';
import { Descriptor } from '@cairn/proto';
import { readUvarint, uvarintSize, writeUvarint } from './varint.js';

const DESCRIPTOR_PREFIX = tablePrefix(DESCRIPTOR_TABLE_ID);
const NAMESPACE_PREFIX = tablePrefix(NAMESPACE_TABLE_ID);

/** Namespace entries of databases use this parent id. */
export const ROOT_PARENT_ID = 0;

/** `/Table/1/<id>`: the key of a descriptor. */
export function descriptorKey(id: number): Uint8Array {
  return new KeyBuilder(16).raw(DESCRIPTOR_PREFIX).uvarint(id).finish();
}

/** The descriptor id of a `descriptorKey`. */
export function decodeDescriptorKey(key: Uint8Array): number {
  const r = readerAfter(key, DESCRIPTOR_PREFIX, 'descriptor');
  const id = r.uvarint();
  if (!r.done()) throw malformed('descriptor', 'trailing bytes');
  return id;
}

/**
 * The name a table, view or sequence has in its database's namespace: its name, or
 * `schema.name` when it lives in a user-defined schema (public is no prefix).
 */
export function namespaceName(name: string, schema: string | undefined): string {
  return schema === undefined || schema === '' || schema === 'public' ? name : `${schema}.${name}`;
}

/** `/Table/2/<parentId>/<name>`: the key of a name → id entry. */
export function namespaceKey(parentId: number, name: string): Uint8Array {
  return new KeyBuilder(16 + name.length).raw(NAMESPACE_PREFIX).uvarint(parentId).string(name).finish();
}

/** The parent id and name of a `namespaceKey`. */
export function decodeNamespaceKey(key: Uint8Array): { parentId: number; name: string } {
  const r = readerAfter(key, NAMESPACE_PREFIX, 'namespace');
  const parentId = r.uvarint();
  const name = r.string();
  if (!r.done()) throw malformed('namespace', 'trailing bytes');
  return { parentId, name };
}

/** Every descriptor key. */
export function descriptorSpan(): Span {
  return tableSpan(DESCRIPTOR_TABLE_ID);
}

/** Every namespace key. */
export function namespaceSpan(): Span {
  return tableSpan(NAMESPACE_TABLE_ID);
}

/** Namespace entries under one parent (a database's tables, or all databases for 0). */
export function namespaceSpanForParent(parentId: number): Span {
  const start = new KeyBuilder(16).raw(NAMESPACE_PREFIX).uvarint(parentId).finish();
  const end = new KeyBuilder(16).raw(NAMESPACE_PREFIX).uvarint(parentId + 1).finish();
  return { start, end };
}

/** The stored form of a descriptor (protobuf). */
export function encodeDescriptor(d: Descriptor): Uint8Array {
  return Descriptor.encode(d).finish();
}

/** Parses a stored descriptor; throws a Corruption error for bytes that are not one. */
export function decodeDescriptor(b: Uint8Array): Descriptor {
  let d: Descriptor;
  try {
    d = Descriptor.decode(b);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, 'malformed descriptor', { cause: err });
  }
  if (d.kind === undefined) throw new CairnError(ErrorCode.Corruption, 'malformed descriptor: no database or table');
  return d;
}

/** The stored form of a namespace entry: the descriptor id as a varint. */
export function encodeNamespaceValue(id: number): Uint8Array {
  const out = new Uint8Array(uvarintSize(id));
  writeUvarint(out, 0, id);
  return out;
}

/** The descriptor id stored in a namespace entry; throws Corruption for anything else. */
export function decodeNamespaceValue(b: Uint8Array): number {
  const c = { buf: b, pos: 0 };
  let id: number;
  try {
    id = readUvarint(c);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, 'malformed namespace value', { cause: err });
  }
  if (c.pos !== b.length) throw new CairnError(ErrorCode.Corruption, 'malformed namespace value: trailing bytes');
  return id;
}

function malformed(what: string, why: string): CairnError {
  return new CairnError(ErrorCode.Corruption, `malformed ${what} key: ${why}`);
}

function readerAfter(key: Uint8Array, prefix: Uint8Array, what: string): KeyReader {
  if (key.length < prefix.length || prefix.some((b, i) => key[i] !== b)) {
    throw malformed(what, 'wrong table prefix');
  }
  return new KeyReader(key, prefix.length);
}
