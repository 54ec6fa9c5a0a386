import { h, uniqueId, type Child } from './element.js';

/** An open modal: its body to fill, and a way to close it. */
export interface Modal {
  dialog: HTMLDialogElement;
  body: HTMLDivElement;
  footer: HTMLDivElement;
  /** Replaces the title (multi-step modules rename their step). */
  setTitle(title: string): void;
  close(): void;
}

/**
 * Opens a modal dialog. The native `<dialog>` with `showModal()` keeps focus inside, closes on
 * Escape and makes the rest of the page inert, so every module is usable from the keyboard.
 */
export function openModal(title: string, opts: { wide?: boolean; onClose?: () => void } = {}): Modal {
  const titleId = uniqueId('modal-title');
  const heading = h('h2', { id: titleId }, title);
  const body = h('div', { class: 'modal-body' });
  const footer = h('div', { class: 'modal-footer' });
  const closeButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close' }, '✕');
  const dialog = h(
    'dialog',
    { class: opts.wide === true ? 'modal wide' : 'modal', 'aria-labelledby': titleId },
    h('div', { class: 'modal-header' }, heading, closeButton),
    body,
    footer,
  );
  const close = (): void => {
    if (dialog.open) dialog.close();
  };
  closeButton.addEventListener('click', close);
  dialog.addEventListener('close', () => {
    dialog.remove();
    opts.onClose?.();
  });
  document.body.appendChild(dialog);
  dialog.showModal();
  return { dialog, body, footer, setTitle: (t) => (heading.textContent = t), close };
}

/** A labelled form field: label, control, and an optional hint the control is described by. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement, hint?: Child): HTMLDivElement {
  const id = control.id !== '' ? control.id : uniqueId('field');
  control.id = id;
  const hintEl = hint === undefined ? undefined : h('p', { class: 'hint', id: `${id}-hint` }, hint);
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

/** A checkbox with its label beside it. */
export function checkbox(label: string, name: string, checked = false): { row: HTMLLabelElement; input: HTMLInputElement } {
  const input = h('input', { type: 'checkbox', name, checked });
  return { row: h('label', { class: 'check' }, input, h('span', {}, label)), input };
}

/** A line that says what went wrong, announced to screen readers. */
export function errorLine(): HTMLParagraphElement {
  return h('p', { class: 'form-error', role: 'alert', hidden: true });
}

/** Shows `message` in an error line (or hides it for undefined). */
export function showError(line: HTMLElement, message: string | undefined): void {
  line.textContent = message ?? '';
  line.hidden = message === undefined;
}
