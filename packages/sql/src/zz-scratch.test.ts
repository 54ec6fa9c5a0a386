import { it } from 'vitest';
import { parse, formatStatement } from './index.js';
const cases = [
  `CREATE TABLE IF NOT EXISTS bank.accounts (id INT8 PRIMARY KEY, balance DECIMAL(10,2) NOT NULL DEFAULT 0, name VARCHAR(20) NULL, owner INT REFERENCES users(id), ts TIMESTAMP WITH TIME ZONE, CONSTRAINT fk FOREIGN KEY (owner) REFERENCES users (id))`,
  `create table t (a int, b string, primary key (a, b))`,
  `CREATE VIEW v AS SELECT a, b FROM t WHERE x = ';' ;`,
  `INSERT INTO t (a, b) VALUES (1, 'x'), (-2, NULL), (3.5, TRUE)`,
  `DELETE FROM t WHERE id BETWEEN 1 AND 10`,
  `UPDATE t SET a = 1, b = 'x' WHERE id = 3`,
  `SELECT count(*), sum(balance), id FROM bank.accounts AS OF SYSTEM TIME follower_read_timestamp() WHERE id >= 10 AND id < 20 ORDER BY id DESC LIMIT 5`,
  `SET CLUSTER SETTING bulkio.backup.file_size = '128MiB'`,
  `SHOW FINGERPRINTS FROM TABLE bank.accounts AS OF SYSTEM TIME 1700000000000000000.0000000000`,
  `BACKUP DATABASE bank, shop INTO ('s3://a?COCKROACH_LOCALITY=default', 's3://b?COCKROACH_LOCALITY=region%3Dus-west') AS OF SYSTEM TIME '-10s' WITH OPTIONS (revision_history = true, encryption_passphrase = 'pw', kms = ('aws:///k1', 'aws:///k2'), EXECUTION LOCALITY = 'region=us-east1', incremental_location = 's3://inc', detached)`,
  `BACKUP TABLE bank.*, "Weird"."T" INTO '2024/03/01-100000.00' IN 'nodelocal://1/b'`,
  `RESTORE TABLE bank.customers FROM LATEST IN 's3://x' AS OF SYSTEM TIME '2024-01-01 00:00:00' WITH into_db = 'newdb', skip_missing_sequences, encryption_passphrase = 'p'`,
  `SHOW BACKUP SCHEMAS FROM LATEST IN 's3://x?AWS_SECRET_ACCESS_KEY=zz' WITH check_files, as_json, privileges`,
  `SHOW BACKUP 's3://old'`,
  `CREATE SCHEDULE IF NOT EXISTS 'my label' FOR BACKUP DATABASE bank INTO 's3://x' WITH revision_history, EXECUTION LOCALITY = 'region=a' RECURRING '@hourly' FULL BACKUP '@daily' WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = 'pause', on_previous_running = 'skip', ignore_existing_backups`,
  `ALTER BACKUP SCHEDULE 123 SET LABEL 'x', SET INTO 's3://y', SET WITH revision_history = false, SET RECURRING NEVER, SET FULL BACKUP ALWAYS, SET SCHEDULE OPTION on_previous_running = 'wait', EXECUTE FULL IMMEDIATELY`,
  `PAUSE JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status IN ('running', 'pending') AND job_type = 'BACKUP')`,
  `SHOW PAUSED SCHEDULES FOR BACKUP`,
  `RESUME SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE schedule_status = 'PAUSED'`,
  `SHOW JOB WHEN COMPLETE 12`,
  `CREATE EXTERNAL CONNECTION backup_s3 AS 's3://bucket?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b'`,
  `GRANT SELECT, INSERT ON TABLE bank.* TO alice, "Bob"`,
  `REVOKE ALL PRIVILEGES ON DATABASE bank FROM alice`,
  `SET DATABASE = bank; USE bank; SHOW TABLES FROM bank; SHOW ALL CLUSTER SETTINGS; SHOW RANGES FROM DATABASE bank; SHOW PROTECTED TIMESTAMPS; SHOW CREATE TABLE t; DROP DATABASE IF EXISTS bank CASCADE; CREATE SEQUENCE s; DROP TABLE IF EXISTS t;`,
];
it('x', () => {
  for (const c of cases) for (const s of parse(c)) { console.log(formatStatement(s)); console.log('  R: ' + formatStatement(s, { redact: true })); }
  console.log(JSON.stringify(parse(cases[9]!), null, 1));
});
