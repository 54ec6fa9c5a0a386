/**
 * NATS over TLS as `cairn start` connects (natsAuthFlags → connectNats), against a real
 * nats-server that requires TLS and verifies client certificates (`verify: true`) with
 * certificates made by `cairn cert`, and holds the deploy kit's accounts
 * (deploy/nats/cairn-accounts.conf): a process joins with its node certificate and cairn's
 * NATS password, from `tls://` defaults or the `--nats-tls-*` flags. Each way of getting it
 * wrong is refused before anything is read, with one line saying which: no client
 * certificate, one from another CA, a server certificate the CA given does not verify, a
 * server without TLS; and a client holding only SQL credentials (its client certificate)
 * cannot connect at all, let alone publish to a node's subjects.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type CairnError } from '@cairn/errors';
import { ClusterState, connectNats, type NatsAuth } from '@cairn/cluster';
import { cairnRejection, repoRoot, startNatsServer, tempDir, type NatsServerHandle } from '@cairn/testing';
import { createCa, createClientCert, createNodeCert } from '../certs/certificate-authority.js';
import { natsAuthFlags } from './process-flags.js';

const NATS_PASSWORD = 'nats-tls-pw-51c0';

let certs: string;
let other: string;
let tlsServer: NatsServerHandle;
let plainServer: NatsServerHandle;
let tlsUrl: string;

beforeAll(async () => {
  const dir = await tempDir('cairn-nats-tls');
  certs = join(dir, 'certs');
  other = join(dir, 'other');
  await createCa({ certsDir: certs, caKey: join(dir, 'ca.key') });
  await createNodeCert({ certsDir: certs, caKey: join(dir, 'ca.key') }, ['localhost', '127.0.0.1']);
  await createClientCert({ certsDir: certs, caKey: join(dir, 'ca.key') }, 'root');
  await createCa({ certsDir: other, caKey: join(dir, 'other.key') });
  await createNodeCert({ certsDir: other, caKey: join(dir, 'other.key') }, ['localhost', '127.0.0.1']);
  // The server's own copy of its certificate, as a NATS host has its own files.
  const serverCerts = join(dir, 'nats-server');
  await mkdir(serverCerts);
  for (const f of ['ca.crt', 'node.crt', 'node.key']) await copyFile(join(certs, f), join(serverCerts, f));
  const accounts = await readFile(join(repoRoot(), 'deploy/nats/cairn-accounts.conf'), 'utf8');
  tlsServer = await startNatsServer({
    extraConfig: [
      `tls { cert_file: ${JSON.stringify(join(serverCerts, 'node.crt'))}, key_file: ${JSON.stringify(join(serverCerts, 'node.key'))}, ca_file: ${JSON.stringify(join(serverCerts, 'ca.crt'))}, verify: true, timeout: 3 }`,
      `CAIRN_NATS_PASSWORD: ${JSON.stringify(NATS_PASSWORD)}`,
      'NATS_SYS_PASSWORD: "sys-unused"',
      accounts,
    ].join('\n'),
    readyAuth: { user: 'cairn', pass: NATS_PASSWORD, tls: { caFile: join(certs, 'ca.crt'), certFile: join(certs, 'node.crt'), keyFile: join(certs, 'node.key') } },
  });
  tlsUrl = tlsServer.url.replace(/^nats:/, 'tls:');
  plainServer = await startNatsServer({ jetstream: false });
}, 60_000);

afterAll(async () => {
  await tlsServer?.stop();
  await plainServer?.stop();
});

/** The refusal connecting with `auth`; a refused client certificate shows as a timeout first (see probeNatsTls), kept short here. */
function refusal(url: string, auth: NatsAuth): Promise<CairnError> {
  return cairnRejection(connectNats(url, 'tls-test', 1_500, auth).then((nc) => nc.close()));
}

describe('NATS with TLS and verified client certificates', () => {
  it('tls:// URLs with --certs-dir: the node certificate is the TLS identity; the process joins and reads the state', async () => {
    const auth = natsAuthFlags({ certsDir: certs, natsUser: 'cairn', natsPassword: NATS_PASSWORD }, tlsUrl);
    expect(auth.tlsCertFile).toBe(join(certs, 'node.crt'));
    const nc = await connectNats(tlsUrl, 'tls-test', 5_000, auth);
    try {
      const state = await ClusterState.open(nc);
      await state.meta.put('tls-test', new TextEncoder().encode('over tls'));
      expect(new TextDecoder().decode((await state.meta.get('tls-test'))?.value)).toBe('over tls');
    } finally {
      await nc.close();
    }
  });

  it('--nats-tls-ca, --nats-tls-cert and --nats-tls-key name the files (a nats:// URL too: the server requires TLS)', async () => {
    const auth = natsAuthFlags(
      { natsUser: 'cairn', natsPassword: NATS_PASSWORD, natsTlsCa: join(certs, 'ca.crt'), natsTlsCert: join(certs, 'node.crt'), natsTlsKey: join(certs, 'node.key') },
      tlsServer.url,
    );
    const nc = await connectNats(tlsServer.url, 'tls-test', 5_000, auth);
    await nc.flush();
    await nc.close();
  });

  it('no client certificate, or one from another CA: refused, naming the missing or refused certificate', async () => {
    const base = { user: 'cairn', password: NATS_PASSWORD, tlsCaFile: join(certs, 'ca.crt') };
    const bare = await refusal(tlsUrl, base);
    expect(bare.code).toBe(ErrorCode.Unauthenticated);
    expect(bare.message).toBe(
      `NATS at ${tlsUrl} refused a connection without a client certificate (TLS alert: bad certificate): give one signed by a CA the server trusts with --nats-tls-cert/--nats-tls-key`,
    );
    const foreign = await refusal(tlsUrl, { ...base, tlsCertFile: join(other, 'node.crt'), tlsKeyFile: join(other, 'node.key') });
    expect(foreign.code).toBe(ErrorCode.Unauthenticated);
    expect(foreign.message).toBe(
      `NATS at ${tlsUrl} refused the client certificate ${join(other, 'node.crt')} (TLS alert: bad certificate): give one signed by a CA the server trusts with --nats-tls-cert/--nats-tls-key`,
    );
  });

  it("a server certificate the CA given does not sign, or no CA at all (the system's CAs): refused", async () => {
    const wrongCa = await refusal(tlsUrl, { user: 'cairn', password: NATS_PASSWORD, tlsCaFile: join(other, 'ca.crt'), tlsCertFile: join(certs, 'node.crt'), tlsKeyFile: join(certs, 'node.key') });
    expect(wrongCa.code).toBe(ErrorCode.Unauthenticated);
    expect(wrongCa.message).toBe(`the TLS certificate of NATS at ${tlsUrl} does not verify (unable to verify the first certificate): give the CA that signed it with --nats-tls-ca`);
    const noTlsFlags = await refusal(tlsServer.url, { user: 'cairn', password: NATS_PASSWORD });
    expect(noTlsFlags.message).toMatch(/does not verify .*give the CA that signed it with --nats-tls-ca$/);
  });

  it('TLS asked of a server without TLS: refused rather than sent in plaintext', async () => {
    const err = await refusal(plainServer.url, { tlsCaFile: join(certs, 'ca.crt') });
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toBe(`NATS at ${plainServer.url} does not offer TLS, which --nats-tls-* (or a tls:// URL with --certs-dir) asks for`);
  });

  it('a client with only SQL credentials (its client certificate, valid for TLS) has no NATS user: refused', async () => {
    const sqlClient = { tlsCaFile: join(certs, 'ca.crt'), tlsCertFile: join(certs, 'client.root.crt'), tlsKeyFile: join(certs, 'client.root.key') };
    const err = await refusal(tlsUrl, sqlClient);
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.message).toMatch(/refused the connection \('Authorization Violation'\)/);
    // Nor with a guessed password for cairn's user.
    expect((await refusal(tlsUrl, { ...sqlClient, user: 'cairn', password: 'guess' })).code).toBe(ErrorCode.Unauthenticated);
  });
});
