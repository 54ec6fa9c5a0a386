import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * A process's certificates directory (`--certs-dir`), read the same way by coordinators (their
 * TLS API) and nodes (their NATS TLS identity).
 */

/** CockroachDB's file names in a certificates directory. */
export const CA_CERT_FILE = 'ca.crt';
export const NODE_CERT_FILE = 'node.crt';
export const NODE_KEY_FILE = 'node.key';

/** The CN of node certificates: the identity coordinators use to call each other. */
export const NODE_USER = 'node';

export interface NodeCertificates {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** When node.crt stops being valid (shown in logs after a reload). */
  notAfter: string;
}

function readPem(dir: string, file: string, hint: string): Buffer {
  try {
    return readFileSync(join(dir, file));
  } catch (err) {
    throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${dir}: cannot read ${file} (${hint}): ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads and checks `ca.crt`, `node.crt` and `node.key`: the certificate parses, was signed by
 * the CA and matches its key. A bad set is refused whole, so a reload can never leave the
 * server with half a rotation.
 */
export function loadNodeCertificates(dir: string): NodeCertificates {
  const ca = readPem(dir, CA_CERT_FILE, 'create it with cairn cert create-ca');
  const cert = readPem(dir, NODE_CERT_FILE, 'create it with cairn cert create-node');
  const key = readPem(dir, NODE_KEY_FILE, 'create it with cairn cert create-node');
  let caCert: X509Certificate;
  let nodeCert: X509Certificate;
  try {
    caCert = new X509Certificate(ca);
    nodeCert = new X509Certificate(cert);
  } catch (err) {
    throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${dir}: not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!nodeCert.verify(caCert.publicKey)) {
    throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${dir}: ${NODE_CERT_FILE} was not signed by ${CA_CERT_FILE}`);
  }
  let matches = false;
  try {
    matches = nodeCert.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${dir}: ${NODE_KEY_FILE} is not a private key: ${(err as Error).message}`, { cause: err });
  }
  if (!matches) throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${dir}: ${NODE_KEY_FILE} does not belong to ${NODE_CERT_FILE}`);
  return { ca, cert, key, notAfter: nodeCert.validTo };
}

