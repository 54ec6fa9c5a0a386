import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '@cairn/errors';
import { normalizeUsername, passwordHashOf, type PrivilegeState } from '../privileges/privilege-model.js';
import { verifyPassword } from '../privileges/password-hash.js';
import { NODE_USER } from '@cairn/cluster';

/** Metadata a client sends: the user it asks to be (with a certificate, it must match the CN). */
export const USER_METADATA_KEY = 'cairn-user';
/** Metadata a standby adds when it forwards a call it authenticated to the leader. */
export const FORWARDED_USER_METADATA_KEY = 'cairn-forwarded-user';

/** Who a call is from, once proven. */
export interface Principal {
  user: string;
  method: 'cert' | 'password' | 'forwarded';
}

/** What the authenticator needs of the call: its metadata and the verified peer certificate's CN. */
export interface CallCredentials {
  metadata: Metadata;
  /** The CN of a client certificate the TLS layer verified against the CA; undefined without one. */
  certificateCn: string | undefined;
}

/** How long a verified password is remembered, so a session's calls do not each pay for scrypt. */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 1_000;

function unauthenticated(message: string): CairnError {
  return new CairnError(ErrorCode.Unauthenticated, message);
}

function metadataValue(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** `authorization: Basic base64(user:password)` → its parts. */
function basicCredentials(md: Metadata): { user: string; password: string } | undefined {
  const header = metadataValue(md, 'authorization');
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!m) throw unauthenticated('malformed authorization metadata: expected Basic credentials');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthenticated('malformed authorization metadata: expected user:password');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Proves who a call is from, in secure mode, as CockroachDB does:
 * - a client certificate signed by the cluster's CA names its user in its CN (`node` is the
 *   identity coordinators use for each other: it may carry a forwarded user, and otherwise
 *   acts as root);
 * - else a password (Basic credentials) checked against the user's stored scrypt hash;
 * - else the call is refused with UNAUTHENTICATED.
 * Errors name the user but never echo what the client sent as a secret.
 */
export class Authenticator {
  /** user + stored hash → sha256 of the password last verified for it, with its expiry. */
  private readonly verified = new Map<string, { digest: Buffer; until: number }>();

  constructor(private readonly readPrivileges: () => Promise<PrivilegeState>) {}

  async authenticate(c: CallCredentials): Promise<Principal> {
    const requested = metadataValue(c.metadata, USER_METADATA_KEY);
    if (c.certificateCn !== undefined) {
      const cn = normalizeUsername(c.certificateCn);
      if (cn === NODE_USER) {
        const forwarded = metadataValue(c.metadata, FORWARDED_USER_METADATA_KEY);
        return forwarded ? { user: normalizeUsername(forwarded), method: 'forwarded' } : { user: 'root', method: 'cert' };
      }
      if (requested !== undefined && normalizeUsername(requested) !== cn) {
        throw unauthenticated(`requested user is ${normalizeUsername(requested)}, but the client certificate is for ${cn}`);
      }
      if (cn !== 'root' && !(await this.readPrivileges()).users.some((u) => u.name === cn)) {
        throw unauthenticated(`the client certificate is for user ${cn}, which does not exist`);
      }
      return { user: cn, method: 'cert' };
    }
    const basic = basicCredentials(c.metadata);
    if (basic === undefined) {
      throw unauthenticated(
        `no client certificate signed by the cluster's CA and no password${requested ? ` for user ${normalizeUsername(requested)}` : ''}: ` +
          'connect with --certs-dir holding ca.crt and client.<user>.crt/.key, or give a password (prompt or CAIRN_PASSWORD)',
      );
    }
    const user = normalizeUsername(basic.user);
    if (requested !== undefined && normalizeUsername(requested) !== user) {
      throw unauthenticated(`requested user is ${normalizeUsername(requested)}, but the password is for ${user}`);
    }
    const hash = passwordHashOf(await this.readPrivileges(), user);
    // One message whether the user is unknown, has no password, or gave a wrong one: an
    // attacker learns nothing about which users exist.
    const failed = unauthenticated(`password authentication failed for user ${user}`);
    if (hash === undefined) throw failed;
    if (!(await this.check(user, hash, basic.password))) throw failed;
    return { user, method: 'password' };
  }

  private async check(user: string, hash: string, password: string): Promise<boolean> {
    const key = `${user}\0${hash}`;
    const digest = createHash('sha256').update(password).digest();
    const seen = this.verified.get(key);
    if (seen && seen.until > Date.now() && timingSafeEqual(seen.digest, digest)) return true;
    if (!(await verifyPassword(password, hash))) return false;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.set(key, { digest, until: Date.now() + VERIFIED_TTL_MS });
    return true;
  }
}
