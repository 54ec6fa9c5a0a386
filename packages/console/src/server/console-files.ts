import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A handler for one HTTP path; the shape `@cairn/metrics`' server takes for its routes. */
export type ConsoleRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** The prefix under which the console's scripts and stylesheet are served. */
export const CONSOLE_ASSETS_PREFIX = '/console/';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

// Both src/server (tests, through the "source" condition) and dist/server sit two levels below
// the package root, so these resolve the same from either.
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Hand-written files: the page and its stylesheet. */
const STATIC_DIR = join(PACKAGE_ROOT, 'static');
/** What `tsc -b` compiled from src/ui: the page's ES modules. */
const SCRIPTS_DIR = join(PACKAGE_ROOT, 'dist', 'ui');

/**
 * Where a `/console/<name>` request is read from: `.js` (and source maps) from the compiled
 * scripts, everything else from static/. Undefined for anything that would leave those
 * directories or has a type the console does not serve.
 */
export function assetPath(pathname: string): string | undefined {
  if (!pathname.startsWith(CONSOLE_ASSETS_PREFIX)) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(pathname.slice(CONSOLE_ASSETS_PREFIX.length));
  } catch {
    return undefined; // malformed %-escape
  }
  const ext = extname(name);
  if (CONTENT_TYPES[ext] === undefined || name.includes('\0')) return undefined;
  const base = ext === '.js' || ext === '.map' ? SCRIPTS_DIR : STATIC_DIR;
  const full = normalize(join(base, name));
  return full.startsWith(base + sep) ? full : undefined;
}

async function sendFile(res: ServerResponse, path: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
    // The files change with each build and are small: always ask again rather than run a stale
    // script against a newer API.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

function refuseNonGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
  res.end('method not allowed\n');
  return true;
}

/**
 * The console's routes for a process's HTTP server: the page at `/` (exact) and its assets
 * under `/console/`. The page itself talks to the JSON API under `/api/v1/` on the same
 * address, so it needs no configuration of its own.
 */
export function consoleRoutes(): { routes: Record<string, ConsoleRoute>; prefixRoutes: Record<string, ConsoleRoute> } {
  return {
    routes: {
      '/': async (req, res) => {
        if (refuseNonGet(req, res)) return;
        await sendFile(res, join(STATIC_DIR, 'index.html'));
      },
    },
    prefixRoutes: {
      [CONSOLE_ASSETS_PREFIX]: async (req, res, url) => {
        if (refuseNonGet(req, res)) return;
        const path = assetPath(url.pathname);
        if (path === undefined) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found\n');
          return;
        }
        await sendFile(res, path);
      },
    },
  };
}
