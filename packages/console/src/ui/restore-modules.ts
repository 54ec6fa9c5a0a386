import { ApiError, type Backup, type CreateRestoreRequest, type Restore } from './api-client.js';
import { h, replaceChildren, uniqueId, type Child } from './element.js';
import { enumLabel, formatDateTime } from './format.js';
import { checkbox, errorLine, field, openModal, showError, type Modal } from './modal.js';
import type { PageContext } from './page.js';

/** What a restore module restores: the whole backup, one database, or one table of it. */
export type RestoreTarget = { type: 'CLUSTER' } | { type: 'DATABASE'; database: string } | { type: 'TABLE'; database: string; table: string };

const DEPENDENCY_OPTIONS: readonly { key: keyof CreateRestoreRequest; label: string; hint: string }[] = [
  { key: 'skip_missing_foreign_keys', label: 'Skip missing foreign keys', hint: 'Removes foreign key constraints whose referenced table is not restored.' },
  { key: 'skip_missing_sequences', label: 'Skip missing sequences', hint: 'Ignores DEFAULT expressions that use a sequence that is not restored.' },
  { key: 'skip_missing_views', label: 'Skip missing views', hint: 'Skips views whose dependencies are not restored with them.' },
];
const SKIP_LOCALITIES = { key: 'skip_localities_check' as const, label: 'Skip localities check', hint: "Restores even when the backup's cluster regions differ from this cluster's." };

function backupSummary(backup: Backup, rows: [string, Child][]): HTMLDListElement {
  const all: [string, Child][] = [
    ['Data from', formatDateTime(backup.as_of_time)],
    ['Backup type', enumLabel(backup.type)],
    ...rows,
  ];
  return h('dl', { class: 'summary' }, ...all.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A hint under a control, tied to it so screen readers read it with the control. */
function describe(control: HTMLElement, hint: string): HTMLParagraphElement {
  const p = h('p', { class: 'hint', id: uniqueId('hint') }, hint);
  control.setAttribute('aria-describedby', p.id);
  return p;
}

function steps(current: number, names: string[]): HTMLOListElement {
  return h('ol', { class: 'steps', 'aria-label': 'Steps' }, ...names.map((n, i) => h('li', { 'aria-current': i === current ? 'step' : undefined }, `${i + 1}. ${n}`)));
}

/** The destination cluster: only this one (cross-cluster restores are not offered, as in Cloud for one cluster). */
function clusterSelect(clusterName: string): HTMLSelectElement {
  return h('select', { name: 'destination_cluster' }, h('option', { value: clusterName, selected: true }, `${clusterName} (this cluster)`));
}

function button(label: string, kind: 'primary' | 'danger' | '', onClick: () => void, extra: Record<string, string | boolean> = {}): HTMLButtonElement {
  return h('button', { type: 'button', class: `button ${kind}`.trim(), onclick: onClick, ...extra }, label);
}

/**
 * Opens the restore module for `target` in `backup`, following the seed's steps: details and
 * options, Continue, a review (for a cluster: typing the cluster's name to confirm the erase),
 * then Restore, which creates the job and shows the Restore Jobs tab.
 */
export function openRestoreModule(ctx: PageContext, backup: Backup, target: RestoreTarget): void {
  const clusterName = ctx.api.cluster?.name ?? 'this cluster';
  const what = target.type === 'CLUSTER' ? 'cluster' : target.type === 'DATABASE' ? 'database' : 'table';
  const modal = openModal(`Restore ${what}`, { wide: true });
  const error = errorLine();
  const request: CreateRestoreRequest = { backup_id: backup.id, type: target.type };

  const submit = async (restoreButton: HTMLButtonElement): Promise<void> => {
    restoreButton.disabled = true;
    showError(error, undefined);
    try {
      const restore: Restore = await ctx.api.createRestore(request);
      modal.close();
      ctx.toast(`Restore job ${restore.id} created: ${restore.source} › ${restore.destination}`);
      ctx.navigate('#/backups/restores');
    } catch (err) {
      showError(error, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      restoreButton.disabled = false;
    }
  };

  if (target.type === 'CLUSTER') clusterSteps(modal, backup, clusterName, request, error, submit);
  else objectSteps(modal, backup, target, clusterName, request, error, submit);
}

function clusterSteps(
  modal: Modal,
  backup: Backup,
  clusterName: string,
  request: CreateRestoreRequest,
  error: HTMLParagraphElement,
  submit: (b: HTMLButtonElement) => Promise<void>,
): void {
  const warning = h(
    'div',
    { class: 'callout danger', role: 'note' },
    h('strong', {}, 'The restore completely erases all data in the destination cluster.'),
    h('p', {}, 'All cluster data is replaced with the data from the backup. The destination cluster will be unavailable while the job is in progress.'),
  );
  const target = clusterSelect(clusterName);
  const localities = checkbox(SKIP_LOCALITIES.label, SKIP_LOCALITIES.key);

  const first = (): void => {
    modal.setTitle('Restore cluster');
    replaceChildren(
      modal.body,
      steps(0, ['Details', 'Confirm']),
      warning,
      backupSummary(backup, [['Source cluster', clusterName]]),
      field('Restore to', target, 'You can restore a backup to the same cluster.'),
      localities.row,
      describe(localities.input, SKIP_LOCALITIES.hint),
    );
    replaceChildren(
      modal.footer,
      button('Cancel', '', () => modal.close()),
      button('Continue', 'primary', second),
    );
  };
  const second = (): void => {
    request.skip_localities_check = localities.input.checked;
    const confirm = h('input', { type: 'text', name: 'confirm_cluster_name', autocomplete: 'off', spellcheck: 'false' });
    const restore = button('Restore', 'danger', () => void submit(restore), { disabled: true });
    confirm.addEventListener('input', () => (restore.disabled = confirm.value !== clusterName));
    replaceChildren(
      modal.body,
      steps(1, ['Details', 'Confirm']),
      warning,
      backupSummary(backup, [
        ['Restore to', clusterName],
        ['Skip localities check', localities.input.checked ? 'Yes' : 'No'],
      ]),
      field(`Enter the name of the destination cluster (${clusterName}) to confirm`, confirm, 'Every user database in it is erased before the backup is restored.'),
      error,
    );
    replaceChildren(modal.footer, button('Back', '', first), restore);
    confirm.focus();
  };
  first();
}

function objectSteps(
  modal: Modal,
  backup: Backup,
  target: Exclude<RestoreTarget, { type: 'CLUSTER' }>,
  clusterName: string,
  request: CreateRestoreRequest,
  error: HTMLParagraphElement,
  submit: (b: HTMLButtonElement) => Promise<void>,
): void {
  const isTable = target.type === 'TABLE';
  const source = isTable ? `${target.database}.${target.table}` : target.database;
  request.source = source;
  const destination = h('input', { type: 'text', name: 'destination_database', value: target.database, autocomplete: 'off', spellcheck: 'false', required: true });
  const options = [...DEPENDENCY_OPTIONS, ...(isTable ? [] : [SKIP_LOCALITIES])].map((o) => ({ ...o, box: checkbox(o.label, o.key) }));
  const what = isTable ? 'table' : 'database';

  const first = (): void => {
    replaceChildren(
      modal.body,
      steps(0, ['Details', 'Review']),
      backupSummary(backup, [[isTable ? 'Table' : 'Database', h('code', {}, source)]]),
      field('Restore to: cluster', clusterSelect(clusterName)),
      field(
        'Restore to: database',
        destination,
        isTable
          ? 'The table is restored into this database; a name no database has creates a new one. No table of the same name may exist in it.'
          : 'A name no database has creates a new database; resolve conflicts with an existing one by dropping or renaming it first.',
      ),
      h('fieldset', {}, h('legend', {}, 'Dependency options'), ...options.flatMap((o) => [o.box.row, describe(o.box.input, o.hint)])),
      error,
    );
    replaceChildren(modal.footer, button('Cancel', '', () => modal.close()), button('Continue', 'primary', second));
  };
  const second = (): void => {
    const dest = destination.value.trim();
    if (dest === '') {
      showError(error, 'Enter the name of the destination database.');
      destination.focus();
      return;
    }
    showError(error, undefined);
    request.destination_database = dest;
    for (const o of options) (request as unknown as Record<string, boolean>)[o.key] = o.box.input.checked;
    const chosen = options.filter((o) => o.box.input.checked).map((o) => o.label);
    const restore = button('Restore', 'primary', () => void submit(restore));
    replaceChildren(
      modal.body,
      steps(1, ['Details', 'Review']),
      h('p', {}, `Review the ${what} restore:`),
      backupSummary(backup, [
        [isTable ? 'Table' : 'Database', h('code', {}, source)],
        ['Restore to', h('code', {}, isTable ? `${clusterName} › ${dest}.${target.table}` : `${clusterName} › ${dest}`)],
        ['Dependency options', chosen.length === 0 ? 'None skipped' : chosen.join(', ')],
      ]),
      error,
    );
    replaceChildren(modal.footer, button('Back', '', first), restore);
    restore.focus();
  };
  first();
}
