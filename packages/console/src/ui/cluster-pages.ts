import { ApiError, type ClusterNode, type Job, type Schedule } from './api-client.js';
import { dataTable, whenCell } from './data-table.js';
import { h, replaceChildren } from './element.js';
import { loadError, pageHeader, poll, redraw, type Page, type PageContext } from './page.js';
import { progressBar, statusBadge } from './status-badge.js';

const UNFINISHED = ['RUNNING', 'PENDING', 'PAUSED', 'PAUSE_REQUESTED', 'CANCEL_REQUESTED', 'REVERTING'];

/** Jobs: the running ones with live progress (polled each second), then the recent others. */
export function mountJobsPage(root: HTMLElement, ctx: PageContext): Page {
  const running = h('section', { class: 'panel', 'aria-labelledby': 'running-jobs-title' });
  const recent = h('section', { class: 'panel', 'aria-labelledby': 'recent-jobs-title' });
  replaceChildren(root, pageHeader('Jobs', 'BACKUP, RESTORE and BACKUP EXPIRY jobs, as SHOW JOBS lists them'), running, recent);
  const jobCells = (j: Job) => [h('code', {}, j.id), h('span', { class: 'tag' }, j.type)];
  const stop = poll(1000, async () => {
    try {
      // Unfinished jobs however old, and the newest finished ones.
      const [{ jobs: live }, { jobs: latest }] = await Promise.all([ctx.api.listJobs(UNFINISHED, 1000), ctx.api.listJobs([], 50)]);
      const done = latest.filter((j) => !UNFINISHED.includes(j.status)).slice(0, 25);
      redraw(
        running,
        h('div', { class: 'panel-toolbar' }, h('h2', { id: 'running-jobs-title' }, 'Running jobs'), h('span', { class: 'spacer' }), h('span', { class: 'muted' }, `${live.length} running`)),
        dataTable(
          [
            { header: 'Job ID', cell: (j) => jobCells(j)[0] },
            { header: 'Type', cell: (j) => jobCells(j)[1] },
            { header: 'Description', cell: (j) => h('span', { class: 'wrap', style: 'display:block' }, j.description, j.running_status === '' ? null : h('span', { class: 'cell-sub' }, j.running_status)) },
            { header: 'Status', cell: (j) => statusBadge(j.status) },
            { header: 'Progress', cell: (j) => progressBar(j.fraction_completed, `Job ${j.id} progress`) },
            { header: 'Started', cell: (j) => whenCell(j.started_at ?? j.created_at) },
          ],
          live,
          { caption: 'Running jobs', empty: 'No job is running.', key: (j) => j.id },
        ),
      );
      redraw(
        recent,
        h('div', { class: 'panel-toolbar' }, h('h2', { id: 'recent-jobs-title' }, 'Recent jobs')),
        dataTable(
          [
            { header: 'Job ID', cell: (j) => jobCells(j)[0] },
            { header: 'Type', cell: (j) => jobCells(j)[1] },
            { header: 'Description', cell: (j) => h('span', { class: 'wrap', style: 'display:block' }, j.description, j.error_message ? h('span', { class: 'cell-sub' }, j.error_message) : null) },
            { header: 'Status', cell: (j) => statusBadge(j.status) },
            { header: 'Started', cell: (j) => whenCell(j.started_at ?? j.created_at) },
            { header: 'Finished', cell: (j) => whenCell(j.finished_at) },
          ],
          done,
          { caption: 'Recent jobs', empty: 'No finished jobs.', key: (j) => j.id },
        ),
      );
    } catch (err) {
      redraw(running, loadError(err));
    }
  });
  return { dispose: stop };
}

/** The locality tier nodes are grouped by: the first `key=value` (the region, by convention). */
function topTier(locality: string): string {
  return locality.split(',')[0]?.trim() || 'no locality';
}

/** Nodes grouped by their locality's first tier, with liveness. */
export function mountNodesPage(root: HTMLElement, ctx: PageContext): Page {
  const cards = h('div', { class: 'cards' });
  const groups = h('div', {});
  replaceChildren(root, pageHeader('Nodes', 'Storage nodes by locality'), cards, groups);
  const stop = poll(3000, async () => {
    try {
      const { nodes } = await ctx.api.listNodes();
      const byTier = new Map<string, ClusterNode[]>();
      for (const n of [...nodes].sort((a, b) => a.id - b.id)) {
        const tier = topTier(n.locality);
        byTier.set(tier, [...(byTier.get(tier) ?? []), n]);
      }
      const card = (label: string, value: string | number) => h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, String(value)));
      redraw(cards, card('Nodes', nodes.length), card('Live', nodes.filter((n) => n.status === 'LIVE').length), card('Localities', byTier.size));
      redraw(
        groups,
        ...[...byTier.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([tier, list]) => {
            const titleId = `locality-${tier.replace(/[^a-z0-9]+/gi, '-')}`;
            return h(
              'section',
              { class: 'panel locality-group', 'aria-labelledby': titleId },
              h('div', { class: 'panel-toolbar' }, h('h2', { id: titleId }, h('code', {}, tier)), h('span', { class: 'spacer' }), h('span', { class: 'muted' }, `${list.length} node${list.length === 1 ? '' : 's'}`)),
              dataTable(
                [
                  { header: 'Node', kind: 'num', cell: (n) => `n${n.id}` },
                  { header: 'Address', cell: (n) => h('code', {}, n.address) },
                  { header: 'Locality', cell: (n) => h('code', {}, n.locality) },
                  { header: 'Status', cell: (n) => statusBadge(n.status) },
                  { header: 'Ranges', kind: 'num', cell: (n) => n.ranges },
                  { header: 'Started', cell: (n) => whenCell(n.started_at) },
                  { header: 'Last heartbeat', cell: (n) => whenCell(n.last_heartbeat_at) },
                ],
                list,
                { caption: `Nodes in ${tier}`, empty: 'No nodes.', key: (n) => String(n.id) },
              ),
            );
          }),
      );
    } catch (err) {
      redraw(groups, loadError(err));
    }
  });
  return { dispose: stop };
}

/** Schedules, as SHOW SCHEDULES lists them, each with Pause or Resume. */
export function mountSchedulesPage(root: HTMLElement, ctx: PageContext): Page {
  const panel = h('section', { class: 'panel', 'aria-label': 'Schedules' });
  replaceChildren(root, pageHeader('Schedules', 'Backup schedules, the managed ones included'), panel);
  let refresh: () => Promise<void> = async () => undefined;
  const toggle = async (s: Schedule): Promise<void> => {
    const pause = s.status === 'ACTIVE';
    try {
      await ctx.api.setSchedulePaused(s.id, pause);
      ctx.toast(`Schedule ${s.label} ${pause ? 'paused' : 'resumed'}`);
    } catch (err) {
      ctx.toast(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err), 'error');
    }
    await refresh();
  };
  refresh = async () => {
    try {
      const { schedules } = await ctx.api.listSchedules();
      redraw(
        panel,
        dataTable(
          [
            { header: 'Label', cell: (s) => h('span', {}, s.label, h('span', { class: 'cell-sub mono' }, s.id)) },
            { header: 'Status', cell: (s) => h('div', {}, statusBadge(s.status), s.state === '' ? null : h('span', { class: 'cell-sub wrap' }, s.state)) },
            { header: 'Recurrence', cell: (s) => h('code', {}, s.recurrence) },
            { header: 'Next run', cell: (s) => whenCell(s.next_run_at) },
            { header: 'Jobs running', kind: 'num', cell: (s) => s.jobs_running },
            {
              header: 'Actions',
              kind: 'actions',
              cell: (s) =>
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'button small',
                    'data-focus': `toggle-${s.id}`,
                    'aria-label': `${s.status === 'ACTIVE' ? 'Pause' : 'Resume'} schedule ${s.label}`,
                    onclick: () => void toggle(s),
                  },
                  s.status === 'ACTIVE' ? 'Pause' : 'Resume',
                ),
            },
          ],
          schedules,
          { caption: 'Schedules', empty: 'No schedules.', key: (s) => s.id },
        ),
      );
    } catch (err) {
      redraw(panel, loadError(err));
    }
  };
  const stop = poll(3000, () => refresh());
  return { dispose: stop };
}
