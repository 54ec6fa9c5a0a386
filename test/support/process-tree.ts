import { readdir, readFile } from 'node:fs/promises';

/** Parent pid and command line of every process now running (from /proc). */
async function processTable(): Promise<Map<number, { ppid: number; cmd: string }>> {
  const table = new Map<number, { ppid: number; cmd: string }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name in parentheses may hold spaces: the fields after it are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
      table.set(Number(entry), { ppid: Number(fields[1]), cmd });
    } catch {
      // Gone while we looked.
    }
  }
  return table;
}

/** Every living descendant of `root` (children, their children, ...), with its command line. */
export async function descendants(root: number): Promise<Map<number, string>> {
  const table = await processTable();
  const found = new Map<number, string>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [pid, p] of table) {
      if (frontier.includes(p.ppid) && !found.has(pid)) {
        found.set(pid, p.cmd);
        next.push(pid);
      }
    }
    frontier = next;
  }
  return found;
}

/** Whether `pid` is a living process (a zombie awaiting its parent counts as gone). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Follows the descendants of `root` until stopped, remembering every one ever seen:
 * a child spawned and reparented between two looks would otherwise escape the check.
 */
export function watchDescendants(root: number, intervalMs = 50): { seen: Map<number, string>; stop(): Promise<void> } {
  const seen = new Map<number, string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [pid, cmd] of await descendants(root)) if (!seen.has(pid)) seen.set(pid, cmd);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
