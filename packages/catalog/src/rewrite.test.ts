import { CairnError, ErrorCode } from '@cairn/errors';
import { decodeTableId } from '@cairn/keys';
import { ColumnType, DescriptorState, ObjectKind } from '@cairn/proto';
import type { TableDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { TableFingerprinter } from './fingerprint.js';
import { KeyRewriter, rewriteDescriptor, rewriteKeyTableId } from './rewrite.js';
import { decodeRow, encodeRowKey, encodeRowValue } from './row-codec.js';

function table(id: number, fks: Array<[string, number]> = [], dependsOn: number[] = []): TableDescriptor {
  return {
    id,
    name: `t${id}`,
    parentId: 50,
    kind: ObjectKind.TABLE,
    columns: [
      { id: 1, name: 'id', type: ColumnType.INT, nullable: false },
      { id: 2, name: 'ref', type: ColumnType.INT, nullable: true },
    ],
    primaryKey: ['id'],
    foreignKeys: fks.map(([name, target]) => ({
      name,
      columns: ['ref'],
      referencedTableId: target,
      referencedColumns: ['id'],
    })),
    state: DescriptorState.PUBLIC,
    viewQuery: '',
    dependsOn,
    nextColumnId: 3,
    indexes: [],
  };
}

describe('key rewriting', () => {
  it('moves a row to a new table id and keeps it readable', () => {
    const src = table(104);
    const dst = table(300_000);
    const row = [42n, 7n];
    const key = encodeRowKey(src, row);
    const value = encodeRowValue(src, row);
    const moved = rewriteKeyTableId(key, 104, 300_000);
    expect(decodeTableId(moved)).toBe(300_000);
    expect(decodeRow(dst, moved, value)).toEqual(row);
    expect(moved).toEqual(encodeRowKey(dst, row));
    expect(() => rewriteKeyTableId(key, 105, 1)).toThrow(/does not belong to table 105/);

    const a = new TableFingerprinter();
    a.add(key, value, src);
    const b = new TableFingerprinter();
    b.add(moved, value, dst);
    expect(a.digest()).toBe(b.digest());
  });

  it('rewrites keys of several tables by a map', () => {
    const rw = new KeyRewriter(new Map([[104, 204], [105, 70_000]]));
    const keys = [encodeRowKey(table(104), [1n, null]), encodeRowKey(table(105), [2n, null]), encodeRowKey(table(104), [3n, null])];
    const out = keys.map((k) => rw.rewrite(k));
    expect(out.map(decodeTableId)).toEqual([204, 70_000, 204]);
    expect(decodeRow(table(70_000), out[1]!, encodeRowValue(table(105), [2n, null]))).toEqual([2n, null]);
    expect(rw.tryRewrite(encodeRowKey(table(106), [1n, null]))).toBeUndefined();
    expect(() => rw.rewrite(encodeRowKey(table(106), [1n, null]))).toThrow(/no id rewrite for table 106/);
  });
});

describe('rewriteDescriptor', () => {
  const idMap = new Map([[104, 204], [105, 205]]);

  it('renumbers id, parent, foreign keys and dependencies without touching the source', () => {
    const src = table(104, [['fk_self', 104], ['fk_other', 105]], [105]);
    const out = rewriteDescriptor(src, idMap, 77);
    expect(out.id).toBe(204);
    expect(out.parentId).toBe(77);
    expect(out.foreignKeys.map((f) => f.referencedTableId)).toEqual([204, 205]);
    expect(out.dependsOn).toEqual([205]);
    expect(out.columns).toEqual(src.columns);
    expect(src.id).toBe(104);
    expect(src.foreignKeys[0]?.referencedTableId).toBe(104);
    expect(out.columns).not.toBe(src.columns);
  });

  it('drops or rejects foreign keys to tables not restored', () => {
    const src = table(104, [['fk_gone', 999], ['fk_other', 105]]);
    const e = (() => {
      try {
        rewriteDescriptor(src, idMap, 77);
      } catch (err) {
        return err as CairnError;
      }
      throw new Error('expected an error');
    })();
    expect(e.code).toBe(ErrorCode.FailedPrecondition);
    expect(e.message).toMatch(/skip_missing_foreign_keys/);
    const out = rewriteDescriptor(src, idMap, 77, { skipMissingForeignKeys: true });
    expect(out.foreignKeys.map((f) => f.name)).toEqual(['fk_other']);
    expect(() => rewriteDescriptor(table(104, [], [999]), idMap, 77)).toThrow(CairnError);
    expect(() => rewriteDescriptor(table(106), idMap, 77)).toThrow(/no new id for table "t106"/);
  });

  it("renumbers DEFAULT nextval's sequence, or refuses a missing one unless skip_missing_sequences drops the default", () => {
    const withDefault = (seq: number): TableDescriptor => {
      const t = table(104);
      t.columns = [t.columns[0]!, { ...t.columns[1]!, defaultSequenceId: seq }];
      return t;
    };
    expect(rewriteDescriptor(withDefault(105), idMap, 77).columns[1]?.defaultSequenceId).toBe(idMap.get(105));
    expect(() => rewriteDescriptor(withDefault(999), idMap, 77)).toThrow(
      'cannot restore table "t104" without referenced sequence 999 (or "skip_missing_sequences" option)',
    );
    const skipped = rewriteDescriptor(withDefault(999), idMap, 77, { skipMissingSequences: true });
    expect(skipped.columns[1]).toEqual({ id: 2, name: 'ref', type: ColumnType.INT, nullable: true });
  });
});
