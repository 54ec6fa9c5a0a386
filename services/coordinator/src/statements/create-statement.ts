import { columnTypeName, isImplicitRowId, namespaceName, type Catalog } from '@cairn/catalog';
import { ObjectKind, type TableDescriptor } from '@cairn/proto';

/**
 * A table's, view's or sequence's CREATE statement as SHOW CREATE TABLE prints it, from any
 * catalog: the cluster's, or a backup's (SHOW BACKUP SCHEMAS), so the two cannot differ.
 */
export function createStatementOf(t: TableDescriptor, catalog: Pick<Catalog, 'tableById'>): string {
  // A table in a user-defined schema is shown with it (`sc.t`).
  const name = namespaceName(t.name, t.schemaName);
  if (t.kind === ObjectKind.VIEW) return `CREATE VIEW ${name} AS ${t.viewQuery}`;
  if (t.kind === ObjectKind.SEQUENCE) return `CREATE SEQUENCE ${name}`;
  const lines = t.columns
    .filter((c) => !isImplicitRowId(t, c))
    .map((c) => {
      const seq = c.defaultSequenceId === undefined ? undefined : catalog.tableById(c.defaultSequenceId);
      const dflt = c.defaultSequenceId === undefined ? '' : ` DEFAULT nextval('${seq?.name ?? c.defaultSequenceId}')`;
      return `\t${c.name} ${c.enumType ?? columnTypeName(c.type)}${c.nullable ? '' : ' NOT NULL'}${dflt}`;
    });
  if (t.primaryKey.length > 0 && !t.columns.some((c) => isImplicitRowId(t, c))) {
    lines.push(`\tCONSTRAINT ${t.name}_pkey PRIMARY KEY (${t.primaryKey.join(', ')})`);
  }
  for (const fk of t.foreignKeys) {
    const ref = catalog.tableById(fk.referencedTableId);
    lines.push(`\tCONSTRAINT ${fk.name} FOREIGN KEY (${fk.columns.join(', ')}) REFERENCES ${ref?.name ?? fk.referencedTableId}(${fk.referencedColumns.join(', ')})`);
  }
  for (const index of t.indexes) lines.push(`\tINDEX ${index.name} (${index.columns.join(', ')})`);
  return [`CREATE TABLE ${name} (\n${lines.join(',\n')}\n)`, ...commentStatements(t, name)].join(';\n');
}

/** CockroachDB appends a table's comments to its CREATE statement as COMMENT ON statements. */
function commentStatements(t: TableDescriptor, name: string): string[] {
  const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;
  const out: string[] = [];
  if (t.comment !== undefined) out.push(`COMMENT ON TABLE ${name} IS ${quote(t.comment)}`);
  for (const c of t.columns) if (c.comment !== undefined) out.push(`COMMENT ON COLUMN ${name}.${c.name} IS ${quote(c.comment)}`);
  for (const i of t.indexes) if (i.comment !== undefined) out.push(`COMMENT ON INDEX ${name}@${i.name} IS ${quote(i.comment)}`);
  return out;
}
