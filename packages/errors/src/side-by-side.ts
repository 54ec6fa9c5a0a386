/**
 * Awaits steps that were started together and fails, if any failed, with the error of the
 * first failing one in the order given, not the first to fail in time. Steps that used to run
 * one after another can then run side by side and still fail with the error the sequence met
 * first (a missing target named before a bad option). Every step is settled before this
 * returns or throws, so none is left running behind the caller's cleanup.
 */
export async function sideBySide<T extends readonly unknown[]>(steps: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const settled = await Promise.allSettled(steps);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
