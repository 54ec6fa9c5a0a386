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
}

/** SHOW BACKUP's option checks that need no storage. */
export function checkShowBackupStatement(stmt: ShowBackupStatement): void {
  const o = stmt.options;
  if (o.encryptionPassphrase !== undefined && o.kms !== undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'cannot have both encryption_passphrase and kms option set');
  }
  if (o.incrementalLocation !== undefined && stmt.source.subdir === undefined) {
    throw new CairnError(ErrorCode.InvalidArgument, 'incremental_location option not supported with `SHOW BACKUP` without a subdir');
  }
}
