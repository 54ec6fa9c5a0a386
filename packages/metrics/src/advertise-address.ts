import { hostname } from 'node:os';
import { CairnError, ErrorCode } from '@cairn/errors';

/** Hosts that mean "every interface": no one can dial them, so they are never advertised. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Hostnames (RFC 1123 labels), IPv4 and IPv6 literals; rejects spaces, schemes, paths. */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*)$/;

/** `host:port`, with an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** True for a host a process can bind but no one can dial (0.0.0.0, ::). */
export function isWildcardHost(host: string): boolean {
  return WILDCARD_HOSTS.has(host);
}

/** Whether `host` looks like a hostname or an IP literal (no scheme, path or spaces). */
export function isValidHost(host: string): boolean {
  return host.length > 0 && host.length <= 253 && HOST_PATTERN.test(host);
}

/**
 * Parses what an operator advertises: `host`, `host:port`, `[v6]` or `[v6]:port`. A bare IPv6
 * literal (more than one colon, no brackets) is a host without a port.
 */
export function parseHostPort(text: string, what = 'address'): { host: string; port?: number } {
  const invalid = (): CairnError =>
    new CairnError(ErrorCode.InvalidArgument, `invalid ${what} "${text}": expected host or host:port`);
  let host = text.trim();
  let portText: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) throw invalid();
    const rest = host.slice(close + 1);
    host = host.slice(1, close);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid();
      portText = rest.slice(1);
    }
  } else if (host.split(':').length === 2) {
    const i = host.lastIndexOf(':');
    portText = host.slice(i + 1);
    host = host.slice(0, i);
  }
  if (!isValidHost(host)) throw invalid();
  if (portText === undefined) return { host };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw invalid();
  return { host, port };
}

/**
 * The address other processes are told to dial for a server bound at `bound`: `advertise`
 * when given (its port, or the bound port when it names only a host), else the bound address,
 * with this machine's hostname in place of a wildcard host (0.0.0.0 cannot be dialled).
 */
export function advertisedAddress(bound: { host: string; port: number }, advertise?: string): string {
  if (advertise !== undefined && advertise !== '') {
    const a = parseHostPort(advertise, 'advertise address');
    return joinHostPort(a.host, a.port ?? bound.port);
  }
  return joinHostPort(isWildcardHost(bound.host) ? hostname() : bound.host, bound.port);
}

/** Splits a `host:port` this module produced (brackets removed). */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}
