/*
 * RESTORE gives every restored table a new descriptor id, so its keys and descriptors are
 * rewritten from the backed-up ids to the new ones on the way in.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { decodeTableId, tablePrefix } from '@cairn/keys';
import { TableDescriptor } from '@cairn/proto';

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

function splice(newPrefix: Uint8Array, key: Uint8Array, oldPrefixLength: number): Uint8Array {
  const out = new Uint8Array(newPrefix.length + key.length - oldPrefixLength);
  out.set(newPrefix, 0);
  out.set(key.subarray(oldPrefixLength), newPrefix.length);
  return out;
}

/** `key` with its table prefix for `oldId` replaced by the one for `newId`. */
export function rewriteKeyTableId(key: Uint8Array, oldId: number, newId: number): Uint8Array {
  const oldPrefix = tablePrefix(oldId);
  if (!startsWith(key, oldPrefix)) {
    throw new CairnError(ErrorCode.InvalidArgument, `key does not belong to table ${oldId}`);
  }
  return splice(tablePrefix(newId), key, oldPrefix.length);
}

interface PrefixRule {
  oldPrefix: Uint8Array;
  newPrefix: Uint8Array;
}

/**
 * Rewrites keys of many tables by an old id → new id map. Keys usually arrive sorted, so the
 * rule of the previous key is tried first and the table id is only decoded on a change.
 */
export class KeyRewriter {
  private readonly rules = new Map<number, PrefixRule>();
  private last: PrefixRule | undefined;

  constructor(map: ReadonlyMap<number, number>) {
    for (const [oldId, newId] of map) {
      this.rules.set(oldId, { oldPrefix: tablePrefix(oldId), newPrefix: tablePrefix(newId) });
    }
  }

  /** The rewritten key; throws InvalidArgument for a key of a table not in the map. */
  rewrite(key: Uint8Array): Uint8Array {
    const out = this.tryRewrite(key);
    if (out === undefined) {
      throw new CairnError(ErrorCode.InvalidArgument, `no id rewrite for table ${decodeTableId(key)}`);
    }
    return out;
  }

  /** The rewritten key, or `undefined` when its table is not in the map. */
  tryRewrite(key: Uint8Array): Uint8Array | undefined {
    let rule = this.last;
    if (rule === undefined || !startsWith(key, rule.oldPrefix)) {
      rule = this.rules.get(decodeTableId(key));
      if (rule === undefined) return undefined;
      this.last = rule;
    }
    return splice(rule.newPrefix, key, rule.oldPrefix.length);
  }
}

/** CockroachDB's refusal of a view whose table (or view) is not restored with it. */
export function missingViewDependency(view: string): CairnError {
  return new CairnError(ErrorCode.FailedPrecondition, `cannot restore view "${view}" without restoring referenced table (or "skip_missing_views" option)`);
}

/** How `rewriteDescriptor` treats references to tables that are not being restored. */
export interface RewriteDescriptorOptions {
  /** Drop foreign keys whose referenced table is not in the map (`skip_missing_foreign_keys`). */
  skipMissingForeignKeys?: boolean;
  /** Drop `DEFAULT nextval(...)` of sequences not in the map (`skip_missing_sequences`). */
  skipMissingSequences?: boolean;
}

/**
 * A copy of `table` with its id, parent id, foreign key targets and view dependencies
 * renumbered by `idMap` (old id → new id). A foreign key to a table missing from the map is
 * dropped with `skipMissingForeignKeys`, a missing sequence's DEFAULT with
 * `skipMissingSequences`; otherwise each fails the restore (FailedPrecondition), as does a
 * missing view dependency (views are left out earlier with skip_missing_views).
 */
export function rewriteDescriptor(
  table: TableDescriptor,
  idMap: ReadonlyMap<number, number>,
  newParentId: number,
  opts: RewriteDescriptorOptions = {},
): TableDescriptor {
  const newId = idMap.get(table.id);
  if (newId === undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, `no new id for table "${table.name}" (id ${table.id})`);
  }
  const out = TableDescriptor.fromPartial(table);
  out.id = newId;
  out.parentId = newParentId;
  out.foreignKeys = [];
  for (const fk of table.foreignKeys) {
    const target = idMap.get(fk.referencedTableId);
    if (target === undefined) {
      if (opts.skipMissingForeignKeys === true) continue;
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `cannot restore table "${table.name}" without referenced table ${fk.referencedTableId} (or "skip_missing_foreign_keys" option)`,
      );
    }
    out.foreignKeys.push({ ...fk, columns: [...fk.columns], referencedColumns: [...fk.referencedColumns], referencedTableId: target });
  }
  out.dependsOn = table.dependsOn.map((dep) => {
    const target = idMap.get(dep);
    if (target === undefined) throw missingViewDependency(table.name);
    return target;
  });
  out.columns = table.columns.map((c) => {
    if (c.defaultSequenceId === undefined) return { ...c };
    const target = idMap.get(c.defaultSequenceId);
    if (target !== undefined) return { ...c, defaultSequenceId: target };
    if (opts.skipMissingSequences === true) {
      const { defaultSequenceId: _dropped, ...rest } = c;
      return rest;
    }
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      `cannot restore table "${table.name}" without referenced sequence ${c.defaultSequenceId} (or "skip_missing_sequences" option)`,
    );
  });
  return out;
}
