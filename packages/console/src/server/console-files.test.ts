import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetPath, consoleRoutes } from './console-files.js';

describe('assetPath', () => {
  it('serves scripts from the build and the rest from static/', () => {
    expect(assetPath('/console/main.js')).toMatch(/packages\/console\/dist\/ui\/main\.js$/);
    expect(assetPath('/console/console.css')).toMatch(/packages\/console\/static\/console\.css$/);
  });

  it('refuses what would leave those directories, odd types and bad escapes', () => {
    for (const p of ['/console/../package.json', '/console/%2e%2e/%2e%2e/package.json', '/console/..%2fsrc%2fui%2fmain.ts', '/console/x.ts', '/console/%E0%A4%A', '/console/a\0.js', '/metrics']) {
      expect(assetPath(p), p).toBeUndefined();
    }
  });
});

describe('consoleRoutes over HTTP', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const { routes, prefixRoutes } = consoleRoutes();
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const route = routes[url.pathname] ?? Object.entries(prefixRoutes).find(([p]) => url.pathname.startsWith(p))?.[1];
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      void route(req, res, url);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('serves the page at / with its stylesheet and entry script named in it', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/console/main.js"></script>');
    const css = await fetch(`${base}/console/console.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers 404 for a missing file and 405 for anything but GET and HEAD', async () => {
    expect((await fetch(`${base}/console/nope.js`)).status).toBe(404);
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
