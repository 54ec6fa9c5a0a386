/**
 * Query parameters of storage / KMS URIs that carry credentials. CockroachDB redacts the
 * secret ones in job descriptions; cairn also redacts the access key id (it identifies the
 * credential, and seeing it in SHOW JOBS helps nobody but an attacker).
 */
const SECRET_PARAMS: ReadonlySet<string> = new Set(
  [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AZURE_ACCOUNT_KEY',
    'AZURE_CLIENT_SECRET',
    'CREDENTIALS',
    'BEARER_TOKEN',
    'ASSUME_ROLE_CREDENTIALS',
    'encryption_passphrase',
    'password',
    'sslkey',
  ].map((p) => p.toUpperCase()),
);

/** The placeholder that replaces secrets. */
export const REDACTED = 'redacted';

/**
 * Replaces the values of secret query parameters (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AZURE_ACCOUNT_KEY, CREDENTIALS, ...) and any password in the URI's user
 * info with `redacted`. Everything else, including parameter order, is kept as written.
 */
export function redactUri(uri: string): string {
  const hashAt = uri.indexOf('#');
  const fragment = hashAt < 0 ? '' : uri.slice(hashAt);
  const beforeFragment = hashAt < 0 ? uri : uri.slice(0, hashAt);
  const queryAt = beforeFragment.indexOf('?');
  const base = redactUserInfo(queryAt < 0 ? beforeFragment : beforeFragment.slice(0, queryAt));
  if (queryAt < 0) return base + fragment;
  const params = beforeFragment
    .slice(queryAt + 1)
    .split('&')
    .map((param) => {
      const eq = param.indexOf('=');
      const key = eq < 0 ? param : param.slice(0, eq);
      if (eq < 0 || !SECRET_PARAMS.has(safeDecode(key).toUpperCase())) return param;
      return `${key}=${REDACTED}`;
    });
  return `${base}?${params.join('&')}${fragment}`;
}

/** `scheme://user:password@host/...` → `scheme://user:redacted@host/...`. */
function redactUserInfo(base: string): string {
  const schemeEnd = base.indexOf('://');
  if (schemeEnd < 0) return base;
  const authorityStart = schemeEnd + 3;
  const slash = base.indexOf('/', authorityStart);
  const authority = base.slice(authorityStart, slash < 0 ? base.length : slash);
  const at = authority.lastIndexOf('@');
  if (at < 0) return base;
  const colon = authority.indexOf(':');
  if (colon < 0 || colon > at) return base;
  const rest = slash < 0 ? '' : base.slice(slash);
  return `${base.slice(0, authorityStart)}${authority.slice(0, colon)}:${REDACTED}${authority.slice(at)}${rest}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
