/**
 * The statements a cluster backup's contents are set with: external connections named as
 * CockroachDB names them (strings or identifiers), USAGE on them, SHOW CREATE SCHEDULE(S),
 * ALTER TABLE ... SET (exclude_data_from_backup) and CONFIGURE ZONE USING gc.ttlseconds.
 * Each parses to its AST, formats back to text that parses to the same AST, and what cairn
 * does not take is refused with the offending token's position.
 */
import { describe, expect, it } from 'vitest';
import { CairnError } from '@cairn/errors';
import { formatStatement, parseOne, type Statement } from './index.js';

function withoutPos(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPos);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'pos').map(([k, x]) => [k, withoutPos(x)]));
}

function roundTrip(sql: string): Statement {
  const stmt = parseOne(sql);
  expect(withoutPos(parseOne(formatStatement(stmt))), sql).toEqual(withoutPos(stmt));
  return stmt;
}

function syntaxError(sql: string): CairnError {
  try {
    parseOne(sql);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe('SYNTAX_ERROR');
    return err as CairnError;
  }
  throw new Error(`parsed: ${sql}`);
}

describe('external connections', () => {
  it('takes a string or an identifier as the name', () => {
    expect(roundTrip("CREATE EXTERNAL CONNECTION 'conn-foo' AS 'nodelocal://1/x'")).toMatchObject({ name: 'conn-foo', uri: 'nodelocal://1/x' });
    expect(roundTrip("CREATE EXTERNAL CONNECTION backup_s3 AS 'nodelocal://1/x'")).toMatchObject({ name: 'backup_s3' });
    expect(roundTrip("DROP EXTERNAL CONNECTION 'conn-foo'")).toMatchObject({ kind: 'dropExternalConnection', name: 'conn-foo' });
    expect(roundTrip("SHOW EXTERNAL CONNECTION 'conn-foo'")).toMatchObject({ kind: 'showExternalConnections', name: 'conn-foo' });
    expect(formatStatement(parseOne('CREATE EXTERNAL CONNECTION c AS \'s3://b?AWS_SECRET_ACCESS_KEY=x\''), { redact: true })).toBe(
      "CREATE EXTERNAL CONNECTION 'c' AS 's3://b?AWS_SECRET_ACCESS_KEY=redacted'",
    );
  });

  it('GRANT / REVOKE / SHOW GRANTS ON EXTERNAL CONNECTION', () => {
    expect(roundTrip("GRANT USAGE ON EXTERNAL CONNECTION 'conn-foo', bar TO maxroach")).toMatchObject({
      kind: 'grant',
      privileges: ['USAGE'],
      on: { kind: 'externalConnections', names: ['conn-foo', 'bar'] },
      roles: ['maxroach'],
    });
    expect(roundTrip("REVOKE USAGE ON EXTERNAL CONNECTION 'conn-foo' FROM maxroach")).toMatchObject({ kind: 'revoke' });
    expect(roundTrip("SHOW GRANTS ON EXTERNAL CONNECTION 'conn-foo' FOR maxroach")).toMatchObject({
      kind: 'showGrants',
      on: { kind: 'externalConnections', names: ['conn-foo'] },
      grantees: ['maxroach'],
    });
    expect(roundTrip('GRANT SYSTEM EXTERNALIOIMPLICITACCESS, EXTERNALCONNECTION TO maxroach')).toMatchObject({
      privileges: ['EXTERNALIOIMPLICITACCESS', 'EXTERNALCONNECTION'],
      on: { kind: 'system' },
    });
  });
});

describe('SHOW CREATE SCHEDULE', () => {
  it('one schedule or all of them', () => {
    expect(roundTrip('SHOW CREATE SCHEDULE 123')).toMatchObject({ kind: 'showCreateSchedule', id: '123' });
    expect(roundTrip('SHOW CREATE ALL SCHEDULES')).toEqual({ kind: 'showCreateSchedule', pos: 1 });
    expect(syntaxError('SHOW CREATE ALL TABLES').message).toContain('SCHEDULES');
  });
});

describe('ALTER TABLE / DATABASE', () => {
  it('SET (exclude_data_from_backup = ...)', () => {
    expect(roundTrip('ALTER TABLE bank.accounts SET (exclude_data_from_backup = true)')).toMatchObject({
      kind: 'alterTableSet',
      table: { database: 'bank', name: 'accounts' },
      excludeDataFromBackup: true,
    });
    expect(roundTrip('ALTER TABLE t SET (exclude_data_from_backup = false)')).toMatchObject({ excludeDataFromBackup: false });
    expect(syntaxError('ALTER TABLE t SET (fillfactor = 1)').message).toContain('invalid storage parameter "fillfactor"');
    expect(syntaxError("ALTER TABLE t SET (exclude_data_from_backup = 'yes')").message).toContain('true or false');
  });

  it('CONFIGURE ZONE USING gc.ttlseconds = N, and DISCARD', () => {
    expect(roundTrip('ALTER TABLE bank.accounts CONFIGURE ZONE USING gc.ttlseconds = 600')).toMatchObject({
      kind: 'configureZone',
      target: { kind: 'table', table: { database: 'bank', name: 'accounts' } },
      gcTtlSeconds: 600,
    });
    expect(roundTrip('ALTER DATABASE bank CONFIGURE ZONE USING gc.ttlseconds = 90000')).toMatchObject({
      target: { kind: 'database', name: 'bank' },
      gcTtlSeconds: 90000,
    });
    const discard = roundTrip('ALTER DATABASE bank CONFIGURE ZONE DISCARD');
    expect(discard).toMatchObject({ kind: 'configureZone', target: { kind: 'database', name: 'bank' } });
    expect(discard).not.toHaveProperty('gcTtlSeconds');
    expect(syntaxError('ALTER TABLE t CONFIGURE ZONE USING num_replicas = 5').message).toContain('num_replicas is not supported');
    expect(syntaxError('ALTER TABLE t CONFIGURE ZONE USING gc.ttlseconds = 0').message).toContain('positive whole number');
    expect(roundTrip('SHOW ZONE CONFIGURATION FROM TABLE bank.accounts')).toMatchObject({ kind: 'showZoneConfiguration', target: { kind: 'table' } });
  });
});
