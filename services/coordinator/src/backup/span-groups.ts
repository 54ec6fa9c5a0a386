import type { PlannedSpan } from './backup-details.js';

/**
 * Joins runs of adjacent planned spans that one node can export as one work item (the same
 * replicas, the same start time, each starting where the previous one ends) into at most
 * about `groups` spans, each of about as many ranges.
 *
 * An incremental exports little per range (only what changed), so one item per range was
 * mostly fixed cost: a claim, an export transaction, a file and a result each, and a scan of
 * the change index's window per item. A few large items keep every node's workers busy at a
 * fraction of that. The work still goes to the data: a joined span has one replica set.
 */
export function groupAdjacentSpans(spans: readonly PlannedSpan[], groups: number): PlannedSpan[] {
  const perGroup = Math.max(1, Math.ceil(spans.length / Math.max(1, groups)));
  const out: PlannedSpan[] = [];
  let run = 0;
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && run < perGroup && joinable(last, s)) {
      last.end = s.end;
      run++;
      continue;
    }
    out.push({ ...s, replicas: [...s.replicas] });
    run = 1;
  }
  return out;
}

function joinable(a: PlannedSpan, b: PlannedSpan): boolean {
  // An empty end is the end of the keyspace: nothing follows it.
  if (a.end === '' || a.end !== b.start || a.startTime !== b.startTime) return false;
  if (a.replicas.length !== b.replicas.length) return false;
  const bs = new Set(b.replicas);
  return a.replicas.every((n) => bs.has(n));
}
