/**
 * No option silently ignored: every option the parser accepts (STATEMENT_OPTIONS, read from
 * the very tables the parser dispatches on) names the end-to-end test that shows it doing
 * what CockroachDB does, or being refused with a clear error. An option added to the parser
 * without such a test fails here; so does an entry whose test is gone or no longer mentions
 * the option. Reads files only: no cluster.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STATEMENT_OPTIONS } from '@cairn/sql';

type Statement = keyof typeof STATEMENT_OPTIONS;

/** Where each option is exercised: a test file in test/ and the title of one of its tests. */
interface Covered {
  file: string;
  test: string;
}

const OPTIONS = 'backup-options.test.ts';
const INCREMENTAL_LOCATION: Covered = { file: OPTIONS, test: 'writes the incremental to <location>/<full subdir>/ and reads the chain back from both places' };
const KMS_SHOW_RESTORE: Covered = { file: 'kms-encryption.test.ts', test: 'a backup with two KMS URIs opens through each; an incremental continues it' };
const PASSPHRASE: Covered = { file: 'kms-encryption.test.ts', test: 'an encrypted backup whose data files are in the old format (one key per chain) still restores' };
const EXEC_LOCALITY_RESTORE: Covered = { file: OPTIONS, test: 'has only the matching node restore spans, and refuses a filter no node matches' };

const COVERAGE: { readonly [S in Statement]: Readonly<Record<string, Covered>> } = {
  BACKUP: {
    revision_history: { file: 'backup-restore.test.ts', test: 'restores a locality-aware, revision-history chain taken under load to points in time between its layers' },
    detached: { file: 'backup-restore-faults.test.ts', test: 'completes a paused backup once resumed, writing nothing visible while paused' },
    encryption_passphrase: PASSPHRASE,
    kms: KMS_SHOW_RESTORE,
    incremental_location: INCREMENTAL_LOCATION,
    'execution locality': { file: 'backup-restore.test.ts', test: "EXECUTION LOCALITY = 'region=us-west1' has only the us-west1 node export" },
  },
  RESTORE: {
    new_db_name: INCREMENTAL_LOCATION,
    into_db: { file: OPTIONS, test: 'refuses a view without its table, and skip_missing_views leaves the view out' },
    skip_missing_foreign_keys: { file: OPTIONS, test: 'refuses a foreign key without its table, and skip_missing_foreign_keys drops the constraint' },
    skip_missing_sequences: { file: OPTIONS, test: 'refuses a DEFAULT nextval without its sequence, and skip_missing_sequences drops the DEFAULT' },
    skip_missing_views: { file: OPTIONS, test: 'refuses a view without its table, and skip_missing_views leaves the view out' },
    skip_localities_check: {
      file: OPTIONS,
      test: 'restores a whole database with its view, sequence DEFAULT and foreign key; skip_localities_check has nothing to check',
    },
    schema_only: { file: 'backup-restore-faults.test.ts', test: 'finds a flipped byte with RESTORE ... WITH schema_only, verify_backup_table_data' },
    verify_backup_table_data: { file: 'backup-restore-faults.test.ts', test: 'finds a flipped byte with RESTORE ... WITH schema_only, verify_backup_table_data' },
    detached: { file: 'job-service.test.ts', test: 'PauseJob (with a reason), ResumeJob and CancelJob on a restore, as SHOW JOBS sees them' },
    encryption_passphrase: PASSPHRASE,
    kms: KMS_SHOW_RESTORE,
    incremental_location: INCREMENTAL_LOCATION,
    'execution locality': EXEC_LOCALITY_RESTORE,
  },
  'SHOW BACKUP': {
    check_files: { file: OPTIONS, test: 'FILES lists each data file with its path; RANGES each span; check_files adds file_bytes' },
    as_json: { file: OPTIONS, test: 'as_json prints each layer manifest; privileges adds the grants and owner' },
    privileges: { file: OPTIONS, test: 'as_json prints each layer manifest; privileges adds the grants and owner' },
    encryption_passphrase: { file: OPTIONS, test: 'SHOW BACKUP ... WITH encryption_passphrase reads an encrypted backup; without it, a clear error' },
    kms: KMS_SHOW_RESTORE,
    incremental_location: INCREMENTAL_LOCATION,
  },
  'CREATE SCHEDULE': {
    first_run: { file: 'schedules.test.ts', test: "takes a paired schedule's full at once and an incremental each minute; LATEST restores to the last one's end time" },
    on_execution_failure: { file: 'schedules.test.ts', test: 'on_execution_failure against an unreachable bucket: pause ends PAUSED with the error, reschedule stays ACTIVE' },
    on_previous_running: { file: 'schedules.test.ts', test: 'on_previous_running: skip moves to the next cron time, wait retries in a minute, start runs a second job' },
    ignore_existing_backups: { file: 'schedules.test.ts', test: 'on_execution_failure against an unreachable bucket: pause ends PAUSED with the error, reschedule stays ACTIVE' },
    updates_cluster_last_backup_time_metric: { file: OPTIONS, test: "takes updates_cluster_last_backup_time_metric = '1' and then sets the last-backup-time metric" },
    retention: { file: 'backup-retention.test.ts', test: 'expires chains past the retention after each full, from every region, keeping what restores need' },
  },
  'CHECK EXTERNAL CONNECTION': {
    transfer: { file: 'cloud-providers.test.ts', test: 'SHOW BACKUP CONNECTION with TRANSFER and EXECUTION LOCALITY probes only the matching nodes' },
    'execution locality': { file: 'cloud-providers.test.ts', test: 'SHOW BACKUP CONNECTION with TRANSFER and EXECUTION LOCALITY probes only the matching nodes' },
  },
};

const sources = new Map<string, string>();
function source(file: string): string {
  let text = sources.get(file);
  if (text === undefined) {
    text = readFileSync(fileURLToPath(new URL(file, import.meta.url)), 'utf8');
    sources.set(file, text);
  }
  return text;
}

/**
 * The text of the test titled `title` in `file`: from its `it(` to the next `it(` or
 * `describe(` at any indentation (the tests of these files are not nested in each other).
 */
function testBody(file: string, title: string): string | undefined {
  const text = source(file);
  const start = ['"', "'", '`'].map((q) => text.indexOf(`it(${q}${title}${q}`)).find((i) => i >= 0);
  if (start === undefined) return undefined;
  const rest = text.slice(start + 3);
  const next = /\n\s*(?:it|describe)\(/.exec(rest);
  return next === null ? rest : rest.slice(0, next.index);
}

describe('every option the parser accepts has an end-to-end test', () => {
  for (const statement of Object.keys(STATEMENT_OPTIONS) as Statement[]) {
    it(`${statement}: each option names a test that uses it, and only accepted options are listed`, () => {
      const accepted = [...STATEMENT_OPTIONS[statement]].sort();
      expect(Object.keys(COVERAGE[statement]).sort()).toEqual(accepted);
      for (const option of accepted) {
        const covered = COVERAGE[statement][option]!;
        const body = testBody(covered.file, covered.test);
        expect(body, `${statement} ${option}: no test "${covered.test}" in test/${covered.file}`).toBeDefined();
        expect(body!.toLowerCase(), `${statement} ${option}: test "${covered.test}" does not mention it`).toContain(option);
      }
    });
  }
});
