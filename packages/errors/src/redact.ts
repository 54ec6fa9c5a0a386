/**
 * The one redactor. Every output a user or an operator sees (SHOW JOBS, SHOW SCHEDULES, SHOW
 * EXTERNAL CONNECTIONS, audit and process logs, error messages) passes what it prints through
 * these functions, so there is exactly one list of what counts as a secret.
 *
 * It lives in `@cairn/errors` because every package that builds a message already depends on
 * it (the SQL formatter, the storage adapters, the coordinator, the CLI) and it depends on
 * nothing: no package needs a second copy.
 */

/** The placeholder that replaces a secret. */
export const REDACTED = 'redacted';

/**
 * Query parameters of storage and KMS URIs whose values are credentials, upper case. The
 * access key id is redacted too (CockroachDB shows it): it names the credential, and a
 * listing of it helps nobody but an attacker.
 */
export const SECRET_URI_PARAMS: ReadonlySet<string> = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AZURE_ACCOUNT_KEY',
  'AZURE_CLIENT_SECRET',
  'CREDENTIALS',
  'BEARER_TOKEN',
  'ASSUME_ROLE_CREDENTIALS',
  'ENCRYPTION_PASSPHRASE',
  'PASSWORD',
  'SSLKEY',
  'SSLPASSWORD',
]);

/**
 * Statement options whose quoted value is a secret: `encryption_passphrase = '...'`,
 * `WITH PASSWORD '...'`. Matched in free text (logs, errors) where no parser ran.
 */
const SECRET_OPTION_PATTERN = /\b(encryption_passphrase\s*=\s*|password\s*=?\s*)'(?:[^']|'')*'/gi;

/**
 * A URI inside free text: a scheme, `://`, then anything up to whitespace or a quote, less
 * the punctuation that ends a sentence around it (`see s3://b/p?K=v; retry`).
 */
const URI_IN_TEXT = /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^\s'"`<>]*[^\s'"`<>.,;:)\]])?/g;

/** Whether a query parameter's name (as typed, possibly percent-encoded) names a secret. */
export function isSecretParam(rawKey: string): boolean {
  let key = rawKey;
  try {
    key = decodeURIComponent(rawKey.replaceAll('+', ' '));
  } catch {
    // A malformed key cannot be a known secret name; compare it as typed.
  }
  return SECRET_URI_PARAMS.has(key.toUpperCase());
}

/**
 * Replaces the values of secret query parameters and a password in the URI's user info with
 * `redacted`, keeping everything else byte for byte. Everything after `?` counts as query,
 * even past a `#`: an unescaped `#` inside a secret must not leave the secret's tail visible.
 * Never throws: it runs on whatever a user typed.
 */
export function redactUri(uri: string): string {
  const q = uri.indexOf('?');
  const base = redactUserInfo(q < 0 ? uri : uri.slice(0, q));
  if (q < 0) return base;
  const pairs = uri
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      const rawKey = pair.slice(0, eq);
      return isSecretParam(rawKey) ? `${rawKey}=${REDACTED}` : pair;
    });
  return `${base}?${pairs.join('&')}`;
}

/** `scheme://user:password@host/...` → `scheme://user:redacted@host/...`. */
function redactUserInfo(base: string): string {
  return base.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/@]*?):([^/@]*)@/, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
}

/**
 * Redacts every secret in free text: each URI in it (as `redactUri`) and the quoted values of
 * `encryption_passphrase = '...'` and `PASSWORD '...'`. For log lines and error messages,
 * which may quote a statement or a URI whatever produced them.
 */
export function redactText(text: string): string {
  if (text.indexOf('://') < 0 && !/passphrase|password/i.test(text)) return text;
  return text.replace(URI_IN_TEXT, (uri) => redactUri(uri)).replace(SECRET_OPTION_PATTERN, (_m, prefix: string) => `${prefix}'${REDACTED}'`);
}

/**
 * A copy of a structured value (a log record) with every string in it passed through
 * `redactText`. Values that are not plain data (Buffers, class instances other than Error)
 * are kept as they are.
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, depth + 1)) as T;
  if (value instanceof Error) {
    const copy = new Error(redactText(value.message));
    copy.name = value.name;
    if (value.stack !== undefined) copy.stack = redactText(value.stack);
    for (const [k, v] of Object.entries(value)) (copy as unknown as Record<string, unknown>)[k] = redactDeep(v, depth + 1);
    // `cause` is not enumerable: carried over by hand, so a log line keeps the chain.
    if (value.cause !== undefined) copy.cause = redactDeep(value.cause, depth + 1);
    return copy as T;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}
