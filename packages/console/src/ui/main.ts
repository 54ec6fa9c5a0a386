import { ApiClient, ApiError, type Cluster } from './api-client.js';
import { mountBackupsPage, type BackupsView } from './backups-page.js';
import { mountJobsPage, mountNodesPage, mountSchedulesPage } from './cluster-pages.js';
import { h, replaceChildren } from './element.js';
import { errorLine, field, openModal, showError } from './modal.js';
import { loadError, type Page, type PageContext } from './page.js';

/** Asks for an API key (secure clusters); resolves undefined when the dialog is dismissed. */
function askForKey(reason: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answered: string | undefined;
    const modal = openModal('API key', { onClose: () => resolve(answered) });
    const input = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false' });
    // The first ask explains; a refused key is an error.
    const refused = reason.startsWith('The API key was refused');
    const error = errorLine();
    if (refused) showError(error, reason);
    const form = h(
      'form',
      { class: 'modal-body', id: 'api-key-form' },
      refused ? null : h('div', { class: 'callout info' }, reason),
      h('p', {}, 'Create a key with ', h('code', {}, 'cairn api-key create --name NAME --role CLUSTER_ADMIN'), ' (CLUSTER_VIEWER only reads). It is kept for this browser tab only.'),
      field('API key', input),
      error,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      answered = input.value;
      modal.close();
    });
    modal.body.replaceWith(form);
    modal.footer.append(h('button', { type: 'submit', class: 'button primary', form: 'api-key-form' }, 'Use key'));
    input.focus();
  });
}

function toast(message: string, kind: 'info' | 'error' = 'info'): void {
  const area = document.getElementById('toasts');
  if (!area) return;
  const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}` }, message);
  area.append(el);
  window.setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

/** The route a hash names: which page, and for the backups page which view. */
function route(hash: string): { nav: string; mount: (root: HTMLElement, ctx: PageContext) => Page } {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [first = 'backups', second, third, fourth, fifth] = parts;
  const backups = (view: BackupsView) => ({ nav: 'backups', mount: (root: HTMLElement, ctx: PageContext) => mountBackupsPage(root, ctx, view) });
  switch (first) {
    case 'jobs':
      return { nav: 'jobs', mount: mountJobsPage };
    case 'nodes':
      return { nav: 'nodes', mount: mountNodesPage };
    case 'schedules':
      return { nav: 'schedules', mount: mountSchedulesPage };
    default:
      if (second === 'incomplete' || second === 'restores') return backups({ kind: 'tab', tab: second });
      if (second !== undefined && third === 'databases' && fourth !== undefined && fifth === 'tables') return backups({ kind: 'tables', backupId: second, database: fourth });
      if (second !== undefined && third === 'databases') return backups({ kind: 'databases', backupId: second });
      return backups({ kind: 'tab', tab: 'backups' });
  }
}

/**
 * Learns the cluster from the API. Until it answers (a coordinator starting, no leader yet:
 * 503) the page says why and tries again; a secure cluster without a usable key stops there.
 */
async function connect(api: ApiClient, root: HTMLElement): Promise<Cluster | undefined> {
  for (;;) {
    try {
      return await api.connect();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        replaceChildren(root, loadError(new Error('An API key is needed to use this secure cluster; reload to enter one.')));
        return undefined;
      }
      replaceChildren(root, loadError(err), h('p', { class: 'muted' }, 'Trying again…'));
      await new Promise((r) => window.setTimeout(r, 2000));
    }
  }
}

async function start(): Promise<void> {
  const root = document.getElementById('main');
  if (!root) return;
  const api = new ApiClient(askForKey);
  const ctx: PageContext = {
    api,
    navigate: (hash) => {
      if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = hash;
    },
    toast,
  };
  const cluster = await connect(api, root);
  if (!cluster) return;
  const name = document.getElementById('cluster-name');
  if (name) name.textContent = `${cluster.name} · ${cluster.id}`;
  const mode = document.getElementById('security-mode');
  if (mode) mode.textContent = cluster.secure ? 'Secure' : 'Insecure';
  const forget = document.getElementById('forget-key');
  if (forget && cluster.secure) {
    forget.hidden = false;
    forget.addEventListener('click', () => {
      api.forgetKey();
      location.reload();
    });
  }
  let page: Page | undefined;
  let lastNav = '';
  const show = (): void => {
    page?.dispose();
    const r = route(location.hash);
    for (const link of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
      if (link.dataset['nav'] === r.nav) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    root.replaceChildren();
    page = r.mount(root, ctx);
    // Moving to another section puts focus on the content, as a page load would; switching
    // tabs within a page keeps it where the user is (on the tab list).
    if (r.nav !== lastNav && lastNav !== '') root.focus();
    else if (r.nav === lastNav) document.getElementById(`tab-${location.hash.split('/')[2] ?? 'backups'}`)?.focus();
    lastNav = r.nav;
  };
  window.addEventListener('hashchange', show);
  show();
}

void start();
