import { ApiError, type BackupsConfig } from './api-client.js';
import { h } from './element.js';
import { formatDays, formatMinutes } from './format.js';
import { errorLine, field, openModal, showError } from './modal.js';
import type { PageContext } from './page.js';

/** The allowed choices, read from the API's own OpenAPI document so the two cannot disagree. */
export interface AllowedValues {
  frequencyMinutes: number[];
  retentionDays: number[];
}

/** The part of the OpenAPI document the module reads. */
interface OpenApiDocument {
  components: { schemas: { BackupsConfig: { properties: Record<string, { enum?: number[] }> } } };
}

let allowed: Promise<AllowedValues> | undefined;

/** The enums of BackupsConfig in `/api/v1/openapi.json` (fetched once per page load). */
export function allowedValues(): Promise<AllowedValues> {
  allowed ??= fetch('/api/v1/openapi.json')
    .then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.json() as Promise<OpenApiDocument>;
    })
    .then((doc) => {
      const props = doc.components.schemas.BackupsConfig.properties;
      return { frequencyMinutes: props['frequency_minutes']?.enum ?? [], retentionDays: props['retention_days']?.enum ?? [] };
    })
    .catch((err: unknown) => {
      allowed = undefined; // ask again next time
      throw err;
    });
  return allowed;
}

function choices(values: number[], current: number, label: (n: number) => string): HTMLOptionElement[] {
  const all = values.includes(current) ? values : [...values, current].sort((a, b) => a - b);
  return all.map((v) => h('option', { value: String(v), selected: v === current }, label(v)));
}

/**
 * The Backup Settings module: Enable backups, Schedule backups every, Retain backups for.
 * Only what changed is sent; `onSaved` gets the configuration the API answered with.
 */
export function openSettingsModule(ctx: PageContext, current: BackupsConfig, onSaved: (c: BackupsConfig) => void): void {
  const modal = openModal('Backup Settings');
  const enabled = h('input', { type: 'checkbox', role: 'switch', name: 'enabled', checked: current.enabled });
  const frequency = h('select', { name: 'frequency_minutes' }, ...choices([], current.frequency_minutes, formatMinutes));
  const retention = h('select', { name: 'retention_days', disabled: !current.retention_modifiable }, ...choices([], current.retention_days, formatDays));
  const error = errorLine();
  const save = h('button', { type: 'submit', class: 'button primary', form: 'backup-settings-form' }, 'Save');
  // The choices come from the API's document; until they do, only the current values show.
  allowedValues().then(
    (values) => {
      frequency.replaceChildren(...choices(values.frequencyMinutes, current.frequency_minutes, formatMinutes));
      retention.replaceChildren(...choices(values.retentionDays, current.retention_days, formatDays));
    },
    (err: unknown) => showError(error, `Could not read the allowed values from /api/v1/openapi.json: ${String(err)}`),
  );
  const form = h(
    'form',
    { class: 'modal-body', id: 'backup-settings-form' },
    h('div', { class: 'callout info' }, 'Changing the frequency or retention of enabled backups takes a full backup at once. A new retention applies only to backups taken from now on; existing backups keep the expiry they were taken with.'),
    h('label', { class: 'switch' }, enabled, h('span', {}, 'Enable backups')),
    field('Schedule backups every', frequency, 'cairn takes full and incremental backups as needed to meet this frequency.'),
    field(
      'Retain backups for',
      retention,
      current.retention_modifiable ? 'Retention can be set once.' : 'Retention has already been set once and can no longer be changed.',
    ),
    error,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const change: Partial<Pick<BackupsConfig, 'enabled' | 'frequency_minutes' | 'retention_days'>> = {};
    if (enabled.checked !== current.enabled) change.enabled = enabled.checked;
    if (Number(frequency.value) !== current.frequency_minutes) change.frequency_minutes = Number(frequency.value);
    if (Number(retention.value) !== current.retention_days) change.retention_days = Number(retention.value);
    if (Object.keys(change).length === 0) {
      modal.close();
      return;
    }
    save.disabled = true;
    ctx.api.updateConfig(change).then(
      (saved) => {
        modal.close();
        ctx.toast('Backup settings saved');
        onSaved(saved);
      },
      (err: unknown) => {
        showError(error, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
        save.disabled = false;
      },
    );
  });
  modal.body.replaceWith(form);
  modal.footer.append(h('button', { type: 'button', class: 'button', onclick: () => modal.close() }, 'Cancel'), save);
  enabled.focus();
}
