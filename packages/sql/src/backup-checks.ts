import { CairnError, ErrorCode } from '@cairn/errors';
import type { BackupStatement, RestoreStatement, ShowBackupStatement } from './ast.js';

/**
 * The checks CockroachDB makes of a BACKUP's options before planning, whatever wrote the
 * statement: a BACKUP typed by a user, a schedule's statement at CREATE SCHEDULE, and the
 * statement an ALTER BACKUP SCHEDULE ... SET WITH produces (which must not end up holding
 * both a passphrase and a KMS key because each came from a different command).
 */
export function checkBackupStatement(stmt: BackupStatement): void {
  const o = stmt.options;
  if (o.encryptionPassphrase !== undefined && o.kms !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot have both encryption_passphrase and kms option set');
  }
  if (o.incrementalLocation !== undefined && stmt.mode === 'to') {
    throw new CairnError(ErrorCode.InvalidArgument, 'incremental_location option not supported with `BACKUP TO` syntax');
  }
  if (o.incrementalLocation !== undefined && o.incrementalLocation.length !== stmt.destination.uris.length) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      'the incremental_location option must contain the same number of locality aware URIs as the full backup destination',
    );
  }
}

/** RESTORE's option checks that need no storage. */
export function checkRestoreStatement(stmt: RestoreStatement): void {
  const o = stmt.options;
  if (o.encryptionPassphrase !== undefined && o.kms !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot have both encryption_passphrase and kms option set');
  }
  if (o.incrementalLocation !== undefined && stmt.source.subdir === undefined) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      "incremental_location can only be used with the following syntax: 'RESTORE [target] FROM [subdirectory] IN [destination]'",
    );
  }
  // Options that name where restored objects go fit one kind of target each: not ignored elsewhere.
  if (o.newDbName !== undefined && (stmt.targets.kind !== 'databases' || stmt.targets.names.length !== 1)) {
    throw new CairnError(ErrorCode.InvalidArgument, 'new_db_name can only be used for RESTORE DATABASE with a single database');
  }
  if (o.intoDb !== undefined && stmt.targets.kind !== 'tables') {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot use "into_db" option when restoring database(s)');
  }
}

/** SHOW BACKUP's option checks that need no storage. */
export function checkShowBackupStatement(stmt: ShowBackupStatement): void {
  const o = stmt.options;
  if (o.encryptionPassphrase !== undefined && o.kms !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot have both encryption_passphrase and kms option set');
  }
  // Each of these shapes the rows of one form only; with another it would do nothing.
  if (o.asJson === true && stmt.details !== 'default') {
    throw new CairnError(ErrorCode.InvalidArgument, `as_json shows each layer's manifest: it cannot be combined with SHOW BACKUP ${stmt.details.toUpperCase()}`);
  }
  if (o.privileges === true && (o.asJson === true || stmt.details === 'files' || stmt.details === 'ranges')) {
    throw new CairnError(ErrorCode.InvalidArgument, 'privileges adds columns to SHOW BACKUP and SHOW BACKUP SCHEMAS only');
  }
}
