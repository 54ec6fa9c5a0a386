/**
 * `node child-guard.js <command> [args...]`: runs a program that cannot watch its parent
 * (nats-server) so that it does not outlive the supervisor that started this guard.
 *
 * The supervisor (start-local) holds the write end of our stdin pipe. The kernel closes it
 * however the supervisor ends, SIGKILL included, and we then stop the program: SIGTERM, and
 * SIGKILL if it is still there after KILL_AFTER_MS. SIGTERM and SIGINT sent to the guard are
 * passed on, so the supervisor stops the program through the guard as it would directly. The
 * guard exits with the program's exit code.
 */
import { spawn } from 'node:child_process';

/** After the parent is gone, how long the program gets before SIGKILL. */
const KILL_AFTER_MS = 10_000;
/**
 * After the parent is gone, how long to wait before stopping the program: the cairn processes
 * that depend on it (they also watch their stdin) stop more cleanly while NATS still answers.
 */
const PARENT_GONE_DELAY_MS = 2_000;

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('usage: child-guard <command> [args...]\n');
  process.exit(2);
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (err) => {
  process.stderr.write(`cannot run ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

let killTimer: NodeJS.Timeout | undefined;
const stopChild = (signal: NodeJS.Signals): void => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
};
process.on('SIGTERM', () => stopChild('SIGTERM'));
process.on('SIGINT', () => stopChild('SIGINT'));

// Once the parent is gone nobody reads the program's output; a write error must not kill us first.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);
process.stdin.on('error', () => undefined);
let parentGone = false;
const onParentGone = (): void => {
  if (parentGone) return;
  parentGone = true;
  setTimeout(() => stopChild('SIGTERM'), PARENT_GONE_DELAY_MS);
};
process.stdin.once('end', onParentGone);
process.stdin.once('close', onParentGone);
process.stdin.resume();
