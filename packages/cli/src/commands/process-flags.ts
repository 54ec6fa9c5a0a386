import { join } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';
import { parseDurationMs, parseLocality, type NatsAuth } from '@cairn/cluster';
import { isValidHost, parseHostPort, parseListenAddress } from '@cairn/metrics';

/**
 * Checks of `cairn start` flag values, made before anything starts so a typo gives one
 * `ERROR (INVALID_ARGUMENT): ...` line naming the flag (and its environment variable), not a
 * failure halfway through start-up.
 */

function invalid(flag: string, value: string, expected: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, `invalid ${flag} "${value}": expected ${expected}`);
}

/** A bind address, `host:port` (port 0 picks a free one). */
export function listenAddrFlag(flag: string, value: string): string {
  let parsed: { host: string; port: number };
  try {
    parsed = parseListenAddress(value);
  } catch {
    throw invalid(flag, value, 'host:port, e.g. 0.0.0.0:26257');
  }
  if (!value.includes(':') || !(isValidHost(parsed.host) || parsed.host === '::')) throw invalid(flag, value, 'host:port, e.g. 0.0.0.0:26257');
  return value;
}

/** An advertised address: `host`, or `host:port` when `allowPort`. */
export function advertiseFlag(flag: string, value: string, allowPort = true): string {
  let parsed: { host: string; port?: number };
  try {
    parsed = parseHostPort(value, flag);
  } catch {
    throw invalid(flag, value, allowPort ? 'host or host:port' : 'a host name or IP address');
  }
  if (!allowPort && parsed.port !== undefined) throw invalid(flag, value, 'a host name or IP address (nodes listen on no RPC port)');
  return value;
}

/** `--nats-replicas`: 1 to 5 (JetStream's limit); undefined follows the NATS cluster's size. */
export function replicasFlag(value: string | undefined): number | undefined {
  if (value === undefined || value === 'auto') return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 5) throw invalid('--nats-replicas', value, 'an integer from 1 to 5, or auto');
  return n;
}

/** A duration such as `30s`, `500ms`, `2m`. */
export function durationFlag(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw invalid(flag, value, 'a duration such as 30s, 500ms or 2m');
  return ms;
}

/** `--nats`: comma-separated `nats://host:port` (or `host:port`) URLs. */
export function natsUrlsFlag(value: string): string {
  const urls = value.split(',').map((u) => u.trim());
  for (const u of urls) {
    const hostPort = u.replace(/^(nats|tls):\/\//, '');
    try {
      parseHostPort(hostPort, '--nats');
    } catch {
      throw invalid('--nats', value, 'comma-separated NATS URLs, e.g. nats://127.0.0.1:4222');
    }
  }
  return urls.join(',');
}

/** `--locality`: `key=value` tiers, comma-separated (parseLocality names a malformed tier). */
export function localityFlag(value: string): string {
  if (parseLocality(value).length === 0) throw invalid('--locality', value, 'key=value tiers, e.g. region=us-east1,zone=us-east1-b');
  return value;
}

/** The security flags every `cairn start` role takes. */
export interface SecurityFlagValues {
  certsDir?: string;
  insecure?: boolean;
  natsCreds?: string;
  natsUser?: string;
  natsPassword?: string;
  natsNkey?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/**
 * `--certs-dir` or `--insecure`, exactly one, as `cockroach start` insists: a process must
 * never come up open to anyone by omission. Returns the certs dir (undefined: insecure).
 */
export function securityModeFlag(role: string, o: SecurityFlagValues): string | undefined {
  // commander turns any value of a boolean flag's variable into true: CAIRN_INSECURE=false
  // must not mean insecure.
  const env = process.env['CAIRN_INSECURE'];
  if (env !== undefined && env !== 'true' && env !== '1') {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid CAIRN_INSECURE "${env}": expected true (or unset it)`);
  }
  if (o.certsDir && o.insecure) {
    throw new CairnError(ErrorCode.InvalidArgument, `give either --certs-dir or --insecure to cairn start ${role}, not both`);
  }
  if (!o.certsDir && !o.insecure) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      `cairn start ${role} needs --certs-dir <dir> (TLS and authenticated clients; create certificates with cairn cert) ` +
        'or --insecure (no TLS, no authentication: anyone who reaches the ports is root)',
    );
  }
  return o.certsDir;
}

/**
 * NATS credentials and TLS from the flags; every file is checked when the connection is made.
 * With `--certs-dir` and `tls://` NATS URLs, the certs dir's ca.crt, node.crt and node.key are
 * the TLS defaults: one set of certificates per process, as CockroachDB uses for all its traffic.
 */
export function natsAuthFlags(o: SecurityFlagValues, natsUrl = ''): NatsAuth {
  const tlsDefaults =
    o.certsDir && /(^|,)\s*tls:\/\//.test(natsUrl) && !o.natsTlsCa && !o.natsTlsCert
      ? { tlsCaFile: join(o.certsDir, 'ca.crt'), tlsCertFile: join(o.certsDir, 'node.crt'), tlsKeyFile: join(o.certsDir, 'node.key') }
      : {};
  return {
    ...tlsDefaults,
    ...(o.natsCreds ? { credsFile: o.natsCreds } : {}),
    ...(o.natsUser !== undefined ? { user: o.natsUser } : {}),
    ...(o.natsPassword !== undefined ? { password: o.natsPassword } : {}),
    ...(o.natsNkey ? { nkeySeedFile: o.natsNkey } : {}),
    ...(o.natsTlsCa ? { tlsCaFile: o.natsTlsCa } : {}),
    ...(o.natsTlsCert ? { tlsCertFile: o.natsTlsCert } : {}),
    ...(o.natsTlsKey ? { tlsKeyFile: o.natsTlsKey } : {}),
  };
}
