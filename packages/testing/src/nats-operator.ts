import { createHash } from 'node:crypto';
import { nkeys } from 'nats';

/**
 * A NATS operator with accounts and users as JWTs, made in memory, for tests of servers in
 * operator (decentralized JWT) mode and of `.creds` files; `nsc` does the same for an
 * operator, but is not installed here. The JWTs follow the NATS JWT v2 format: header
 * `{"typ":"JWT","alg":"ed25519-nkey"}`, claims whose `iss` signed them (operator → account →
 * user), an ed25519 signature, all base64url.
 */

type KeyPair = ReturnType<typeof nkeys.createOperator>;

/**
 * What the deploy kit's CAIRN account lets cairn's processes use
 * (deploy/nats/cairn-accounts.conf; packages/cluster/src/nats-credentials.test.ts checks the
 * two agree), for JWT users given the same permissions.
 */
export const CAIRN_NATS_PERMISSIONS = {
  publish: ['cairn.>', '$JS.API.>', '$KV.>', '$JS.ACK.>', '$JS.FC.>', '_INBOX.>'],
  subscribe: ['cairn.>', '_INBOX.>'],
} as const satisfies { publish: readonly string[]; subscribe: readonly string[] };

/** Subjects a user may publish and subscribe to (absent: anything the account allows). */
export interface NatsUserPermissions {
  publish?: readonly string[];
  subscribe?: readonly string[];
}

export interface NatsOperatorAccount {
  name: string;
  publicKey: string;
  jwt: string;
  /** A `.creds` file's text for a new user of this account: its JWT and its nkey seed. */
  userCreds(name: string, permissions?: NatsUserPermissions): string;
}

export interface NatsOperator {
  /** nats-server configuration: the operator, its system account and a memory resolver preloaded with every account. */
  serverConfig(): string;
  /** A new account signed by the operator; `jetstream` gives it unlimited JetStream. */
  account(name: string, o?: { jetstream?: boolean }): NatsOperatorAccount;
}

function b64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  // jti: a digest of the claims, as the JWT libraries make it (the server only needs it unique).
  claims['jti'] = createHash('sha256').update(JSON.stringify(claims)).digest('base64url');
  const body = b64url(JSON.stringify(claims));
  const signature = issuer.sign(new TextEncoder().encode(`${header}.${body}`));
  return `${header}.${body}.${b64url(signature)}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const UNLIMITED_JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** A new operator with a system account (`SYS`). */
export function createNatsOperator(name = 'cairn-test-operator'): NatsOperator {
  const operator = nkeys.createOperator();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), name, { type: 'operator' });
  const accounts: NatsOperatorAccount[] = [];
  const account = (accountName: string, o: { jetstream?: boolean } = {}): NatsOperatorAccount => {
    const kp = nkeys.createAccount();
    const jwt = encodeJwt(operator, kp.getPublicKey(), accountName, {
      type: 'account',
      limits: { ...UNLIMITED, ...(o.jetstream ? UNLIMITED_JETSTREAM : {}) },
    });
    const a: NatsOperatorAccount = {
      name: accountName,
      publicKey: kp.getPublicKey(),
      jwt,
      userCreds: (userName, permissions = {}) => {
        const user = nkeys.createUser();
        const userJwt = encodeJwt(kp, user.getPublicKey(), userName, {
          type: 'user',
          subs: -1,
          data: -1,
          payload: -1,
          pub: permissions.publish ? { allow: permissions.publish } : {},
          sub: permissions.subscribe ? { allow: permissions.subscribe } : {},
        });
        const seed = new TextDecoder().decode(user.getSeed());
        return [
          '-----BEGIN NATS USER JWT-----',
          userJwt,
          '------END NATS USER JWT------',
          '',
          '-----BEGIN USER NKEY SEED-----',
          seed,
          '------END USER NKEY SEED------',
          '',
        ].join('\n');
      },
    };
    accounts.push(a);
    return a;
  };
  const sys = account('SYS');
  return {
    account,
    serverConfig: () =>
      [
        `operator: ${JSON.stringify(operatorJwt)}`,
        `system_account: ${sys.publicKey}`,
        'resolver: MEMORY',
        'resolver_preload: {',
        ...accounts.map((a) => `  ${a.publicKey}: ${JSON.stringify(a.jwt)}`),
        '}',
      ].join('\n'),
  };
}
