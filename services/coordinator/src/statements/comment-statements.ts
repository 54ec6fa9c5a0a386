import { CairnError, ErrorCode } from '@cairn/errors';
import { findIndex } from '@cairn/catalog';
import type { TableDescriptor } from '@cairn/proto';
import type { CommentOnStatement } from '@cairn/sql';
import { catalogName } from './ddl-statements.js';
import { tagOnly, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** COMMENT ON changes a descriptor. */
type CommentSession = SessionWith<'descriptors'>;

/**
 * COMMENT ON: the comment is part of the object's descriptor, so a backup carries it and a
 * restore brings it back with the object. `IS NULL` removes it.
 */
export async function commentOn(s: CommentSession, stmt: CommentOnStatement): Promise<StatementResult> {
  const comment = stmt.comment ?? undefined;
  const withComment = <T extends { comment?: string }>(o: T): T => {
    const { comment: _old, ...rest } = o;
    return (comment === undefined ? rest : { ...rest, comment }) as T;
  };
  return s.descriptors.change(async (c) => {
    const t = stmt.target;
    if (t.kind === 'database') {
      const db = c.catalog.resolveDatabase(t.name);
      c.put({ kind: { $case: 'database', value: withComment(db) } });
      return tagOnly('COMMENT ON DATABASE');
    }
    const table = c.catalog.resolveTable(catalogName(t.table), s.database);
    let next: TableDescriptor;
    if (t.kind === 'table') {
      next = withComment(table);
    } else if (t.kind === 'column') {
      if (!table.columns.some((col) => col.name === t.column)) {
        throw new CairnError(ErrorCode.UndefinedObject, `column "${t.column}" does not exist`);
      }
      next = { ...table, columns: table.columns.map((col) => (col.name === t.column ? withComment(col) : col)) };
    } else {
      const index = findIndex(table, t.index);
      next = { ...table, indexes: table.indexes.map((i) => (i.id === index.id ? withComment(i) : i)) };
    }
    c.put({ kind: { $case: 'table', value: next } });
    return tagOnly(`COMMENT ON ${t.kind.toUpperCase()}`);
  });
}
