/**
 * Serializes the leader's read-modify-write statements: a statement that checks a key
 * (INSERT's duplicate check, UPDATE's read) holds the lock until its write has a place in the
 * log, so no other write can slip in between the check and the write.
 */
export class WriteLock {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
