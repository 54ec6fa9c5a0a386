/**
 * The console in a real browser: Debian's headless Chromium driven by playwright-core, on a
 * 3-node cluster of real processes. In order, it:
 * - enables managed backups from the Settings module and sees the first backup (taken at once);
 * - picks that backup's date in the calendar from the keyboard;
 * - opens the databases and tables views and restores a table into a new database, watching
 *   Restore Jobs reach Succeeded (fingerprints compared with the source's), then a database
 *   under a new name through the database module;
 * - changes retention and sees it apply only to the next backup;
 * - reaches Incomplete Backups with the arrow keys;
 * - holds a managed backup in progress (its nodes stopped for a moment) and sees it live as In
 *   progress in Backups, Running in Incomplete Backups and on the Jobs page with its progress
 *   bar, then Complete, without a reload;
 * - nodes by locality; pauses and resumes a managed schedule;
 * - last, restores the whole cluster in place through the erase warning and typed confirmation.
 * Every page is saved as a PNG in a temp dir the test prints, so a failed run can be looked at,
 * and checked with axe-core (WCAG 2.1 A/AA: labelled controls, valid ARIA, contrast).
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { databaseFingerprints } from './support/backup.js';

const CHROMIUM = '/usr/bin/chromium';
const AXE_SCRIPT = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DAY_MS = 86_400_000;

interface ApiBackup {
  id: string;
  as_of_time: string;
  status: string;
  type: string;
  expires_at: string;
}

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
let browser: Browser;
let page: Page;
let base: string;
let clusterId: string;
let shots: string;
let shotCount = 0;

interface AxeViolation {
  id: string;
  impact: string;
  nodes: { target: string[] }[];
}
/** axe-core's engine as the page sees it once injected. */
type AxeWindow = { axe?: { run(context: unknown, options: unknown): Promise<{ violations: AxeViolation[] }> } };

/**
 * What axe-core (injected from node_modules, nothing fetched) finds against WCAG 2.1 A/AA and
 * its best practices on the page as it is: unlabelled controls, bad ARIA, low contrast.
 */
async function accessibilityProblems(): Promise<string[]> {
  if (!(await page.evaluate(() => (globalThis as AxeWindow).axe !== undefined))) await page.addScriptTag({ path: AXE_SCRIPT });
  return page.evaluate(async () => {
    const axe = (globalThis as AxeWindow).axe!;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/** Saves the page as `<n>-<name>.png` in the run's screenshot dir, and checks it with axe-core. */
async function shot(name: string): Promise<void> {
  shotCount += 1;
  await page.screenshot({ path: join(shots, `${String(shotCount).padStart(2, '0')}-${name}.png`), fullPage: true });
  expect(await accessibilityProblems(), `accessibility of ${name}`).toEqual([]);
}

/** The API as the console calls it (same origin, insecure cluster: no key). */
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${base}/api/v1/clusters/${clusterId}/${path}`);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Changes the managed-backup configuration through the API (setup, not what is tested). */
async function patchConfig(change: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${base}/api/v1/clusters/${clusterId}/backups-config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) });
  if (!res.ok) throw new Error(`PATCH backups-config ${JSON.stringify(change)}: ${res.status} ${await res.text()}`);
}

async function backups(): Promise<ApiBackup[]> {
  return (await api<{ backups: ApiBackup[] }>('backups')).backups;
}

/** The text of a backup row's cell under `header` in the Backups tab. */
async function backupCell(id: string, header: string): Promise<string> {
  const headers = await page.locator('table.data-table thead th').allTextContents();
  const index = headers.findIndex((h) => h.trim().toLowerCase() === header.toLowerCase());
  if (index < 0) throw new Error(`no column ${header} in ${headers.join(', ')}`);
  return (await page.locator(`tr[data-key="${id}"] td`).nth(index).textContent())?.trim() ?? '';
}

async function saveSettings(change: (dialog: ReturnType<Page['getByRole']>) => Promise<void>): Promise<void> {
  await page.getByRole('button', { name: 'Settings' }).click();
  const dialog = page.getByRole('dialog', { name: 'Backup Settings' });
  await dialog.waitFor();
  await change(dialog);
  await shot('settings-module');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached' });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run ./scripts/setup.sh (it installs Debian's chromium)`);
  shots = await mkdtemp(join(tmpdir(), 'cairn-console-screenshots-'));
  console.log(`console screenshots: ${shots}`);
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 1,
    nodes: [{ locality: 'region=us-east1,zone=a' }, { locality: 'region=us-west1,zone=b' }, { locality: 'region=eu-west1,zone=c' }],
    coordinatorArgs: ['--managed-backups-uri', 'nodelocal://1/managed-backups'],
  });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  await client.execute('CREATE DATABASE shop');
  await client.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)');
  await client.execute('CREATE TABLE shop.customers (id INT PRIMARY KEY, name STRING)');
  const orders = Array.from({ length: 200 }, (_, i) => `(${i}, ${i * 7})`).join(', ');
  await client.execute(`INSERT INTO shop.orders (id, total) VALUES ${orders}`);
  await client.execute(`INSERT INTO shop.customers (id, name) VALUES (1, 'ada'), (2, 'grace')`);
  base = `http://${cluster.metricsAddresses.get('coordinator-0')}`;
  const clusters = (await (await fetch(`${base}/api/v1/clusters`)).json()) as { clusters: { id: string }[] };
  clusterId = clusters.clusters[0]?.id ?? '';
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 }, timezoneId: 'UTC' });
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  client?.close();
  await cluster?.stop();
  await nats?.stop();
  if (shots) console.log(`console screenshots: ${shots} (${shotCount} pages)`);
});

describe('console', () => {
  let first: ApiBackup;

  it('serves the page and its scripts from the build, nothing from elsewhere', async () => {
    const outside: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(base)) outside.push(req.url());
    });
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Backup and Restore' }).waitFor();
    await page.locator('[data-setting="enabled"]', { hasText: 'Disabled' }).waitFor();
    expect(await page.getByRole('tab', { name: 'Backups', exact: true }).getAttribute('aria-selected')).toBe('true');
    await shot('backups-disabled');
    expect(outside).toEqual([]);
    const missing = await fetch(`${base}/console/../../package.json`);
    expect(missing.status).toBe(404);
  });

  it('enables managed backups and shows the first backup, taken at once', async () => {
    await saveSettings(async (dialog) => {
      await dialog.getByRole('switch', { name: 'Enable backups' }).check();
    });
    await page.locator('[data-setting="enabled"]', { hasText: 'Enabled' }).waitFor();
    first = await waitFor(async () => (await backups()).find((b) => b.status === 'COMPLETE'), { what: 'the first managed backup to complete', timeoutMs: 90_000, intervalMs: 500 });
    expect(first.type).toBe('FULL');
    const row = page.locator(`tr[data-key="${first.id}"]`);
    await row.getByText('Complete').waitFor();
    expect(await backupCell(first.id, 'Type')).toBe('Full');
    expect(await backupCell(first.id, 'Expires In')).toBe('30 days');
    await shot('backups-first');
  });

  it("picks the backup's date in the calendar, from the keyboard", async () => {
    const day = new Date(first.as_of_time).toISOString().slice(0, 10);
    const dateButton = page.getByRole('button', { name: /Backups taken on: All dates/ });
    await dateButton.focus();
    await page.keyboard.press('Enter');
    const calendar = page.getByRole('dialog', { name: 'Choose a date' });
    await calendar.waitFor();
    // The grid opens on today; walk to the backup's day with the arrow keys, then pick it.
    const today = new Date().toISOString().slice(0, 10);
    const steps = Math.round((Date.parse(day) - Date.parse(today)) / DAY_MS);
    for (let i = 0; i < Math.abs(steps); i++) await page.keyboard.press(steps < 0 ? 'ArrowLeft' : 'ArrowRight');
    await page.locator(`.calendar button[data-date="${day}"]:focus`).waitFor();
    await page.locator(`.calendar button[data-date="${day}"].has-backups`).waitFor();
    await shot('calendar');
    await page.keyboard.press('Enter');
    await calendar.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: new RegExp(`Backups taken on: .*${new Date(first.as_of_time).getUTCDate()}, ${day.slice(0, 4)}`) }).waitFor();
    await page.locator(`tr[data-key="${first.id}"]`).waitFor();
    await shot('backups-on-date');
    // The day before holds no backup.
    await page.getByRole('button', { name: /Backups taken on:/ }).click();
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    await page.getByText('No backups were taken on this date.').waitFor();
    await page.getByRole('button', { name: /Backups taken on:/ }).click();
    await page.getByRole('button', { name: 'All dates' }).click();
    await page.locator(`tr[data-key="${first.id}"]`).waitFor();
  });

  it('opens the databases and tables views, and restores a table into a new database', async () => {
    await page.locator(`tr[data-key="${first.id}"]`).getByRole('button', { name: /databases in the backup/ }).click();
    await page.getByRole('heading', { name: 'Databases' }).waitFor();
    const shopRow = page.locator('tr[data-key="shop"]');
    expect(await shopRow.locator('td').nth(1).textContent()).toBe('2');
    await shot('databases-view');
    await shopRow.getByRole('button', { name: '2 tables in shop: open the tables view' }).click();
    await page.getByRole('heading', { name: 'Tables in shop' }).waitFor();
    expect((await page.locator('tbody tr').allTextContents()).length).toBe(2);
    await shot('tables-view');

    await page.getByRole('button', { name: 'Restore table shop.orders' }).click();
    const dialog = page.getByRole('dialog', { name: 'Restore table' });
    await dialog.waitFor();
    await dialog.getByRole('textbox', { name: 'Restore to: database' }).fill('shop_restored');
    await dialog.getByRole('checkbox', { name: 'Skip missing foreign keys' }).check();
    await shot('restore-table-module');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByText('shop_restored.orders').waitFor();
    await shot('restore-table-review');
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });

    // Created: the console shows Restore Jobs, where the job runs to Succeeded.
    await page.getByRole('tab', { name: 'Restore Jobs', selected: true }).waitFor();
    const row = page.locator('tbody tr', { hasText: 'shop.orders' });
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toBe('Table');
    await row.locator('[data-status="SUCCEEDED"]').waitFor({ timeout: 90_000 });
    await shot('restore-jobs-succeeded');
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toMatch(/shop\.orders › shop_restored\.orders/);
    expect(cells[5]).not.toBe('—'); // Restore end

    const restored = await databaseFingerprints(client, 'shop_restored');
    const source = (await databaseFingerprints(client, 'shop')).filter(([t]) => t === 'orders');
    expect(restored).toEqual(source);
  });

  it('restores a database under a new name with the database module and its dependency options', async () => {
    await page.goto(`${base}/#/backups/${encodeURIComponent(first.id)}/databases`);
    await page.getByRole('button', { name: 'Restore database shop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Restore database' });
    await dialog.getByRole('textbox', { name: 'Restore to: database' }).fill('shop_copy');
    for (const option of ['Skip missing foreign keys', 'Skip missing sequences', 'Skip missing views', 'Skip localities check']) {
      expect(await dialog.getByRole('checkbox', { name: option }).isChecked()).toBe(false);
    }
    await dialog.getByRole('checkbox', { name: 'Skip missing views' }).check();
    await shot('restore-database-module');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByText('Skip missing views').waitFor();
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    const row = page.locator('tbody tr', { hasText: 'shop_copy' });
    await row.locator('[data-status="SUCCEEDED"]').waitFor({ timeout: 90_000 });
    expect(await row.locator('td').nth(1).textContent()).toBe('Database');
    expect(await databaseFingerprints(client, 'shop_copy')).toEqual(await databaseFingerprints(client, 'shop'));
  });

  it('changes retention, which applies only to the next backup', async () => {
    await page.getByRole('link', { name: 'Backup and Restore' }).click();
    await page.getByRole('tab', { name: 'Backups', exact: true, selected: true }).waitFor();
    const before = new Set((await backups()).map((b) => b.id));
    await saveSettings(async (dialog) => {
      await dialog.getByRole('combobox', { name: 'Retain backups for' }).selectOption({ label: '7 days' });
    });
    await page.locator('[data-setting="retention"]', { hasText: '7 days' }).waitFor();
    const next = await waitFor(async () => (await backups()).find((b) => !before.has(b.id) && b.status === 'COMPLETE'), {
      what: 'the backup taken on the retention change',
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    await page.locator(`tr[data-key="${next.id}"]`).getByText('Complete').waitFor();
    expect(await backupCell(next.id, 'Expires In')).toBe('7 days');
    expect(await backupCell(first.id, 'Expires In')).toBe('30 days');
    const listed = await backups();
    const expiry = (b: ApiBackup | undefined) => (b ? Date.parse(b.expires_at) - Date.parse(b.as_of_time) : NaN);
    expect(expiry(listed.find((b) => b.id === first.id))).toBe(30 * DAY_MS);
    expect(expiry(listed.find((b) => b.id === next.id))).toBe(7 * DAY_MS);
    await shot('backups-after-retention-change');

    // Retention is set once: the module now shows it fixed.
    await page.getByRole('button', { name: 'Settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Backup Settings' });
    expect(await dialog.getByRole('combobox', { name: 'Retain backups for' }).isDisabled()).toBe(true);
    await shot('settings-retention-set');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('lists incomplete backups (reached from the keyboard: arrow keys move between tabs)', async () => {
    await page.getByRole('tab', { name: 'Backups', exact: true }).focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('tab', { name: 'Incomplete Backups', selected: true }).waitFor();
    expect(await page.getByRole('tab', { name: 'Incomplete Backups' }).evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await page.locator('table.data-table').waitFor();
    const headers = (await page.locator('table.data-table thead th').allTextContents()).map((h) => h.trim());
    expect(headers).toEqual(['Started', 'Duration', 'Status', 'Description']);
    await shot('incomplete-backups');
  });

  it('shows a managed backup as it runs, live: In progress in Backups, Running in Incomplete Backups and Jobs (progress bar), then Complete', async () => {
    // A frequency change takes a full at once. The moment it is listed in progress every node is
    // stopped (SIGSTOP): its work items wait on the queue and the pages can be looked at.
    const pids = cluster.nodes.map((n) => n.pid);
    const signal = (sig: NodeJS.Signals) => pids.forEach((pid) => process.kill(pid, sig));
    let held: ApiBackup | undefined;
    for (const minutes of [60, 240, 30, 10]) {
      const known = new Set((await backups()).map((b) => b.id));
      await patchConfig({ frequency_minutes: minutes });
      const started = await waitFor(async () => (await backups()).find((b) => !known.has(b.id)), { what: 'the full a frequency change takes', timeoutMs: 60_000, intervalMs: 10 });
      if (started.status !== 'IN_PROGRESS') continue;
      signal('SIGSTOP');
      // It may have finished between the answer and the signal.
      if ((await backups()).find((b) => b.id === started.id)?.status === 'IN_PROGRESS') {
        held = started;
        break;
      }
      signal('SIGCONT');
    }
    if (!held) throw new Error('no managed backup was still in progress when the nodes stopped, in four tries');
    const heldId = held.id;
    let jobId = '';
    try {
      await page.getByRole('link', { name: 'Backup and Restore' }).click();
      const row = page.locator(`tr[data-key="${heldId}"]`);
      await row.locator('[data-status="IN_PROGRESS"]').waitFor();
      expect(await row.getByRole('button', { name: /^Restore the cluster/ }).isDisabled()).toBe(true);
      await shot('backups-in-progress');

      await page.getByRole('tab', { name: 'Incomplete Backups' }).click();
      const incomplete = page.locator('tbody tr', { has: page.locator('[data-status="RUNNING"]') });
      await incomplete.waitFor();
      expect(await incomplete.locator('td').nth(3).textContent()).toMatch(/^BACKUP INTO 'nodelocal:\/\/1\/managed-backups'/);
      jobId = (await incomplete.getAttribute('data-key')) ?? '';
      await shot('incomplete-backups-running');

      await page.getByRole('link', { name: 'Jobs' }).click();
      const running = page.locator('section[aria-labelledby="running-jobs-title"]').locator(`tr[data-key="${jobId}"]`);
      await running.locator('[data-status="RUNNING"]').waitFor();
      const bar = running.getByRole('progressbar', { name: `Job ${jobId} progress` });
      expect(await bar.getAttribute('aria-valuenow')).toBe('0');
      await shot('jobs-running');
    } finally {
      signal('SIGCONT');
    }
    // Live: the same page, without a reload, sees it finish.
    await page.locator('section[aria-labelledby="recent-jobs-title"]').locator(`tr[data-key="${jobId}"] [data-status="SUCCEEDED"]`).waitFor({ timeout: 90_000 });
    await page.getByText('No job is running.').waitFor();
    await shot('jobs');
    await page.getByRole('link', { name: 'Backup and Restore' }).click();
    await page.locator(`tr[data-key="${heldId}"] [data-status="COMPLETE"]`).waitFor();
    // Back to daily, and that full done, so nothing runs under the cluster restore at the end.
    const known = new Set((await backups()).map((b) => b.id));
    await patchConfig({ frequency_minutes: 1440 });
    await waitFor(async () => (await backups()).find((b) => !known.has(b.id) && b.status === 'COMPLETE'), { what: 'the full of the change back to daily', timeoutMs: 90_000, intervalMs: 250 });
  });

  it('shows nodes by locality, and pauses and resumes the managed schedule', async () => {
    await page.getByRole('link', { name: 'Nodes' }).click();
    for (const region of ['region=us-east1', 'region=us-west1', 'region=eu-west1']) await page.getByRole('heading', { name: region }).waitFor();
    expect(await page.locator('[data-status="LIVE"]').count()).toBe(3);
    await shot('nodes');

    await page.getByRole('link', { name: 'Schedules' }).click();
    const pause = page.getByRole('button', { name: /^Pause schedule / }).first();
    await pause.waitFor();
    const label = ((await pause.getAttribute('aria-label')) ?? '').replace(/^Pause schedule /, '');
    await pause.click();
    await page.getByRole('button', { name: `Resume schedule ${label}` }).waitFor();
    await shot('schedules-paused');
    const paused = (await api<{ schedules: { label: string; status: string }[] }>('schedules')).schedules.find((s) => s.label === label);
    expect(paused?.status).toBe('PAUSED');
    await page.getByRole('button', { name: `Resume schedule ${label}` }).click();
    await page.getByRole('button', { name: `Pause schedule ${label}` }).waitFor();
    await shot('schedules');
  });

  it('restores the cluster in place from the first backup, after its erase warning and a typed confirmation', async () => {
    await page.getByRole('link', { name: 'Backup and Restore' }).click();
    await page.locator(`tr[data-key="${first.id}"]`).getByRole('button', { name: /^Restore the cluster from the backup of / }).click();
    const dialog = page.getByRole('dialog', { name: 'Restore cluster' });
    await dialog.getByText('The restore completely erases all data in the destination cluster.').waitFor();
    await dialog.getByRole('button', { name: 'Continue' }).click();
    const clusterName = (await (await fetch(`${base}/api/v1/clusters`)).json()) as { clusters: { name: string }[] };
    const name = clusterName.clusters[0]?.name ?? '';
    const restore = dialog.getByRole('button', { name: 'Restore', exact: true });
    expect(await restore.isDisabled()).toBe(true);
    const confirm = dialog.getByRole('textbox', { name: /Enter the name of the destination cluster/ });
    await confirm.fill(`${name}x`);
    expect(await restore.isDisabled()).toBe(true);
    await confirm.fill(name);
    await shot('restore-cluster-confirm');
    await restore.click();
    const row = page.locator('tbody tr', { hasText: 'Cluster' });
    await row.locator('[data-status="SUCCEEDED"]').waitFor({ timeout: 120_000 });
    await shot('restore-jobs-cluster');
    // The cluster is as the first backup had it: shop, and none of the databases restored since.
    const databases = (await client.execute('SHOW DATABASES')).rows.map((r) => r[0]);
    expect(databases).toContain('shop');
    expect(databases).not.toContain('shop_restored');
    expect(databases).not.toContain('shop_copy');
  });
});
