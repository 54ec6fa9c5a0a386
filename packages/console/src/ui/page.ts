import type { ApiClient } from './api-client.js';
import { h, replaceChildren, type Child } from './element.js';

/** What every page gets: the API, navigation, and a way to tell the user something. */
export interface PageContext {
  api: ApiClient;
  navigate(hash: string): void;
  toast(message: string, kind?: 'info' | 'error'): void;
}

/** A mounted page; `dispose` stops its polling when the user leaves it. */
export interface Page {
  dispose(): void;
}

/**
 * Calls `tick` now and then every `ms` until disposed, never overlapping two ticks (a slow API
 * answer delays the next poll rather than stacking requests).
 */
export function poll(ms: number, tick: () => Promise<void>): () => void {
  let stopped = false;
  let timer: number | undefined;
  const run = async (): Promise<void> => {
    try {
      await tick();
    } finally {
      if (!stopped) timer = window.setTimeout(() => void run(), ms);
    }
  };
  void run();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

/**
 * Replaces a live region's content without losing the user's place: the focused control is
 * found again by its `data-focus` key after the redraw, so a table refreshing every second
 * does not throw keyboard users back to the top of the page.
 */
export function redraw(container: Element, ...children: Child[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset['focus'] : undefined;
  replaceChildren(container, ...children);
  if (key !== undefined) container.querySelector<HTMLElement>(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

/** The page header: a title, a line under it, and buttons on the right. */
export function pageHeader(title: string, subtitle: Child, ...actions: Child[]): HTMLElement {
  return h(
    'header',
    { class: 'page-header' },
    h('div', {}, h('h1', {}, title), subtitle === null || subtitle === undefined ? null : h('p', { class: 'subtitle' }, subtitle)),
    actions.length > 0 ? h('div', { class: 'actions' }, ...actions) : null,
  );
}

/** Says that loading failed, in the place the content would have been. */
export function loadError(err: unknown): HTMLElement {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  return h('div', { class: 'page-error' }, h('p', { class: 'form-error', role: 'alert' }, typeof code === 'string' ? `${code}: ${message}` : message));
}
