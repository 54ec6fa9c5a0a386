import type { ExternalStorage } from './external-storage.js';

/** A file being written chunk by chunk by a producer that pushes (rather than being pulled). */
export interface WritePipe {
  /** Resolves once the storage has taken the chunk (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Completes the file; `done` resolves when it is stored. */
  end(): Promise<{ bytes: number }>;
  /** Abandons the file: nothing is left behind (`writeFile` is atomic). */
  abort(err: Error): Promise<void>;
}

export interface WritePipeOptions {
  /**
   * Called with each chunk the storage is done with, when the storage says when that is
   * (`releasesChunksOnPull`): the producer may then reuse its memory (a data file writer's
   * ChunkPool). Never called for other storages, nor for chunks of a failed write.
   */
  onChunkDone?: (chunk: Uint8Array) => void;
}

/**
 * Adapts push-style producers (a data file writer's sink, chunks arriving over NATS) to
 * `ExternalStorage.writeFile`, which pulls from an async iterable.
 */
export function openWritePipe(storage: ExternalStorage, path: string, options: WritePipeOptions = {}): WritePipe {
  const onChunkDone = storage.releasesChunksOnPull === true ? options.onChunkDone : undefined;
  const queue: Array<{ chunk?: Uint8Array; end?: boolean; err?: Error; taken: () => void }> = [];
  let wake: (() => void) | undefined;
  async function* body(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const item = queue.shift()!;
      item.taken();
      if (item.err) throw item.err;
      if (item.end) return;
      yield item.chunk!;
      // Resumed: the storage asks for the next chunk, so it is done with this one.
      onChunkDone?.(item.chunk!);
    }
  }
  const add = (item: { chunk?: Uint8Array; end?: boolean; err?: Error }): Promise<void> =>
    new Promise<void>((taken) => {
      queue.push({ ...item, taken });
      const w = wake;
      wake = undefined;
      w?.();
    });
  const done = storage.writeFile(path, body());
  // The producer may fail before awaiting `done`; the rejection is observed in end/abort.
  done.catch(() => undefined);
  let failed: unknown;
  done.catch((e: unknown) => (failed = e));
  return {
    write: async (chunk) => {
      if (failed) throw failed;
      await Promise.race([add({ chunk }), done.then(() => undefined)]);
      if (failed) throw failed;
    },
    end: async () => {
      void add({ end: true });
      return done;
    },
    abort: async (err) => {
      void add({ err });
      await done.catch(() => undefined);
    },
  };
}
