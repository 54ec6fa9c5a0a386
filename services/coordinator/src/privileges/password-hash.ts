import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * Passwords are stored only as a salted, deliberately slow scrypt hash in a self-describing
 * string, `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised later
 * without breaking stored hashes. N=2^15 (32 MiB, ~60 ms here) follows OWASP's scrypt minimum.
 */
const SCHEME = 'scrypt';
const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** scrypt's memory is 128·N·r bytes; node refuses above its default maxmem without this. */
const maxmem = (n: number, r: number) => 256 * n * r;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N: n, r, p, maxmem: maxmem(n, r) }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Hashes a new password. An empty password is refused, as CockroachDB refuses it. */
export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'empty passwords are not permitted');
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, N, R, P);
  return [SCHEME, N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Whether `password` matches a stored hash (constant-time comparison). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCHEME) throw new CairnError(ErrorCode.Corruption, 'stored password hash has an unknown format');
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await derive(password, salt, n, r, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}
