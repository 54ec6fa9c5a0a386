import { KeyReader } from './key-codec.js';
import { KEY_MAX, keysEqual, keyToHex } from './spans.js';

/**
 * Renders the part of a key after its table prefix as path segments (for example
 * `['1', '"abc"']`), or returns undefined to fall back to hex. Given by whoever knows the
 * table's schema.
 */
export type KeySuffixDecoder = (tableId: number, reader: KeyReader) => string[] | undefined;

export interface PrettyKeyOptions {
  decodeSuffix?: KeySuffixDecoder;
}

/**
 * A readable form of a key in CockroachDB's style: `/Min`, `/Max`, `/Table/104`,
 * `/Table/104/1/"abc"` when a suffix decoder understands the rest, else `/Table/104/<hex>`.
 * Keys that are not table keys print as `/0x<hex>`.
 */
export function prettyKey(key: Uint8Array, opts: PrettyKeyOptions = {}): string {
  if (key.length === 0) return '/Min';
  if (keysEqual(key, KEY_MAX)) return '/Max';
  const reader = new KeyReader(key);
  let tableId: number;
  try {
    tableId = reader.uvarint();
  } catch {
    return `/0x${keyToHex(key)}`;
  }
  const head = `/Table/${tableId}`;
  if (reader.done()) return head;
  const restAt = reader.offset;
  if (opts.decodeSuffix) {
    try {
      const segs = opts.decodeSuffix(tableId, reader);
      if (segs !== undefined) {
        const tail = reader.done() ? '' : `/${keyToHex(reader.rest())}`;
        return `${head}${segs.map((s) => `/${s}`).join('')}${tail}`;
      }
    } catch {
      // An undecodable suffix is shown as hex below.
    }
  }
  return `${head}/${keyToHex(key.subarray(restAt))}`;
}
