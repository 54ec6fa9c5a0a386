/**
 * ALTER TABLE / ALTER DATABASE: what a backup user sets on an object, as CockroachDB spells
 * it: `ALTER TABLE t SET (exclude_data_from_backup = true)` and `ALTER TABLE t | DATABASE d
 * CONFIGURE ZONE USING gc.ttlseconds = N` (or `CONFIGURE ZONE DISCARD`). Anything else after
 * SET ( ... ) or USING is refused here, naming what cairn takes, rather than accepted and ignored.
 */
import type { Statement, TableName } from '../ast.js';
import { literal } from './expressions.js';
import type { Parser } from './parser-base.js';

/** `ALTER TABLE t SET (...)` or `ALTER TABLE t CONFIGURE ZONE ...`. */
export function alterTable(p: Parser): Statement {
  const pos = p.expectKw('ALTER').pos;
  p.expectKw('TABLE');
  const table = p.tableName();
  if (p.isKw('CONFIGURE')) return configureZone(p, pos, { kind: 'table', table });
  p.expectKw('SET', 'SET (storage parameters) or CONFIGURE ZONE');
  p.expectOp('(');
  const param = p.peek();
  const name = p.ident('storage parameter');
  if (name !== 'exclude_data_from_backup') p.fail(param, `invalid storage parameter "${name}": cairn takes exclude_data_from_backup`);
  p.expectOp('=');
  const v = literal(p);
  if (v.kind !== 'bool') p.fail(param, 'exclude_data_from_backup takes true or false');
  p.expectOp(')');
  return { kind: 'alterTableSet', pos, table, excludeDataFromBackup: v.value };
}

/** `ALTER DATABASE d CONFIGURE ZONE ...`. */
export function alterDatabase(p: Parser): Statement {
  const pos = p.expectKw('ALTER').pos;
  p.expectKw('DATABASE');
  const name = p.ident('database name');
  return configureZone(p, pos, { kind: 'database', name });
}

/** `CONFIGURE ZONE USING gc.ttlseconds = N | CONFIGURE ZONE DISCARD`. */
function configureZone(p: Parser, pos: number, target: { kind: 'table'; table: TableName } | { kind: 'database'; name: string }): Statement {
  p.expectKw('CONFIGURE');
  p.expectKw('ZONE');
  if (p.acceptKw('DISCARD')) return { kind: 'configureZone', pos, target };
  p.expectKw('USING', 'USING or DISCARD');
  const at = p.peek();
  const variable = p.settingName();
  if (variable !== 'gc.ttlseconds') p.fail(at, `zone configuration variable ${variable} is not supported by cairn: it takes gc.ttlseconds`);
  p.expectOp('=');
  const v = literal(p);
  if (v.kind !== 'int' || Number(v.value) <= 0 || !Number.isSafeInteger(Number(v.value))) p.fail(at, 'gc.ttlseconds takes a positive whole number of seconds');
  return { kind: 'configureZone', pos, target, gcTtlSeconds: Number(v.value) };
}
