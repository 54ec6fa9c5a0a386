import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { connectNats, serveNodeMethod } from '@cairn/cluster';
import { NodeAppliedRequest, NodeAppliedResponse, type RangeDescriptor } from '@cairn/proto';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { replicaCatchUp } from './replica-catch-up.js';

const key = (s: string) => new Uint8Array(Buffer.from(s));
const RANGES: RangeDescriptor[] = [
  { rangeId: 1, startKey: key('a'), endKey: key('m'), replicas: [1, 2, 3], generation: 1 },
  { rangeId: 2, startKey: key('m'), endKey: key('z'), replicas: [2, 3, 4], generation: 1 },
];
const directory = { overlapping: () => RANGES };
const SPANS = [{ start: key('a'), end: key('z') }];

let server: NatsServerHandle;
let nodeConn: NatsConnection;
let callerConn: NatsConnection;
/** Each fake node's applied position; a node missing here does not answer at all (dead). */
const applied = new Map<number, number>();
const waiters: Array<() => void> = [];

/** Moves a node's applied position, answering its pending long polls as a node does. */
function advance(nodeId: number, seq: number): void {
  applied.set(nodeId, seq);
  for (const w of waiters.splice(0)) w();
}

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nodeConn = await connectNats(server.url, 'catch-up-nodes');
  callerConn = await connectNats(server.url, 'catch-up-caller');
  for (const nodeId of [1, 2, 3, 4]) {
    serveNodeMethod(nodeConn, nodeId, 'applied', NodeAppliedRequest, NodeAppliedResponse, async (r) => {
      const seq = applied.get(nodeId);
      if (seq === undefined) return new Promise<never>(() => undefined);
      const deadline = Date.now() + r.waitMs;
      while ((applied.get(nodeId) ?? 0) < Number(r.minAppliedSeq) && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, Math.max(1, deadline - Date.now()));
        });
      }
      return { appliedSeq: BigInt(applied.get(nodeId) ?? 0) };
    });
  }
});

afterAll(async () => {
  await callerConn?.close();
  await nodeConn?.close();
  await server?.stop();
});

const pending = Symbol('pending');
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | typeof pending | unknown> {
  return Promise.race([p.catch((e: unknown) => e), new Promise((r) => setTimeout(() => r(pending), ms))]);
}

describe('replicaCatchUp', () => {
  it('waits for a majority of every range to apply the log as far as it was written, not for a dead replica', async () => {
    applied.clear();
    advance(1, 5);
    advance(2, 5);
    advance(3, 5);
    // Node 4 (a replica of range 2 only) never answers.
    const waiting = replicaCatchUp(callerConn, directory, () => 10).untilApplied(SPANS, new AbortController().signal);
    expect(await settledWithin(waiting, 300)).toBe(pending);
    // Range 1 has its majority (1, 2), range 2 only one of three (2).
    advance(1, 10);
    advance(2, 12);
    expect(await settledWithin(waiting, 300)).toBe(pending);
    advance(3, 10);
    expect(await settledWithin(waiting, 2000)).toBeUndefined();
  });

  it('waits for the position when it was asked, not a later one', async () => {
    applied.clear();
    for (const n of [1, 2, 3, 4]) advance(n, 20);
    let position = 20;
    const done = replicaCatchUp(callerConn, directory, () => position).untilApplied(SPANS, new AbortController().signal);
    position = 99;
    expect(await settledWithin(done, 2000)).toBeUndefined();
  });

  it('is canceled with its job: a Canceled error, not a success', async () => {
    applied.clear();
    for (const n of [1, 2, 3, 4]) advance(n, 1);
    const abort = new AbortController();
    const waiting = replicaCatchUp(callerConn, directory, () => 50).untilApplied(SPANS, abort.signal);
    expect(await settledWithin(waiting, 200)).toBe(pending);
    abort.abort();
    const err = await settledWithin(waiting, 2000);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.Canceled);
  });

  it('has nothing to wait for when no range overlaps', async () => {
    const none = replicaCatchUp(callerConn, { overlapping: () => [] }, () => 1000).untilApplied(SPANS, new AbortController().signal);
    expect(await settledWithin(none, 500)).toBeUndefined();
  });
});
