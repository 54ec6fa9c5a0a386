import type { KV } from 'nats';
import { JsApiCode, isJsApiError } from './nats-errors.js';

/**
 * Allocates small unique integers (node ids) with `kv.create()`: the first caller to create
 * `<prefix>.<n>` owns n. Safe with any number of concurrent callers and needs no leader, which
 * matters because nodes may start before any coordinator.
 */
export async function allocateId(kv: KV, prefix: string, owner: string, first = 1): Promise<number> {
  for (let n = first; ; n++) {
    try {
      await kv.create(`${prefix}.${n}`, new TextEncoder().encode(owner));
      return n;
    } catch (err) {
      if (!isJsApiError(err, JsApiCode.WrongLastSequence)) throw err;
    }
  }
}

/** Returns the value stored under `key`, creating it with `make()` if absent (first writer wins). */
export async function getOrCreate(kv: KV, key: string, make: () => string): Promise<string> {
  const existing = await kv.get(key);
  if (existing && existing.operation === 'PUT') return existing.string();
  try {
    await kv.create(key, new TextEncoder().encode(make()));
  } catch (err) {
    // Lost the race: read the winner's value below. Anything else is a real failure.
    if (!isJsApiError(err, JsApiCode.WrongLastSequence)) throw err;
  }
  const e = await kv.get(key);
  if (!e) throw new Error(`KV key ${key} vanished after create`);
  return e.string();
}
