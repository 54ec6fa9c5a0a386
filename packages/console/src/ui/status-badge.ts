import { h } from './element.js';
import { enumLabel } from './format.js';

/** The colour families a status falls into. */
type Tone = 'success' | 'active' | 'danger' | 'warning' | 'neutral';

const TONES: Readonly<Record<string, Tone>> = {
  COMPLETE: 'success',
  SUCCEEDED: 'success',
  ACTIVE: 'success',
  LIVE: 'success',
  IN_PROGRESS: 'active',
  RUNNING: 'active',
  PREPARING: 'active',
  PENDING: 'warning',
  PAUSED: 'warning',
  PAUSE_REQUESTED: 'warning',
  CANCEL_REQUESTED: 'warning',
  REVERTING: 'warning',
  SUSPECT: 'warning',
  DRAINING: 'warning',
  FAILED: 'danger',
  REVERT_FAILED: 'danger',
  CANCELED: 'neutral',
  DEAD: 'danger',
  DECOMMISSIONED: 'neutral',
};

/** A status as a coloured pill; the text is the status itself, so colour is never the only cue. */
export function statusBadge(status: string): HTMLSpanElement {
  const key = status.toUpperCase().replace(/[- ]/g, '_');
  const tone = TONES[key] ?? 'neutral';
  return h('span', { class: `badge badge-${tone}`, 'data-status': key }, h('span', { class: 'badge-dot', 'aria-hidden': 'true' }), enumLabel(key));
}

/** A labelled progress bar for a fraction in [0, 1]. */
export function progressBar(fraction: number, label: string): HTMLDivElement {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 1000) / 10));
  return h(
    'div',
    { class: 'progress' },
    h(
      'div',
      { class: 'progress-track', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct },
      h('div', { class: 'progress-fill', style: `width: ${pct}%` }),
    ),
    h('span', { class: 'progress-text' }, `${pct.toFixed(pct % 1 === 0 ? 0 : 1)}%`),
  );
}
