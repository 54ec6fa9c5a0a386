import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

/** The two long-running roles `cairn start` runs. */
export type ProcessRole = 'node' | 'coordinator';

/**
 * V8's old-space limit per role, in MiB (`--max-old-space-size`). Without one, V8 sizes the
 * heap from the machine's memory (4 GiB of old space on a 24 GiB host) and may let garbage,
 * and the Buffers it keeps alive outside the heap, grow far past what a process uses: a
 * limit makes it collect sooner. A node streams (its V8 heap stayed at 75-90 MiB through
 * `pnpm bench backup` loads of 1 and 4 GiB), so 160 holds it. A coordinator leader also holds every
 * job's record (100,000 jobs are ~85 MiB of heap) and builds a statement's whole result
 * (`SHOW JOBS` over those 100,000: a coordinator limited to 256 died of it in `pnpm bench
 * jobs`), so its limit is a ceiling far above that, not a working size: under a load its
 * RssAnon stays near 120-140 MiB without any limit.
 */
export const HEAP_LIMIT_MIB: Readonly<Record<ProcessRole, number>> = { node: 160, coordinator: 1024 };

const HEAP_FLAG = /(^|\s)--max[-_]old[-_]space[-_]size(=|\s)/;

/**
 * `NODE_OPTIONS` for a child process of `role`: the given options with the role's heap limit
 * appended, unless they already set one (an operator's or a benchmark's choice wins).
 * Supervisors (start-local, the test harness) pass it; the deploy kit sets the same value.
 */
export function nodeOptionsWithHeapLimit(role: ProcessRole, nodeOptions: string | undefined): string {
  const own = (nodeOptions ?? '').trim();
  if (HEAP_FLAG.test(own)) return own;
  return [own, `--max-old-space-size=${HEAP_LIMIT_MIB[role]}`].filter((s) => s.length > 0).join(' ');
}

/**
 * V8's young-generation floor per role (`--min-semi-space-size`, MiB per semi-space; V8
 * reserves three of them). A node streams: during a backup each block, chunk and promise
 * lives a few ms. V8 shrinks an idle process's semi-space to 1 MiB and grows it only when
 * much survives, which a stream's objects do not, so at 1 MiB a scavenge ran every 3 ms and
 * promoted whatever was in flight, which left the old space to mark-compacts (concurrent
 * marking and sweeping were ~30% of a node's CPU samples during a backup). With 16 MiB one
 * process's export of 255 MB after 20 s idle took 33 scavenges and 31 ms of pauses instead
 * of 115-143 and 196-565 ms. A role without an entry keeps V8's default.
 */
export const MIN_SEMI_SPACE_MIB: Readonly<Partial<Record<ProcessRole, number>>> = { node: 16 };

/**
 * The old generation V8 lets a process of `role` fill before it starts a mark-compact, in MiB
 * (`--initial-old-space-size`: V8 keeps it as the floor of that threshold for the process's
 * life, capped at half of HEAP_LIMIT_MIB). Without it, under a 160 MiB limit, V8 sets the
 * threshold a few MiB above the live heap (~38 MiB for an idle node) and starts marking as
 * soon as less room is left than a scavenge could promote, which is at once. A node receiving
 * large NATS messages (restore's staged batches, the nodelocal relay's file chunks) then
 * mark-compacts back to back, each collection promoting the messages in flight, which fills
 * the room again: 29-34 mark-compacts per 256 MB in one process, against 2-5 with this floor
 * and nats.js's exact-size payload buffers (patches/), and half to a third of the CPU
 * (docs/throughput.md, "NATS receive buffers"). The floor must clear the live heap by about
 * the young generation's size, hence 80 for a node's ~40 MiB.
 */
export const MIN_OLD_SPACE_MIB: Readonly<Partial<Record<ProcessRole, number>>> = { node: 80 };

/**
 * V8 flags for a process of `role` that must go on node's own command line, before the script
 * (`node --min-semi-space-size=16 --initial-old-space-size=80 .../bin.js start node`): Node
 * refuses them in NODE_OPTIONS ("is not allowed in NODE_OPTIONS"). Supervisors (start-local,
 * the test harness) add them; the deploy kit writes the same flags into each role's command.
 */
export function nodeCommandLineFlags(role: ProcessRole): string[] {
  const semiSpace = MIN_SEMI_SPACE_MIB[role];
  const oldSpace = MIN_OLD_SPACE_MIB[role];
  return [...(semiSpace === undefined ? [] : [`--min-semi-space-size=${semiSpace}`]), ...(oldSpace === undefined ? [] : [`--initial-old-space-size=${oldSpace}`])];
}

/**
 * The size of this process's young generation now (V8's new space), in MiB: at least
 * `--min-semi-space-size` when that was given, 1 in an idle process without it.
 */
export function newSpaceMiB(): number {
  const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return Math.round((newSpace?.space_size ?? 0) / 2 ** 20);
}

/** This process's V8 heap limit (old space plus young generation), in MiB. */
export function heapLimitMiB(): number {
  return Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
}

/**
 * A warning for a process of `role` started without a heap limit (neither its command line
 * nor NODE_OPTIONS set one: V8's default is sized from the host's memory, far above the
 * role's), or undefined when one was given, whatever its value (an operator's choice).
 */
export function heapLimitWarning(role: ProcessRole, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS']): string | undefined {
  if (HEAP_FLAG.test(` ${execArgv.join(' ')} `) || HEAP_FLAG.test(` ${nodeOptions ?? ''} `)) return undefined;
  return `V8 heap limit is ${heapLimitMiB()} MiB: garbage may grow this process's memory that far before it is collected; start it with NODE_OPTIONS=--max-old-space-size=${HEAP_LIMIT_MIB[role]} (start-local, the deploy kit and the test harness do)`;
}
