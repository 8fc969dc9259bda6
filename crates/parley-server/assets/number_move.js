// Moving a number to another provider (owners), on the team page: the number's connections on
// one timeline (each provider, from when until when, its messages in and out), and a form for
// the new provider's fields. After the move, what could not move is listed: templates to submit
// again at the new account, a webhook to set by hand.

import { api, boot, el, formatDateTime, formatNumber, t, toast } from './api.js';
import { field, providerInputs } from './numbers.js';
import { attempt } from './settings.js';

function timeline(channel, connections) {
  if (connections.length < 2) return null;
  return el('ol', { class: 'connections', id: `number-${channel.id}-connections` }, connections.map((c) =>
    el('li', { dataset: { provider: c.provider } },
      el('strong', {}, t(`numbers.provider_${c.provider}`)), ' ',
      el('span', { class: 'muted' }, c.active_until
        ? t('numbers.connection_until', { from: formatDateTime(c.active_from), until: formatDateTime(c.active_until) })
        : t('numbers.connection_since', { from: formatDateTime(c.active_from) })),
      ' · ', t('numbers.connection_traffic', { in: formatNumber(c.messages_in), out: formatNumber(c.messages_out) }))));
}

/** What is left to do after a move, in the reader's language (from the report's fields). */
function reportOf(report) {
  const items = [];
  if (report.webhook_to_set) {
    items.push([t('numbers.move_set_webhook'), ' ', el('code', {}, report.webhook_to_set)]);
  }
  if (report.templates_to_resubmit.length) {
    const names = report.templates_to_resubmit.map((tpl) => `${tpl.name} (${tpl.language})`).join(', ');
    items.push(t('numbers.move_resubmit', { templates: names }));
  }
  if (report.templates_unchecked) items.push(t('numbers.move_templates_unchecked'));
  if (report.health_not_reported) items.push(t('numbers.move_no_health'));
  if (report.unknown_outcomes) items.push(t('numbers.move_unknown', { count: formatNumber(report.unknown_outcomes) }));
  return el('div', { class: 'move-report', role: 'status' },
    el('p', {}, items.length ? t('numbers.moved') : t('numbers.moved_all')),
    items.length ? el('ul', {}, items.map((i) => el('li', {}, i))) : null);
}

/** The section under a number's card: its timeline, and for owners the move form. */
export function moveSection(channel, connections, redraw) {
  const shown = timeline(channel, connections);
  if (boot.user.role !== 'owner') return shown;
  const prefix = `move-${channel.id}`;
  const error = el('p', { class: 'error', id: `${prefix}-error`, role: 'alert', hidden: true });
  const result = el('div', { id: `${prefix}-report` });
  const connection = providerInputs(prefix);
  const form = el('form', { class: 'settings-form', id: `${prefix}-form` }, el('p', { class: 'muted' }, t('numbers.move_hint')),
    connection.choice, connection.hint, connection.fields,
    el('button', { type: 'submit', class: 'primary', id: `${prefix}-save` }, t('numbers.move_button')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let report = null;
    if (!await attempt(error, async () => { report = await api('POST', `/channels/${channel.id}/move`, connection.read()); })) return;
    toast(t('settings.saved'));
    await redraw();
    // The report stays in view after the page is drawn again.
    document.getElementById(`${prefix}-report`)?.replaceChildren(reportOf(report));
  });
  return el('div', { class: 'number-move' }, shown,
    el('details', { id: `${prefix}` }, el('summary', {}, t('numbers.move')), form), result);
}
