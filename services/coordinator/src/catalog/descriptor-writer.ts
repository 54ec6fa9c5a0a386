import type { Catalog } from '@cairn/catalog';
import { descriptorKey, encodeDescriptor, encodeNamespaceValue, namespaceKey, namespaceName } from '@cairn/catalog';
import type { Descriptor, KeyValueOp } from '@cairn/proto';
import type { WriteLock } from '../write-lock.js';

/** What the writer needs of the leader: its write lock, the log, the catalog and range splits. */
export interface DescriptorWriterDeps {
  readonly writeLock: WriteLock;
  /** Appends one atomic batch to the write log; resolves once it is durable. */
  write(ops: KeyValueOp[]): Promise<bigint>;
  /** The leader's live catalog (replaced when it is loaded, hence a getter). */
  catalog(): Catalog;
  allocateDescriptorId(): number;
  /** Splits ranges at these keys (table boundaries) and publishes the change. */
  splitAt(keys: Uint8Array[]): Promise<void>;
}

/** One schema change in progress: what it reads and what it stages. */
export interface DescriptorChange {
  /** The catalog as of the start of the change (under the lock: no other change runs). */
  readonly catalog: Catalog;
  allocateId(): number;
  /** Splits ranges at table boundaries before the descriptors naming them are written. */
  splitAt(keys: Uint8Array[]): Promise<void>;
  /** Stages a descriptor (and its name) to be written. */
  put(d: Descriptor): void;
  /** Stages a descriptor whose name is freed (a DROP, or a restore's objects dropped). */
  putWithoutName(d: Descriptor): void;
  /**
   * Stages data ops to be written in the same batch as the descriptors: CREATE INDEX's
   * entries appear exactly when the descriptor naming the index does.
   */
  putData(ops: KeyValueOp[]): void;
}

/**
 * The one path for schema changes: under the leader's write lock, a change reads the catalog
 * and stages descriptors; they are then written to the keyspace as one atomic batch (each
 * descriptor under /Table/1/<id>, its name under /Table/2 or the name removed), and only once
 * that batch is durable applied to the in-memory catalog. DDL statements and RESTORE's
 * OFFLINE/PUBLIC/DROPPED transitions all go through here, so none can skip a step.
 */
export class DescriptorWriter {
  constructor(private readonly deps: DescriptorWriterDeps) {}

  /** The current catalog, for readers outside a change. */
  get catalog(): Catalog {
    return this.deps.catalog();
  }

  async change<T>(fn: (change: DescriptorChange) => Promise<T>): Promise<T> {
    return this.deps.writeLock.run(async () => {
      const staged: { d: Descriptor; removeName: boolean }[] = [];
      const data: KeyValueOp[] = [];
      const result = await fn({
        catalog: this.deps.catalog(),
        allocateId: () => this.deps.allocateDescriptorId(),
        splitAt: (keys) => this.deps.splitAt(keys),
        put: (d) => staged.push({ d, removeName: false }),
        putWithoutName: (d) => staged.push({ d, removeName: true }),
        putData: (ops) => data.push(...ops),
      });
      if (staged.length > 0) {
        await this.deps.write([...data, ...staged.flatMap(({ d, removeName }) => descriptorOps(d, removeName))]);
        const catalog = this.deps.catalog();
        for (const { d } of staged) catalog.apply(d);
      }
      return result;
    });
  }
}

/** Ops that store a descriptor and its name, or remove the name (the descriptor stays, as history). */
export function descriptorOps(d: Descriptor, removeName = false): KeyValueOp[] {
  const v = d.kind!.value;
  const parentId = d.kind!.$case === 'table' ? d.kind!.value.parentId : 0;
  const name = d.kind!.$case === 'table' ? namespaceName(d.kind!.value.name, d.kind!.value.schemaName) : v.name;
  const ops: KeyValueOp[] = [{ key: descriptorKey(v.id), value: encodeDescriptor(d) }];
  if (removeName) ops.push({ key: namespaceKey(parentId, name) });
  else ops.push({ key: namespaceKey(parentId, name), value: encodeNamespaceValue(v.id) });
  return ops;
}
