/**
 * A preload that profiles the process it is loaded into, for the cluster's processes in a
 * benchmark: Node 20 refuses `--cpu-prof` in NODE_OPTIONS, `--import` it takes, so
 *
 *   CAIRN_CPU_PROF_DIR=/tmp/prof CAIRN_BENCH_CLUSTER_NODE_OPTIONS="--import $PWD/bench/lib/cpu-profile.mjs" pnpm bench backup
 *
 * writes one `<role>-<pid>.cpuprofile` per process (role from `cairn start <role>`) when it
 * exits. Samples carry CLOCK_MONOTONIC times, as the benchmarks' `phaseClockMicros` marks do:
 * `node scripts/cpuprofile-top.mjs <file> --from <start> --to <end>` reads one phase.
 * Without CAIRN_CPU_PROF_DIR it does nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CAIRN_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // 1 ms, not V8's 1 µs default: a run lasts minutes and the profile must stay readable.
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  const startAt = process.argv.indexOf('start');
  const role = (startAt >= 0 && process.argv[startAt + 1]) || 'process';
  process.on('exit', () => {
    // The in-thread session answers synchronously, so the profile is written before exit.
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
