import { h, type Child } from './element.js';
import { formatDate, formatTime } from './format.js';

/** One column: its header and how a row shows in it. */
export interface Column<R> {
  header: string;
  cell: (row: R) => Child;
  /** `num` right-aligns (counts), `actions` keeps the cell narrow. */
  kind?: 'num' | 'actions';
}

export interface TableOptions<R> {
  /** What the table lists, for screen readers (a visually hidden caption). */
  caption: string;
  /** What to say when there are no rows. */
  empty: string;
  /** A stable key per row, set as `data-key` so tests and live updates can find rows. */
  key?: (row: R) => string;
}

/**
 * A console table: header row, one row per item, or a single "nothing here" row; wrapped so
 * that a table wider than the page scrolls sideways instead of spilling out of its panel.
 */
export function dataTable<R>(columns: Column<R>[], rows: readonly R[], o: TableOptions<R>): HTMLDivElement {
  const head = h('tr', {}, ...columns.map((c) => h('th', { scope: 'col', class: c.kind ?? '' }, c.header)));
  const body =
    rows.length === 0
      ? [h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, o.empty))]
      : rows.map((r) => h('tr', { 'data-key': o.key?.(r) }, ...columns.map((c) => h('td', { class: c.kind ?? '' }, c.cell(r)))));
  return h('div', { class: 'table-scroll' }, h('table', { class: 'data-table' }, h('caption', { class: 'sr-only' }, o.caption), h('thead', {}, head), h('tbody', {}, ...body)));
}

/** A time as a table shows it: the date, the time under it (narrow columns, nothing cut off). */
export function whenCell(iso: string | null | undefined): HTMLElement {
  if (iso === null || iso === undefined || iso === '') return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('span', { class: 'when', title: iso }, formatDate(d), h('span', { class: 'cell-sub' }, formatTime(d)));
}
