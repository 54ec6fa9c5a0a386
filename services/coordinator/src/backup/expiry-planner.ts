import { CairnError, ErrorCode } from '@cairn/errors';
import { isTerminalStatus, type Job, type JobRegistry } from '@cairn/jobs';
import { encodeExpiryDetails } from '../jobs/job-details.js';
import { parseRetention, parseStoredBackup, type BackupSchedule } from '@cairn/schedules';
import { quoteString, redactUri } from '@cairn/sql';
import type { ChainSummary } from './backup-collection.js';

/** The job type of a schedule's backup expiry (SHOW JOBS' job_type). */
export const BACKUP_EXPIRY_JOB_TYPE = 'BACKUP EXPIRY';

import type { ExpiryDetails } from './expiry-details.js';
export type { ExpiryDetails } from './expiry-details.js';

/** What to expire, decided once per job and kept in its checkpoint. */
export interface ExpiryPlan {
  /** Chains whose newest layer ended before this (ns) are expired. */
  cutoff: bigint;
  /** Chains to delete, oldest first. */
  expire: ChainSummary[];
  /** Chains kept: within the retention, LATEST's, or the newest. */
  keep: ChainSummary[];
}

const NANOS_PER_MILLI = 1_000_000n;

/** `/2024/03/01-100000.00`, `2024/03/01-100000.00/` → one form for comparing. */
function sameSubdir(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().replace(/^\/+/, '').replace(/\/+$/, '');
  return norm(a) === norm(b);
}

/**
 * Chooses the chains a retention expires: every chain whose newest layer (its full, or its
 * newest incremental) ended before `now - retention`, except LATEST's chain and the chain of
 * the newest full, which are always kept so that the collection can take incrementals and be
 * restored. Whole chains only: an incremental is never chosen while its full is kept, nor a
 * full while an incremental on it is within the retention. Pure; `latestFull` is the content
 * of the newest LATEST file (undefined when there is none).
 */
export function chooseExpiredChains(input: {
  readonly chains: readonly ChainSummary[];
  readonly latestFull: string | undefined;
  readonly nowMs: number;
  readonly retentionMs: number;
}): ExpiryPlan {
  const cutoff = BigInt(input.nowMs - input.retentionMs) * NANOS_PER_MILLI;
  const newest = input.chains.reduce<ChainSummary | undefined>(
    (best, c) => (best === undefined || c.fullEndTime > best.fullEndTime ? c : best),
    undefined,
  );
  const expire: ChainSummary[] = [];
  const keep: ChainSummary[] = [];
  const byAge = [...input.chains].sort((a, b) => (a.fullEndTime < b.fullEndTime ? -1 : a.fullEndTime > b.fullEndTime ? 1 : 0));
  for (const c of byAge) {
    const protectedChain = c === newest || (input.latestFull !== undefined && sameSubdir(c.fullSubdir, input.latestFull));
    (!protectedChain && c.newestEndTime < cutoff ? expire : keep).push(c);
  }
  return { cutoff, expire, keep };
}

/**
 * `EXPIRE BACKUPS IN 's3://…' OLDER THAN '720h'`: the job's description, secrets redacted. No
 * such statement exists; the text says what the job does in the words SHOW JOBS uses for
 * BACKUP and RESTORE.
 */
export function expiryJobDescription(collection: readonly string[], retention: string): string {
  const uris = collection.map((u) => quoteString(redactUri(u)));
  const where = uris.length === 1 ? (uris[0] as string) : `(${uris.join(', ')})`;
  return `EXPIRE BACKUPS IN ${where} OLDER THAN ${quoteString(retention)}`;
}

/**
 * Plans a schedule's BACKUP EXPIRY job: its collection and retention, or undefined when the
 * schedule keeps its backups forever. Which chains go is decided when the job runs.
 */
export function planExpiry(schedule: BackupSchedule): ExpiryDetails | undefined {
  const retention = schedule.args.retention;
  if (retention === null) return undefined;
  const collection = parseStoredBackup(schedule).destination.uris;
  if (collection.length === 0) {
    throw new CairnError(ErrorCode.Corruption, `schedule ${schedule.id} has a backup statement without a collection`);
  }
  return { collection, retention, retentionMs: parseRetention(retention) };
}

/**
 * Starts a BACKUP EXPIRY job for a schedule that has a retention, on its collection: what
 * the scheduler daemon calls after a full backup of the schedule succeeds. Returns the job,
 * or undefined when the schedule keeps its backups forever or an expiry job of the schedule
 * is still running (it will see everything this one would).
 */
export async function startExpiryJob(
  leader: { readonly jobs: Pick<JobRegistry, 'create' | 'list'> },
  schedule: BackupSchedule,
): Promise<Job | undefined> {
  if (schedule.args.retention === null) return undefined;
  const running = await leader.jobs.list({ types: [BACKUP_EXPIRY_JOB_TYPE], scheduleId: schedule.id });
  if (running.some((j) => !isTerminalStatus(j.status))) return undefined;
  const details = planExpiry(schedule);
  if (details === undefined) return undefined;
  return leader.jobs.create({
    type: BACKUP_EXPIRY_JOB_TYPE,
    description: expiryJobDescription(details.collection, details.retention),
    // No statement exists for it: the description says it all.
    statement: '',
    userName: schedule.owner,
    scheduleId: schedule.id,
    payload: encodeExpiryDetails(details),
  });
}
