// Times show in UTC, as cairn's SQL output and its schedules' crons do, so that what the console
// says and what `SHOW BACKUPS` says can be compared by eye.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad = (n: number): string => String(n).padStart(2, '0');

/** `Dec 6, 2026, 07:30:12 UTC`; an em dash for no time. */
export function formatDateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** `Dec 6, 2026`. */
export function formatDate(d: Date): string {
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
}

/** `1h 4m`, `3m 12s`, `850 ms`: the two largest units. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = units.findIndex(([v]) => v > 0);
  return units
    .slice(first, first + 2)
    .filter(([v]) => v > 0)
    .map(([v, u]) => `${v}${u}`)
    .join(' ');
}

/** How long until `iso` from `nowMs`, in the largest whole unit: `30 days`, `5 hours`, `Expired`. */
export function formatExpiresIn(iso: string | null | undefined, nowMs = Date.now()): string {
  if (iso === null || iso === undefined || iso === '') return '—';
  const left = new Date(iso).getTime() - nowMs;
  if (Number.isNaN(left)) return iso;
  if (left <= 0) return 'Expired';
  // Rounded up, as a countdown reads: a backup just taken with 30 days' retention expires in
  // 30 days, not 29; the last day shows hours, the last hour minutes.
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (left > 86_400_000) return plural(Math.ceil(left / 86_400_000), 'day');
  if (left > 3_600_000) return plural(Math.ceil(left / 3_600_000), 'hour');
  return plural(Math.ceil(left / 60_000), 'minute');
}

/** `every 24 hours`, `every 30 minutes` for a frequency in minutes. */
export function formatMinutes(minutes: number): string {
  if (minutes % 60 === 0) {
    const hours = minutes / 60;
    return hours === 1 ? '1 hour' : `${hours} hours`;
  }
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** `30 days`, `1 year` for a retention in days. */
export function formatDays(days: number): string {
  if (days === 365) return '1 year';
  return days === 1 ? '1 day' : `${days} days`;
}

/** `1.2 MiB` for byte counts. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `FULL` → `Full`, `IN_PROGRESS` → `In progress`: API enums as the console writes them. */
export function enumLabel(value: string): string {
  const words = value.toLowerCase().replace(/[_-]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The time part alone, `07:30:12 UTC`. */
export function formatTime(d: Date): string {
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}
