/**
 * Progress display for long-running jobs (BACKUP, RESTORE): a redrawn bar on a terminal,
 * throttled plain lines when output goes to a file or pipe.
 */
import cliProgress from 'cli-progress';

/** Where progress goes; `process.stderr` qualifies. `isTTY` selects the bar. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface JobProgressOptions {
  /** Shown first on every line, e.g. `BACKUP`. */
  label: string;
  /** Job size, so a rate can be shown from `fraction` alone when updates carry no `bytes`. */
  totalBytes?: number;
  /** Defaults to `process.stderr`, keeping stdout for results. */
  stream?: ProgressStream;
  /** Milliseconds clock for rates, ETA and throttling; tests pass a fake. Defaults to `Date.now`. */
  now?: () => number;
}

export interface JobProgressUpdate {
  /** Completed share of the job, 0..1. */
  fraction: number;
  /** Bytes processed so far (cumulative). */
  bytes?: number;
  /** Job status as reported by the coordinator, e.g. `running`. */
  status?: string;
}

interface Sample {
  at: number;
  fraction: number;
  bytes: number | undefined;
}

/** Plain (non-TTY) lines are printed at most this often, unless the status changes. */
const plainIntervalMs = 2000;
/** Rates and ETA are measured over roughly this much recent history. */
const rateWindowMs = 10_000;
const barWidth = 30;

/**
 * Shows one job's progress until `finish`.
 *
 * On a TTY: `BACKUP  [=====>    ] 45% | 120.3 MB/s | ETA 12s | running`, redrawn in place
 * by cli-progress. Elsewhere: `BACKUP 45% 120.3 MB/s ETA 12s running` lines, at most one
 * every 2 s plus one whenever the status changes. Parts that are not known yet (the rate
 * before two byte counts, the status before one is reported) are left out or shown as `--`.
 * The rate is over the last ~10 s; the ETA extrapolates the fraction's recent rate. `finish`
 * prints a last line with the average rate and the final status.
 *
 * Call `finish` on every path: on a TTY the bar's redraw timer keeps the process alive.
 */
export class JobProgress {
  private readonly label: string;
  private readonly totalBytes: number | undefined;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly samples: Sample[] = [];
  private firstSample: Sample | undefined;
  private status: string | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private lastPrintedAt: number | undefined;
  private lastPrintedStatus: string | undefined;
  private finalStatus: string | undefined;

  constructor(opts: JobProgressOptions) {
    this.label = opts.label;
    this.totalBytes = opts.totalBytes;
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? Date.now;
    this.tty = this.stream.isTTY === true;
  }

  /** Records progress; ignored after `finish`. */
  update(p: JobProgressUpdate): void {
    if (this.finalStatus !== undefined) return;
    this.record(p);
    if (p.status !== undefined) this.status = p.status;

    if (this.tty) {
      this.ensureBar().update({});
      return;
    }
    const at = this.now();
    const due = this.lastPrintedAt === undefined || at - this.lastPrintedAt >= plainIntervalMs;
    if (due || this.status !== this.lastPrintedStatus) {
      this.stream.write(`${this.plainLine()}\n`);
      this.lastPrintedAt = at;
      this.lastPrintedStatus = this.status;
    }
  }

  /** Prints the final state and releases the terminal; later calls do nothing. */
  finish(finalStatus: string): void {
    if (this.finalStatus !== undefined) return;
    this.finalStatus = finalStatus;
    this.status = finalStatus;
    if (this.tty) {
      const bar = this.ensureBar();
      bar.update({});
      bar.stop();
    } else {
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  private record(p: JobProgressUpdate): void {
    const fraction = Math.min(1, Math.max(0, Number.isFinite(p.fraction) ? p.fraction : 0));
    const bytes = p.bytes ?? (this.totalBytes === undefined ? undefined : fraction * this.totalBytes);
    const sample = { at: this.now(), fraction, bytes };
    this.firstSample ??= sample;
    this.samples.push(sample);
    // Keep one sample at or before the window's start so the window is always fully covered.
    while (this.samples.length > 2 && (this.samples[1]?.at ?? Infinity) <= sample.at - rateWindowMs) {
      this.samples.shift();
    }
  }

  private ensureBar(): cliProgress.SingleBar {
    if (this.bar === undefined) {
      this.bar = new cliProgress.SingleBar({
        stream: this.stream,
        // The whole line is ours; cli-progress redraws it in place and throttles redraws.
        format: () => this.barLine(),
        fps: 5,
      });
      this.bar.start(1, 0);
    }
    return this.bar;
  }

  private get fraction(): number {
    return this.samples.at(-1)?.fraction ?? 0;
  }

  private barLine(): string {
    const parts = [`${this.label}  [${renderBar(this.fraction)}] ${percent(this.fraction)}`];
    const rate = this.rateText();
    if (rate !== undefined) parts.push(rate);
    if (this.finalStatus === undefined) parts.push(`ETA ${this.etaText()}`);
    if (this.status !== undefined) parts.push(this.status);
    return parts.join(' | ');
  }

  private plainLine(): string {
    const parts = [this.label, percent(this.fraction)];
    const rate = this.rateText();
    if (rate !== undefined) parts.push(rate);
    if (this.finalStatus === undefined) parts.push(`ETA ${this.etaText()}`);
    if (this.status !== undefined) parts.push(this.status);
    return parts.join(' ');
  }

  /** Recent byte rate while running, the whole job's average once finished. */
  private rateText(): string | undefined {
    const last = this.samples.at(-1);
    if (last?.bytes === undefined) return undefined;
    const from = this.finalStatus === undefined ? this.samples[0] : this.firstSample;
    if (from?.bytes === undefined || last.at <= from.at) return '-- B/s';
    return formatRate(((last.bytes - from.bytes) / (last.at - from.at)) * 1000);
  }

  private etaText(): string {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined) return '--';
    if (last.fraction >= 1) return '0s';
    const perMs = (last.fraction - first.fraction) / (last.at - first.at);
    if (!(perMs > 0)) return '--';
    // Counts down between updates when the bar is redrawn.
    const remainingMs = (1 - last.fraction) / perMs - (this.now() - last.at);
    return formatDuration(Math.max(0, remainingMs));
  }
}

function percent(fraction: number): string {
  return `${Math.floor(fraction * 100)}%`;
}

function renderBar(fraction: number): string {
  const filled = Math.round(fraction * barWidth);
  if (filled <= 0) return ' '.repeat(barWidth);
  if (filled >= barWidth) return '='.repeat(barWidth);
  return `${'='.repeat(filled - 1)}>${' '.repeat(barWidth - filled)}`;
}

const rateUnits = ['B/s', 'KB/s', 'MB/s', 'GB/s', 'TB/s'] as const;

/** Decimal units, one decimal place: `120.3 MB/s`. */
export function formatRate(bytesPerSecond: number): string {
  let value = Math.max(0, bytesPerSecond);
  let unit = 0;
  while (value >= 1000 && unit < rateUnits.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B/s` : `${value.toFixed(1)} ${rateUnits[unit]}`;
}

/** `12s`, `3m04s`, `2h05m`. Rounds up, so a running job never shows `0s` early. */
export function formatDuration(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  const minutes = Math.ceil(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
