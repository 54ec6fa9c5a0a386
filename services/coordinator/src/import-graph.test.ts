import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The workspace's module graph, read from the sources of every package and service: each
 * file's relative imports and re-exports (type-only ones too: they tie modules together as
 * much for a reader). Imports between packages (`@cairn/...`) are left out: the build's
 * project references already refuse a cycle between packages.
 */
const SRC = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SRC, '../../..');
const COORDINATOR = relative(ROOT, SRC);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const roots = ['packages', 'services'].flatMap((group) =>
    readdirSync(join(ROOT, group), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(ROOT, group, e.name, 'src')),
  );
  for (const file of roots.flatMap((r) => (existsSync(r) ? sources(r) : []))) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)\.js'/gms)].map((m) =>
      relative(ROOT, resolve(dirname(file), `${m[1]!}.ts`)),
    );
    graph.set(relative(ROOT, file), targets);
  }
  return graph;
}

/** Every cycle's files, found by a depth-first walk (one cycle per back edge). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') found.push([...stack.slice(stack.indexOf(t)), t]);
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();
  const leader = `${COORDINATOR}/leader.ts`;

  it('is read: the files and imports it is about are there', () => {
    expect(graph.get(`${COORDINATOR}/start-leader.ts`)).toContain(leader);
    expect(graph.get('packages/catalog/src/catalog.ts')).toContain('packages/catalog/src/table-builder.ts');
    expect(graph.size).toBeGreaterThan(200);
  });

  it('finds a cycle where there is one (the check below could fail)', () => {
    const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('has no cycle in any package or service', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('reaches the Leader only from its construction function: every other part takes capabilities', () => {
    const importers = [...graph].filter(([, targets]) => targets.includes(leader)).map(([f]) => f);
    expect(importers).toEqual([`${COORDINATOR}/start-leader.ts`]);
  });
});
