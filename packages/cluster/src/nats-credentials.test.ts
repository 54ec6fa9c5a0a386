/**
 * `--nats-creds` and `--nats-nkey` (NatsAuth.credsFile / nkeySeedFile) against real
 * nats-servers configured for them: one in operator (JWT) mode with a memory resolver, one
 * with an nkey user in an account. The right credential opens the cluster's state (JetStream
 * KV buckets and the write log) and reads back what it wrote; a wrong one is refused at the
 * connection with UNAUTHENTICATED and one line, before anything is read. TLS and
 * user/password are exercised by test/secure-cluster.test.ts on whole processes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credsAuthenticator, nkeyAuthenticator, nkeys } from 'nats';
import { ErrorCode, type CairnError } from '@cairn/errors';
import { CAIRN_NATS_PERMISSIONS, cairnRejection, createNatsOperator, repoRoot, publishOutcome, startNatsServer, tempDir, type NatsServerHandle } from '@cairn/testing';
import { connectNats, type NatsAuth } from './nats-connection.js';
import { ClusterState } from './state-buckets.js';


let dir: string;
const servers: NatsServerHandle[] = [];

beforeAll(async () => {
  dir = await tempDir('cairn-nats-creds');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function secretFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/** Joins as a process does (connect, open the state) and reads back a key it wrote. */
async function joinAndRoundTrip(url: string, auth: NatsAuth): Promise<string> {
  const nc = await connectNats(url, 'creds-test', 5_000, auth);
  try {
    const state = await ClusterState.open(nc);
    await state.meta.put('creds-test', new TextEncoder().encode('seen'));
    const entry = await state.meta.get('creds-test');
    return new TextDecoder().decode(entry?.value);
  } finally {
    await nc.close();
  }
}

function refusal(url: string, auth: NatsAuth): Promise<CairnError> {
  return cairnRejection(connectNats(url, 'creds-test', 5_000, auth).then((nc) => nc.close()));
}

it("the JWT users below get the deploy kit's CAIRN account permissions", async () => {
  const conf = await readFile(join(repoRoot(), 'deploy/nats/cairn-accounts.conf'), 'utf8');
  const allow = (kind: string) => JSON.parse(new RegExp(`${kind}: \\{\\s*allow: (\\[[^\\]]*\\])`).exec(conf)?.[1] ?? 'null') as unknown;
  expect(allow('publish')).toEqual(CAIRN_NATS_PERMISSIONS.publish);
  expect(allow('subscribe')).toEqual(CAIRN_NATS_PERMISSIONS.subscribe);
});

describe('--nats-creds against a server in operator (JWT) mode', () => {
  let server: NatsServerHandle;
  let creds: string;
  const operator = createNatsOperator();
  const cairn = operator.account('CAIRN', { jetstream: true });

  beforeAll(async () => {
    creds = await secretFile('cairn.creds', cairn.userCreds('cairn', CAIRN_NATS_PERMISSIONS));
    server = await startNatsServer({
      extraConfig: operator.serverConfig(),
      readyAuth: { authenticator: credsAuthenticator(new TextEncoder().encode(cairn.userCreds('ready'))) },
    });
    servers.push(server);
  });

  it("a user of cairn's account joins: opens the state and reads back what it wrote", async () => {
    expect(await joinAndRoundTrip(server.url, { credsFile: creds })).toBe('seen');
  });

  it('the JWT limits the user to cairn subjects', async () => {
    const nc = await connectNats(server.url, 'creds-test', 5_000, { credsFile: creds });
    try {
      expect(await publishOutcome(nc, 'elsewhere.secret')).toMatch(/PERMISSIONS_VIOLATION/);
      // A cairn subject is allowed: the same publish draws no error.
      expect(await publishOutcome(nc, 'cairn.creds-test', 500)).toBe('no error');
    } finally {
      await nc.close();
    }
  });

  it('a user signed by another operator, no credentials, and a missing file are refused with one line', async () => {
    const stranger = createNatsOperator('stranger').account('CAIRN', { jetstream: true });
    const err = await refusal(server.url, { credsFile: await secretFile('stranger.creds', stranger.userCreds('cairn')) });
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.message).toMatch(/^NATS at nats:\/\/127\.0\.0\.1:\d+ refused the connection \('Authorization Violation'\): give the credentials of its cairn account with --nats-creds/);
    expect(err.message).not.toContain('\n');
    expect((await refusal(server.url, {})).code).toBe(ErrorCode.Unauthenticated);
    const missing = await refusal(server.url, { credsFile: join(dir, 'absent.creds') });
    expect(missing.code).toBe(ErrorCode.InvalidArgument);
    expect(missing.message).toMatch(/^--nats-creds .*absent\.creds: ENOENT/);
  });
});

describe('--nats-nkey against a server with an nkey user', () => {
  let server: NatsServerHandle;
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());

  beforeAll(async () => {
    server = await startNatsServer({
      extraConfig: [
        'accounts {',
        '  CAIRN {',
        '    jetstream: enabled',
        `    users: [ { nkey: ${user.getPublicKey()}, permissions: { publish: { allow: ${JSON.stringify(CAIRN_NATS_PERMISSIONS.publish)} }, subscribe: { allow: ${JSON.stringify(CAIRN_NATS_PERMISSIONS.subscribe)} } } } ]`,
        '  }',
        '}',
      ].join('\n'),
      readyAuth: { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) },
    });
    servers.push(server);
  });

  it('the seed file joins: opens the state and reads back what it wrote (surrounding whitespace ignored)', async () => {
    expect(await joinAndRoundTrip(server.url, { nkeySeedFile: await secretFile('cairn.nk', `${seed}\n`) })).toBe('seen');
  });

  it("another user's seed and no credentials are refused; the seed never appears in an error", async () => {
    const otherSeed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const err = await refusal(server.url, { nkeySeedFile: await secretFile('other.nk', otherSeed) });
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.message).toMatch(/refused the connection \('Authorization Violation'\)/);
    expect(err.message).not.toContain(otherSeed);
    expect((await refusal(server.url, {})).code).toBe(ErrorCode.Unauthenticated);
    // Only one kind of credential at a time: no guessing which the operator meant.
    const both = await refusal(server.url, { nkeySeedFile: join(dir, 'cairn.nk'), user: 'cairn', password: 'x' });
    expect(both.message).toBe('give only one NATS credential, not --nats-user/--nats-password and --nats-nkey');
  });
});
