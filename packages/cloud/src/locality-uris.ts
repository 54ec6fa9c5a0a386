import { CairnError, ErrorCode } from '@cairn/errors';

/** The query parameter that tags each URI of a locality-aware backup. */
export const LOCALITY_URL_PARAM = 'COCKROACH_LOCALITY';
/** The `COCKROACH_LOCALITY` value of the URI that gets the manifest and untagged nodes' files. */
export const DEFAULT_LOCALITY_VALUE = 'default';

/** The URIs of a (possibly) locality-aware backup, `COCKROACH_LOCALITY` stripped. */
export interface LocalityAwareUris {
  readonly defaultUri: string;
  /** Keyed by the tier as written in the URI, e.g. `region=us-west1`. */
  readonly byLocality: ReadonlyMap<string, string>;
}

/** One tier of a node's locality, e.g. `{ key: 'region', value: 'us-west1' }`. */
export interface LocalityTier {
  readonly key: string;
  readonly value: string;
}

function invalid(message: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, message);
}

/**
 * Takes `COCKROACH_LOCALITY` out of a URI's query, leaving every other parameter as typed.
 * Returns the decoded locality (`''` when absent) and the URI without it.
 */
export function splitLocality(uri: string): { locality: string; uri: string } {
  const q = uri.indexOf('?');
  if (q < 0) return { locality: '', uri };
  const kept: string[] = [];
  let locality: string | undefined;
  for (const pair of uri.slice(q + 1).split('&')) {
    const entry = [...new URLSearchParams(pair)][0];
    if (entry !== undefined && entry[0] === LOCALITY_URL_PARAM) {
      if (locality !== undefined) throw invalid(`${LOCALITY_URL_PARAM} is given more than once in one URI`);
      locality = entry[1];
      continue;
    }
    if (pair !== '') kept.push(pair);
  }
  const base = uri.slice(0, q);
  return { locality: locality ?? '', uri: kept.length === 0 ? base : `${base}?${kept.join('&')}` };
}

/** Checks a tier as CockroachDB's `Tier.FromString` does: exactly one `=`, both sides non-empty. */
export function parseTier(tier: string): LocalityTier {
  const parts = tier.split('=');
  const [key, value] = parts;
  if (parts.length !== 2 || key === undefined || value === undefined || key === '' || value === '') {
    throw invalid(`tier must be in the form "key=value" not ${JSON.stringify(tier)}`);
  }
  return { key, value };
}

/**
 * Splits the URI list of `BACKUP ... INTO (uri1, uri2, ...)` the way CockroachDB does: one URI
 * may go untagged (or tagged `default`); with several, every URI carries `COCKROACH_LOCALITY`,
 * exactly one of them `default`, the others distinct `key=value` tiers.
 */
export function parseLocalityAwareUris(uris: readonly string[]): LocalityAwareUris {
  const byLocality = new Map<string, string>();
  const [first] = uris;
  if (first === undefined) throw invalid('no backup location URIs provided');
  if (uris.length === 1) {
    const { locality, uri } = splitLocality(first);
    if (locality !== '' && locality !== DEFAULT_LOCALITY_VALUE) {
      throw invalid(`${LOCALITY_URL_PARAM} ${locality} is invalid for a single BACKUP location`);
    }
    return { defaultUri: uri, byLocality };
  }
  let defaultUri: string | undefined;
  for (const raw of uris) {
    const { locality, uri } = splitLocality(raw);
    if (locality === '') {
      throw invalid(`multiple URLs are provided for partitioned BACKUP, but ${LOCALITY_URL_PARAM} is not specified`);
    }
    if (locality === DEFAULT_LOCALITY_VALUE) {
      if (defaultUri !== undefined) throw invalid('multiple default URLs provided for partition backup');
      defaultUri = uri;
      continue;
    }
    try {
      parseTier(locality);
    } catch (err) {
      throw invalid(`failed to parse backup locality: ${(err as Error).message}`);
    }
    if (byLocality.has(locality)) throw invalid(`duplicate URIs for locality ${locality}`);
    byLocality.set(locality, uri);
  }
  if (defaultUri === undefined) throw invalid('no default URL provided for partitioned backup');
  return { defaultUri, byLocality };
}

/**
 * The URI a node with these locality tiers writes to: the URI of its most specific tier
 * (tiers run from least to most specific, so the walk starts at the last), else the default.
 * `locality` is what the file records: `default` or the matched `key=value`.
 */
export function pickUriForLocality(
  parsed: LocalityAwareUris,
  tiers: readonly LocalityTier[],
): { uri: string; locality: string } {
  for (let i = tiers.length - 1; i >= 0; i--) {
    const tier = tiers[i];
    if (tier === undefined) continue;
    const locality = `${tier.key}=${tier.value}`;
    const uri = parsed.byLocality.get(locality);
    if (uri !== undefined) return { uri, locality };
  }
  return { uri: parsed.defaultUri, locality: DEFAULT_LOCALITY_VALUE };
}
