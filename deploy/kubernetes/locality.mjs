// Init container of the cairn pods: writes this pod's cairn locality (`region=...,zone=...`)
// to a file the main container passes to `--locality`.
//
// Why an init container: a pod cannot see its Kubernetes node's labels. The downward API
// exposes the pod's own fields (spec.nodeName among them) but not the node's labels, and
// topology.kubernetes.io/region and /zone are node labels, set by the cloud provider or the
// cluster admin. So this reads spec.nodeName (NODE_NAME, from the downward API), asks the API
// server for that Node with the pod's ServiceAccount token (RBAC: `get` on nodes, rbac.yaml),
// and turns the labels into cairn's locality tiers. It runs in the cairn image itself (Node
// 20, built-in https), so no kubectl image is pulled.
//
// Environment: NODE_NAME (required); KUBERNETES_SERVICE_HOST/PORT (set by Kubernetes in every
// pod); SERVICE_ACCOUNT_DIR (default: the mounted ServiceAccount token and CA);
// LOCALITY_FALLBACK (used when the node has no region label, e.g. `region=local` on a kind or
// minikube cluster; without it a missing label is an error, as a silent default would place
// every replica as if in one region). The output path is the first argument.
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';

const REGION_LABEL = 'topology.kubernetes.io/region';
const ZONE_LABEL = 'topology.kubernetes.io/zone';
const ATTEMPTS = 6;

function fail(message) {
  console.error(`locality: ${message}`);
  process.exit(1);
}

function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') fail(`${name} is not set`);
  return v;
}

/** GET of one API path; resolves with { status, body }. */
function get(path, { host, port, token, ca }) {
  return new Promise((resolve, reject) => {
    const req = request(
      { hostname: host, port, path, method: 'GET', ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 5000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The node object, retrying what can pass (network errors, 429, 5xx) with backoff. */
async function readNode(nodeName, api) {
  const path = `/api/v1/nodes/${encodeURIComponent(nodeName)}`;
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const { status, body } = await get(path, api);
      if (status === 200) return JSON.parse(body);
      last = `GET ${path}: HTTP ${String(status)} ${body.slice(0, 200)}`;
      // 401/403/404 will not change by asking again: wrong RBAC or a wrong node name.
      if (status !== 429 && status < 500) fail(last);
    } catch (err) {
      last = `GET ${path}: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (attempt < ATTEMPTS) await sleep(250 * 2 ** attempt);
  }
  return fail(`${last} (after ${String(ATTEMPTS)} attempts)`);
}

/** Locality tier values may not hold `,` or `=` (they separate tiers). */
function tier(key, value) {
  if (/[,=\s]/.test(value)) fail(`label value ${JSON.stringify(value)} cannot be a locality tier`);
  return `${key}=${value}`;
}

async function main() {
  const out = process.argv[2];
  if (out === undefined) fail('usage: node locality.mjs <output file>');
  const nodeName = env('NODE_NAME');
  const saDir = process.env.SERVICE_ACCOUNT_DIR || '/var/run/secrets/kubernetes.io/serviceaccount';
  const api = {
    host: env('KUBERNETES_SERVICE_HOST'),
    port: Number(env('KUBERNETES_SERVICE_PORT')),
    token: readFileSync(`${saDir}/token`, 'utf8').trim(),
    ca: readFileSync(`${saDir}/ca.crt`),
  };
  const node = await readNode(nodeName, api);
  const labels = node?.metadata?.labels ?? {};
  const region = labels[REGION_LABEL];
  const zone = labels[ZONE_LABEL];
  let locality;
  if (region !== undefined && region !== '') {
    locality = [tier('region', region), ...(zone !== undefined && zone !== '' ? [tier('zone', zone)] : [])].join(',');
  } else if (process.env.LOCALITY_FALLBACK) {
    locality = process.env.LOCALITY_FALLBACK;
    console.error(`locality: node ${nodeName} has no ${REGION_LABEL} label; using LOCALITY_FALLBACK`);
  } else {
    fail(`node ${nodeName} has no ${REGION_LABEL} label: label it or set LOCALITY_FALLBACK`);
  }
  writeFileSync(out, locality + '\n');
  console.error(`locality: ${nodeName} -> ${locality}`);
}

await main();
