import { Option, type Command } from 'commander';
import { startCoordinator } from '@cairn/coordinator';
import { startNode } from '@cairn/node';
import { heapLimitMiB, heapLimitWarning, newSpaceMiB, type ProcessRole } from '@cairn/metrics';
import { processLifecycle } from './process-lifecycle.js';
import {
  advertiseFlag,
  durationFlag,
  listenAddrFlag,
  localityFlag,
  natsAuthFlags,
  natsUrlsFlag,
  replicasFlag,
  securityModeFlag,
  type SecurityFlagValues,
} from './process-flags.js';

/** Prints the machine-readable line supervisors (start-local, the test harness) wait for. */
function ready(info: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event: 'ready', ...info }) + '\n');
}

/**
 * Says on stderr (a log line) when this process runs without a V8 heap limit: its memory then
 * grows with garbage toward V8's default limit, sized from the host's memory.
 */
function warnUnboundedHeap(role: ProcessRole): void {
  const warning = heapLimitWarning(role);
  if (warning) process.stderr.write(JSON.stringify({ level: 40, time: Date.now(), msg: warning }) + '\n');
}

/** Environment variable of each flag (`--listen-addr` → CAIRN_LISTEN_ADDR). */
export function envName(flag: string): string {
  return `CAIRN_${flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

/** A flag that may also come from its `CAIRN_*` environment variable. */
function flag(spec: string, description: string, defaultValue?: string): Option {
  const o = new Option(spec, description).env(envName(spec.split(' ')[0]!));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

const NATS_DESC = 'NATS server URL(s), comma-separated (every server of a NATS cluster)';
const REPLICAS_DESC = 'replicas of the JetStream state, 1 to 5 (default: 3 on a NATS cluster of 3 or more servers, else 1)';

/**
 * Hidden: stop when stdin closes (start-local passes it so no child outlives it). No
 * environment variable on purpose: set by mistake in a service manager whose stdin is
 * /dev/null, it would stop the process as soon as it started.
 */
function exitWithParentFlag(): Option {
  return new Option('--exit-with-parent', 'stop when stdin reaches EOF').hideHelp();
}

/**
 * Security flags shared by both roles: the certificates directory or --insecure, and how the
 * process authenticates to NATS. Prefer CAIRN_NATS_PASSWORD to --nats-password: a command
 * line is visible to every user of the machine.
 */
function addSecurityOptions(c: Command): Command {
  return c
    .addOption(flag('--certs-dir <dir>', 'secure mode: directory holding ca.crt, node.crt and node.key (cairn cert create-*)'))
    .addOption(flag('--insecure', 'run without TLS or authentication (required when --certs-dir is not given)'))
    .addOption(flag('--nats-creds <file>', 'NATS credentials file (user JWT and nkey seed)'))
    .addOption(flag('--nats-user <name>', 'NATS user name (with --nats-password)'))
    .addOption(flag('--nats-password <password>', 'NATS password (prefer the CAIRN_NATS_PASSWORD variable)'))
    .addOption(flag('--nats-nkey <file>', 'file holding the NATS nkey seed'))
    .addOption(flag('--nats-tls-ca <file>', 'CA certificate to verify the NATS servers with (turns on TLS)'))
    .addOption(flag('--nats-tls-cert <file>', 'client certificate for NATS servers that verify clients'))
    .addOption(flag('--nats-tls-key <file>', 'key of --nats-tls-cert'));
}

/**
 * SIGHUP reloads certificates (a rotation needs no restart). Installed before start-up so a
 * SIGHUP then does not kill the process (its default action); one that arrives before the
 * process has started has nothing to reload.
 */
function onSighup(): { reloadWith(reload: () => void): void } {
  let reload: (() => void) | undefined;
  process.on('SIGHUP', () => {
    if (!reload) return;
    try {
      reload();
    } catch (err) {
      process.stderr.write(JSON.stringify({ level: 50, msg: 'certificate reload failed; keeping the old certificates', err: (err as Error).message }) + '\n');
    }
  });
  return { reloadWith: (r) => (reload = r) };
}

interface CommonFlags extends SecurityFlagValues {
  nats: string;
  natsReplicas?: string;
  httpAddr: string;
  advertiseAddr?: string;
  advertiseHttpAddr?: string;
  locality?: string;
  drainTimeout: string;
  exitWithParent?: boolean;
}

export function registerStartCommands(program: Command): void {
  const start = program.command('start').description('start a cairn process (every flag can also be set as a CAIRN_* environment variable)');

  const coordinator = start
    .command('coordinator')
    .description('start a coordinator (leader or standby)')
    .addOption(flag('--nats <urls>', NATS_DESC).makeOptionMandatory())
    .addOption(flag('--nats-replicas <n>', REPLICAS_DESC))
    .addOption(flag('--listen-addr <host:port>', 'gRPC listen address', '127.0.0.1:26257'))
    .addOption(
      flag(
        '--advertise-addr <host[:port]>',
        'gRPC address the leader lease advertises to standbys and clients (default: the listen address; the hostname when listening on 0.0.0.0 or ::)',
      ),
    )
    .addOption(flag('--http-addr <host:port>', '/metrics and /health listen address', '127.0.0.1:8080'))
    .addOption(flag('--advertise-http-addr <host[:port]>', '/metrics address given to service discovery (default: the advertised host and the bound http port)'))
    .addOption(flag('--id <name>', 'coordinator name (default: random)'))
    .addOption(flag('--managed-backups-uri <uri>', 'collection for managed backups (the backups-config API); without it they cannot be enabled'))
    .addOption(flag('--locality <tiers>', 'locality tiers, labels for service discovery, e.g. region=us-east1,zone=us-east1-b'))
    .addOption(flag('--drain-timeout <duration>', 'on SIGTERM, how long the stop may take (plus 15 s to close connections) before the process exits anyway', '30s'))
    .addOption(exitWithParentFlag());
  addSecurityOptions(coordinator)
    .action(async (o: CommonFlags & { listenAddr: string; id?: string; managedBackupsUri?: string }) => {
      // Every value is checked before anything starts: one clear line names a bad flag.
      const certsDir = securityModeFlag('coordinator', o);
      warnUnboundedHeap('coordinator');
      const sighup = onSighup();
      const drainTimeoutMs = durationFlag('--drain-timeout', o.drainTimeout);
      const natsReplicas = replicasFlag(o.natsReplicas);
      const options = {
        natsUrl: natsUrlsFlag(o.nats),
        listenAddr: listenAddrFlag('--listen-addr', o.listenAddr),
        httpAddr: listenAddrFlag('--http-addr', o.httpAddr),
        ...(natsReplicas !== undefined ? { natsReplicas } : {}),
        ...(o.advertiseAddr ? { advertiseAddr: advertiseFlag('--advertise-addr', o.advertiseAddr) } : {}),
        ...(o.advertiseHttpAddr ? { advertiseHttpAddr: advertiseFlag('--advertise-http-addr', o.advertiseHttpAddr) } : {}),
        ...(o.locality ? { locality: localityFlag(o.locality) } : {}),
        ...(o.id ? { id: o.id } : {}),
        ...(o.managedBackupsUri ? { managedBackupsUri: o.managedBackupsUri } : {}),
        ...(certsDir ? { certsDir } : {}),
        natsAuth: natsAuthFlags(o, o.nats),
      };
      const lifecycle = processLifecycle({ exitWithParent: o.exitWithParent === true, drainTimeoutMs });
      const c = await startCoordinator(options);
      lifecycle.started(() => c.stop());
      if (c.secure) sighup.reloadWith(() => c.reloadCertificates());
      ready({
        role: 'coordinator',
        id: c.id,
        grpc: c.grpcAddress,
        listen: c.listenAddress,
        metrics: c.metricsAddress,
        httpListen: c.httpListenAddress,
        clusterId: c.clusterId,
        secure: c.secure,
        heapLimitMiB: heapLimitMiB(),
        newSpaceMiB: newSpaceMiB(),
        ...(o.locality ? { locality: o.locality } : {}),
      });
    });

  const node = start
    .command('node')
    .description('start a node holding range replicas')
    .addOption(flag('--nats <urls>', NATS_DESC).makeOptionMandatory())
    .addOption(flag('--nats-replicas <n>', REPLICAS_DESC))
    .addOption(flag('--locality <tiers>', 'locality tiers, e.g. region=us-east1,zone=us-east1-b').makeOptionMandatory())
    .addOption(flag('--store <dir>', 'directory of the node store').makeOptionMandatory())
    .addOption(flag('--http-addr <host:port>', '/metrics and /health listen address (port 0 picks a free one)', '127.0.0.1:0'))
    .addOption(
      flag('--advertise-addr <host>', 'host other processes reach this node at (nodes serve their RPC over NATS and listen on no RPC port)'),
    )
    .addOption(
      flag('--advertise-http-addr <host[:port]>', '/metrics address recorded for the node (default: the advertised host and the bound http port)'),
    )
    .addOption(flag('--drain-timeout <duration>', 'on SIGTERM, how long work items in hand may run before they are handed back to other nodes', '30s'))
    .addOption(exitWithParentFlag());
  addSecurityOptions(node)
    .action(async (o: CommonFlags & { locality: string; store: string }) => {
      const certsDir = securityModeFlag('node', o);
      warnUnboundedHeap('node');
      const sighup = onSighup();
      const drainTimeoutMs = durationFlag('--drain-timeout', o.drainTimeout);
      const natsReplicas = replicasFlag(o.natsReplicas);
      const options = {
        natsUrl: natsUrlsFlag(o.nats),
        locality: localityFlag(o.locality),
        storeDir: o.store,
        natsAuth: natsAuthFlags(o, o.nats),
        ...(certsDir ? { certsDir } : {}),
        httpAddr: listenAddrFlag('--http-addr', o.httpAddr),
        drainTimeoutMs,
        ...(natsReplicas !== undefined ? { natsReplicas } : {}),
        ...(o.advertiseAddr ? { advertiseHost: advertiseFlag('--advertise-addr', o.advertiseAddr, false) } : {}),
        ...(o.advertiseHttpAddr ? { advertiseHttpAddr: advertiseFlag('--advertise-http-addr', o.advertiseHttpAddr) } : {}),
      };
      const lifecycle = processLifecycle({ exitWithParent: o.exitWithParent === true, drainTimeoutMs });
      const n = await startNode(options);
      lifecycle.started(() => n.stop());
      if (certsDir) sighup.reloadWith(() => n.reloadCertificates());
      ready({ role: 'node', nodeId: n.nodeId, address: n.address, httpListen: n.httpListenAddress, clusterId: n.clusterId, heapLimitMiB: heapLimitMiB(), newSpaceMiB: newSpaceMiB() });
    });
}
