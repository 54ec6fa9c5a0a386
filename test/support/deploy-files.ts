/**
 * Readers for the deploy kit's file formats that have no parser on npm worth a dependency
 * (Dockerfile, systemd units, environment files, shell command lines), and the one thing the
 * drift test needs from every format: which `cairn` commands, flags and CAIRN_* variables a
 * file hands to the CLI.
 */

/** One Dockerfile instruction, continuation lines joined, comments dropped. */
export interface DockerInstruction {
  keyword: string;
  args: string;
  line: number;
}

/** The instructions Docker's parser accepts (reference, Dockerfile frontend 1.x). */
export const DOCKERFILE_KEYWORDS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

/** Splits a Dockerfile into instructions as Docker does: `\` continues, `#` lines are comments. */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let current: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (current === undefined && line.trim() === '')) return;
    const continues = line.endsWith('\\');
    const body = continues ? line.slice(0, -1) : line;
    if (current === undefined) current = { parts: [], line: i + 1 };
    current.parts.push(body.trim());
    if (!continues) {
      const joined = current.parts.filter((p) => p !== '').join(' ');
      const m = /^(\S+)\s*(.*)$/.exec(joined);
      if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: current.line });
      current = undefined;
    }
  });
  if (current !== undefined) throw new Error(`Dockerfile ends inside a continued instruction (line ${String(current.line)})`);
  return out;
}

/** `ENV A=1 B=2` (and the legacy `ENV A 1`) as name/value pairs. */
export function dockerEnv(args: string): Array<[string, string]> {
  const words = shellWords(args);
  if (words.length === 2 && !words[0]!.includes('=')) return [[words[0]!, words[1]!]];
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`ENV word without '=': ${w}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** A systemd unit file: section name -> key -> values (a key may repeat). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** Parses a systemd unit as the INI dialect systemd reads (comments `#`/`;`, `\` continues). */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line ${String(i + 1)}: not a key=value or [section]: ${line}`);
    if (section === undefined) throw new Error(`line ${String(i + 1)}: key outside a section`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The last value of a unit key (systemd's rule for single-valued settings). */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** An environment file (systemd EnvironmentFile=, docker --env-file): KEY=VALUE lines. */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`line ${String(i + 1)}: not KEY=VALUE: ${line}`);
    env.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  });
  return env;
}

/**
 * A POSIX shell command line split into words: quotes and backslashes as sh treats them,
 * `$(...)` kept whole inside its word. Enough for the deploy kit's one-line `sh -c` scripts.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      let depth = 0;
      for (; j < line.length; j++) {
        const d = line[j]!;
        if (d === '\\') {
          word += line[++j] ?? '';
          continue;
        }
        if (d === '$' && line[j + 1] === '(') {
          depth++;
          word += '$(';
          j++;
          continue;
        }
        if (d === ')' && depth > 0) depth--;
        else if (d === '"' && depth === 0) break;
        word += d;
      }
      if (j >= line.length) throw new Error(`unterminated " in: ${line}`);
      i = j;
      inWord = true;
    } else if (c === '\\') {
      word += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Which `cairn start` subcommand a deploy file runs. */
export type Role = 'coordinator' | 'node';

/** One place a deploy file starts cairn: the role, the flags it passes, the variables it sets. */
export interface CairnInvocation {
  /** e.g. `deploy/compose/docker-compose.yml: services.node-1`. */
  where: string;
  role: Role;
  /** Flag names as given (`--locality`), values dropped. */
  flags: string[];
  /** CAIRN_* variables the process is started with. */
  env: string[];
}

/**
 * The cairn invocation in an argument vector: everything after the CLI entry point (`bin.js`
 * or `cairn`), or the whole vector when it starts at the subcommand (an image's ENTRYPOINT
 * supplies the entry point). Returns undefined for vectors that do not start cairn.
 */
export function cairnArgs(argv: string[]): string[] | undefined {
  const entry = argv.findIndex((w) => w.endsWith('/packages/cli/dist/bin.js') || w === 'cairn');
  const rest = entry >= 0 ? argv.slice(entry + 1) : argv;
  return rest[0] === 'start' ? rest : undefined;
}

/**
 * The flags node gets before the CLI script (`node --min-semi-space-size=16 .../bin.js start
 * node`: what NODE_OPTIONS cannot carry); empty when the command line names no script.
 */
export function nodeFlagsOf(argv: string[]): string[] {
  const entry = argv.findIndex((w) => w.endsWith('/packages/cli/dist/bin.js'));
  const before = entry >= 0 ? argv.slice(0, entry) : [];
  const node = before.findLastIndex((w) => w === 'node' || w.endsWith('/node'));
  return node >= 0 ? before.slice(node + 1) : [];
}

/** `start <role> --flag ...` into role and flag names; throws on an unknown subcommand. */
export function parseStart(args: string[]): { role: Role; flags: string[] } {
  const role = args[1];
  if (role !== 'coordinator' && role !== 'node') throw new Error(`\`cairn start ${String(role)}\` is not a cairn process`);
  const flags = args
    .slice(2)
    .filter((w) => w.startsWith('-'))
    .map((w) => w.split('=')[0]!);
  return { role, flags };
}

/** `30s`, `1m30s`, `500ms`, `2h` (Go and compose duration syntax) in seconds. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 } as const;
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

/** A .dockerignore pattern as a regular expression over slash-separated relative paths. */
export function dockerignoreMatcher(patterns: string[]): (path: string) => boolean {
  const res = patterns.map((p) => {
    const body = p
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((seg) => (seg === '**' ? '(?:.*/)?' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '/'))
      .join('');
    // A pattern matches a path or any directory above it (excluding a directory excludes its files).
    return new RegExp(`^${body.replace(/\/$/, '')}(?:/.*)?$`);
  });
  return (path) => res.some((re) => re.test(path));
}
