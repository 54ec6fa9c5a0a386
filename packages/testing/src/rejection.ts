import { CairnError } from '@cairn/errors';

/**
 * The CairnError `p` rejects with. A promise that resolves, or rejects with anything else,
 * fails the test: a refusal test must not pass on the wrong kind of failure.
 */
export async function cairnRejection(p: Promise<unknown>): Promise<CairnError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected a CairnError, but the call succeeded');
}
