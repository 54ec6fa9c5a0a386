import type { KV } from 'nats';
import { JsApiCode, isJsApiError } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { WriteLock } from '../write-lock.js';
import { EMPTY_PRIVILEGE_STATE, type GrantRecord, type PrivilegeObject, type PrivilegeState, type UserRecord } from './privilege-model.js';

/**
 * The key of the privilege state in the `cairn_meta` bucket, beside the external connections:
 * replicated by JetStream like every other piece of cluster metadata, so users and grants
 * survive restarts and coordinator failovers. One document (users and grants are few) keeps
 * every change atomic: DROP USER checks and removes in one write.
 */
export const PRIVILEGES_KEY = 'privileges';

/** Bumped when the stored document changes shape; a newer one is refused, not misread. */
const FORMAT_VERSION = 1;
/** Attempts at a compare-and-set that another process keeps winning before giving up. */
const CONFLICT_ATTEMPTS = 30;
/** Attempts when JetStream itself fails (not a conflict). */
const FAILURE_ATTEMPTS = 3;

/**
 * Changes from one process are serialized per bucket (statements on one leader never race
 * each other); the revision check only has to settle races between processes.
 */
const localLocks = new WeakMap<KV, WriteLock>();

function isConflict(err: unknown): boolean {
  return isJsApiError(err, JsApiCode.WrongLastSequence);
}

interface StoredDocument {
  version: number;
  users: UserRecord[];
  grants: GrantRecord[];
}

/** The stored form of a state: versioned JSON. */
export function encodePrivileges(state: PrivilegeState): Uint8Array {
  const doc: StoredDocument = { version: FORMAT_VERSION, users: [...state.users], grants: [...state.grants] };
  return new TextEncoder().encode(JSON.stringify(doc));
}

function corrupt(detail: string): CairnError {
  return new CairnError(ErrorCode.Corruption, `stored privileges (key ${PRIVILEGES_KEY} of cairn_meta) are invalid: ${detail}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function decodeObject(v: unknown): PrivilegeObject {
  if (isObject(v)) {
    if (v['kind'] === 'system') return { kind: 'system' };
    if ((v['kind'] === 'database' || v['kind'] === 'table') && Number.isInteger(v['id'])) return { kind: v['kind'], id: v['id'] as number };
    if (v['kind'] === 'externalConnection' && typeof v['name'] === 'string') return { kind: 'externalConnection', name: v['name'] };
  }
  throw corrupt(`bad grant object ${JSON.stringify(v)}`);
}

/** Reads a stored state, checking its shape so a damaged document fails loudly. */
export function decodePrivileges(bytes: Uint8Array): PrivilegeState {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err));
  }
  if (!isObject(doc) || !Array.isArray(doc['users']) || !Array.isArray(doc['grants'])) throw corrupt('not a privileges document');
  if (doc['version'] !== FORMAT_VERSION) throw corrupt(`format version ${String(doc['version'])}, this build reads ${FORMAT_VERSION}`);
  const users = doc['users'].map((u): UserRecord => {
    if (!isObject(u) || typeof u['name'] !== 'string' || typeof u['admin'] !== 'boolean' || typeof u['createdAtMs'] !== 'number') {
      throw corrupt(`bad user ${JSON.stringify(u)}`);
    }
    const base = { name: u['name'], admin: u['admin'], createdAtMs: u['createdAtMs'] };
    return typeof u['passwordHash'] === 'string' ? { ...base, passwordHash: u['passwordHash'] } : base;
  });
  const grants = doc['grants'].map((g): GrantRecord => {
    if (!isObject(g) || typeof g['grantee'] !== 'string' || typeof g['privilege'] !== 'string') throw corrupt(`bad grant ${JSON.stringify(g)}`);
    return { object: decodeObject(g['object']), grantee: g['grantee'], privilege: g['privilege'] };
  });
  return { users, grants };
}

/**
 * Reads and changes the privilege state in its KV bucket. A change is a compare-and-set on
 * the key's revision, retried on a concurrent change, so two statements (or a deposed leader
 * still finishing one) never lose each other's update.
 */
export class PrivilegeStore {
  constructor(private readonly kv: KV) {}

  /** The current state (empty before the first user or grant). */
  async read(): Promise<PrivilegeState> {
    return (await this.readEntry()).state;
  }

  /**
   * Applies `change` to the current state and stores the result; returns what `change`
   * returned beside the state. A change that returns the same state object writes nothing.
   */
  async update<T = void>(change: (state: PrivilegeState) => { state: PrivilegeState; result: T }): Promise<T> {
    let lock = localLocks.get(this.kv);
    if (lock === undefined) localLocks.set(this.kv, (lock = new WriteLock()));
    return lock.run(() => this.compareAndSet(change));
  }

  private async compareAndSet<T>(change: (state: PrivilegeState) => { state: PrivilegeState; result: T }): Promise<T> {
    let conflicts = 0;
    let failures = 0;
    for (;;) {
      const { state, revision } = await this.readEntry();
      const { state: next, result } = change(state);
      if (next === state) return result;
      try {
        if (revision === 0) await this.kv.create(PRIVILEGES_KEY, encodePrivileges(next));
        else await this.kv.update(PRIVILEGES_KEY, encodePrivileges(next), revision);
        return result;
      } catch (err) {
        // Another process wrote first: read its state and apply the change again on top.
        const conflict = isConflict(err);
        if (conflict ? ++conflicts >= CONFLICT_ATTEMPTS : ++failures >= FAILURE_ATTEMPTS) {
          throw new CairnError(ErrorCode.Unavailable, `cannot store privileges: ${err instanceof Error ? err.message : String(err)}`, {
            retryable: true,
            cause: err,
          });
        }
        await new Promise((r) => setTimeout(r, conflict ? Math.random() * 10 * conflicts : 100 * failures));
      }
    }
  }

  private async readEntry(): Promise<{ state: PrivilegeState; revision: number }> {
    let entry;
    try {
      entry = await this.kv.get(PRIVILEGES_KEY);
    } catch (err) {
      throw new CairnError(ErrorCode.Unavailable, `cannot read privileges: ${err instanceof Error ? err.message : String(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!entry || entry.operation !== 'PUT') return { state: EMPTY_PRIVILEGE_STATE, revision: entry?.revision ?? 0 };
    return { state: decodePrivileges(entry.value), revision: entry.revision };
  }
}
