#!/usr/bin/env node
/**
 * `pnpm bench <name> [--flags]`: runs `bench/<name>.ts` with tsx and exits with its status.
 * Without a name, or with an unknown one, lists the benchmarks and exits non-zero (zero for
 * `--help`). Benchmarks import the built packages (`dist`), so run `pnpm build` first.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

/** Every `bench/<name>.ts` with the first line of its leading doc comment as a summary. */
function benchmarks() {
  return readdirSync(benchDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => {
      const source = readFileSync(join(benchDir, e.name), 'utf8');
      const doc = source.match(/\/\*\*\s*\n?\s*\*?\s*(.+)/);
      return { name: e.name.slice(0, -'.ts'.length), summary: doc?.[1]?.trim() ?? '' };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function usage(out) {
  const list = benchmarks();
  const width = Math.max(0, ...list.map((b) => b.name.length));
  out.write('usage: pnpm bench <name> [--flags]    (see bench/README.md)\n\nbenchmarks:\n');
  for (const b of list) out.write(`  ${b.name.padEnd(width)}  ${b.summary}\n`);
  if (list.length === 0) out.write('  (none)\n');
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h') {
  usage(name === undefined ? process.stderr : process.stdout);
  process.exit(name === undefined ? 2 : 0);
}
if (!benchmarks().some((b) => b.name === name)) {
  process.stderr.write(`unknown benchmark "${name}"\n\n`);
  usage(process.stderr);
  process.exit(2);
}
if (!existsSync(tsx)) {
  process.stderr.write(`tsx not found at ${tsx}: run pnpm install\n`);
  process.exit(1);
}

const child = spawn(tsx, [join(benchDir, `${name}.ts`), ...args], { stdio: 'inherit' });
// Ctrl-C reaches the whole foreground group, the benchmark included, so this process just
// waits for it to clean up; a SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('error', (err) => {
  process.stderr.write(`cannot run ${tsx}: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal !== null) {
    process.stderr.write(`benchmark "${name}" killed by ${signal}\n`);
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
  process.exit(code ?? 1);
});
