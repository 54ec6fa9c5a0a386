// The deploy kit under deploy/ cannot run here (no container runtime can pull images, there is
// no Kubernetes and no systemd as PID 1), so it is checked statically, against the real tools
// that do run here, so that it cannot drift from the code:
//   - every file under deploy/ parses (YAML, JSON, Dockerfile, systemd units, env files, NATS
//     configs through `nats-server -t`, scripts through `node --check`), and a file of a kind
//     this test does not know fails it;
//   - every `cairn start coordinator|node` invocation (compose `command:`, Kubernetes args and
//     `sh -c` lines, systemd ExecStart=) and every CAIRN_* variable these files set exists in
//     the built CLI's `--help` for that subcommand: renaming a flag fails this test;
//   - compose through `docker-compose config -q` (Debian's 1.29.2, installed by setup.sh),
//     Prometheus configs through `promtool check config`, units through `systemd-analyze
//     verify`, Kubernetes objects through kubernetes-models' schema validation;
//   - the kit's pieces agree: drain timeouts fit inside stop timeouts, the NATS names the
//     cairn processes dial are the ones the NATS configs and Helm values create, Prometheus and
//     Grafana mounts land where their configs look, kustomize lists every manifest;
//   - the Kubernetes locality init script really reads a node's labels over HTTPS with a
//     ServiceAccount token (against a local TLS server standing in for the API server);
//   - the compose coordinator's and the systemd node's command lines, as written (only
//     addresses, ports and paths rewritten for this machine), start real processes on a real
//     3-server JetStream cluster that become ready, are discovered with the files' localities,
//     and exit 0 on SIGTERM inside the unit's stop timeout.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role as RbacRole, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { HEAP_LIMIT_MIB, MIN_SEMI_SPACE_MIB, nodeCommandLineFlags } from '@cairn/metrics';
import { ManagedProcess, cliPath, freePort, repoRoot, startNatsCluster, tempDir, waitFor, type NatsClusterHandle } from '@cairn/testing';
import { runCli } from './support/cli.js';
import {
  DOCKERFILE_KEYWORDS,
  cairnArgs,
  dockerEnv,
  dockerignoreMatcher,
  durationSeconds,
  nodeFlagsOf,
  parseDockerfile,
  parseEnvFile,
  parseStart,
  parseUnit,
  shellWords,
  unitValue,
  type CairnInvocation,
  type DockerInstruction,
  type Role,
} from './support/deploy-files.js';

const execFileP = promisify(execFile);
/** What the kit must set for a role: the limit start-local and the test harness give it. */
const heapLimitOption = (role: Role): string => `--max-old-space-size=${HEAP_LIMIT_MIB[role]}`;
const ROOT = repoRoot();
const DEPLOY = join(ROOT, 'deploy');
const COMPOSE_DIR = join(DEPLOY, 'compose');
const COMPOSE_FILE = join(COMPOSE_DIR, 'docker-compose.yml');
const K8S_DIR = join(DEPLOY, 'kubernetes');
const SYSTEMD_DIR = join(DEPLOY, 'systemd');
/** cairn's NATS accounts, which every NATS config of the kit includes from beside itself. */
const NATS_ACCOUNTS = join(DEPLOY, 'nats', 'cairn-accounts.conf');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what}: expected a mapping`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string`);
  return v;
}
const rel = (p: string): string => relative(ROOT, p);

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, cmd);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

function yamlDocs(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${rel(file)}: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS({ maxAliasCount: 1000 }) as unknown).filter((d) => d !== null);
}

/** What `cairn start <role> --help` offers: its flags and the CAIRN_* variables it names. */
interface CliSurface {
  help: string;
  flags: Set<string>;
  env: Set<string>;
}

const surfaces = new Map<Role, CliSurface>();

function surface(role: Role): CliSurface {
  const s = surfaces.get(role);
  if (!s) throw new Error(`no --help read for ${role}`);
  return s;
}

/** Fails with every flag and variable an invocation uses that the CLI does not know. */
function unknownToCli(inv: CairnInvocation): string[] {
  const s = surface(inv.role);
  return [
    ...inv.flags.filter((f) => !s.flags.has(f)).map((f) => `${inv.where}: \`cairn start ${inv.role}\` has no flag ${f}`),
    ...inv.env.filter((e) => !s.env.has(e)).map((e) => `${inv.where}: \`cairn start ${inv.role}\` reads no variable ${e}`),
  ];
}

/** Runs a NATS server config through `nats-server -t` with the given environment. */
function natsConfigTest(conf: string, env: Record<string, string>): { ok: boolean; output: string } {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-natsconf-'));
  try {
    // As installed: the accounts file beside the config (compose mounts it there, systemd
    // installs it there), its passwords in the environment.
    const copy = join(cwd, basename(conf));
    copyFileSync(conf, copy);
    if (basename(conf) !== 'cairn-accounts.conf') copyFileSync(NATS_ACCOUNTS, join(cwd, 'cairn-accounts.conf'));
    const passwords = { CAIRN_NATS_PASSWORD: 'test-password', NATS_SYS_PASSWORD: 'test-sys-password' };
    const out = execFileSync(natsServer(), ['-t', '-c', copy], { cwd, env: { PATH: process.env.PATH ?? '', ...passwords, ...env }, encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, output: out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/**
 * nats-server 2.10 or later: 2.9 lets more than one writer win a KV `update` with the same
 * expected revision on an R3 bucket (fixed upstream after 2.9.x), and the lease and schedules rely on a single winner.
 */
function natsAtLeast210(tag: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(tag);
  return m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 10));
}

function natsServer(): string {
  const p = which('nats-server');
  if (!p) throw new Error('nats-server not found (scripts/setup.sh installs it)');
  return p;
}

let composeCache: Obj | undefined;

/**
 * The compose file's services. With docker-compose present (setup.sh installs it), as compose
 * itself resolves the file (anchors, merges, paths); from the YAML alone otherwise.
 */
function composeServices(): Obj {
  if (composeCache) return composeCache;
  const bin = which('docker-compose');
  const config = bin
    ? obj(parseYaml(execFileSync(bin, ['-f', COMPOSE_FILE, 'config'], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, COMPOSE_PROJECT_NAME: 'cairn' } })), 'docker-compose config')
    : obj(yamlDocs(COMPOSE_FILE)[0], 'compose file');
  composeCache = obj(config.services, 'services');
  return composeCache;
}

/** The runtime stage of deploy/Dockerfile and the instructions before it. */
function dockerfile(): { instructions: DockerInstruction[]; runtimeStart: number; runtime: DockerInstruction[] } {
  const instructions = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
  const runtimeStart = instructions.findLastIndex((i) => i.keyword === 'FROM');
  return { instructions, runtimeStart, runtime: instructions.slice(runtimeStart) };
}

/** The image's ENTRYPOINT (exec form), which a compose service without its own runs. */
function imageEntrypoint(): string[] {
  const entry = dockerfile().runtime.find((i) => i.keyword === 'ENTRYPOINT');
  return JSON.parse(entry!.args) as string[];
}

/** The variables the image sets for every container (its runtime stage's ENV). */
function imageEnv(): Map<string, string> {
  return new Map(dockerfile().runtime.filter((i) => i.keyword === 'ENV').flatMap((i) => dockerEnv(i.args)));
}

beforeAll(async () => {
  if (!existsSync(cliPath())) throw new Error(`${cliPath()} is missing: run \`pnpm build\` first`);
  for (const role of ['coordinator', 'node'] as const) {
    const run = await runCli(['start', role, '--help'], { timeoutMs: 30_000 });
    if (run.code !== 0) throw new Error(`cairn start ${role} --help exited ${String(run.code)}: ${run.stderr}`);
    surfaces.set(role, {
      help: run.stdout,
      flags: new Set(run.stdout.match(/--[a-z][a-z0-9-]*/g) ?? []),
      env: new Set(run.stdout.match(/\bCAIRN_[A-Z0-9_]+\b/g) ?? []),
    });
  }
});

describe('every file under deploy/ parses', () => {
  const files = filesUnder(DEPLOY);

  it('finds the kit', () => {
    for (const f of ['Dockerfile', 'compose/docker-compose.yml', 'kubernetes/kustomization.yaml', 'systemd/cairn-node.service']) {
      expect(files.map(rel)).toContain(`deploy/${f}`);
    }
  });

  it.each(files.map((f) => [rel(f), f]))('%s', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const name = basename(file);
    if (/\.ya?ml$/.test(name)) {
      expect(yamlDocs(file).length).toBeGreaterThan(0);
    } else if (name.endsWith('.json')) {
      expect(() => JSON.parse(text) as unknown).not.toThrow();
    } else if (name === 'Dockerfile') {
      const bad = parseDockerfile(text).filter((i) => !DOCKERFILE_KEYWORDS.has(i.keyword));
      expect(bad.map((i) => `line ${String(i.line)}: ${i.keyword}`)).toEqual([]);
    } else if (name.endsWith('.service')) {
      const unit = parseUnit(text);
      expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    } else if (name.endsWith('.env')) {
      expect(parseEnvFile(text).size).toBeGreaterThan(0);
    } else if (name === 'cairn-accounts.conf') {
      // A server config of its own that includes it, as the kit's configs do.
      const dir = mkdtempSync(join(tmpdir(), 'cairn-accounts-'));
      try {
        writeFileSync(join(dir, 'nats-server.conf'), 'listen: 127.0.0.1:4222\njetstream { store_dir: /tmp/cairn-accounts-js }\ninclude ./cairn-accounts.conf\n');
        const r = natsConfigTest(join(dir, 'nats-server.conf'), {});
        expect(r.ok, r.output).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else if (name === 'nats-server.conf') {
      // The server name comes from the environment in both NATS configs.
      const r = natsConfigTest(file, { NATS_SERVER_NAME: 'nats-1' });
      expect(r.ok, r.output).toBe(true);
    } else if (name.endsWith('.sysusers.conf')) {
      for (const line of text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))) {
        expect(line).toMatch(/^[ugmr] \S+ \S+ (?:"[^"]*"|-) \S+ \S+$/);
      }
    } else if (name.endsWith('.mjs')) {
      execFileSync(process.execPath, ['--check', file]);
    } else if (name.endsWith('.md')) {
      expect(text.trim()).not.toBe('');
    } else {
      throw new Error(`${rel(file)}: no check for this kind of file; add one to test/deploy-kit.test.ts`);
    }
  });
});

describe('cairn start --help (the CLI the kit drives)', () => {
  it('names a CAIRN_* variable for flags of both subcommands', () => {
    for (const role of ['coordinator', 'node'] as const) {
      const s = surface(role);
      expect(s.flags.has('--nats'), `start ${role} --help:\n${s.help}`).toBe(true);
      expect(s.env.has('CAIRN_NATS'), `start ${role} --help:\n${s.help}`).toBe(true);
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  const { instructions, runtimeStart, runtime } = dockerfile();
  const stages = instructions.filter((i) => i.keyword === 'FROM').map((i) => /\bAS\s+(\S+)/i.exec(i.args)?.[1]);

  it('is multi-stage: the runtime copies only from a named build stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const froms = runtime.filter((i) => i.keyword === 'COPY').map((i) => /--from=(\S+)/.exec(i.args)?.[1]);
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(stages).toContain(f);
    expect(runtime[0]!.args).toMatch(/^node:20[-\w.]*slim/);
  });

  it('builds with protoc and a frozen lockfile, and runs as a non-root user without nats-server', () => {
    const build = instructions.slice(0, runtimeStart).map((i) => i.args).join('\n');
    expect(build).toMatch(/protobuf-compiler/);
    expect(build).toMatch(/pnpm install --frozen-lockfile/);
    expect(build).toMatch(/pnpm build/);
    const user = runtime.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args).toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
    expect(instructions.map((i) => i.args).join('\n')).not.toMatch(/nats-server/);
  });

  it('starts the built CLI, exposes the ports its CAIRN_* defaults listen on, and sets only variables the CLI reads', () => {
    const entry = runtime.find((i) => i.keyword === 'ENTRYPOINT');
    const argv = JSON.parse(entry!.args) as string[];
    expect(argv[0]).toBe('node');
    // /app in the image is the repository root of the build stage.
    expect(argv[1]).toMatch(/^\/app\//);
    expect(existsSync(join(ROOT, argv[1]!.slice('/app/'.length)))).toBe(true);
    expect(resolve(ROOT, argv[1]!.slice('/app/'.length))).toBe(cliPath());

    const env = imageEnv();
    const known = new Set([...surface('coordinator').env, ...surface('node').env]);
    expect([...env.keys()].filter((k) => k.startsWith('CAIRN_') && !known.has(k))).toEqual([]);
    const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(['26257', '8080']));
    for (const k of ['CAIRN_LISTEN_ADDR', 'CAIRN_HTTP_ADDR']) {
      const port = env.get(k)?.split(':').at(-1);
      if (port !== undefined) expect(exposed).toContain(port);
    }
    const volume = runtime.find((i) => i.keyword === 'VOLUME');
    expect(volume?.args).toContain(env.get('CAIRN_STORE'));
  });

  it('keeps local builds out of the context but not what the build needs', () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(patterns.filter((p) => p.startsWith('!'))).toEqual([]);
    const ignored = dockerignoreMatcher(patterns);
    for (const p of ['node_modules', 'packages/cli/node_modules', 'packages/cli/dist/bin.js', '.git', 'packages/proto/src/gen/index.ts']) {
      expect(ignored(p), p).toBe(true);
    }
    const needed = execFileSync('git', ['ls-files', 'package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'tsconfig*.json', 'proto', 'packages', 'services'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((l) => l !== '');
    expect(needed.length).toBeGreaterThan(50);
    expect(needed.filter((p) => ignored(p))).toEqual([]);
  });
});

describe('compose', () => {
  let services: Obj;
  const composeBin = which('docker-compose');

  beforeAll(() => {
    services = composeServices();
  });

  it.runIf(which('docker-compose') !== undefined)('passes docker-compose config -q', () => {
    const r = execFileSync(composeBin!, ['-f', COMPOSE_FILE, 'config', '-q'], { encoding: 'utf8', stdio: 'pipe' });
    expect(r).toBe('');
  });

  it('uses no key Debian docker-compose 1.29 rejects', () => {
    const raw = obj(yamlDocs(COMPOSE_FILE)[0], 'compose file');
    expect(Object.keys(raw)).not.toContain('name');
    expect(Object.keys(raw)).not.toContain('include');
    const text = readFileSync(COMPOSE_FILE, 'utf8').replace(/#.*$/gm, '');
    expect(text).not.toMatch(/^\s*(develop|start_interval|required):/m);
  });

  function cairnServices(): Array<[string, Obj]> {
    return Object.entries(services)
      .map(([name, s]) => [name, obj(s, name)] as [string, Obj])
      // One-shot jobs on the image (certs-init) are not cairn processes.
      .filter(([, s]) => typeof s.image === 'string' && s.image.startsWith('cairn') && s.restart !== 'no');
  }

  function invocation(name: string, s: Obj): CairnInvocation {
    const command = typeof s.command === 'string' ? shellWords(s.command) : arr(s.command, `${name}.command`).map((w) => str(w, name));
    const args = cairnArgs(command);
    if (!args) throw new Error(`services.${name}: runs the cairn image without \`start\``);
    const env = isObj(s.environment) ? Object.keys(s.environment) : arr(s.environment ?? [], name).map((e) => str(e, name).split('=')[0]!);
    return { where: `${rel(COMPOSE_FILE)}: services.${name}`, ...parseStart(args), env: env.filter((e) => e.startsWith('CAIRN_')) };
  }

  it('runs 2 coordinators and 3 nodes in 3 regions, with flags and variables the CLI has', () => {
    const invs = cairnServices().map(([name, s]) => invocation(name, s));
    expect(invs.filter((i) => i.role === 'coordinator')).toHaveLength(2);
    expect(invs.filter((i) => i.role === 'node')).toHaveLength(3);
    expect(invs.flatMap(unknownToCli)).toEqual([]);
    const regions = cairnServices()
      .filter(([name, s]) => invocation(name, s).role === 'node')
      .map(([, s]) => /--locality=(?:\S*,)?region=([^,\s]+)/.exec(arr(s.command, 'command').join(' '))?.[1]);
    expect(new Set(regions).size).toBe(3);
  });

  it("runs every cairn process with its role's V8 heap limit, and its command-line V8 flags before the script", () => {
    for (const [name, s] of cairnServices()) {
      const env = obj(s.environment, `${name}.environment`);
      const role = invocation(name, s).role;
      expect(env.NODE_OPTIONS, name).toBe(heapLimitOption(role));
      const entrypoint = s.entrypoint === undefined ? imageEntrypoint() : arr(s.entrypoint, `${name}.entrypoint`).map(String);
      expect(nodeFlagsOf([...entrypoint, ...arr(s.command, `${name}.command`).map(String)]), name).toEqual(nodeCommandLineFlags(role));
    }
  });

  it('gives every node longer to stop than its drain timeout', () => {
    for (const [name, s] of cairnServices()) {
      const command = arr(s.command, name).map(String);
      if (invocation(name, s).role !== 'node') continue;
      const drain = command.find((w) => w.startsWith('--drain-timeout='))?.split('=')[1] ?? '30s';
      expect(durationSeconds(str(s.stop_grace_period, `${name}.stop_grace_period`)), name).toBeGreaterThan(durationSeconds(drain));
    }
  });

  it('runs 3 nats-servers in one JetStream cluster, and the cairn processes dial exactly those', () => {
    const nats = Object.entries(services).filter(([, s]) => isObj(s) && typeof s.image === 'string' && s.image.startsWith('nats:'));
    expect(nats.map(([n]) => n).sort()).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const [name, s] of nats) expect(natsAtLeast210(String(obj(s, name).image).split(':')[1]!), name).toBe(true);
    const conf = join(COMPOSE_DIR, 'nats', 'nats-server.conf');
    const confText = readFileSync(conf, 'utf8');
    const routes = [...confText.matchAll(/nats-route:\/\/([\w.-]+):6222/g)].map((m) => m[1]);
    for (const [name, s] of nats) {
      const svc = obj(s, name);
      const env = obj(svc.environment, `${name}.environment`);
      // Each server gets its own name (JetStream needs them unique), and the config is valid with it.
      expect(env.NATS_SERVER_NAME).toBe(name);
      const r = natsConfigTest(conf, { NATS_SERVER_NAME: name });
      expect(r.ok, r.output).toBe(true);
      expect(routes).toContain(name);
      expect(arr(svc.volumes, name).map((v) => (isObj(v) ? `${String(v.source)}:${String(v.target)}` : String(v))).join('\n')).toContain('/etc/nats/nats-server.conf');
    }
    for (const [name, s] of cairnServices()) {
      const env = obj(s.environment, name);
      const urls = str(env.CAIRN_NATS, `${name}.CAIRN_NATS`).split(',');
      expect(urls.map((u) => new URL(u).hostname).sort(), name).toEqual(['nats-1', 'nats-2', 'nats-3']);
      expect(Number(env.CAIRN_NATS_REPLICAS)).toBe(3);
    }
  });

  it('mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of arr(obj(s, name).volumes ?? [], name)) {
        const source = isObj(v) ? (v.type === 'bind' ? String(v.source) : undefined) : String(v).split(':')[0]!;
        if (source === undefined || !(source.startsWith('.') || source.startsWith('/'))) continue;
        expect(existsSync(resolve(COMPOSE_DIR, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  /** host path (absolute) -> container path, for one service's bind mounts. */
  function binds(name: string): Map<string, string> {
    const m = new Map<string, string>();
    for (const v of arr(obj(services[name], name).volumes ?? [], name)) {
      if (isObj(v)) {
        if (v.type === 'bind') m.set(resolve(COMPOSE_DIR, str(v.source, name)), str(v.target, name));
      } else {
        const [src, target] = String(v).split(':');
        if (src!.startsWith('.') || src!.startsWith('/')) m.set(resolve(COMPOSE_DIR, src!), target!);
      }
    }
    return m;
  }

  it('gives Prometheus a valid config with the shipped jobs and alert rules, as mounted', () => {
    const mounts = binds('prometheus');
    const composeProm = [...mounts].find(([, target]) => target === '/etc/prometheus/prometheus.yml')?.[0];
    expect(composeProm).toBeDefined();
    const shippedDir = [...mounts].find(([src]) => src === join(DEPLOY, 'prometheus'))?.[1];
    expect(shippedDir, 'deploy/prometheus is mounted').toBeDefined();

    // The shipped config with only the service-discovery hosts changed: same globals, jobs,
    // relabelling (alert rules and the dashboard select by job), rule files by name.
    const composeConfig = obj(yamlDocs(composeProm!)[0], 'compose prometheus');
    const shipped = obj(yamlDocs(join(DEPLOY, 'prometheus', 'prometheus.yml'))[0], 'deploy/prometheus/prometheus.yml');
    const sdHosts: string[] = [];
    const normalized = (config: Obj, collect: boolean): Obj => ({
      ...config,
      rule_files: arr(config.rule_files ?? [], 'rule_files').map((f) => basename(str(f, 'rule file'))),
      scrape_configs: arr(config.scrape_configs, 'scrape_configs').map((j) => {
        const job = obj(j, 'job');
        return {
          ...job,
          http_sd_configs: arr(job.http_sd_configs ?? [], 'http_sd_configs').map((sd) => {
            const url = new URL(str(obj(sd, 'sd').url, 'url'));
            if (collect) sdHosts.push(url.hostname);
            return { ...obj(sd, 'sd'), url: url.pathname };
          }),
        };
      }),
    });
    expect(normalized(composeConfig, true)).toEqual(normalized(shipped, false));
    // Discovery asks the coordinators by their compose service names.
    expect(sdHosts.length).toBeGreaterThan(0);
    for (const host of sdHosts) expect(Object.keys(services)).toContain(host);
    for (const f of arr(composeConfig.rule_files, 'rule_files')) {
      expect(existsSync(join(DEPLOY, 'prometheus', relative(relative('/etc/prometheus', shippedDir!), str(f, 'rule file')))), String(f)).toBe(true);
    }

    // promtool reads it laid out as the container sees it, rule files included.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-prom-'));
    try {
      copyFileSync(composeProm!, join(dir, 'prometheus.yml'));
      const sub = relative('/etc/prometheus', shippedDir!);
      expect(sub.startsWith('..')).toBe(false);
      cpSync(join(DEPLOY, 'prometheus'), join(dir, sub), { recursive: true });
      const promtool = which('promtool');
      if (!promtool) throw new Error('promtool not found (scripts/setup.sh installs it)');
      execFileSync(promtool, ['check', 'config', join(dir, 'prometheus.yml')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives Grafana its datasource and puts the dashboard where the provisioning file looks', () => {
    const mounts = binds('grafana');
    const provisioning = [...mounts].find(([src]) => src === join(DEPLOY, 'grafana', 'provisioning.yml'));
    expect(provisioning?.[1]).toMatch(/^\/etc\/grafana\/provisioning\/dashboards\//);
    const providers = arr(obj(yamlDocs(join(DEPLOY, 'grafana', 'provisioning.yml'))[0], 'provisioning').providers, 'providers');
    const dashboardDir = str(obj(obj(providers[0], 'provider').options, 'options').path, 'path');
    const dashboards = readdirSync(join(DEPLOY, 'grafana')).filter((f) => f.endsWith('.json'));
    expect(dashboards.length).toBeGreaterThan(0);
    for (const d of dashboards) expect(mounts.get(join(DEPLOY, 'grafana', d)), d).toBe(`${dashboardDir}/${d}`);

    const ds = [...mounts].find(([, target]) => target.startsWith('/etc/grafana/provisioning/datasources/'));
    expect(ds).toBeDefined();
    const datasources = arr(obj(yamlDocs(ds![0])[0], 'datasources').datasources, 'datasources').map((d) => obj(d, 'datasource'));
    const prom = datasources.find((d) => d.type === 'prometheus');
    expect(prom?.isDefault).toBe(true);
    const url = new URL(str(prom?.url, 'url'));
    expect(Object.keys(services)).toContain(url.hostname);
    expect(arr(obj(services[url.hostname], 'prometheus').ports ?? [], 'ports').map(String).join(' ')).toContain(url.port);
  });

  it('makes the backup bucket with a one-shot job after MinIO is healthy', () => {
    const init = obj(services['minio-init'], 'minio-init');
    expect(obj(obj(init.depends_on, 'depends_on').minio, 'minio').condition).toBe('service_healthy');
    expect(arr(init.command, 'command').join(' ')).toMatch(/mc mb --ignore-existing \S+\/cairn-backups/);
  });

  it("points every coordinator's managed backups at MinIO's bucket, with MinIO's credentials", () => {
    const coordinators = Object.entries(services).filter(([, svc]) => arr(obj(svc, 'service').command ?? [], 'command').map(String).includes('coordinator'));
    expect(coordinators.length).toBeGreaterThanOrEqual(2);
    const minioEnv = obj(obj(services['minio'], 'minio').environment, 'minio.environment');
    for (const [name, svc] of coordinators) {
      const uri = new URL(str(obj(obj(svc, name).environment, `${name}.environment`).CAIRN_MANAGED_BACKUPS_URI, `${name} CAIRN_MANAGED_BACKUPS_URI`));
      expect([uri.protocol, uri.hostname], name).toEqual(['s3:', 'cairn-backups']);
      expect(uri.searchParams.get('AWS_ENDPOINT'), name).toBe('http://minio:9000');
      expect(uri.searchParams.get('AWS_ACCESS_KEY_ID'), name).toBe(minioEnv.MINIO_ROOT_USER);
      expect(uri.searchParams.get('AWS_SECRET_ACCESS_KEY'), name).toBe(minioEnv.MINIO_ROOT_PASSWORD);
    }
  });
});

describe('Kubernetes', () => {
  const kustomization = obj(yamlDocs(join(K8S_DIR, 'kustomization.yaml'))[0], 'kustomization');
  const resources = arr(kustomization.resources, 'resources').map((r) => str(r, 'resource'));
  const objects = resources.flatMap((r) => yamlDocs(join(K8S_DIR, r)).map((d) => ({ file: r, o: obj(d, r) })));
  const workloads = objects.filter(({ o }) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const models: Record<string, new (o: never) => { validate(): void }> = {
    Namespace, Service, ServiceAccount, ConfigMap, Deployment, StatefulSet, PodDisruptionBudget,
    ClusterRole, ClusterRoleBinding, Role: RbacRole, RoleBinding,
  };
  const natsValues = obj(yamlDocs(join(K8S_DIR, 'nats-values.yaml'))[0], 'nats-values');

  it('kustomize lists every manifest here, and each exists', () => {
    const manifests = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && f !== 'nats-values.yaml');
    expect([...resources].sort()).toEqual(manifests.sort());
    for (const g of arr(kustomization.configMapGenerator ?? [], 'configMapGenerator')) {
      for (const f of arr(obj(g, 'generator').files, 'files')) expect(existsSync(join(K8S_DIR, str(f, 'file').split('=').at(-1)!))).toBe(true);
    }
  });

  it('every object passes kubernetes-models validation', () => {
    const failures: string[] = [];
    for (const { file, o } of objects) {
      const Model = models[String(o.kind)];
      if (!Model) {
        failures.push(`${file}: no model for ${String(o.apiVersion)} ${String(o.kind)}`);
        continue;
      }
      try {
        new Model(o as never).validate();
      } catch (err) {
        failures.push(`${file}: ${String(o.kind)} ${String(obj(o.metadata, 'metadata').name)}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  /** The cairn container of a workload and the invocation it runs. */
  function cairnContainer(file: string, w: Obj): { c: Obj; inv: CairnInvocation; pod: Obj; argv: string[] } {
    const pod = obj(obj(obj(w.spec, 'spec').template, 'template').spec, 'pod spec');
    const c = arr(pod.containers, 'containers').map((x) => obj(x, 'container')).find((x) => String(x.image).startsWith('cairn'));
    if (!c) throw new Error(`${file}: no cairn container`);
    const command = arr(c.command ?? [], 'command').map(String);
    const args = arr(c.args ?? [], 'args').map(String);
    // `sh -c <script>`: the script is one word of args; otherwise command + args is the argv.
    const argv = command[0]?.endsWith('sh') && /^-\w*c/.test(command[1] ?? '') ? shellWords(args.join(' ')) : [...command, ...args];
    const cairn = cairnArgs(argv);
    if (!cairn) throw new Error(`${file}: the cairn container does not run \`cairn start\``);
    const env = arr(c.env ?? [], 'env').map((e) => str(obj(e, 'env').name, 'env name'));
    const name = str(obj(w.metadata, 'metadata').name, 'name');
    return { c, pod, argv, inv: { where: `deploy/kubernetes/${file}: ${String(w.kind)} ${name}`, ...parseStart(cairn), env: env.filter((e) => e.startsWith('CAIRN_')) } };
  }

  it("runs every cairn container with its role's V8 heap limit, and its command-line V8 flags before the script", () => {
    for (const { file, o } of workloads) {
      const { c, inv, argv } = cairnContainer(file, o);
      const env = arr(c.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'NODE_OPTIONS');
      expect(env?.value, inv.where).toBe(heapLimitOption(inv.role));
      expect(nodeFlagsOf(argv), inv.where).toEqual(nodeCommandLineFlags(inv.role));
    }
  });

  it('runs a node StatefulSet of 3 and a coordinator Deployment of 2, with flags and variables the CLI has', () => {
    const runs = workloads.map(({ file, o }) => ({ o, ...cairnContainer(file, o) }));
    const nodes = runs.filter((r) => r.inv.role === 'node');
    const coordinators = runs.filter((r) => r.inv.role === 'coordinator');
    expect(nodes.map((r) => [r.o.kind, obj(r.o.spec, 'spec').replicas])).toEqual([['StatefulSet', 3]]);
    expect(coordinators.map((r) => [r.o.kind, obj(r.o.spec, 'spec').replicas])).toEqual([['Deployment', 2]]);
    expect(runs.flatMap((r) => unknownToCli(r.inv))).toEqual([]);
    // The node's store is a volume claim mounted where CAIRN_STORE points.
    const node = nodes[0]!;
    const store = arr(node.c.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'CAIRN_STORE')?.value;
    const claims = arr(obj(node.o.spec, 'spec').volumeClaimTemplates, 'volumeClaimTemplates').map((t) => obj(obj(t, 'pvc').metadata, 'metadata').name);
    const mount = arr(node.c.volumeMounts, 'volumeMounts').map((m) => obj(m, 'mount')).find((m) => m.mountPath === store);
    expect(claims).toContain(mount?.name);
  });

  it('probes /health for liveness and /health?ready=1 for readiness, on the port CAIRN_HTTP_ADDR listens on', () => {
    for (const { file, o } of workloads) {
      const { c } = cairnContainer(file, o);
      const httpGet = (probe: string): Obj => obj(obj(c[probe], `${file} ${probe}`).httpGet, `${file} ${probe}.httpGet`);
      expect(httpGet('livenessProbe').path, file).toBe('/health');
      expect(httpGet('readinessProbe').path, file).toBe('/health?ready=1');
      const httpAddr = arr(c.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'CAIRN_HTTP_ADDR')?.value;
      const port = arr(c.ports, 'ports').map((p) => obj(p, 'port')).find((p) => p.name === httpGet('readinessProbe').port)?.containerPort;
      expect(String(httpAddr).split(':').at(-1), file).toBe(String(port));
      const annotations = obj(obj(obj(obj(o.spec, 'spec').template, 'template').metadata, 'metadata').annotations, 'annotations');
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/port']).toBe(String(port));
    }
  });

  it('gives nodes longer to stop than their drain timeout', () => {
    for (const { file, o } of workloads) {
      const { c, pod, inv } = cairnContainer(file, o);
      if (inv.role !== 'node') continue;
      const drain = arr(c.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'CAIRN_DRAIN_TIMEOUT')?.value;
      expect(Number(pod.terminationGracePeriodSeconds)).toBeGreaterThan(durationSeconds(String(drain ?? '30s')));
    }
  });

  it('takes the locality from the init container the RBAC allows to read nodes', () => {
    const generated = arr(kustomization.configMapGenerator, 'configMapGenerator').map((g) => obj(g, 'generator'));
    const rules = objects
      .filter(({ o }) => o.kind === 'ClusterRole')
      .flatMap(({ o }) => arr(o.rules, 'rules').map((r) => obj(r, 'rule')));
    expect(rules.some((r) => arr(r.resources, 'resources').includes('nodes') && arr(r.verbs, 'verbs').includes('get'))).toBe(true);
    const accounts = objects.filter(({ o }) => o.kind === 'ServiceAccount').map(({ o }) => obj(o.metadata, 'metadata').name);
    for (const { file, o } of workloads) {
      const { c, pod } = cairnContainer(file, o);
      expect(accounts).toContain(pod.serviceAccountName);
      const init = arr(pod.initContainers, 'initContainers').map((x) => obj(x, 'init')).find((x) => x.name === 'locality');
      expect(init, file).toBeDefined();
      const [interpreter, script, output] = arr(init!.command, 'command').map(String);
      expect(interpreter).toBe('node');
      // The script is mounted from the generated ConfigMap under its file name.
      const scriptMount = arr(init!.volumeMounts, 'mounts').map((m) => obj(m, 'mount')).find((m) => script!.startsWith(`${String(m.mountPath)}/`));
      const volume = arr(pod.volumes, 'volumes').map((v) => obj(v, 'volume')).find((v) => v.name === scriptMount?.name);
      const cmName = obj(volume?.configMap, `${file} locality volume`).name;
      const gen = generated.find((g) => g.name === cmName);
      expect(gen, `${file}: ConfigMap ${String(cmName)} is generated`).toBeDefined();
      expect(arr(gen!.files, 'files')).toContain(basename(script!));
      // The main container reads the file the init container wrote, from the same volume.
      const outMount = arr(init!.volumeMounts, 'mounts').map((m) => obj(m, 'mount')).find((m) => output!.startsWith(`${String(m.mountPath)}/`));
      const mainMount = arr(c.volumeMounts, 'mounts').map((m) => obj(m, 'mount')).find((m) => m.name === outMount?.name);
      expect(mainMount?.mountPath).toBe(dirname(output!));
      expect(arr(c.args, 'args').join(' ')).toContain(`--locality "$(cat ${output!})"`);
      const nodeName = arr(init!.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'NODE_NAME');
      expect(obj(obj(nodeName?.valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath).toBe('spec.nodeName');
    }
  });

  it('dials the servers the NATS Helm values create (release `nats`), at R3 on a 3-server JetStream cluster', () => {
    const config = obj(natsValues.config, 'config');
    const cluster = obj(config.cluster, 'cluster');
    const jetstream = obj(config.jetstream, 'jetstream');
    expect(cluster.enabled).toBe(true);
    const replicas = Number(cluster.replicas);
    expect(replicas).toBe(3);
    expect(jetstream.enabled).toBe(true);
    expect(obj(jetstream.fileStore, 'fileStore').enabled).toBe(true);
    expect(natsAtLeast210(String(obj(obj(natsValues.container, 'container').image, 'image').tag))).toBe(true);
    const expected = Array.from({ length: replicas }, (_, i) => `nats-${String(i)}.nats-headless`);
    for (const { file, o } of workloads) {
      const { c } = cairnContainer(file, o);
      const env = new Map(arr(c.env, 'env').map((e) => [obj(e, 'env').name, obj(e, 'env').value]));
      const urls = str(env.get('CAIRN_NATS'), `${file} CAIRN_NATS`).split(',');
      expect(urls.map((u) => new URL(u).hostname).sort(), file).toEqual(expected);
      expect(Number(env.get('CAIRN_NATS_REPLICAS'))).toBeLessThanOrEqual(replicas);
    }
  });

  it('keeps the coordinators and nodes behind PodDisruptionBudgets and Services', () => {
    const selectors = (kind: string): Obj[] =>
      objects.filter(({ o }) => o.kind === kind).map(({ o }) => obj(obj(o.spec, 'spec').selector, 'selector'));
    const matches = (labels: Obj, selector: Obj): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const { o } of workloads) {
      const labels = obj(obj(obj(obj(o.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels');
      expect(selectors('PodDisruptionBudget').some((s) => matches(labels, obj(s.matchLabels, 'matchLabels')))).toBe(true);
      expect(selectors('Service').some((s) => matches(labels, s))).toBe(true);
    }
    const coordinatorService = objects.find(({ o }) => o.kind === 'Service' && obj(obj(o.spec, 'spec').selector, 's')['app.kubernetes.io/component'] === 'coordinator');
    const ports = arr(obj(coordinatorService!.o.spec, 'spec').ports, 'ports').map((p) => obj(p, 'port').port);
    expect(ports).toEqual(expect.arrayContaining([26257, 8080]));
    const pdbs = objects.filter(({ o }) => o.kind === 'PodDisruptionBudget').map(({ o }) => obj(o.spec, 'spec'));
    expect(pdbs.some((s) => s.minAvailable === 1)).toBe(true);
  });
});

describe('the locality init script against an HTTPS API server', () => {
  const script = join(K8S_DIR, 'locality.mjs');
  let dir: string;
  let server: Server;
  let port = 0;
  const requests: Array<{ path: string; auth: string | undefined }> = [];
  const nodes = new Map<string, { status: number; body: unknown }[]>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-locality-'));
    // A self-signed certificate for 127.0.0.1 stands in for the cluster CA the pod trusts.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
    writeFileSync(join(dir, 'token'), 'test-token\n');
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.crt')) }, (req, res) => {
      requests.push({ path: req.url ?? '', auth: req.headers.authorization });
      const name = decodeURIComponent((req.url ?? '').replace(/^\/api\/v1\/nodes\//, ''));
      const queue = nodes.get(name);
      const next = queue && queue.length > 1 ? queue.shift()! : queue?.[0];
      const reply = next ?? { status: 404, body: { kind: 'Status', reason: 'NotFound' } };
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(nodeName: string, extra: Record<string, string> = {}): Promise<{ code: number; out: string | undefined; stderr: string }> {
    const out = join(dir, `locality-${nodeName}`);
    rmSync(out, { force: true });
    const env = { PATH: process.env.PATH ?? '', NODE_NAME: nodeName, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port), SERVICE_ACCOUNT_DIR: dir, ...extra };
    try {
      const r = await execFileP(process.execPath, [script, out], { env, timeout: 30_000 });
      return { code: 0, out: readFileSync(out, 'utf8'), stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: e.code ?? -1, out: existsSync(out) ? readFileSync(out, 'utf8') : undefined, stderr: e.stderr ?? '' };
    }
  }

  const node = (labels: Record<string, string>): { status: number; body: unknown } => ({ status: 200, body: { kind: 'Node', metadata: { labels } } });

  it('writes region and zone from the node labels, asking with the ServiceAccount token', async () => {
    nodes.set('worker-a', [node({ 'topology.kubernetes.io/region': 'us-east1', 'topology.kubernetes.io/zone': 'us-east1-b', 'kubernetes.io/hostname': 'worker-a' })]);
    const r = await run('worker-a');
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toBe('region=us-east1,zone=us-east1-b\n');
    expect(requests.at(-1)).toEqual({ path: '/api/v1/nodes/worker-a', auth: 'Bearer test-token' });
  });

  it('retries a failing API server, then succeeds', async () => {
    nodes.set('worker-b', [{ status: 503, body: {} }, node({ 'topology.kubernetes.io/region': 'eu-west1' })]);
    const r = await run('worker-b');
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toBe('region=eu-west1\n');
  });

  it('refuses a node without a region label unless a fallback is set', async () => {
    nodes.set('worker-c', [node({ 'kubernetes.io/hostname': 'worker-c' })]);
    const refused = await run('worker-c');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/no topology\.kubernetes\.io\/region label/);
    const fallback = await run('worker-c', { LOCALITY_FALLBACK: 'region=local' });
    expect(fallback.code, fallback.stderr).toBe(0);
    expect(fallback.out).toBe('region=local\n');
  });

  it('fails at once when RBAC forbids reading the node', async () => {
    nodes.set('worker-d', [{ status: 403, body: { reason: 'Forbidden' } }]);
    const before = requests.length;
    const r = await run('worker-d');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/HTTP 403/);
    expect(requests.length - before).toBe(1);
  });
});

describe('systemd', () => {
  const units = readdirSync(SYSTEMD_DIR).filter((f) => f.endsWith('.service'));

  function unit(name: string): ReturnType<typeof parseUnit> {
    return parseUnit(readFileSync(join(SYSTEMD_DIR, name), 'utf8'));
  }

  /** The example env file a unit's EnvironmentFile= names (installed from this directory). */
  function envFileOf(name: string): Map<string, string> {
    const path = unitValue(unit(name), 'Service', 'EnvironmentFile');
    if (!path) throw new Error(`${name}: no EnvironmentFile=`);
    const local = join(SYSTEMD_DIR, basename(path.replace(/^-/, '')));
    if (!existsSync(local)) throw new Error(`${name}: ${path} has no example ${rel(local)}`);
    return parseEnvFile(readFileSync(local, 'utf8'));
  }

  it('has a coordinator and a node unit whose commands, flags and variables the CLI has', () => {
    const invs: CairnInvocation[] = [];
    for (const name of units) {
      const exec = unitValue(unit(name), 'Service', 'ExecStart');
      const args = cairnArgs(shellWords(exec ?? ''));
      if (!args) continue;
      const start = parseStart(args);
      invs.push({ where: `deploy/systemd/${name}`, ...start, env: [...envFileOf(name).keys()].filter((k) => k.startsWith('CAIRN_')) });
    }
    expect(invs.map((i) => i.role).sort()).toEqual(['coordinator', 'node']);
    expect(invs.flatMap(unknownToCli)).toEqual([]);
  });

  it("gives each cairn unit its role's V8 heap limit, its command-line V8 flags and bounded malloc", () => {
    for (const name of units) {
      const execStart = shellWords(unitValue(unit(name), 'Service', 'ExecStart') ?? '');
      const args = cairnArgs(execStart);
      if (!args) continue;
      const env = envFileOf(name);
      expect(env.get('NODE_OPTIONS'), name).toBe(heapLimitOption(parseStart(args).role));
      expect(nodeFlagsOf(execStart), name).toEqual(nodeCommandLineFlags(parseStart(args).role));
      expect(env.get('MALLOC_ARENA_MAX'), name).toBe('2');
    }
  });

  it('runs each cairn unit as a dedicated user, restarts on failure, stops with SIGTERM and room to drain', () => {
    for (const name of units.filter((u) => u.startsWith('cairn-'))) {
      const u = unit(name);
      expect(unitValue(u, 'Service', 'User'), name).toBe('cairn');
      expect(unitValue(u, 'Service', 'Restart'), name).toBe('on-failure');
      expect(unitValue(u, 'Service', 'KillSignal'), name).toBe('SIGTERM');
      expect(unitValue(u, 'Service', 'NoNewPrivileges'), name).toBe('yes');
      expect(unitValue(u, 'Service', 'ProtectSystem'), name).toBe('strict');
      expect(unitValue(u, 'Service', 'EnvironmentFile'), name).toMatch(/^\/etc\/cairn\/[\w-]+\.env$/);
      const env = envFileOf(name);
      if (env.has('CAIRN_DRAIN_TIMEOUT') || name === 'cairn-node.service') {
        const stop = durationSeconds(unitValue(u, 'Service', 'TimeoutStopSec') ?? '90s');
        expect(stop, name).toBeGreaterThan(durationSeconds(env.get('CAIRN_DRAIN_TIMEOUT') ?? '30s'));
      }
      // The node's store is inside the one directory the hardened unit may write.
      const store = env.get('CAIRN_STORE');
      if (store !== undefined) expect(store.startsWith(`/var/lib/${String(unitValue(u, 'Service', 'StateDirectory'))}/`), name).toBe(true);
    }
    const sysusers = readFileSync(join(SYSTEMD_DIR, 'cairn.sysusers.conf'), 'utf8');
    expect(sysusers).toMatch(/^u cairn /m);
  });

  it('runs nats-server from the cluster config, every cairn process dialling the servers its routes name', () => {
    const u = unit('nats-server.service');
    const exec = shellWords(unitValue(u, 'Service', 'ExecStart') ?? '');
    const conf = exec[exec.indexOf('-c') + 1]!;
    expect(basename(conf)).toBe('nats-server.conf');
    const local = join(SYSTEMD_DIR, 'nats-server.conf');
    const env = envFileOf('nats-server.service');
    const r = natsConfigTest(local, Object.fromEntries(env));
    expect(r.ok, r.output).toBe(true);
    // Lame duck mode must end before systemd's SIGKILL.
    const ldm = /lame_duck_duration:\s*(\S+)/.exec(readFileSync(local, 'utf8'))?.[1] ?? '2m';
    expect(durationSeconds(unitValue(u, 'Service', 'TimeoutStopSec') ?? '90s')).toBeGreaterThan(durationSeconds(ldm));
    const routes = [...readFileSync(local, 'utf8').matchAll(/nats-route:\/\/([\w.-]+):\d+/g)].map((m) => m[1]).sort();
    expect(routes).toHaveLength(3);
    for (const name of ['cairn-coordinator.service', 'cairn-node.service']) {
      const urls = str(envFileOf(name).get('CAIRN_NATS'), 'CAIRN_NATS').split(',');
      expect(urls.map((x) => new URL(x).hostname).sort(), name).toEqual(routes);
    }
  });

  it.runIf(which('systemd-analyze') !== undefined)('passes systemd-analyze verify without a warning', () => {
    // Verified from a copy whose ExecStart= names this machine's node and nats-server (an
    // install detail verify checks for existence); everything else as shipped.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-units-'));
    try {
      mkdirSync(dir, { recursive: true });
      for (const name of units) {
        const text = readFileSync(join(SYSTEMD_DIR, name), 'utf8')
          .replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `)
          .replace(/^ExecStart=\/usr\/sbin\/nats-server /m, `ExecStart=${natsServer()} `);
        writeFileSync(join(dir, name), text);
      }
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(dir, u))], { encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      expect(r.status, output).toBe(0);
      // verify exits 0 on unknown keys and bad values; it only warns about them, naming the file.
      const warnings = output.split('\n').filter((l) => l.includes(dir) || /Unknown key|Failed to parse|ignoring/.test(l));
      expect(warnings).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the kit's command lines start a real cluster", () => {
  // The compose coordinator's command line (flags, the image's ENV under the service's
  // environment), the systemd node's (env file only) and the Kubernetes node container's
  // (`sh -ec` line, env list) run as they are, against a real
  // 3-server JetStream cluster, with only what names this machine rewritten: NATS URLs,
  // listen and advertised addresses (127.0.0.1 and free ports), the store directory.
  let nats: NatsClusterHandle | undefined;
  const procs: ManagedProcess[] = [];

  afterAll(async () => {
    await Promise.allSettled(procs.map((p) => p.stop(40_000)));
    await nats?.stop();
  });

  /** Flag name (`listen-addr`) of a CAIRN_* variable (`CAIRN_LISTEN_ADDR`). */
  const flagOf = (envName: string): string => envName.slice('CAIRN_'.length).toLowerCase().replace(/_/g, '-');

  function localize(role: Role, args: string[], env: Map<string, string>, local: Record<string, string>): { args: string[]; env: Record<string, string> } {
    const rewrite = (flag: string, value: string): string => local[flag] ?? value;
    const outArgs = args.map((w, i) => {
      const m = /^--([a-z-]+)=(.*)$/.exec(w);
      if (m) return `--${m[1]!}=${rewrite(m[1]!, m[2]!)}`;
      const prev = /^--([a-z-]+)$/.exec(args[i - 1] ?? '');
      return prev && !w.startsWith('-') ? rewrite(prev[1]!, w) : w;
    });
    const outEnv: Record<string, string> = {};
    for (const [k, v] of env) outEnv[k] = k.startsWith('CAIRN_') ? rewrite(flagOf(k), v) : v;
    // Addresses the files leave to the image or the CLI's defaults still get this machine's.
    for (const [flag, value] of Object.entries(local)) {
      const given = outArgs.some((w) => w === `--${flag}` || w.startsWith(`--${flag}=`)) || env.has(`CAIRN_${flag.toUpperCase().replace(/-/g, '_')}`);
      if (!given && surface(role).flags.has(`--${flag}`)) outArgs.push(`--${flag}=${value}`);
    }
    return { args: outArgs, env: outEnv };
  }

  async function start(name: string, role: Role, args: string[], env: Record<string, string>, argv?: { command: string; args: string[] }): Promise<ManagedProcess> {
    const clean = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('CAIRN_')).map((k) => [k, undefined]));
    const p = await ManagedProcess.start({
      name,
      command: argv?.command ?? process.execPath,
      args: argv?.args ?? [cliPath(), ...args],
      env: { ...clean, ...env },
      readyTimeoutMs: 90_000,
      stopTimeoutMs: 40_000,
    });
    procs.push(p);
    expect(p.readyInfo.role).toBe(role);
    return p;
  }

  /** SIGTERM, then whether the process exited within `seconds` (as a supervisor would allow). */
  async function exitsWithin(p: ManagedProcess, seconds: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), seconds * 1000)));
    try {
      return await Promise.race([p.kill('SIGTERM').then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function ready(http: string): Promise<void> {
    await waitFor(async () => (await fetch(`http://${http}/health?ready=1`)).status === 200, { timeoutMs: 90_000, what: `${http}/health?ready=1` });
  }

  it('becomes ready, is discovered with the files\' localities, and drains on SIGTERM', async () => {
    // NATS as the kit configures it: cairn's account from deploy/nats/cairn-accounts.conf, with
    // the password the compose file defaults to (the systemd and Kubernetes files' stand-ins are
    // rewritten to it below, as an operator sets one password everywhere).
    const natsPassword = 'cairn-nats-secret';
    nats = await startNatsCluster(3, {
      extraConfig: [`CAIRN_NATS_PASSWORD: ${JSON.stringify(natsPassword)}`, 'NATS_SYS_PASSWORD: "unused"', readFileSync(NATS_ACCOUNTS, 'utf8')].join('\n'),
      readyAuth: { user: 'cairn', pass: natsPassword },
    });
    // The kit runs secure: one node certificate for this machine stands in for each host's.
    const certs = join(await tempDir('cairn-kit-certs'), 'certs');
    const caKey = join(dirname(certs), 'ca.key');
    for (const args of [['create-ca'], ['create-node', 'localhost', '127.0.0.1'], ['create-client', 'root']]) {
      const run = await runCli(['cert', ...args, '--certs-dir', certs, '--ca-key', caKey]);
      expect(run.code, run.stderr).toBe(0);
    }

    const service = obj(composeServices()['coordinator-1'], 'coordinator-1');
    const coordinatorArgs = cairnArgs(arr(service.command, 'command').map(String))!;
    // Compose's `${VAR:-default}` interpolation, with VAR unset: the default.
    const interpolate = (v: string): string => v.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}/g, (_all, d: string) => d);
    const coordinatorEnv = new Map([...imageEnv(), ...Object.entries(obj(service.environment, 'environment')).map(([k, v]) => [k, interpolate(String(v))] as [string, string])]);
    const cGrpc = `127.0.0.1:${String(await freePort())}`;
    const cHttp = `127.0.0.1:${String(await freePort())}`;
    const coordinatorStore = await tempDir('cairn-kit-coordinator');
    expect(coordinatorEnv.get('CAIRN_NATS_PASSWORD')).toBe(natsPassword);
    const c = localize('coordinator', coordinatorArgs, coordinatorEnv, {
      'certs-dir': certs,
      nats: nats.url, 'listen-addr': cGrpc, 'advertise-addr': cGrpc, 'http-addr': cHttp, 'advertise-http-addr': cHttp, store: coordinatorStore,
    });

    const unitFile = parseUnit(readFileSync(join(SYSTEMD_DIR, 'cairn-node.service'), 'utf8'));
    const nodeExecStart = shellWords(unitValue(unitFile, 'Service', 'ExecStart') ?? '');
    const nodeArgs = cairnArgs(nodeExecStart)!;
    const nodeEnv = parseEnvFile(readFileSync(join(SYSTEMD_DIR, 'node.env'), 'utf8'));
    const nHttp = `127.0.0.1:${String(await freePort())}`;
    const n = localize('node', nodeArgs, nodeEnv, {
      'certs-dir': certs,
      'nats-password': natsPassword,
      nats: nats.url, 'http-addr': nHttp, 'advertise-addr': '127.0.0.1', 'advertise-http-addr': nHttp, store: await tempDir('cairn-kit-node'),
    });

    // The Kubernetes node container as the StatefulSet runs it: its `sh -ec` line (the path
    // of the locality file the init container writes and of the CLI rewritten), its env list
    // resolved the Kubernetes way (downward API fields, $(VAR) references to earlier entries).
    const statefulSet = obj(yamlDocs(join(K8S_DIR, 'node.yaml')).map((d) => obj(d, 'node.yaml')).find((d) => d.kind === 'StatefulSet'), 'StatefulSet');
    const k8sContainer = arr(obj(obj(obj(statefulSet.spec, 'spec').template, 'template').spec, 'pod').containers, 'containers').map((x) => obj(x, 'container'))[0]!;
    const fields: Record<string, string> = { 'metadata.name': 'cairn-node-0', 'metadata.namespace': 'cairn', 'status.podIP': '127.0.0.1', 'spec.nodeName': 'worker-1' };
    const k8sEnv = new Map<string, string>();
    for (const e of arr(k8sContainer.env, 'env').map((x) => obj(x, 'env'))) {
      // A Secret's value (the NATS password) is whatever the operator stored: any will do here.
      if (isObj(e.valueFrom) && isObj(e.valueFrom.secretKeyRef)) {
        k8sEnv.set(str(e.name, 'name'), 'secret-from-kubernetes');
        continue;
      }
      const ref = isObj(e.valueFrom) ? str(obj(e.valueFrom.fieldRef, 'fieldRef').fieldPath, 'fieldPath') : undefined;
      const value = ref !== undefined ? fields[ref]! : str(e.value, 'value').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v: string) => k8sEnv.get(v) ?? all);
      k8sEnv.set(str(e.name, 'name'), value);
    }
    expect(k8sEnv.get('CAIRN_ADVERTISE_ADDR')).toBe('cairn-node-0.cairn-node.cairn.svc');
    const k8sHttp = `127.0.0.1:${String(await freePort())}`;
    const k = localize('node', [], k8sEnv, { 'certs-dir': certs, 'nats-password': natsPassword, nats: nats.url, 'http-addr': k8sHttp, 'advertise-addr': '127.0.0.1', 'advertise-http-addr': k8sHttp, store: await tempDir('cairn-kit-k8s-node') });
    const localityDir = await tempDir('cairn-kit-locality');
    writeFileSync(join(localityDir, 'locality'), 'region=us-west1,zone=us-west1-a\n');
    const shell = arr(k8sContainer.command, 'command').map(String);
    const script = arr(k8sContainer.args, 'args').map(String).join(' ').replaceAll('/var/run/cairn/locality', join(localityDir, 'locality')).replaceAll('/app/packages/cli/dist/bin.js', cliPath());
    expect(shell[0]).toBe('/bin/sh');

    // Started together, as compose, systemd and Kubernetes start them.
    const [coordinator, node, k8sNode] = await Promise.all([
      start('coordinator-1', 'coordinator', c.args, c.env),
      start('node-1', 'node', n.args, n.env, { command: process.execPath, args: [...nodeFlagsOf(nodeExecStart), cliPath(), ...n.args] }),
      start('cairn-node-0', 'node', [], k.env, { command: shell[0]!, args: [...shell.slice(1), script] }),
    ]);
    await ready(cHttp);
    await ready(nHttp);
    await ready(k8sHttp);
    // The files' NODE_OPTIONS reach the processes: each runs with its role's heap limit
    // (heap_size_limit adds the young generation, 48 MiB, to the old-space limit).
    for (const p of [coordinator, node, k8sNode]) {
      const role = p.readyInfo.role as Role;
      expect(Number(p.readyInfo.heapLimitMiB), p.name).toBeLessThanOrEqual(HEAP_LIMIT_MIB[role] + 64);
    }
    // And the unit's and the container's command-line V8 flags: a node's young generation
    // starts at its floor (an idle process without the flag has 1 MiB).
    for (const p of [node, k8sNode]) expect(Number(p.readyInfo.newSpaceMiB), p.name).toBeGreaterThanOrEqual(MIN_SEMI_SPACE_MIB.node!);

    // Compose's health check for the cairn services, run as Docker runs it (CMD form), against
    // the coordinator; and against a port nobody listens on.
    const healthcheck = arr(obj(service.healthcheck, 'healthcheck').test, 'healthcheck.test').map(String);
    expect(healthcheck[0]).toBe('CMD');
    expect(healthcheck[1]).toBe('node');
    const runCheck = async (http: string): Promise<number> => {
      const argv = healthcheck.slice(2).map((w) => w.replaceAll('127.0.0.1:8080', http));
      try {
        await execFileP(process.execPath, argv, { timeout: 10_000 });
        return 0;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    };
    expect(await runCheck(cHttp)).toBe(0);
    expect(await runCheck(`127.0.0.1:${String(await freePort())}`)).not.toBe(0);

    const groups = (await (await fetch(`http://${cHttp}/sd/prometheus`)).json()) as Array<{ targets: string[]; labels: Record<string, string> }>;
    const nodeLocality = Object.fromEntries(str(nodeEnv.get('CAIRN_LOCALITY'), 'CAIRN_LOCALITY').split(',').map((t) => t.split('=') as [string, string]));
    const coordinatorLocality = /--locality=(\S+)/.exec(coordinatorArgs.join(' '))![1]!;
    expect(groups).toEqual(
      expect.arrayContaining([
        { targets: [cHttp], labels: expect.objectContaining({ cairn_role: 'coordinator', cairn_coordinator_id: 'coordinator-1', locality_region: coordinatorLocality.split('=')[1] }) as unknown },
        { targets: [nHttp], labels: expect.objectContaining({ cairn_role: 'node', locality_region: nodeLocality.region, locality_zone: nodeLocality.zone }) as unknown },
        { targets: [k8sHttp], labels: expect.objectContaining({ cairn_role: 'node', locality_region: 'us-west1', locality_zone: 'us-west1-a' }) as unknown },
      ]),
    );

    // SIGTERM drains and exits cleanly well inside the unit's TimeoutStopSec.
    const stopLimit = durationSeconds(unitValue(unitFile, 'Service', 'TimeoutStopSec') ?? '90s');
    expect(await exitsWithin(node, stopLimit), `node-1 exits within TimeoutStopSec:\n${node.logs()}`).toBe(true);
    expect(node.exitStatus?.code, node.logs()).toBe(0);
    // `exec` in the container's shell line hands SIGTERM to node itself: a clean drain, not
    // a shell killed with node orphaned.
    const grace = Number(obj(obj(obj(statefulSet.spec, 'spec').template, 'template').spec, 'pod').terminationGracePeriodSeconds);
    expect(await exitsWithin(k8sNode, grace), `cairn-node-0 exits within terminationGracePeriodSeconds:\n${k8sNode.logs()}`).toBe(true);
    expect(k8sNode.exitStatus?.code, k8sNode.logs()).toBe(0);
    await coordinator.kill('SIGTERM');
    expect(coordinator.exitStatus?.code, coordinator.logs()).toBe(0);
  });
});

// Files this test reads but another part of the repo owns must exist (a rename there fails here).
it('reads the Prometheus and Grafana files the kit mounts', () => {
  for (const f of ['prometheus/prometheus.yml', 'grafana/provisioning.yml']) expect(statSync(join(DEPLOY, f)).isFile()).toBe(true);
});
