import type { CairnClient } from '@cairn/client';
import { parse } from '@cairn/sql';
import { JobProgress } from '../output/index.js';

/** The job type a statement waits on, for statements that run a job and wait for it. */
export function waitedJobType(sql: string): 'BACKUP' | 'RESTORE' | undefined {
  try {
    const [stmt] = parse(sql);
    if (stmt?.kind === 'backup' && !stmt.options.detached) return 'BACKUP';
    if (stmt?.kind === 'restore' && !stmt.options.detached) return 'RESTORE';
  } catch {
    // The server reports syntax errors.
  }
  return undefined;
}

/**
 * Shows the progress of the job a waiting BACKUP/RESTORE started, by polling SHOW JOBS on a
 * second connection until `done` settles: a bar on a terminal, plain lines otherwise.
 */
export async function watchJob(client: CairnClient, type: 'BACKUP' | 'RESTORE', done: Promise<unknown>): Promise<void> {
  const startedMs = Date.now() - 1000;
  const progress = new JobProgress({ label: type });
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  let jobId: string | undefined;
  let lastBytes: { bytes?: number } = {};
  while (!finished) {
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    if (finished) break;
    try {
      const r = await client.execute(`SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = '${type}'`);
      const col = (name: string) => r.columns.indexOf(name);
      const rows = r.rows.filter((row) => {
        const created = Date.parse((row[col('created')] ?? '').replace(' ', 'T'));
        return jobId ? row[col('job_id')] === jobId : created >= startedMs;
      });
      const row = rows[rows.length - 1];
      if (!row) continue;
      jobId = row[col('job_id')] ?? undefined;
      const status = row[col('running_status')] ?? row[col('status')] ?? '';
      // The running status carries the logical MB done so far (see spanStatus on the server).
      const mb = /([\d.]+) MB$/.exec(status);
      if (mb) lastBytes = { bytes: Number(mb[1]) * 1e6 };
      progress.update({
        fraction: Number(row[col('fraction_completed')] ?? 0),
        status,
        ...(mb ? { bytes: Number(mb[1]) * 1e6 } : {}),
      });
    } catch {
      // Progress is best effort; the statement's own result decides success.
    }
  }
  // A statement refused before its job started shows only its error.
  if (!jobId) return;
  const outcome = await done.then(() => 'succeeded', () => 'failed');
  if (outcome === 'succeeded') progress.update({ fraction: 1, status: 'running', ...lastBytes });
  progress.finish(outcome);
}
