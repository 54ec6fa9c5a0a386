import type { KV, KvEntry, NatsConnection } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchConnection } from './nats-connection.js';

export interface KvMirrorOptions {
  /** Called with a value that `decode` refused (the entry is left out). */
  onError?: (err: unknown, key: string) => void;
  /** Only keys matching this (KV key filter, e.g. `node.*`); default every key. */
  key?: string;
}

/**
 * Every live key of a KV bucket, decoded, kept current in memory by a watch: what a process
 * needs of the cluster settings, the node records, the protected timestamp records.
 *
 * The watch is an ordered consumer. When the connection moves to another NATS server (its
 * own died), or the watch ends, the mirror starts a new watch and rebuilds itself from its
 * replay, swapping the rebuilt map in only once the replay is complete: readers never see
 * it empty, and a key deleted while the old watch was lost does not linger.
 */
export class KvMirror<T> {
  private current = new Map<string, T>();
  private stopped = false;
  private watcher: { stop(): void } | undefined;
  private restartRequested = false;
  private readonly stopStatus: () => void;

  private constructor(
    private readonly kv: KV,
    private readonly decode: (key: string, value: Uint8Array) => T,
    private readonly o: KvMirrorOptions,
    nc: NatsConnection,
  ) {
    this.stopStatus = watchConnection(nc, (change) => change === 'reconnect' && this.restart());
  }

  /** Opens the mirror; resolves once every stored key is loaded. */
  static async open<T>(nc: NatsConnection, kv: KV, decode: (key: string, value: Uint8Array) => T, o: KvMirrorOptions = {}): Promise<KvMirror<T>> {
    const m = new KvMirror(kv, decode, o, nc);
    await new Promise<void>((resolve, reject) => {
      m.follow(resolve).catch(reject);
    });
    return m;
  }

  get(key: string): T | undefined {
    return this.current.get(key);
  }

  has(key: string): boolean {
    return this.current.has(key);
  }

  values(): IterableIterator<T> {
    return this.current.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.current.entries();
  }

  get size(): number {
    return this.current.size;
  }

  /**
   * Records a write this process just made, so it reads its own write at once (the watch
   * delivers the same value moments later).
   */
  apply(key: string, value: T | undefined): void {
    if (value === undefined) this.current.delete(key);
    else this.current.set(key, value);
  }

  stop(): void {
    this.stopped = true;
    this.stopStatus();
    this.watcher?.stop();
  }

  private restart(): void {
    this.restartRequested = true;
    this.watcher?.stop();
  }

  /** Runs watches one after another until stopped; `loaded` is called after the first replay. */
  private async follow(loaded: () => void): Promise<void> {
    let first = true;
    while (!this.stopped) {
      this.restartRequested = false;
      const fresh = new Map<string, T>();
      let replayed = false;
      try {
        const w = await this.kv.watch({
          ...(this.o.key ? { key: this.o.key } : {}),
          initializedFn: () => {
            replayed = true;
            this.current = fresh;
            if (first) {
              first = false;
              loaded();
            }
          },
        });
        this.watcher = w;
        if (this.stopped || this.restartRequested) w.stop();
        for await (const e of w) this.take(replayed ? this.current : fresh, e);
      } catch (err) {
        // The first load must fail loudly (the process cannot start without it); later, NATS
        // being unreachable for longer than the KV's retries means: try again in a moment.
        if (first) throw err;
      }
      if (!this.stopped) await sleep(this.restartRequested ? 50 : 500);
    }
  }

  private take(into: Map<string, T>, e: KvEntry): void {
    if (e.operation !== 'PUT') {
      into.delete(e.key);
      return;
    }
    try {
      into.set(e.key, this.decode(e.key, e.value));
    } catch (err) {
      this.o.onError?.(err, e.key);
    }
  }
}
