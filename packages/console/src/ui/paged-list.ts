import type { Pagination } from './api-client.js';
import { h } from './element.js';

/** Items per API page in the console's lists. */
export const PAGE_SIZE = 50;

/**
 * The first `pages` pages of a paginated API listing, followed through `next_page` tokens.
 * Lists refresh by polling, so rather than hold one page's token (which would freeze the
 * list at that point) each refresh reads from the start up to as many pages as were asked for.
 */
export class PagedList<T> {
  private pages = 1;

  constructor(private readonly fetchPage: (page: string | undefined) => Promise<{ items: T[]; pagination: Pagination }>) {}

  async load(): Promise<{ items: T[]; total: number; more: boolean }> {
    const items: T[] = [];
    let token: string | undefined;
    let total = 0;
    for (let i = 0; i < this.pages; i++) {
      const r = await this.fetchPage(token);
      items.push(...r.items);
      total = r.pagination.total_results;
      token = r.pagination.next_page;
      if (token === undefined) break;
    }
    return { items, total, more: token !== undefined };
  }

  /** One more page from the next refresh on. */
  showMore(): void {
    this.pages += 1;
  }

  /** Back to the first page (a new filter). */
  reset(): void {
    this.pages = 1;
  }
}

/** Under a list: how many of how many are shown, and Show more while there are more. */
export function pageFooter(shown: number, total: number, noun: string, more: boolean, onMore: () => void): HTMLElement {
  return h(
    'div',
    { class: 'panel-footer' },
    h('span', {}, `${shown === total ? `${total}` : `${shown} of ${total}`} ${noun}${total === 1 ? '' : 's'}`),
    more ? h('button', { type: 'button', class: 'button small', 'data-focus': `more-${noun}`, onclick: onMore }, `Show ${PAGE_SIZE} more`) : null,
  );
}
