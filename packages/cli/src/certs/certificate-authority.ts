import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { CairnError, ErrorCode } from '@cairn/errors';

// node:crypto parses certificates but cannot issue them; @peculiar/x509 issues them over
// node's own WebCrypto.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * Certificates with CockroachDB's file names and roles:
 * - `ca.crt` (in the certs dir) and `ca.key` (at `--ca-key`, kept apart: whoever holds it can
 *   mint any identity);
 * - `node.crt` / `node.key`: a process's identity, CN `node`, the hosts it is reached at as
 *   subject alternative names, usable as a TLS server and client;
 * - `client.<user>.crt` / `.key`: a SQL client's identity, CN the user.
 * Keys are ECDSA P-256 (fast to create, accepted by every TLS stack here), PKCS#8 PEM, mode 0600.
 */

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_LIFETIME_DAYS = 10 * 365;
const CERT_LIFETIME_DAYS = 5 * 365;
/** A little backdating tolerates clock skew between the machine that signs and those that check. */
const BACKDATE_MS = 60 * 60 * 1000;

export const CA_CERT = 'ca.crt';
export const NODE_CERT = 'node.crt';
export const NODE_KEY = 'node.key';
export const clientCert = (user: string) => `client.${user}.crt`;
export const clientKey = (user: string) => `client.${user}.key`;

export interface WriteOptions {
  certsDir: string;
  caKey: string;
  /** Replace existing files instead of refusing (CockroachDB's --overwrite). */
  overwrite?: boolean;
  lifetimeDays?: number;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function refuseExisting(paths: string[], overwrite: boolean | undefined): Promise<void> {
  if (overwrite) return;
  for (const p of paths) {
    if (await exists(p)) throw new CairnError(ErrorCode.DuplicateObject, `${p} already exists: pass --overwrite to replace it`);
  }
}

async function writePem(path: string, pem: string, secret: boolean): Promise<void> {
  await writeFile(path, pem.endsWith('\n') ? pem : pem + '\n', { mode: secret ? 0o600 : 0o644 });
  await chmod(path, secret ? 0o600 : 0o644);
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * 86_400_000) };
}

/** `cairn cert create-ca`: a self-signed CA, ca.crt in the certs dir and its key at --ca-key. */
export async function createCa(o: WriteOptions): Promise<void> {
  await mkdir(o.certsDir, { recursive: true });
  const certPath = join(o.certsDir, CA_CERT);
  await refuseExisting([certPath, o.caKey], o.overwrite);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'O=Cairn, CN=Cairn CA',
    keys,
    signingAlgorithm: ALG,
    ...validity(o.lifetimeDays ?? CA_LIFETIME_DAYS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writePem(o.caKey, await exportKey(keys.privateKey), true);
  await writePem(certPath, cert.toString('pem'), false);
}

async function loadCa(o: WriteOptions): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(join(o.certsDir, CA_CERT), 'utf8');
    keyPem = await readFile(o.caKey, 'utf8');
  } catch (err) {
    throw new CairnError(ErrorCode.NotFound, `cannot read the CA (${join(o.certsDir, CA_CERT)} and --ca-key ${o.caKey}): ${(err as Error).message}; create it with cairn cert create-ca`, { cause: err });
  }
  const cert = new x509.X509Certificate(certPem);
  if (!new NodeX509(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new CairnError(ErrorCode.InvalidArgument, `--ca-key ${o.caKey} does not belong to ${join(o.certsDir, CA_CERT)}`);
  }
  const key = (await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALG, false, ['sign'])) as CryptoKey;
  return { cert, key };
}

async function issue(o: WriteOptions, cn: string, extensions: x509.Extension[], certFile: string, keyFile: string): Promise<void> {
  const certPath = join(o.certsDir, certFile);
  const keyPath = join(o.certsDir, keyFile);
  await refuseExisting([certPath, keyPath], o.overwrite);
  const ca = await loadCa(o);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `O=Cairn, CN=${cn}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALG,
    ...validity(o.lifetimeDays ?? CERT_LIFETIME_DAYS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
      ...extensions,
    ],
  });
  // Key first: a certificate without its key would look usable and fail at the handshake.
  await writePem(keyPath, await exportKey(keys.privateKey), true);
  await writePem(certPath, cert.toString('pem'), false);
}

/** `cairn cert create-node <host>...`: node.crt/node.key, CN node, the hosts as SANs. */
export async function createNodeCert(o: WriteOptions, hosts: string[]): Promise<void> {
  if (hosts.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'create-node needs at least one host name or IP address the node is reached at');
  const names = hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h }));
  await issue(
    o,
    'node',
    [new x509.SubjectAlternativeNameExtension(names), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])],
    NODE_CERT,
    NODE_KEY,
  );
}

/** `cairn cert create-client <user>`: client.<user>.crt/.key, CN the user. */
export async function createClientCert(o: WriteOptions, user: string): Promise<void> {
  const name = user.normalize('NFC').toLowerCase();
  if (!/^[\p{Ll}0-9_][-\p{Ll}0-9_.]*$/u.test(name) || name.length > 63) throw new CairnError(ErrorCode.InvalidArgument, `invalid user name "${user}"`);
  await issue(o, name, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])], clientCert(name), clientKey(name));
}

/** One row of `cairn cert list`. */
export interface CertificateInfo {
  usage: 'CA' | 'Node' | 'Client';
  certificateFile: string;
  keyFile: string;
  expires: string;
  notes: string;
}

/** `cairn cert list`: the certificates of a directory, as `cockroach cert list` shows them. */
export async function listCertificates(certsDir: string): Promise<CertificateInfo[]> {
  let files: string[];
  try {
    files = (await readdir(certsDir)).sort();
  } catch (err) {
    throw new CairnError(ErrorCode.NotFound, `cannot read --certs-dir ${certsDir}: ${(err as Error).message}`, { cause: err });
  }
  const out: CertificateInfo[] = [];
  for (const f of files) {
    const m = f === CA_CERT ? 'CA' : f === NODE_CERT ? 'Node' : /^client\..+\.crt$/.test(f) ? 'Client' : undefined;
    if (m === undefined) continue;
    const cert = new NodeX509(await readFile(join(certsDir, f)));
    const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? '';
    const keyFile = m === 'CA' ? '' : f.replace(/\.crt$/, '.key');
    const notes = m === 'Node' ? `addresses: ${(cert.subjectAltName ?? '').replace(/(DNS|IP Address):/g, '')}` : m === 'Client' ? `user: ${cn}` : `num certs: 1`;
    out.push({ usage: m, certificateFile: f, keyFile: keyFile && files.includes(keyFile) ? keyFile : '', expires: new Date(cert.validTo).toISOString().slice(0, 10), notes });
  }
  return out;
}
