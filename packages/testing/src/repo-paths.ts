import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The workspace root: the nearest directory above this package holding pnpm-workspace.yaml. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = start;
    for (;;) {
      if (existsSync(join(dir, 'pnpm-workspace.yaml'))) {
        cachedRoot = dir;
        return dir;
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error('pnpm-workspace.yaml not found above @cairn/testing or the working directory');
}

/** The built cairn CLI entry point, `<repo>/packages/cli/dist/bin.js` (run `pnpm build` first). */
export function cliPath(): string {
  return join(repoRoot(), 'packages', 'cli', 'dist', 'bin.js');
}
