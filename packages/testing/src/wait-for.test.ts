import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, tempDir, waitFor, WaitTimeoutError } from './index.js';

describe('waitFor', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls >= 3 ? { calls } : undefined), { intervalMs: 5 });
    expect(value).toEqual({ calls: 3 });
  });

  it('accepts falsy values other than undefined and false', async () => {
    expect(await waitFor(async () => 0, { intervalMs: 5 })).toBe(0);
  });

  it('names what it waited for and keeps the last error as cause', async () => {
    const err = await waitFor(
      async () => {
        throw new Error('connection refused');
      },
      { timeoutMs: 100, intervalMs: 10, what: 'the widget service' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toBe(
      'timed out after 100 ms waiting for the widget service (last error: connection refused)',
    );
    expect(((err as Error).cause as Error).message).toBe('connection refused');
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('gave up')), 30);
    await expect(waitFor(async () => false, { timeoutMs: 5_000, intervalMs: 5, signal: controller.signal })).rejects.toThrow(
      'gave up',
    );
  });
});

describe('freePort and tempDir', () => {
  it('hands out distinct ports that can be bound', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      await new Promise<void>((resolve, reject) => {
        const server = createServer().once('error', reject);
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
      });
    }
  });

  it('creates fresh directories', async () => {
    const [a, b] = await Promise.all([tempDir('harness-x'), tempDir('harness-x')]);
    expect(a).not.toBe(b);
    expect(existsSync(a)).toBe(true);
    expect(a).toMatch(/harness-x-/);
  });
});
