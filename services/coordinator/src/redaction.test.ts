/**
 * One redactor, every output: each kind of secret a user can type (each secret query
 * parameter of a storage or KMS URI, a password in a URI's user info, an encryption
 * passphrase, a user's password) is put through every path that prints something (SHOW JOBS,
 * SHOW SCHEDULES and CREATE SCHEDULE rows, the JobService and ScheduleService answers, SHOW EXTERNAL CONNECTIONS, the audit form of a
 * statement, process logs, errors as built, wrapped and sent over gRPC) and must not come out.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode, SECRET_URI_PARAMS, redactText, redactUri, toCairnError } from '@cairn/errors';
import { EMPTY_PROGRESS, showJobsRow, type Job } from '@cairn/jobs';
import { createLogger } from '@cairn/metrics';
import { createScheduleRow, planCreateSchedule, showSchedulesRow } from '@cairn/schedules';
import { formatStatement, parse, parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { redactStorageUri } from '@cairn/cloud';
import { toServiceError } from './api/grpc-errors.js';
import { jobToProto } from './api/job-service.js';
import { scheduleToProto } from './api/schedule-service.js';
import { externalConnectionRow } from './statements/backup-statements.js';

/** A secret value that says which kind it is, so a leak names itself. */
const secretFor = (kind: string) => `SECRET${kind.replaceAll('_', '')}xyz`;

/** One URI per secret kind, with a harmless parameter beside it that must survive. */
const SECRET_URIS: ReadonlyArray<{ kind: string; uri: string; secret: string }> = [
  ...[...SECRET_URI_PARAMS].map((param) => ({
    kind: param,
    uri: `s3://bucket/path?AWS_REGION=us-east-1&${param}=${secretFor(param)}`,
    secret: secretFor(param),
  })),
  // Lower case and percent-encoded names are the same parameter.
  { kind: 'lower-case name', uri: `gs://b/p?credentials=${secretFor('lower')}&AUTH=specified`, secret: secretFor('lower') },
  { kind: 'encoded name', uri: `azure://c/p?AZURE%5FACCOUNT%5FKEY=${secretFor('encoded')}&AZURE_ACCOUNT_NAME=n`, secret: secretFor('encoded') },
  { kind: 'user info', uri: `postgres://maxroach:${secretFor('userinfo')}@host:5432/db`, secret: secretFor('userinfo') },
  { kind: 'kms', uri: `aws-kms:///key-id?AWS_SECRET_ACCESS_KEY=${secretFor('kms')}&REGION=us-east-1`, secret: secretFor('kms') },
];
const PASSPHRASE = secretFor('passphrase');
const PASSWORD = secretFor('password');
const ALL_SECRETS = [...SECRET_URIS.map((s) => s.secret), PASSPHRASE, PASSWORD];

function expectClean(what: string, text: string): void {
  for (const secret of ALL_SECRETS) expect(text, `${what} shows ${secret}`).not.toContain(secret);
}

const job = (description: string, error: string): Job => ({
  id: '1',
  spec: { type: 'BACKUP', description, statement: description, userName: 'root', createdAtMs: 0, scheduleId: null, payload: new Uint8Array(0) },
  progress: { ...EMPTY_PROGRESS, runningStatus: error },
  status: 'failed',
  error,
  revertOutcome: null,
  startedAtMs: null,
  finishedAtMs: null,
  modifiedAtMs: 0,
  coordinatorId: null,
  claimSessionId: null,
  retryCount: 0,
  nextRetryAtMs: null,
  lastRetryError: null,
});

describe('the one redactor', () => {
  it('redacts every secret parameter and keeps the rest as typed', () => {
    for (const { kind, uri, secret } of SECRET_URIS) {
      const shown = redactUri(uri);
      expect(shown, kind).not.toContain(secret);
      expect(shown, kind).toContain('redacted');
      // The cloud package's name for it is the same function.
      expect(redactStorageUri(uri), kind).toBe(shown);
    }
    expect(redactUri('s3://b/p?AWS_REGION=us-east-1&AWS_SECRET_ACCESS_KEY=x')).toBe('s3://b/p?AWS_REGION=us-east-1&AWS_SECRET_ACCESS_KEY=redacted');
    expect(redactUri('nodelocal://1/backups')).toBe('nodelocal://1/backups');
    expect(redactUri('external://conn-foo/sub')).toBe('external://conn-foo/sub');
    // An unescaped '#' inside a secret does not leave its tail visible.
    expect(redactUri('s3://b/p?AWS_SECRET_ACCESS_KEY=ab#cd')).toBe('s3://b/p?AWS_SECRET_ACCESS_KEY=redacted');
  });

  it('redacts free text: URIs inside sentences, passphrases and passwords', () => {
    expect(redactText(`cannot reach s3://b/p?AWS_SECRET_ACCESS_KEY=${secretFor('x')}; retry later`)).toBe(
      'cannot reach s3://b/p?AWS_SECRET_ACCESS_KEY=redacted; retry later',
    );
    expect(redactText(`BACKUP INTO 'nodelocal://1/x' WITH encryption_passphrase = '${PASSPHRASE}'`)).toBe(
      "BACKUP INTO 'nodelocal://1/x' WITH encryption_passphrase = 'redacted'",
    );
    expect(redactText(`CREATE USER u WITH PASSWORD '${PASSWORD}'`)).toBe("CREATE USER u WITH PASSWORD 'redacted'");
    expect(redactText('nothing secret here')).toBe('nothing secret here');
  });

  for (const { kind, uri } of SECRET_URIS) {
    describe(`a ${kind} secret`, () => {
      const backupSql = `BACKUP DATABASE bank INTO '${uri}' WITH encryption_passphrase = '${PASSPHRASE}', kms = '${uri}'`;

      it('is redacted in SHOW JOBS (description, statement, running status, error)', () => {
        const description = formatStatement(parseOne(backupSql), { redact: true });
        const row = showJobsRow(job(description, `storage failed: ${uri} (WITH encryption_passphrase = '${PASSPHRASE}')`));
        expectClean('SHOW JOBS', JSON.stringify(row));
        // A description written unredacted (by an older build) is redacted when shown.
        expectClean('SHOW JOBS (old job)', JSON.stringify(showJobsRow(job(backupSql, ''))));
        // JobService answers with the same columns, typed.
        const proto = jobToProto(job(backupSql, `storage failed: ${uri}`));
        expectClean('JobService', [proto.description, proto.statement, proto.error, proto.runningStatus].join(' '));
      });

      it('is redacted in SHOW SCHEDULES and CREATE SCHEDULE rows', () => {
        const stmt = parseOne(
          `CREATE SCHEDULE s FOR BACKUP INTO '${uri}' WITH encryption_passphrase = '${PASSPHRASE}' RECURRING '@hourly'`,
        ) as CreateScheduleStatement;
        let n = 1000n;
        for (const schedule of planCreateSchedule(stmt, new Date(0), () => String(n++), { owner: 'root' }).schedules) {
          const failing = { ...schedule, state: 'PAUSED' as const, statusText: `job failed: ${uri}` };
          expectClean('SHOW SCHEDULES', JSON.stringify(showSchedulesRow(failing, 0)));
          expectClean('CREATE SCHEDULE', JSON.stringify(createScheduleRow(failing)));
          const proto = scheduleToProto(failing, 0);
          expectClean('ScheduleService', [proto.state, proto.command].join(' '));
        }
      });

      it('is redacted in SHOW EXTERNAL CONNECTIONS', () => {
        expectClean('SHOW EXTERNAL CONNECTIONS', externalConnectionRow('conn-foo', uri).join(' '));
      });

      it('is redacted in the audit form of statements', () => {
        const text = parse(`${backupSql}; CREATE USER u WITH PASSWORD '${PASSWORD}'; CREATE EXTERNAL CONNECTION c AS '${uri}'`)
          .map((s) => formatStatement(s, { redact: true }))
          .join('\n');
        expectClean('audit', text);
      });

      it('is redacted in process logs (message, fields, errors)', () => {
        const lines: string[] = [];
        const sink = new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(chunk.toString());
            done();
          },
        });
        const log = createLogger('test', 'info', sink);
        log.info({ uri, statement: backupSql, nested: { uris: [uri] } }, `opening ${uri}`);
        log.warn({ err: new Error('storage failed', { cause: new Error(`cannot open ${uri}`) }) }, 'storage failed');
        log.info(`password '${PASSWORD}' set`);
        expect(lines).toHaveLength(3);
        // The cause chain is kept (redacted), not dropped.
        expect(lines[1]).toContain('cannot open');
        expectClean('log', lines.join(''));
      });

      it('is redacted in errors: built, wrapped, and sent over gRPC', () => {
        const built = new CairnError(ErrorCode.Unavailable, `cannot open ${uri} with encryption_passphrase = '${PASSPHRASE}'`);
        expectClean('CairnError', built.message);
        expectClean('CLI line', built.toLine());
        const wrapped = toCairnError(new Error(`AWS said no for ${uri}`));
        expectClean('wrapped error', wrapped.message);
        const sent = toServiceError(new Error(`socket closed talking to ${uri}`));
        expectClean('gRPC error', String(sent.details));
      });
    });
  }
});
