import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { probeNatsTls, serverCertificateRejected } from './nats-tls-probe.js';

/**
 * How a process proves itself to NATS and checks the server (`--nats-creds`, `--nats-user` /
 * `--nats-password`, `--nats-nkey`, `--nats-tls-*`). At most one of creds, user/password and
 * nkey; TLS combines with any of them (a client certificate may itself be the credential when
 * the server maps certificates to users).
 */
export interface NatsAuth {
  /** A `.creds` file (a user JWT and its nkey seed), for an operator/JWT-configured server. */
  credsFile?: string;
  user?: string;
  password?: string;
  /** A file holding an nkey seed (`SU...`). */
  nkeySeedFile?: string;
  /** CA certificate to verify the servers with; giving any TLS file turns TLS on. */
  tlsCaFile?: string;
  /** Client certificate and key, for servers that verify clients (`verify: true`). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

function readSecretFile(flag: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    // The path is not a secret; the file's content is never put in a message.
    throw new CairnError(ErrorCode.InvalidArgument, `${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** NATS connection options for `auth`; checks its combinations and that the files are readable. */
export function natsAuthOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  const kinds = [auth.credsFile && '--nats-creds', (auth.user || auth.password) && '--nats-user/--nats-password', auth.nkeySeedFile && '--nats-nkey'].filter(Boolean);
  if (kinds.length > 1) throw new CairnError(ErrorCode.InvalidArgument, `give only one NATS credential, not ${kinds.join(' and ')}`);
  if ((auth.user === undefined) !== (auth.password === undefined)) {
    throw new CairnError(ErrorCode.InvalidArgument, '--nats-user and --nats-password go together');
  }
  if ((auth.tlsCertFile === undefined) !== (auth.tlsKeyFile === undefined)) {
    throw new CairnError(ErrorCode.InvalidArgument, '--nats-tls-cert and --nats-tls-key go together');
  }
  const o: Partial<ConnectionOptions> = {};
  if (auth.credsFile) o.authenticator = credsAuthenticator(readSecretFile('--nats-creds', auth.credsFile));
  if (auth.nkeySeedFile) {
    const seed = new TextDecoder().decode(readSecretFile('--nats-nkey', auth.nkeySeedFile)).trim();
    o.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.user !== undefined) {
    o.user = auth.user;
    o.pass = auth.password!;
  }
  if (auth.tlsCaFile || auth.tlsCertFile) {
    for (const [flag, f] of [['--nats-tls-ca', auth.tlsCaFile], ['--nats-tls-cert', auth.tlsCertFile], ['--nats-tls-key', auth.tlsKeyFile]] as const) {
      if (f) readSecretFile(flag, f);
    }
    o.tls = {
      ...(auth.tlsCaFile ? { caFile: auth.tlsCaFile } : {}),
      ...(auth.tlsCertFile ? { certFile: auth.tlsCertFile, keyFile: auth.tlsKeyFile! } : {}),
    };
  }
  return o;
}

/**
 * Connects to NATS, failing fast with one clear line when nothing answers (a wrong --nats
 * flag is the most common start-up mistake) or the server refuses the credentials. After the
 * first connection, the client keeps reconnecting forever: a restarted nats-server must not
 * take the cluster down with it.
 */
export async function connectNats(url: string, name: string, timeoutMs = 5000, auth: NatsAuth = {}): Promise<NatsConnection> {
  const servers = url
    .split(',')
    .map((s) => s.trim().replace(/^nats:\/\//, ''))
    .filter((s) => s.length > 0);
  if (servers.length === 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid NATS URL "${url}"`);
  }
  const authOptions = natsAuthOptions(auth);
  try {
    return await connect({
      servers,
      name,
      timeout: timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5000,
      // nats.js otherwise builds an Error with a stack trace for every request it sends, to
      // report where a timeout started: 19% of the leader's CPU in a burst of 10,000 job
      // creations (a CPU profile of pnpm bench scheduler). Failures are reported by what
      // was being done (retryNats' `what`), not by that stack.
      noAsyncTraces: true,
      ...authOptions,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown }).code;
    if (code === 'AUTHORIZATION_VIOLATION' || /authorization/i.test(reason)) {
      throw new CairnError(ErrorCode.Unauthenticated, `NATS at ${url} refused the connection (${reason}): give the credentials of its cairn account with --nats-creds, --nats-user/--nats-password or --nats-nkey`, { cause: err });
    }
    const tlsFailure = await explainTlsFailure(url, servers, auth, err);
    if (tlsFailure) throw tlsFailure;
    throw new CairnError(ErrorCode.Unavailable, `cannot reach NATS at ${url}: ${reason}`, {
      cause: err,
      retryable: true,
    });
  }
}

/**
 * A failed connection's TLS cause, as one clear line: the server does not offer TLS; its
 * certificate does not verify against --nats-tls-ca; or it refused the client certificate
 * (which the NATS client only reports as a timeout: probeNatsTls finds the alert).
 */
async function explainTlsFailure(url: string, servers: string[], auth: NatsAuth, err: unknown): Promise<CairnError | undefined> {
  const cause = { cause: err };
  if ((err as { code?: unknown }).code === 'SERVER_OPT_NA' && String((err as Error).message) === 'tls') {
    return new CairnError(ErrorCode.FailedPrecondition, `NATS at ${url} does not offer TLS, which --nats-tls-* (or a tls:// URL with --certs-dir) asks for`, cause);
  }
  const untrusted = (reason: string): CairnError =>
    new CairnError(ErrorCode.Unauthenticated, `the TLS certificate of NATS at ${url} does not verify (${reason}): give the CA that signed it with --nats-tls-ca`, cause);
  if (serverCertificateRejected((err as { code?: unknown }).code)) return untrusted((err as Error).message);
  if (!auth.tlsCaFile && !auth.tlsCertFile) return undefined;
  for (const server of servers) {
    const r = await probeNatsTls(server, auth);
    if (r.outcome === 'server-not-trusted') return untrusted(r.reason);
    if (r.outcome === 'client-refused') {
      const what = auth.tlsCertFile ? `the client certificate ${auth.tlsCertFile}` : 'a connection without a client certificate';
      return new CairnError(ErrorCode.Unauthenticated, `NATS at ${url} refused ${what} (${r.reason}): give one signed by a CA the server trusts with --nats-tls-cert/--nats-tls-key`, cause);
    }
  }
  return undefined;
}

/** What `watchConnection` reports: the connection dropped, came back (to any server), or closed for good. */
export type ConnectionChange = 'disconnect' | 'reconnect' | 'closed';

/**
 * Calls `fn` on each change of the connection's link to NATS, until the returned stop is
 * called. The one place cairn follows a connection's status: watchers restart on a
 * reconnect (what lived on the old server is worth starting afresh), the lease holder steps
 * down when cut off.
 */
export function watchConnection(nc: NatsConnection, fn: (change: ConnectionChange) => void): () => void {
  let stopped = false;
  const statuses = nc.status();
  void (async () => {
    for await (const s of statuses) {
      if (stopped) return;
      if (s.type === 'disconnect' || s.type === 'reconnect') fn(s.type);
    }
    // The statuses end when the connection closes.
    if (!stopped) fn('closed');
  })().catch(() => undefined);
  return () => {
    stopped = true;
    // Ends the iterator: nats.js removes the listener when its iterator is stopped.
    (statuses as unknown as { stop?: () => void }).stop?.();
  };
}
