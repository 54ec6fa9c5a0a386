import { CairnError, ErrorCode } from '@cairn/errors';
import { primaryIndexPrefix } from '@cairn/catalog';
import { ObjectKind, type KeyValueOp, type TableDescriptor } from '@cairn/proto';
import { pointSpan } from './row-predicates.js';
import type { SessionWith } from './session.js';

/** A sequence's next values: its descriptor and its last value at a read point. */
type SequenceSession = SessionWith<'catalog' | 'reads'>;

/**
 * A sequence's state is one key in its own span, its primary index prefix, holding the last
 * value given out as 8 big-endian bytes (no key yet: none was), so BACKUP and RESTORE carry
 * it like a table's rows.
 */
function valueKey(seq: TableDescriptor): Uint8Array {
  return primaryIndexPrefix(seq.id);
}

function encodeValue(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v);
  return b;
}

function decodeValue(b: Uint8Array, name: string): bigint {
  if (b.length !== 8) throw new CairnError(ErrorCode.Corruption, `sequence ${name}: stored value has ${b.length} bytes, not 8`);
  return new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0);
}

/**
 * `nextval(seq)` for `count` rows: the next values (CockroachDB's defaults: start 1,
 * increment 1) and the write that records the last, for the statement's own log entry.
 * Call under the leader's write lock, so two statements never hand out the same value.
 */
export async function nextValues(s: SequenceSession, sequenceId: number, count: number): Promise<{ values: bigint[]; op: KeyValueOp }> {
  const seq = s.catalog.tableById(sequenceId);
  if (seq === undefined || seq.kind !== ObjectKind.SEQUENCE) {
    throw new CairnError(ErrorCode.UndefinedObject, `sequence with id ${sequenceId} does not exist`);
  }
  const key = valueKey(seq);
  const { timestamp, seq: minSeq } = s.reads.readPoint();
  let last = 0n;
  for await (const kv of s.reads.reader.scan(pointSpan(key), timestamp, minSeq, 1)) last = decodeValue(kv.value, seq.name);
  const values = Array.from({ length: count }, (_, i) => last + BigInt(i + 1));
  return { values, op: { key, value: encodeValue(values[values.length - 1] ?? last) } };
}
