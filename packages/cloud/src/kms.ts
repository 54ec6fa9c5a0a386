import type * as KmsSdk from '@aws-sdk/client-kms';
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { CairnError, ErrorCode } from '@cairn/errors';
import { redactStorageUri, splitUri } from './storage-uri.js';

/** Query parameters of `aws-kms:///<key>?...` URIs (CockroachDB's names). */
export const AwsKmsParam = {
  Auth: 'AUTH',
  AccessKeyId: 'AWS_ACCESS_KEY_ID',
  SecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  SessionToken: 'AWS_SESSION_TOKEN',
  Region: 'REGION',
  /** A KMS-compatible endpoint (a private endpoint, a test stand-in). */
  Endpoint: 'AWS_ENDPOINT',
  AssumeRole: 'ASSUME_ROLE',
} as const;

/** One KMS key, able to wrap and unwrap a backup's data key. */
export interface KmsKey {
  /** Scheme and key without the query, e.g. `aws-kms:///arn:...:key/abc`: no credentials, safe to store and show. */
  readonly id: string;
  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
  decrypt(ciphertext: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

/** The stored identity of a KMS URI: its scheme and key, never its query. */
export function kmsKeyId(uri: string): string {
  const parts = splitUri(uri);
  const scheme = parts.scheme === 'aws' ? 'aws-kms' : parts.scheme;
  return `${scheme}://${parts.host}${decodeURIComponent(parts.path)}`;
}

/**
 * Opens the KMS key a URI names. `aws-kms:///<key id, alias or ARN>?REGION=..&AUTH=..` (and
 * CockroachDB's older `aws:///...`) is implemented through AWS KMS's Encrypt and Decrypt; the
 * `gcp-kms://` and `azure-kms://` schemes are refused with FeatureNotSupported, as is anything
 * else. Errors never show credentials.
 */
export function openKms(uri: string): KmsKey {
  const parts = splitUri(uri);
  const shown = redactStorageUri(uri);
  switch (parts.scheme) {
    case 'aws':
    case 'aws-kms':
      return openAwsKms(uri, shown);
    case 'gcp-kms':
    case 'azure-kms':
      throw new CairnError(
        ErrorCode.FeatureNotSupported,
        `${parts.scheme}:// KMS is not supported by cairn yet (${shown}): use aws-kms:// or encryption_passphrase`,
      );
    default:
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `unsupported KMS scheme ${JSON.stringify(parts.scheme)} in ${shown}: use aws-kms:///<key>?REGION=<region>`,
      );
  }
}

function openAwsKms(uri: string, shown: string): KmsKey {
  const parts = splitUri(uri);
  const params = new URLSearchParams(parts.query ?? '');
  const known = new Set<string>(Object.values(AwsKmsParam));
  const unknown = [...params.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) throw new CairnError(ErrorCode.InvalidArgument, `unknown aws-kms query parameters: ${unknown.join(', ')}`);
  const keyId = decodeURIComponent(parts.path).replace(/^\/+/, '');
  if (parts.host !== '' || keyId === '') {
    throw new CairnError(ErrorCode.InvalidArgument, `aws-kms URI must name its key as aws-kms:///<key id or ARN>, got ${shown}`);
  }
  const region = params.get(AwsKmsParam.Region) ?? '';
  if (region === '') throw new CairnError(ErrorCode.InvalidArgument, `aws-kms URI missing the "${AwsKmsParam.Region}" parameter: ${shown}`);
  const auth = params.get(AwsKmsParam.Auth) ?? 'specified';
  if (auth !== 'specified' && auth !== 'implicit') {
    throw new CairnError(ErrorCode.InvalidArgument, `unsupported value ${JSON.stringify(auth)} for AUTH in ${shown} (use "specified" or "implicit")`);
  }
  const config: KMSClientConfig = { region, maxAttempts: 3 };
  const endpoint = params.get(AwsKmsParam.Endpoint);
  if (endpoint !== null && endpoint !== '') config.endpoint = endpoint;
  if (auth === 'specified') {
    const accessKeyId = params.get(AwsKmsParam.AccessKeyId) ?? '';
    const secretAccessKey = (params.get(AwsKmsParam.SecretAccessKey) ?? '').replaceAll(' ', '+');
    if (accessKeyId === '' || secretAccessKey === '') {
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `aws-kms URI with AUTH=specified needs ${AwsKmsParam.AccessKeyId} and ${AwsKmsParam.SecretAccessKey}: ${shown}`,
      );
    }
    const sessionToken = params.get(AwsKmsParam.SessionToken) ?? '';
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken === '' ? {} : { sessionToken }) };
  }
  const roles = (params.get(AwsKmsParam.AssumeRole) ?? '').split(',').filter((r) => r !== '');
  // The SDK loads with the key's first use, not with @cairn/cloud (see openStorage).
  let connecting: Promise<{ client: KMSClient; sdk: typeof KmsSdk }> | undefined;
  let opened: KMSClient | undefined;
  const connect = () =>
    (connecting ??= (async () => {
      const sdk = await import('@aws-sdk/client-kms');
      if (roles.length > 0) {
        const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
        for (const [i, roleArn] of roles.entries()) {
          config.credentials = fromTemporaryCredentials({
            ...(config.credentials === undefined ? {} : { masterCredentials: config.credentials as never }),
            params: { RoleArn: roleArn, RoleSessionName: `cairn-kms-${String(i)}` },
            clientConfig: { region },
          });
        }
      }
      opened = new sdk.KMSClient(config);
      return { client: opened, sdk };
    })());
  const id = kmsKeyId(uri);
  const fail = (op: string, err: unknown): CairnError => {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const detail = `${name}: ${(e.message ?? '').split('\n')[0] ?? ''}`;
    if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
      return new CairnError(ErrorCode.InvalidArgument, `aws-kms: ${op} with ${shown} failed: the backup's data key was not wrapped by this KMS key (${name})`, { cause: err });
    }
    if (status === 400 || status === 403 || name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'NotFoundException') {
      return new CairnError(ErrorCode.FailedPrecondition, `aws-kms: ${op} with ${shown} was refused (${detail}): check the key, REGION and credentials`, { cause: err });
    }
    return new CairnError(ErrorCode.Unavailable, `aws-kms: ${op} with ${shown} failed: ${detail}`, { cause: err, retryable: true });
  };
  return {
    id,
    async encrypt(plaintext) {
      try {
        const { client, sdk } = await connect();
        const res = await client.send(new sdk.EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        if (res.CiphertextBlob === undefined) throw new Error('no CiphertextBlob in the answer');
        return res.CiphertextBlob;
      } catch (err) {
        throw fail('encrypt', err);
      }
    },
    async decrypt(ciphertext) {
      try {
        const { client, sdk } = await connect();
        const res = await client.send(new sdk.DecryptCommand({ KeyId: keyId, CiphertextBlob: ciphertext }));
        if (res.Plaintext === undefined) throw new Error('no Plaintext in the answer');
        return res.Plaintext;
      } catch (err) {
        throw fail('decrypt', err);
      }
    },
    close: () => opened?.destroy(),
  };
}
