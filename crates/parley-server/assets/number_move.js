// Moving a number to another provider (owners), on the team page: the number's connections on
// one timeline (each provider, from when until when, its messages in and out), and a form for
// the new provider's fields and an optional cut-over time. After the move, what could not move
// is listed: templates to submit again at the new account, a webhook to set by hand. A planned
// move shows on the timeline until its time, with its cancel.

import { api, boot, el, errorText, formatDateTime, formatNumber, t, toast } from './api.js';
import { field, providerInputs } from './numbers.js';
import { attempt } from './settings.js';

/** A planned move on the timeline: when, why it failed if it did, and (owners) its cancel. */
function plannedItem(channel, c, redraw) {
  const cancel = boot.user.role === 'owner'
    ? el('button', { type: 'button', class: 'link', id: `number-${channel.id}-cancel-move` }, t('numbers.move_cancel'))
    : null;
  cancel?.addEventListener('click', async () => {
    try {
      await api('DELETE', `/channels/${channel.id}/move`);
      toast(t('numbers.move_cancelled'));
      await redraw();
    } catch (error) {
      toast(errorText(error));
    }
  });
  return el('li', { dataset: { provider: c.provider, planned: 'true' } },
    el('strong', {}, t(`numbers.provider_${c.provider}`)), ' ',
    el('span', { class: 'muted' }, t('numbers.connection_planned', { from: formatDateTime(c.active_from) })),
    c.error ? el('p', { class: 'error' }, t('numbers.move_failed', { error: c.error })) : null,
    cancel ? [' · ', cancel] : null);
}

function timeline(channel, connections, redraw) {
  if (connections.length < 2) return null;
  return el('ol', { class: 'connections', id: `number-${channel.id}-connections` }, connections.map((c) =>
    c.planned ? plannedItem(channel, c, redraw) : el('li', { dataset: { provider: c.provider } },
      el('strong', {}, t(`numbers.provider_${c.provider}`)), ' ',
      el('span', { class: 'muted' }, c.active_until
        ? t('numbers.connection_until', { from: formatDateTime(c.active_from), until: formatDateTime(c.active_until) })
        : t('numbers.connection_since', { from: formatDateTime(c.active_from) })),
      ' · ', t('numbers.connection_traffic', { in: formatNumber(c.messages_in), out: formatNumber(c.messages_out) }))));
}

/** What a plan answers: when the number moves, and the webhook that already takes posts. */
function planOf(plan) {
  return el('div', { class: 'move-report', role: 'status' },
    el('p', {}, t('numbers.move_planned', { at: formatDateTime(plan.active_from) })),
    el('p', {}, t('numbers.move_planned_webhook'), ' ', el('code', {}, `${boot.public_url}${plan.webhook_path}`)));
}

/** What is left to do after a move, in the reader's language (from the report's fields). */
function reportOf(report) {
  const items = [];
  if (report.webhook_to_set) {
    items.push([t('numbers.move_set_webhook'), ' ', el('code', {}, report.webhook_to_set)]);
  }
  // Each template the new account lacks: submitted there by the move, there already but not
  // approved, or left to the owner (the new provider's console, or a refused submission).
  const templates = (outcomes) => report.templates_to_resubmit.filter((tpl) => outcomes.includes(tpl.outcome))
    .map((tpl) => `${tpl.name} (${tpl.language})`).join(', ');
  const submitted = templates(['submitted']);
  if (submitted) items.push(t('numbers.move_resubmitted', { templates: submitted }));
  const there = templates(['exists']);
  if (there) items.push(t('numbers.move_template_exists', { templates: there }));
  const byHand = templates(['failed', 'to_submit']);
  if (byHand) items.push(t('numbers.move_resubmit', { templates: byHand }));
  if (report.templates_unchecked) items.push(t('numbers.move_templates_unchecked'));
  if (report.health_not_reported) items.push(t('numbers.move_no_health'));
  if (report.unknown_outcomes) items.push(t('numbers.move_unknown', { count: formatNumber(report.unknown_outcomes) }));
  return el('div', { class: 'move-report', role: 'status' },
    el('p', {}, items.length ? t('numbers.moved') : t('numbers.moved_all')),
    items.length ? el('ul', {}, items.map((i) => el('li', {}, i))) : null);
}

/** The section under a number's card: its timeline, and for owners the move form. */
export function moveSection(channel, connections, redraw) {
  const shown = timeline(channel, connections, redraw);
  if (boot.user.role !== 'owner') return shown;
  const prefix = `move-${channel.id}`;
  const error = el('p', { class: 'error', id: `${prefix}-error`, role: 'alert', hidden: true });
  const result = el('div', { id: `${prefix}-report` });
  const connection = providerInputs(prefix);
  const cutover = el('input', { type: 'datetime-local', id: `${prefix}-cutover` });
  const form = el('form', { class: 'settings-form', id: `${prefix}-form` }, el('p', { class: 'muted' }, t('numbers.move_hint')),
    connection.choice, connection.hint, connection.fields, field(t('numbers.move_cutover'), cutover),
    el('button', { type: 'submit', class: 'primary', id: `${prefix}-save` }, t('numbers.move_button')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let report = null;
    // A cut-over left empty is now; one given is the reader's local time.
    const at = cutover.value ? `?cutover_at=${encodeURIComponent(new Date(cutover.value).toISOString())}` : '';
    if (!await attempt(error, async () => { report = await api('POST', `/channels/${channel.id}/move${at}`, connection.read()); })) return;
    toast(t('settings.saved'));
    await redraw();
    // The report (or the plan) stays in view after the page is drawn again.
    document.getElementById(`${prefix}-report`)?.replaceChildren(report.planned ? planOf(report) : reportOf(report));
  });
  return el('div', { class: 'number-move' }, shown,
    el('details', { id: `${prefix}` }, el('summary', {}, t('numbers.move')), form), result);
}
