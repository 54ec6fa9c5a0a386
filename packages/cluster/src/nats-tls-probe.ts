import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** The TLS files a NATS connection uses (NatsAuth's tls* fields). */
export interface NatsTlsFiles {
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** Node's codes for a server certificate that does not verify against the CA given. */
const SERVER_NOT_TRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether `code` says the server's certificate was not trusted. */
export function serverCertificateRejected(code: unknown): boolean {
  return typeof code === 'string' && SERVER_NOT_TRUSTED.has(code);
}

export type TlsProbeResult =
  | { outcome: 'server-not-trusted'; reason: string }
  | { outcome: 'client-refused'; reason: string }
  | { outcome: 'ok' | 'inconclusive' };

/**
 * Why a TLS connection to a NATS server (`host:port`, with or without a scheme) fails, found by redoing its handshake by hand.
 *
 * A server with `verify: true` checks the client's certificate after the TLS 1.3 handshake
 * has completed on the client's side, and answers a certificate it does not accept by
 * closing the connection with an alert. The NATS client reads that as a dead connection and
 * only reports a timeout; this probe reads the alert. It speaks just enough of the protocol:
 * the server's plaintext INFO line, the TLS upgrade, then CONNECT and PING, whose answer
 * (PONG or an authorization error) means TLS itself was accepted.
 */
export function probeNatsTls(server: string, files: NatsTlsFiles, timeoutMs = 3_000): Promise<TlsProbeResult> {
  const hostPort = server.replace(/^[a-z]+:\/\//i, '');
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = netConnect(port, host);
    let settled = false;
    const done = (r: TlsProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ outcome: 'inconclusive' }), timeoutMs);
    socket.once('error', () => done({ outcome: 'inconclusive' }));
    let info = '';
    const onInfo = (chunk: Buffer): void => {
      info += chunk.toString('latin1');
      if (!info.includes('\r\n')) return;
      socket.removeListener('data', onInfo);
      const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : readFileSync(f));
      const tls = tlsConnect({ socket, host, ca: read(files.tlsCaFile), cert: read(files.tlsCertFile), key: read(files.tlsKeyFile) });
      tls.once('error', (err: NodeJS.ErrnoException) => {
        if (serverCertificateRejected(err.code)) done({ outcome: 'server-not-trusted', reason: err.message });
        else if (/alert/i.test(err.message)) done({ outcome: 'client-refused', reason: alertName(err) });
        else done({ outcome: 'inconclusive' });
      });
      tls.once('secureConnect', () => tls.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":true}\r\nPING\r\n'));
      tls.once('data', () => done({ outcome: 'ok' }));
    };
    socket.on('data', onInfo);
  });
}

/** `ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE` → `bad certificate`: OpenSSL's messages are long and not one line. */
function alertName(err: NodeJS.ErrnoException): string {
  const m = /ALERT_([A-Z_]+)$/.exec(err.code ?? '');
  return m ? `TLS alert: ${m[1]!.toLowerCase().replaceAll('_', ' ')}` : (err.message.split('\n')[0] ?? '');
}
