import type { Backup, BackupsConfig, IncompleteBackup, Restore } from './api-client.js';
import { DatePicker, isoDay } from './calendar.js';
import { dataTable, whenCell, type Column } from './data-table.js';
import { h, replaceChildren } from './element.js';
import { enumLabel, formatDateTime, formatDays, formatDuration, formatExpiresIn, formatMinutes } from './format.js';
import { loadError, pageHeader, poll, redraw, type Page, type PageContext } from './page.js';
import { openRestoreModule } from './restore-modules.js';
import { openSettingsModule } from './settings-module.js';
import { PAGE_SIZE, pageFooter, PagedList } from './paged-list.js';
import { progressBar, statusBadge } from './status-badge.js';

/** Which part of the Backup and Restore page a route shows. */
export type BackupsView =
  | { kind: 'tab'; tab: 'backups' | 'incomplete' | 'restores' }
  | { kind: 'databases'; backupId: string }
  | { kind: 'tables'; backupId: string; database: string };

const TABS = [
  { id: 'backups', label: 'Backups', hash: '#/backups' },
  { id: 'incomplete', label: 'Incomplete Backups', hash: '#/backups/incomplete' },
  { id: 'restores', label: 'Restore Jobs', hash: '#/backups/restores' },
] as const;

const REFRESH_MS = 2000;
const DAY_MS = 86_400_000;

/** Backups seen in lists, by id, so the databases and tables views can name their backup. */
const knownBackups = new Map<string, Backup>();

/** The hash of a backup's databases view (ids may hold '/', so each part is encoded). */
export function databasesHash(backupId: string): string {
  return `#/backups/${encodeURIComponent(backupId)}/databases`;
}

function tablesHash(backupId: string, database: string): string {
  return `${databasesHash(backupId)}/${encodeURIComponent(database)}/tables`;
}

async function findBackup(ctx: PageContext, id: string): Promise<Backup> {
  const known = knownBackups.get(id);
  if (known) return known;
  for (let page: string | undefined, first = true; first || page !== undefined; first = false) {
    const r = await ctx.api.listBackups({ limit: 500, page });
    for (const b of r.backups) knownBackups.set(b.id, b);
    if (knownBackups.has(id)) break;
    page = r.pagination.next_page;
  }
  const found = knownBackups.get(id);
  if (!found) throw new Error(`backup ${id} is not listed (it may have expired)`);
  return found;
}

/** The Backup and Restore page: the settings strip, the three tabs, and the drill-down views. */
export function mountBackupsPage(root: HTMLElement, ctx: PageContext, view: BackupsView): Page {
  const settingsStrip = h('div', { class: 'settings-summary', 'aria-label': 'Backup settings', role: 'group' });
  let config: BackupsConfig | undefined;
  const showConfig = (c: BackupsConfig): void => {
    config = c;
    const item = (label: string, value: string, testId: string) => h('div', {}, h('span', {}, label), h('strong', { 'data-setting': testId }, value));
    replaceChildren(
      settingsStrip,
      item('Backups', c.enabled ? 'Enabled' : 'Disabled', 'enabled'),
      item('Schedule backups every', formatMinutes(c.frequency_minutes), 'frequency'),
      item('Retain backups for', formatDays(c.retention_days), 'retention'),
      item('Stored in', c.collection_uri ?? 'not configured', 'collection'),
    );
  };
  const settingsButton = h(
    'button',
    {
      type: 'button',
      class: 'button',
      onclick: () => {
        if (config) openSettingsModule(ctx, config, showConfig);
      },
    },
    h('span', { 'aria-hidden': 'true' }, '⚙'),
    'Settings',
  );
  const content = h('div', {});
  replaceChildren(root, pageHeader('Backup and Restore', `Managed backups of ${ctx.api.cluster?.name ?? 'this cluster'}`, settingsButton), content);
  const stopConfig = poll(5000, async () => {
    try {
      showConfig(await ctx.api.getConfig());
    } catch (err) {
      replaceChildren(settingsStrip, loadError(err));
    }
  });

  let stopView: () => void;
  if (view.kind === 'tab') {
    const tabList = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Backup and Restore' });
    const panel = h('div', { class: 'panel', role: 'tabpanel', id: 'backups-tabpanel', tabindex: 0 });
    const tabs = TABS.map((t) =>
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          class: 'tab',
          id: `tab-${t.id}`,
          'aria-selected': t.id === view.tab ? 'true' : 'false',
          'aria-controls': 'backups-tabpanel',
          tabindex: t.id === view.tab ? 0 : -1,
          onclick: () => ctx.navigate(t.hash),
        },
        t.label,
      ),
    );
    // Arrow keys move between tabs, as the WAI-ARIA tabs pattern has it.
    tabList.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(ev.target as HTMLButtonElement);
      if (i < 0) return;
      const next = ev.key === 'ArrowRight' ? (i + 1) % tabs.length : ev.key === 'ArrowLeft' ? (i + tabs.length - 1) % tabs.length : -1;
      if (next < 0) return;
      ev.preventDefault();
      ctx.navigate(TABS[next]?.hash ?? '#/backups');
    });
    tabList.append(...tabs);
    panel.setAttribute('aria-labelledby', `tab-${view.tab}`);
    content.append(h('section', { class: 'panel', 'aria-label': 'Current settings' }, settingsStrip), h('div', { style: 'height: 16px' }), tabList, panel);
    stopView = view.tab === 'backups' ? backupsTab(panel, ctx) : view.tab === 'incomplete' ? incompleteTab(panel, ctx) : restoresTab(panel, ctx);
  } else {
    stopView = drillDown(content, ctx, view);
  }
  return {
    dispose: () => {
      stopConfig();
      stopView();
    },
  };
}

function backupsTab(panel: HTMLElement, ctx: PageContext): () => void {
  const tableArea = h('div', {});
  const countLine = h('span', { class: 'muted', 'aria-live': 'polite' });
  let day: Date | undefined;
  let refresh: () => Promise<void> = async () => undefined;
  const picker = new DatePicker({
    onSelect: (d) => {
      day = d;
      list.reset();
      void refresh();
    },
    markedDays: async (start, end) => {
      const r = await ctx.api.listBackups({ startTime: start, endTime: end, limit: 500 });
      return new Set(r.backups.map((b) => isoDay(new Date(b.as_of_time))));
    },
  });
  panel.append(h('div', { class: 'panel-toolbar' }, h('span', { class: 'fieldset-legend', id: 'date-filter-label' }, 'Backups taken on'), picker.element, h('span', { class: 'spacer' }), countLine), tableArea);

  const columns: Column<Backup>[] = [
    { header: 'Data From', cell: (b) => formatDateTime(b.as_of_time) },
    { header: 'Status', cell: (b) => statusBadge(b.status) },
    { header: 'Type', cell: (b) => h('span', { class: 'tag' }, enumLabel(b.type)) },
    { header: 'Expires In', cell: (b) => h('span', { title: `Expires at ${formatDateTime(b.expires_at)}` }, formatExpiresIn(b.expires_at)) },
    {
      header: 'Databases',
      kind: 'num',
      cell: (b) =>
        b.status === 'COMPLETE' && b.database_count > 0
          ? h(
              'button',
              {
                type: 'button',
                class: 'link-button',
                'data-focus': `dbs-${b.id}`,
                'aria-label': `${b.database_count} databases in the backup from ${formatDateTime(b.as_of_time)}: open the databases view`,
                onclick: () => ctx.navigate(databasesHash(b.id)),
              },
              String(b.database_count),
            )
          : h('span', { class: 'muted' }, b.status === 'COMPLETE' ? '0' : '—'),
    },
    {
      header: 'Restore',
      kind: 'actions',
      cell: (b) =>
        restoreButton(`Restore the cluster from the backup of ${formatDateTime(b.as_of_time)}`, () => openRestoreModule(ctx, b, { type: 'CLUSTER' }), {
          disabled: b.status !== 'COMPLETE',
          'data-focus': `restore-${b.id}`,
        }),
    },
  ];
  const list = new PagedList(async (page) => {
    const range = day === undefined ? {} : { startTime: day, endTime: new Date(day.getTime() + DAY_MS) };
    const r = await ctx.api.listBackups({ ...range, limit: PAGE_SIZE, ...(page === undefined ? {} : { page }) });
    return { items: r.backups, pagination: r.pagination };
  });
  refresh = async () => {
    try {
      const { items, total, more } = await list.load();
      for (const b of items) knownBackups.set(b.id, b);
      countLine.textContent = `${total} backup${total === 1 ? '' : 's'}`;
      redraw(
        tableArea,
        dataTable(columns, items, {
          caption: day === undefined ? 'Backups' : `Backups taken on ${isoDay(day)}`,
          empty: day === undefined ? 'No backups yet. Enable backups in Settings to take the first one.' : 'No backups were taken on this date.',
          key: (b) => b.id,
        }),
        more ? pageFooter(items.length, total, 'backup', more, () => (list.showMore(), void refresh())) : null,
      );
    } catch (err) {
      redraw(tableArea, loadError(err));
    }
  };
  const stop = poll(REFRESH_MS, () => refresh());
  return () => {
    stop();
    picker.dispose();
  };
}

function incompleteTab(panel: HTMLElement, ctx: PageContext): () => void {
  const columns: Column<IncompleteBackup>[] = [
    { header: 'Started', cell: (b) => formatDateTime(b.started_at) },
    { header: 'Duration', cell: (b) => formatDuration(b.duration_seconds * 1000) },
    {
      header: 'Status',
      cell: (b) =>
        h(
          'div',
          {},
          statusBadge(b.status),
          b.error_code === null && b.error_message === null ? null : h('span', { class: 'cell-sub wrap' }, [b.error_code, b.error_message].filter((x) => x !== null).join(': ')),
        ),
    },
    { header: 'Description', cell: (b) => h('code', { class: 'wrap', style: 'display:block' }, b.description) },
  ];
  const list = new PagedList(async (page) => {
    const r = await ctx.api.listIncompleteBackups({ limit: PAGE_SIZE, ...(page === undefined ? {} : { page }) });
    return { items: r.incomplete_backups, pagination: r.pagination };
  });
  return pollList(panel, list, (items) => dataTable(columns, items, { caption: 'Incomplete backups', empty: 'No failed or pending backups.', key: (b) => b.job_id }), 'incomplete backup');
}

function restoresTab(panel: HTMLElement, ctx: PageContext): () => void {
  const columns: Column<Restore>[] = [
    { header: 'Source › Destination', cell: (r) => h('span', {}, h('code', {}, r.source), ' › ', h('code', {}, r.destination)) },
    { header: 'Restore type', cell: (r) => h('span', { class: 'tag' }, enumLabel(r.type)) },
    { header: 'Backup taken on', cell: (r) => whenCell(r.backup_taken_at) },
    {
      header: 'Status',
      cell: (r) =>
        h(
          'div',
          {},
          statusBadge(r.status),
          r.status === 'RUNNING' || r.status === 'PREPARING' ? progressBar(r.fraction_completed, `Restore ${r.id} progress`) : null,
          r.error_message === null || r.error_message === '' ? null : h('span', { class: 'cell-sub wrap' }, r.error_message),
        ),
    },
    { header: 'Restore start', cell: (r) => whenCell(r.created_at) },
    { header: 'Restore end', cell: (r) => whenCell(r.completed_at) },
    { header: 'Job ID', cell: (r) => h('code', {}, r.id) },
  ];
  const list = new PagedList(async (page) => {
    const r = await ctx.api.listRestores({ limit: PAGE_SIZE, ...(page === undefined ? {} : { page }) });
    return { items: r.restores, pagination: r.pagination };
  });
  return pollList(panel, list, (items) => dataTable(columns, items, { caption: 'Restore jobs', empty: 'No restores yet.', key: (x) => x.id }), 'restore');
}

/** Polls a paged list into `panel`: its table, and a Show more footer while there are more. */
function pollList<T>(panel: HTMLElement, list: PagedList<T>, table: (items: T[]) => HTMLElement, noun: string): () => void {
  const refresh = async (): Promise<void> => {
    try {
      const { items, total, more } = await list.load();
      redraw(panel, table(items), more ? pageFooter(items.length, total, noun, more, () => (list.showMore(), void refresh())) : null);
    } catch (err) {
      redraw(panel, loadError(err));
    }
  };
  return poll(REFRESH_MS, refresh);
}

/** A row's Restore button, named for what it restores (the visible text alone would be ambiguous). */
function restoreButton(label: string, onClick: () => void, extra: Record<string, string | boolean> = {}): HTMLButtonElement {
  return h('button', { type: 'button', class: 'button small', 'aria-label': label, onclick: onClick, ...extra }, 'Restore');
}

function breadcrumbs(items: { label: string; hash?: string }[]): HTMLElement {
  return h(
    'nav',
    { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
    h('ol', {}, ...items.map((it, i) => h('li', {}, it.hash === undefined ? h('span', { 'aria-current': i === items.length - 1 ? 'page' : undefined }, it.label) : h('a', { href: it.hash }, it.label)))),
  );
}

/** The databases view of a backup, or the tables view of one of its databases. */
function drillDown(content: HTMLElement, ctx: PageContext, view: Exclude<BackupsView, { kind: 'tab' }>): () => void {
  let stopped = false;
  const area = h('div', { class: 'panel' }, h('p', { class: 'loading', style: 'padding: 14px' }, 'Loading…'));
  const crumbs = h('div', {});
  content.append(crumbs, area);
  void (async () => {
    try {
      const backup = await findBackup(ctx, view.backupId);
      if (stopped) return;
      const backupLabel = `Backup from ${formatDateTime(backup.as_of_time)}`;
      if (view.kind === 'databases') {
        replaceChildren(crumbs, breadcrumbs([{ label: 'Backups', hash: '#/backups' }, { label: backupLabel }]));
        const r = await ctx.api.listDatabases(backup.id);
        if (stopped) return;
        const table = dataTable(
          [
            { header: 'Name', cell: (d) => h('code', {}, d.name) },
            {
              header: 'Tables',
              kind: 'num',
              cell: (d) =>
                h(
                  'button',
                  { type: 'button', class: 'link-button', 'aria-label': `${d.table_count} tables in ${d.name}: open the tables view`, onclick: () => ctx.navigate(tablesHash(backup.id, d.name)) },
                  String(d.table_count),
                ),
            },
            {
              header: 'Restore',
              kind: 'actions',
              cell: (d) => restoreButton(`Restore database ${d.name}`, () => openRestoreModule(ctx, backup, { type: 'DATABASE', database: d.name })),
            },
          ],
          r.databases,
          { caption: `Databases in the ${backupLabel.toLowerCase()}`, empty: 'This backup holds no database with tables.', key: (d) => d.name },
        );
        replaceChildren(area, h('div', { class: 'panel-toolbar' }, h('h2', {}, 'Databases'), h('span', { class: 'spacer' }), h('span', { class: 'muted' }, `${r.databases.length} in this backup`)), table);
      } else {
        replaceChildren(
          crumbs,
          breadcrumbs([{ label: 'Backups', hash: '#/backups' }, { label: backupLabel, hash: databasesHash(backup.id) }, { label: view.database }]),
        );
        const r = await ctx.api.listTables(backup.id, view.database);
        if (stopped) return;
        const table = dataTable(
          [
            { header: 'Name', cell: (t) => h('code', {}, t.name) },
            {
              header: 'Restore',
              kind: 'actions',
              cell: (t) => restoreButton(`Restore table ${view.database}.${t.name}`, () => openRestoreModule(ctx, backup, { type: 'TABLE', database: view.database, table: t.name })),
            },
          ],
          r.tables,
          { caption: `Tables of ${view.database}`, empty: 'No tables.', key: (t) => t.name },
        );
        replaceChildren(area, h('div', { class: 'panel-toolbar' }, h('h2', {}, `Tables in ${view.database}`), h('span', { class: 'spacer' }), h('span', { class: 'muted' }, `${r.tables.length} tables`)), table);
      }
    } catch (err) {
      if (!stopped) replaceChildren(area, loadError(err));
    }
  })();
  return () => {
    stopped = true;
  };
}
