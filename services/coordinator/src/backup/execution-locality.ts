import { CairnError, ErrorCode } from '@cairn/errors';
import { localityMatches, parseLocality } from '@cairn/cluster';
import type { LocalityTier, NodeRecord } from '@cairn/proto';

/**
 * The tiers of a BACKUP's or RESTORE's `EXECUTION LOCALITY = 'k=v,...'` (none without the
 * option), refused up front when no live node has them all: CockroachDB's error, before any
 * job exists, rather than a job whose work items no node would ever claim.
 */
export function executionLocalityFilter(text: string | undefined, liveNodes: readonly NodeRecord[]): LocalityTier[] {
  if (!text) return [];
  const filter = parseLocality(text);
  if (filter.length > 0 && !liveNodes.some((n) => localityMatches(n.locality, filter))) {
    throw new CairnError(ErrorCode.FailedPrecondition, `no instances found matching locality filter ${text}`);
  }
  return filter;
}
