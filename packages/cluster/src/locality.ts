import { CairnError, ErrorCode } from '@cairn/errors';
import type { LocalityTier } from '@cairn/proto';

/**
 * Parses `region=us-east1,zone=us-east1-b` into ordered tiers (least to most specific, as
 * CockroachDB's --locality flag). Keys must be unique and every tier must be `key=value`.
 */
export function parseLocality(text: string): LocalityTier[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const seen = new Set<string>();
  return trimmed.split(',').map((part) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || key === '' || value === '') {
      throw new CairnError(ErrorCode.InvalidArgument, `invalid locality tier "${part}": tier must be in the form "key=value"`);
    }
    if (seen.has(key)) {
      throw new CairnError(ErrorCode.InvalidArgument, `duplicate locality key "${key}" in "${text}"`);
    }
    seen.add(key);
    return { key, value };
  });
}

export function formatLocality(tiers: readonly LocalityTier[]): string {
  return tiers.map((t) => `${t.key}=${t.value}`).join(',');
}

/** True when `tiers` has every pair of `filter` (subset match, order free). */
export function localityMatches(tiers: readonly LocalityTier[], filter: readonly LocalityTier[]): boolean {
  return filter.every((f) => tiers.some((t) => t.key === f.key && t.value === f.value));
}
