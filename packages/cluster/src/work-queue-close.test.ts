import type { JetStreamManager } from 'nats';
import { describe, expect, it } from 'vitest';
import { deleteJobQueue } from './work-queue.js';

/** A JetStream API error reply as nats.js raises it. */
function apiError(errCode: number, description: string): Error {
  return Object.assign(new Error(description), { api_error: { code: 500, err_code: errCode, description } });
}

/** A manager whose consumer deletes answer from `outcomes` in turn (an Error is thrown). */
function manager(outcomes: Array<Error | true>): { jsm: JetStreamManager; calls: () => number } {
  let n = 0;
  const jsm = {
    consumers: {
      delete: async () => {
        const o = outcomes[Math.min(n++, outcomes.length - 1)]!;
        if (o instanceof Error) throw o;
        return true;
      },
    },
  } as unknown as JetStreamManager;
  return { jsm, calls: () => n };
}

const unlinkat = () => apiError(10_012, 'unlinkat /data/jetstream/$G/streams/CAIRN_WORK/obs/work-1: directory not empty');

describe('deleteJobQueue', () => {
  it("gets past nats-server 2.9's own delete error on a later attempt", async () => {
    const m = manager([unlinkat(), true]);
    await deleteJobQueue(m.jsm, 'work-1', '1');
    expect(m.calls()).toBe(2);
  });

  it('leaves the empty queue behind, without failing the job, when that error persists', async () => {
    const m = manager([unlinkat()]);
    await expect(deleteJobQueue(m.jsm, 'work-1', '1')).resolves.toBeUndefined();
    expect(m.calls()).toBe(3);
  });

  it('takes a queue already gone as deleted', async () => {
    const m = manager([apiError(10_014, 'consumer not found')]);
    await deleteJobQueue(m.jsm, 'work-1', '1');
    expect(m.calls()).toBe(1);
  });

  it('rethrows a failure that is not a JetStream reply (the close is then retried as a whole)', async () => {
    const m = manager([Object.assign(new Error('boom'), { code: 'BAD_JSON' })]);
    await expect(deleteJobQueue(m.jsm, 'work-1', '1')).rejects.toThrow('boom');
  });
});
