import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A STAND-IN for AWS KMS, not an emulator of it: no KMS emulator installs here (local-kms is a
 * Go binary, LocalStack needs Docker), so this answers `Encrypt` and `Decrypt` in KMS's own
 * JSON 1.1 protocol (`X-Amz-Target: TrentService.*`) to the real `@aws-sdk/client-kms`
 * client, which reaches it through `AWS_ENDPOINT` in cairn's `aws-kms://` URIs.
 *
 * Each key is an AES-256-GCM key held in memory; a ciphertext blob names its key, as real KMS
 * blobs do, so `Decrypt` with another `KeyId` fails with `IncorrectKeyException` and a blob
 * of an unknown key with `InvalidCiphertextException`. Keys are addressed by id, ARN or
 * `alias/<name>`. Requests must be SigV4-signed with the access key ID given (the signature
 * itself is not recomputed); others get `UnrecognizedClientException`.
 */
export interface KmsStandIn {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Creates a key (optionally with an alias) and returns its ARN. */
  createKey(alias?: string): string;
  /** `aws-kms:///<key>?AUTH=specified&AWS_ACCESS_KEY_ID=..&AWS_SECRET_ACCESS_KEY=..&REGION=..&AWS_ENDPOINT=..` */
  uri(key: string): string;
  /** Requests answered, by operation. */
  readonly calls: ReadonlyArray<{ op: string; keyId: string }>;
  stop(): Promise<void>;
}

interface Key {
  arn: string;
  id: string;
  material: Buffer;
}

const ID_BYTES = 16;

export async function startKmsStandIn(options: { region?: string } = {}): Promise<KmsStandIn> {
  const region = options.region ?? 'us-east-1';
  const accessKeyId = 'AKIAKMSSTANDIN';
  const secretAccessKey = `kms-${randomBytes(12).toString('hex')}`;
  const keys = new Map<string, Key>();
  const byRef = new Map<string, Key>();
  const calls: Array<{ op: string; keyId: string }> = [];

  class KmsError extends Error {
    constructor(
      readonly type: string,
      message: string,
    ) {
      super(message);
    }
  }

  function resolve(ref: string | undefined): Key {
    const key = ref === undefined ? undefined : byRef.get(ref);
    if (key === undefined) throw new KmsError('NotFoundException', `Key '${String(ref)}' does not exist`);
    return key;
  }

  function encrypt(key: Key, plain: Buffer): Buffer {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key.material, nonce);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from(key.id.replaceAll('-', ''), 'hex'), nonce, body, c.getAuthTag()]);
  }

  function decrypt(blob: Buffer, wanted: string | undefined): { key: Key; plain: Buffer } {
    if (blob.length < ID_BYTES + 12 + 16) throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid.');
    const id = blob.subarray(0, ID_BYTES).toString('hex');
    const key = keys.get(id);
    if (key === undefined) throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to a customer master key that does not exist.');
    if (wanted !== undefined && resolve(wanted) !== key) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    }
    const d = createDecipheriv('aes-256-gcm', key.material, blob.subarray(ID_BYTES, ID_BYTES + 12));
    d.setAuthTag(blob.subarray(blob.length - 16));
    try {
      return { key, plain: Buffer.concat([d.update(blob.subarray(ID_BYTES + 12, blob.length - 16)), d.final()]) };
    } catch {
      throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid.');
    }
  }

  async function handle(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const caller = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
    if (caller !== accessKeyId) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const target = String(req.headers['x-amz-target'] ?? '');
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string | undefined>;
    const op = target.replace(/^TrentService\./, '');
    calls.push({ op, keyId: body['KeyId'] ?? '' });
    switch (op) {
      case 'Encrypt': {
        const key = resolve(body['KeyId']);
        const blob = encrypt(key, Buffer.from(body['Plaintext'] ?? '', 'base64'));
        return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'Decrypt': {
        const { key, plain } = decrypt(Buffer.from(body['CiphertextBlob'] ?? '', 'base64'), body['KeyId']);
        return { Plaintext: plain.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      default:
        throw new KmsError('UnsupportedOperationException', `the stand-in answers Encrypt and Decrypt only, not ${target}`);
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req)
      .then((out) => {
        const text = JSON.stringify(out);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() }).end(text);
      })
      .catch((err: unknown) => {
        const type = err instanceof KmsError ? err.type : 'KMSInternalException';
        const status = type === 'KMSInternalException' ? 500 : 400;
        const text = JSON.stringify({ __type: type, message: err instanceof Error ? err.message : String(err) });
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type }).end(text);
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  return {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    createKey(alias) {
      const id = randomUUID();
      const key: Key = { id, arn: `arn:aws:kms:${region}:111122223333:key/${id}`, material: randomBytes(32) };
      keys.set(id.replaceAll('-', ''), key);
      byRef.set(id, key);
      byRef.set(key.arn, key);
      if (alias !== undefined) byRef.set(`alias/${alias}`, key);
      return key.arn;
    },
    uri(key) {
      const q = new URLSearchParams({
        AUTH: 'specified',
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        REGION: region,
        AWS_ENDPOINT: endpoint,
      });
      return `aws-kms:///${key}?${q.toString()}`;
    },
    calls,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
