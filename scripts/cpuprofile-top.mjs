#!/usr/bin/env node
/**
 * `node scripts/cpuprofile-top.mjs <file.cpuprofile> [--from µs] [--to µs] [--top N]`: the
 * functions with the most self time in a V8 CPU profile (`node --cpu-prof`), optionally only
 * the samples between two CLOCK_MONOTONIC microsecond marks (the benchmarks' JSON
 * `phaseClockMicros`), so one profile of a whole run can be read phase by phase. Prints the
 * window's wall time, how much of it the process was busy (not idle), and one line per
 * function: self ms, share of the window, name and source position.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string' } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: node scripts/cpuprofile-top.mjs <file.cpuprofile> [--from µs] [--to µs] [--top N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const from = values.from === undefined ? -Infinity : Number(values.from);
const to = values.to === undefined ? Infinity : Number(values.to);
const top = values.top === undefined ? 25 : Number(values.top);

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const selfMicros = new Map();
let t = profile.startTime;
let first = Infinity;
let last = -Infinity;
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  // A sample stands for the interval up to the next one.
  const dt = profile.timeDeltas[i + 1] ?? 0;
  if (t < from || t > to) continue;
  first = Math.min(first, t);
  last = Math.max(last, t);
  const node = nodes.get(profile.samples[i]);
  const cf = node.callFrame;
  total += dt;
  if (cf.functionName === '(idle)') {
    idle += dt;
    continue;
  }
  const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|packages|services)\//, '$1/')}:${cf.lineNumber + 1}` : '';
  const name = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  selfMicros.set(name, (selfMicros.get(name) ?? 0) + dt);
}
if (total === 0) {
  process.stdout.write(`${file}: no samples in the window\n`);
  process.exit(0);
}
const ms = (us) => (us / 1000).toFixed(0);
process.stdout.write(
  `${file}\n  window ${ms(last - first)} ms sampled, busy ${ms(total - idle)} ms (${(((total - idle) / total) * 100).toFixed(0)}%)\n`,
);
for (const [name, us] of [...selfMicros].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`  ${ms(us).padStart(7)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}\n`);
}
