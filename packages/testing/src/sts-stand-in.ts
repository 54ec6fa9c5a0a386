import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Keys a caller signs with (what STS hands out, or the base keys it trusts). */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** One AssumeRole call as the stand-in saw it. */
export interface AssumeRoleCall {
  roleArn: string;
  sessionName: string;
  /** The access key ID the request was signed with. */
  callerKeyId: string;
  /** The `X-Amz-Security-Token` it carried (a chained call signs with temporary keys). */
  callerSessionToken: string | undefined;
}

/**
 * A STAND-IN for AWS STS, not an emulator of it: no STS emulator installs here (moto and
 * LocalStack are Python/Docker), so this answers `AssumeRole` in STS's own Query protocol
 * (form-encoded POST, XML answer) to the real `@aws-sdk/client-sts` client, which reaches it
 * through the SDK's standard `AWS_ENDPOINT_URL_STS` setting.
 *
 * It trusts `baseKeys` and every key pair it issued: a request must be SigV4-signed
 * (`Authorization: AWS4-HMAC-SHA256 Credential=<key id>/...`) with one of them, and a
 * temporary key must come with its session token. It does not recompute the signature, so it
 * proves which keys the client used, not that it signed correctly (s3rver checks that for S3).
 * `roles` says what each role ARN hands out; a role not listed is refused (AccessDenied).
 */
export interface StsStandIn {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly calls: readonly AssumeRoleCall[];
  stop(): Promise<void>;
}

export async function startStsStandIn(options: {
  baseKeys: AwsKeys[];
  /** Role ARN → keys to issue (a session token is added); `'random'` issues fresh ones. */
  roles: Record<string, AwsKeys | 'random'>;
}): Promise<StsStandIn> {
  const trusted = new Map<string, string | undefined>();
  for (const k of options.baseKeys) trusted.set(k.accessKeyId, k.sessionToken);
  const calls: AssumeRoleCall[] = [];

  function fail(res: ServerResponse, status: number, code: string, message: string): void {
    const xml = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
    res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const keyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
    const token = req.headers['x-amz-security-token'] as string | undefined;
    if (keyId === undefined || !trusted.has(keyId)) {
      return fail(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    }
    if (trusted.get(keyId) !== token) {
      return fail(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    }
    if (form.get('Action') !== 'AssumeRole') return fail(res, 400, 'InvalidAction', `the stand-in answers AssumeRole only`);
    const roleArn = form.get('RoleArn') ?? '';
    const sessionName = form.get('RoleSessionName') ?? '';
    calls.push({ roleArn, sessionName, callerKeyId: keyId, callerSessionToken: token });
    const grant = options.roles[roleArn];
    if (grant === undefined) {
      return fail(res, 403, 'AccessDenied', `User: ${keyId} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    }
    const keys =
      grant === 'random'
        ? { accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') }
        : grant;
    const sessionToken = `FwoG${randomBytes(48).toString('base64')}`;
    trusted.set(keys.accessKeyId, sessionToken);
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    const xml = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${keys.accessKeyId}</AccessKeyId><SecretAccessKey>${keys.secretAccessKey}</SecretAccessKey><SessionToken>${sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><Arn>${roleArn}/${sessionName}</Arn><AssumedRoleId>AROA:${sessionName}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, 500, 'InternalFailure', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    calls,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
