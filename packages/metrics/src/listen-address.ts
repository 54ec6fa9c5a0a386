import { CairnError, ErrorCode } from '@cairn/errors';

/** Parses `host:port`, `:port` (127.0.0.1) or `port` into a host and port (0 = any free). */
export function parseListenAddress(text: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = i > 0 ? text.slice(0, i).replace(/^\[|\]$/g, '') : defaultHost;
  const portText = i >= 0 ? text.slice(i + 1) : text;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid listen address "${text}": expected host:port`);
  }
  return { host, port };
}
