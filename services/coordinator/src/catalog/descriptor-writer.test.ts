import { describe, expect, it } from 'vitest';
import { Catalog, decodeDescriptor, descriptorKey, namespaceKey } from '@cairn/catalog';
import type { KeyValueOp } from '@cairn/proto';
import { WriteLock } from '../write-lock.js';
import { DescriptorWriter } from './descriptor-writer.js';

/**
 * The writer's deps as the Leader gives them, with the log append recorded instead of sent:
 * `gate` holds a write until the test releases it, so what the catalog shows in between can
 * be checked.
 */
function harness(opts: { failWrite?: Error } = {}) {
  const catalog = new Catalog();
  const batches: KeyValueOp[][] = [];
  let nextId = 100;
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  const writer = new DescriptorWriter({
    writeLock: new WriteLock(),
    write: async (ops) => {
      await gate;
      if (opts.failWrite) throw opts.failWrite;
      batches.push(ops);
      return BigInt(batches.length);
    },
    catalog: () => catalog,
    allocateDescriptorId: () => nextId++,
    splitAt: async () => undefined,
  });
  const hold = () => {
    gate = new Promise((r) => (release = r));
    return () => release();
  };
  return { catalog, batches, writer, hold };
}

const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

describe('DescriptorWriter', () => {
  it('writes a change as one batch (data, descriptors, names) and applies it to the catalog only once the batch is stored', async () => {
    const { catalog, batches, writer, hold } = harness();
    const unblock = hold();
    const done = writer.change(async (c) => {
      c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor('bank', c.allocateId()) } });
      c.putData([{ key: new Uint8Array([0xfe, 1]), value: new Uint8Array([1]) }]);
      return 'created';
    });
    // The batch is not stored yet: nothing of it is visible to readers of the catalog.
    await new Promise((r) => setTimeout(r, 10));
    expect(catalog.database('bank')).toBeUndefined();
    unblock();
    expect(await done).toBe('created');
    expect(catalog.database('bank')?.id).toBe(100);
    expect(batches).toHaveLength(1);
    const keys = batches[0]!.map((op) => hex(op.key));
    expect(keys).toEqual([hex(new Uint8Array([0xfe, 1])), hex(descriptorKey(100)), hex(namespaceKey(0, 'bank'))]);
    const stored = decodeDescriptor(batches[0]![1]!.value!);
    expect(stored.kind?.$case === 'database' && stored.kind.value.name).toBe('bank');
  });

  it('leaves the catalog as it was when the batch cannot be written, and says why', async () => {
    const { catalog, writer } = harness({ failWrite: new Error('log broken') });
    await expect(
      writer.change(async (c) => {
        c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor('bank', c.allocateId()) } });
      }),
    ).rejects.toThrow('log broken');
    expect(catalog.database('bank')).toBeUndefined();
  });

  it('runs changes one at a time: the second reads the catalog with the first applied', async () => {
    const { batches, writer, hold } = harness();
    const unblock = hold();
    const first = writer.change(async (c) => {
      c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor('bank', c.allocateId()) } });
    });
    const second = writer.change(async (c) => {
      // CREATE DATABASE IF NOT EXISTS racing the first: it must see it, not create a twin.
      if (c.catalog.database('bank') === undefined) c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor('bank', c.allocateId()) } });
      return c.catalog.database('bank')?.id;
    });
    unblock();
    await first;
    expect(await second).toBe(100);
    expect(batches).toHaveLength(1);
  });

  it('writes nothing for a change that staged nothing, and a dropped name is removed', async () => {
    const { catalog, batches, writer } = harness();
    expect(await writer.change(async () => 'nothing')).toBe('nothing');
    expect(batches).toHaveLength(0);
    await writer.change(async (c) => {
      c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor('bank', c.allocateId()) } });
    });
    const db = catalog.database('bank')!;
    await writer.change(async (c) => {
      c.putWithoutName({ kind: { $case: 'database', value: { ...db, name: 'bank' } } });
    });
    const removal = batches[1]!.find((op) => hex(op.key) === hex(namespaceKey(0, 'bank')));
    expect(removal).toBeDefined();
    expect(removal!.value).toBeUndefined();
  });
});
