import { h, icon, replaceChildren, uniqueId } from './element.js';
import { formatDate } from './format.js';

const WEEKDAYS = ['Su', 'Mo', 'Tu', 'We', 'Th', 'Fr', 'Sa'];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_MS = 86_400_000;

/** Midnight UTC of the day `d` falls on: the console's days are UTC days, as its times are. */
export function utcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

/** `2026-12-06`, the form the calendar's day buttons carry in `data-date`. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export interface CalendarOptions {
  /** Called with the chosen day (midnight UTC), or undefined for "all dates". */
  onSelect: (day: Date | undefined) => void;
  /** The days of a month that have backups (`YYYY-MM-DD`), to mark them in the grid. */
  markedDays?: (monthStart: Date, monthEnd: Date) => Promise<Set<string>>;
}

/**
 * The Backups tab's date drop-down: a button naming the chosen date that opens a month grid.
 * The grid follows the WAI-ARIA date picker pattern: arrows move a day or a week, Page Up/Down
 * a month, Home/End the week's ends, Enter or Space picks, Escape closes and returns focus.
 */
export class DatePicker {
  readonly element: HTMLDivElement;
  private readonly button: HTMLButtonElement;
  private readonly popup: HTMLDivElement;
  private selected: Date | undefined;
  private focused: Date;
  private shownMonth = '';
  private marked = new Set<string>();
  private readonly disposed = new AbortController();

  constructor(private readonly o: CalendarOptions) {
    const popupId = uniqueId('calendar');
    this.focused = utcDay(new Date());
    this.button = h('button', {
      type: 'button',
      class: 'date-button',
      'aria-haspopup': 'dialog',
      'aria-expanded': 'false',
      'aria-controls': popupId,
      onclick: () => (this.popup.hidden ? this.open() : this.close()),
    });
    this.popup = h('div', { class: 'calendar', id: popupId, role: 'dialog', 'aria-modal': 'false', 'aria-label': 'Choose a date', hidden: true });
    this.popup.addEventListener('keydown', (ev) => this.onKey(ev));
    this.element = h('div', { class: 'date-picker' }, this.button, this.popup);
    // A click elsewhere closes the popup; the listener goes with the picker (dispose).
    document.addEventListener(
      'click',
      (ev) => {
        if (!this.popup.hidden && !this.element.contains(ev.target as Node)) this.close(false);
      },
      { signal: this.disposed.signal },
    );
    this.renderButton();
  }

  /** Stops listening to the document (the page showing the picker is gone). */
  dispose(): void {
    this.disposed.abort();
  }

  /** The chosen day, undefined for all dates. */
  get value(): Date | undefined {
    return this.selected;
  }

  open(): void {
    this.focused = this.selected ?? utcDay(new Date());
    this.popup.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.render(true);
  }

  close(returnFocus = true): void {
    this.popup.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    if (returnFocus) this.button.focus();
  }

  private pick(day: Date | undefined): void {
    this.selected = day;
    this.renderButton();
    this.close();
    this.o.onSelect(day);
  }

  private renderButton(): void {
    const text = this.selected === undefined ? 'All dates' : formatDate(this.selected);
    replaceChildren(this.button, icon('M4 6h16v14H4zM4 10h16M8 3v4M16 3v4', 'date-icon'), h('span', {}, text), h('span', { class: 'caret', 'aria-hidden': 'true' }, '▾'));
    this.button.setAttribute('aria-label', `Backups taken on: ${text}. Choose a date`);
  }

  private render(moveFocus: boolean): void {
    const f = this.focused;
    const monthStart = new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth(), 1));
    const monthEnd = new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth() + 1, 1));
    const monthKey = isoDay(monthStart);
    if (monthKey !== this.shownMonth) {
      this.shownMonth = monthKey;
      this.marked = new Set();
      void this.o.markedDays?.(monthStart, monthEnd).then((days) => {
        if (this.shownMonth !== monthKey) return;
        this.marked = days;
        this.render(false);
      }, () => undefined);
    }
    const title = `${MONTH_NAMES[f.getUTCMonth()]} ${f.getUTCFullYear()}`;
    const titleId = uniqueId('calendar-month');
    const shift = (months: number) => () => this.moveMonth(months);
    const header = h(
      'div',
      { class: 'calendar-header' },
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Previous month', onclick: shift(-1) }, '‹'),
      h('h2', { id: titleId, 'aria-live': 'polite' }, title),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Next month', onclick: shift(1) }, '›'),
    );
    const today = isoDay(utcDay(new Date()));
    const gridStart = new Date(monthStart.getTime() - monthStart.getUTCDay() * DAY_MS);
    const rows: HTMLTableRowElement[] = [];
    for (let week = 0; week < 6; week++) {
      const cells: HTMLTableCellElement[] = [];
      for (let wd = 0; wd < 7; wd++) {
        const day = new Date(gridStart.getTime() + (week * 7 + wd) * DAY_MS);
        const key = isoDay(day);
        const inMonth = day.getUTCMonth() === f.getUTCMonth();
        const isFocused = key === isoDay(f);
        const classes = ['day', inMonth ? '' : 'other-month', key === today ? 'today' : '', this.marked.has(key) ? 'has-backups' : ''].filter((c) => c !== '').join(' ');
        const label = `${formatDate(day)}${this.marked.has(key) ? ', has backups' : ''}`;
        cells.push(
          h(
            'td',
            { role: 'gridcell', 'aria-selected': this.selected !== undefined && isoDay(this.selected) === key ? 'true' : 'false' },
            h('button', { type: 'button', class: classes, tabindex: isFocused ? 0 : -1, 'data-date': key, 'aria-label': label, onclick: () => this.pick(day) }, String(day.getUTCDate())),
          ),
        );
      }
      rows.push(h('tr', {}, ...cells));
    }
    const grid = h(
      'table',
      { role: 'grid', 'aria-labelledby': titleId },
      h('thead', {}, h('tr', {}, ...WEEKDAYS.map((d) => h('th', { scope: 'col', abbr: d }, d)))),
      h('tbody', {}, ...rows),
    );
    const footer = h(
      'div',
      { class: 'calendar-footer' },
      h('button', { type: 'button', class: 'link-button', onclick: () => this.pick(utcDay(new Date())) }, 'Today'),
      h('button', { type: 'button', class: 'link-button', onclick: () => this.pick(undefined) }, 'All dates'),
    );
    // A redraw (the month's backup marks arriving) must not drop the keyboard user's place.
    const hadFocus = this.popup.contains(document.activeElement);
    replaceChildren(this.popup, header, grid, footer);
    if (moveFocus || hadFocus) this.popup.querySelector<HTMLButtonElement>('button[tabindex="0"]')?.focus();
  }

  private moveMonth(months: number): void {
    const f = this.focused;
    const target = new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth() + months, 1));
    const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
    this.focused = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(f.getUTCDate(), lastDay)));
    this.render(true);
  }

  private onKey(ev: KeyboardEvent): void {
    const onDay = (ev.target as HTMLElement).dataset['date'] !== undefined;
    const moves: Record<string, number> = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    if (ev.key === 'Escape') {
      ev.preventDefault();
      this.close();
    } else if (onDay && moves[ev.key] !== undefined) {
      ev.preventDefault();
      this.focused = new Date(this.focused.getTime() + (moves[ev.key] ?? 0) * DAY_MS);
      this.render(true);
    } else if (onDay && (ev.key === 'PageUp' || ev.key === 'PageDown')) {
      ev.preventDefault();
      this.moveMonth(ev.key === 'PageUp' ? -1 : 1);
    } else if (onDay && (ev.key === 'Home' || ev.key === 'End')) {
      ev.preventDefault();
      const wd = this.focused.getUTCDay();
      this.focused = new Date(this.focused.getTime() + (ev.key === 'Home' ? -wd : 6 - wd) * DAY_MS);
      this.render(true);
    }
  }
}
