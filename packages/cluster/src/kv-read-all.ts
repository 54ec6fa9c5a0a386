import type { KV } from 'nats';

/**
 * Every live key of a bucket with its latest value. Uses a watch that ends once the initial
 * values are delivered: iterating `kv.keys()` while awaiting per-key reads can stop early.
 */
export async function readAllKeys(kv: KV): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let done!: () => void;
  const initialized = new Promise<void>((r) => (done = r));
  const w = await kv.watch({ initializedFn: () => done() });
  void (async () => {
    for await (const e of w) {
      if (e.operation === 'PUT') out.set(e.key, e.value);
      else out.delete(e.key);
    }
  })();
  await initialized;
  w.stop();
  return out;
}
