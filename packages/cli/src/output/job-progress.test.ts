import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { JobProgress, formatDuration, formatRate } from './job-progress.js';

function collector(isTTY: boolean): { stream: Writable & { isTTY?: boolean; columns?: number }; text: () => string } {
  const chunks: string[] = [];
  const stream: Writable & { isTTY?: boolean; columns?: number } = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  stream.isTTY = isTTY;
  stream.columns = 120;
  return { stream, text: () => chunks.join('') };
}

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('JobProgress without a TTY', () => {
  it('prints plain lines at most every 2 s, and on status change', () => {
    const { stream, text } = collector(false);
    const clock = fakeClock();
    const progress = new JobProgress({ label: 'BACKUP', stream, now: clock.now });

    progress.update({ fraction: 0, bytes: 0, status: 'running' });
    clock.advance(1000);
    progress.update({ fraction: 0.1, bytes: 100_000_000 }); // within 2 s: not printed
    clock.advance(1000);
    progress.update({ fraction: 0.2, bytes: 200_000_000 });
    clock.advance(500);
    progress.update({ fraction: 0.25, bytes: 250_000_000, status: 'paused' }); // status change
    clock.advance(500);
    progress.update({ fraction: 0.3, bytes: 300_000_000, status: 'paused' }); // too soon
    clock.advance(1000);
    progress.finish('succeeded');
    progress.finish('failed'); // ignored

    expect(text().split('\n')).toEqual([
      'BACKUP 0% -- B/s ETA -- running',
      'BACKUP 20% 100.0 MB/s ETA 8s running',
      'BACKUP 25% 100.0 MB/s ETA 8s paused',
      'BACKUP 30% 100.0 MB/s succeeded',
      '',
    ]);
  });

  it('derives bytes from totalBytes and measures the rate over recent history', () => {
    const { stream, text } = collector(false);
    const clock = fakeClock();
    const progress = new JobProgress({ label: 'RESTORE', totalBytes: 1e9, stream, now: clock.now });
    progress.update({ fraction: 0 });
    for (let i = 1; i <= 10; i++) {
      clock.advance(2000);
      // Slow for 10 s, then fast: the recent rate should show the fast phase only.
      progress.update({ fraction: i <= 5 ? i * 0.01 : 0.05 + (i - 5) * 0.1 });
    }
    const lines = text().trim().split('\n');
    expect(lines.at(-1)).toBe('RESTORE 55% 50.0 MB/s ETA 9s');
  });
});

describe('JobProgress on a TTY', () => {
  it('draws a cli-progress bar and leaves the final state on screen', () => {
    const { stream, text } = collector(true);
    const clock = fakeClock();
    const progress = new JobProgress({ label: 'BACKUP', stream, now: clock.now });
    progress.update({ fraction: 0.2, bytes: 0, status: 'running' });
    clock.advance(10_000);
    progress.update({ fraction: 0.45, bytes: 1_203_000_000, status: 'running' });
    progress.finish('succeeded');
    const out = text();
    expect(out).toContain('BACKUP  [=====>                        ] 20% | -- B/s | ETA -- | running');
    expect(out).toContain('BACKUP  [=============>                ] 45% | 120.3 MB/s | succeeded');
    expect(out.endsWith('\n')).toBe(true);
  });
});

describe('rate and duration text', () => {
  it('formats rates in decimal units', () => {
    expect(formatRate(512)).toBe('512 B/s');
    expect(formatRate(120_300_000)).toBe('120.3 MB/s');
    expect(formatRate(2.5e9)).toBe('2.5 GB/s');
  });

  it('formats durations', () => {
    expect(formatDuration(11_200)).toBe('12s');
    expect(formatDuration(184_000)).toBe('3m04s');
    expect(formatDuration(7_500_000)).toBe('2h05m');
  });
});
