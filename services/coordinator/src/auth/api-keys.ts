import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { JsApiCode, isJsApiError } from '@cairn/cluster';
import type { KV } from 'nats';
import { API_KEY_ROLES, type ApiKeyRole } from '../managed/allowed-values.js';

/** The key of the API-key document in `cairn_meta`. */
const API_KEYS_KEY = 'api-keys';
const KEY_PREFIX = 'cairn';

/** One API key as stored: its secret only as a hash. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly role: ApiKeyRole;
  /** SHA-256 of the secret, hex. The secret is 32 random bytes, so a slow hash adds nothing. */
  readonly secretHash: string;
  readonly createdAtMs: number;
  /** Who created it (the SQL user of the call). */
  readonly createdBy: string;
}

interface StoredKeys {
  version: 1;
  keys: ApiKeyRecord[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export function isApiKeyRole(role: string): role is ApiKeyRole {
  return (API_KEY_ROLES as readonly string[]).includes(role);
}

/**
 * `cairn_<id>_<secret>`: the id finds the record without scanning, the secret proves the
 * caller holds the key. Shown once, when created.
 */
function formatKey(id: string, secret: string): string {
  return `${KEY_PREFIX}_${id}_${secret}`;
}

function parseKey(key: string): { id: string; secret: string } | undefined {
  const m = /^cairn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/**
 * API keys for the HTTP API (CockroachDB Cloud's service-account keys, one role each), in one
 * versioned JSON document of `cairn_meta` changed by compare-and-set.
 */
export class ApiKeyStore {
  constructor(private readonly kv: KV) {}

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.read()).doc.keys;
  }

  /** Creates a key and returns it with the one copy of its secret that will ever exist. */
  async create(name: string, role: string, createdBy: string): Promise<{ record: ApiKeyRecord; key: string }> {
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/.test(name)) {
      throw new CairnError(ErrorCode.InvalidArgument, `invalid API key name "${name}": use 1-63 letters, digits, spaces, '_', '.' or '-'`);
    }
    if (!isApiKeyRole(role)) {
      throw new CairnError(ErrorCode.InvalidArgument, `invalid role "${role}": allowed values are ${API_KEY_ROLES.join(', ')}`);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = { id, name, role, secretHash: sha256(secret).toString('hex'), createdAtMs: Date.now(), createdBy };
    await this.change((doc) => {
      if (doc.keys.some((k) => k.name === name)) throw new CairnError(ErrorCode.DuplicateObject, `an API key named "${name}" already exists`);
      return { version: 1, keys: [...doc.keys, record] };
    });
    return { record, key: formatKey(id, secret) };
  }

  async delete(nameOrId: string): Promise<void> {
    await this.change((doc) => {
      const keys = doc.keys.filter((k) => k.name !== nameOrId && k.id !== nameOrId);
      if (keys.length === doc.keys.length) throw new CairnError(ErrorCode.NotFound, `API key "${nameOrId}" does not exist`);
      return { version: 1, keys };
    });
  }

  /** The record of a presented key, or undefined when it is malformed, unknown or wrong. */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const parsed = parseKey(key);
    if (!parsed) return undefined;
    const record = (await this.list()).find((k) => k.id === parsed.id);
    if (!record) return undefined;
    const want = Buffer.from(record.secretHash, 'hex');
    const got = sha256(parsed.secret);
    return want.length === got.length && timingSafeEqual(want, got) ? record : undefined;
  }

  private async read(): Promise<{ doc: StoredKeys; revision: number }> {
    const e = await this.kv.get(API_KEYS_KEY);
    if (!e || e.operation !== 'PUT') return { doc: { version: 1, keys: [] }, revision: e?.revision ?? 0 };
    return { doc: JSON.parse(dec.decode(e.value)) as StoredKeys, revision: e.revision };
  }

  private async change(f: (doc: StoredKeys) => StoredKeys): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const { doc, revision } = await this.read();
      const next = f(doc);
      try {
        if (revision === 0) await this.kv.create(API_KEYS_KEY, enc.encode(JSON.stringify(next)));
        else await this.kv.update(API_KEYS_KEY, enc.encode(JSON.stringify(next)), revision);
        return;
      } catch (err) {
        if (!isJsApiError(err, JsApiCode.WrongLastSequence) || attempt >= 20) {
          throw new CairnError(ErrorCode.Unavailable, `cannot store API keys: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err });
        }
      }
    }
  }
}
