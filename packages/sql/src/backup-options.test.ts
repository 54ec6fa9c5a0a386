import { describe, expect, it } from 'vitest';
import { checkBackupStatement, checkRestoreStatement, checkShowBackupStatement, formatStatement, parseOne } from './index.js';

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

describe('BACKUP / RESTORE / SHOW BACKUP option forms', () => {
  it('reads SHOW BACKUP LATEST IN and SHOW BACKUP <subdir> IN without FROM', () => {
    for (const details of ['', 'SCHEMAS ', 'FILES ', 'RANGES ']) {
      const latest = parseOne(`SHOW BACKUP ${details}LATEST IN 's3://b/c'`);
      expect(latest).toMatchObject({ kind: 'showBackup', source: { subdir: { kind: 'latest' }, uris: ['s3://b/c'] } });
      expect(parseOne(formatStatement(latest))).toMatchObject({ source: { subdir: { kind: 'latest' } } });
    }
    expect(parseOne("SHOW BACKUP '/2024/03/01-100000.00' IN 's3://b/c'")).toMatchObject({
      source: { subdir: { kind: 'path', path: '/2024/03/01-100000.00' }, uris: ['s3://b/c'] },
    });
    expect(parseOne("SHOW BACKUP 's3://b/c'")).toMatchObject({ source: { uris: ['s3://b/c'] } });
  });

  it("takes updates_cluster_last_backup_time_metric = '1' as CockroachDB does (Go's ParseBool spellings)", () => {
    const stmt = (v: string) =>
      parseOne(`CREATE SCHEDULE s FOR BACKUP INTO 's3://b/c' RECURRING '@daily' WITH SCHEDULE OPTIONS updates_cluster_last_backup_time_metric${v}`);
    for (const [v, want] of [["= '1'", true], ["= 't'", true], ["= 'TRUE'", true], ['', true], ["= '0'", false], ["= 'f'", false], ['= false', false]] as const) {
      expect(stmt(v)).toMatchObject({ scheduleOptions: { updatesClusterLastBackupTimeMetric: want } });
    }
    expect(errorOf(() => stmt("= 'yes'")).message).toContain("expected a boolean: 'true', 'false', '1', '0', 't' or 'f'");
  });

  it('refuses what CockroachDB refuses before planning', () => {
    const backup = (sql: string) => errorOf(() => checkBackupStatement(parseOne(sql) as never)).message;
    expect(backup("BACKUP INTO 's3://b/c' WITH encryption_passphrase = 'x', kms = 'aws-kms:///k?REGION=r'")).toBe(
      'cannot have both encryption_passphrase and kms option set',
    );
    expect(backup("BACKUP TO 's3://b/c' WITH incremental_location = 's3://b/i'")).toBe('incremental_location option not supported with `BACKUP TO` syntax');
    expect(() => checkBackupStatement(parseOne("BACKUP INTO LATEST IN 's3://b/c' WITH incremental_location = 's3://b/i'") as never)).not.toThrow();

    expect(errorOf(() => checkRestoreStatement(parseOne("RESTORE FROM 's3://b/c' WITH incremental_location = 's3://b/i'") as never)).message).toBe(
      "incremental_location can only be used with the following syntax: 'RESTORE [target] FROM [subdirectory] IN [destination]'",
    );
    const restore = (sql: string) => errorOf(() => checkRestoreStatement(parseOne(sql) as never)).message;
    expect(restore("RESTORE TABLE d.t FROM LATEST IN 's3://b/c' WITH new_db_name = 'x'")).toBe('new_db_name can only be used for RESTORE DATABASE with a single database');
    expect(restore("RESTORE DATABASE a, b FROM LATEST IN 's3://b/c' WITH new_db_name = 'x'")).toBe('new_db_name can only be used for RESTORE DATABASE with a single database');
    expect(restore("RESTORE FROM LATEST IN 's3://b/c' WITH new_db_name = 'x'")).toBe('new_db_name can only be used for RESTORE DATABASE with a single database');
    expect(restore("RESTORE DATABASE a FROM LATEST IN 's3://b/c' WITH into_db = 'x'")).toBe('cannot use "into_db" option when restoring database(s)');
    expect(() => checkRestoreStatement(parseOne("RESTORE TABLE d.t FROM LATEST IN 's3://b/c' WITH into_db = 'x'") as never)).not.toThrow();
    expect(() => checkRestoreStatement(parseOne("RESTORE DATABASE a FROM LATEST IN 's3://b/c' WITH new_db_name = 'x'") as never)).not.toThrow();

    expect(() => checkShowBackupStatement(parseOne("SHOW BACKUP 's3://b/c' WITH incremental_location = 's3://b/i'") as never)).not.toThrow();
    expect(backup("BACKUP INTO LATEST IN ('s3://b/c?COCKROACH_LOCALITY=default', 's3://w/c?COCKROACH_LOCALITY=region%3Dw') WITH incremental_location = 's3://b/i'")).toBe(
      'the incremental_location option must contain the same number of locality aware URIs as the full backup destination',
    );
    const show = (sql: string) => errorOf(() => checkShowBackupStatement(parseOne(sql) as never)).message;
    expect(show("SHOW BACKUP FILES FROM LATEST IN 's3://b/c' WITH as_json")).toBe("as_json shows each layer's manifest: it cannot be combined with SHOW BACKUP FILES");
    expect(show("SHOW BACKUP RANGES FROM LATEST IN 's3://b/c' WITH privileges")).toBe('privileges adds columns to SHOW BACKUP and SHOW BACKUP SCHEMAS only');
    expect(show("SHOW BACKUP FROM LATEST IN 's3://b/c' WITH as_json, privileges")).toBe('privileges adds columns to SHOW BACKUP and SHOW BACKUP SCHEMAS only');
    expect(() => checkShowBackupStatement(parseOne("SHOW BACKUP SCHEMAS FROM LATEST IN 's3://b/c' WITH privileges, check_files") as never)).not.toThrow();
  });
});
