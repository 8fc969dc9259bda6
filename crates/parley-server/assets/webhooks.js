// Outgoing webhooks, on the team page (owners and managers): each subscription's URL, the event
// kinds it wants and whether it is delivering or paused (and why); pause, resume, a test ping,
// the delivery log, deletion; and a form to subscribe a URL. The signing secret shows once, right
// after the subscription is made. Refusals show in words under their form and change nothing.

import { api, el, formatDateTime, t, toast } from './api.js';
import { confirmAction } from './confirm.js';
import { attempt } from './settings.js';

const base = '/webhook-subscriptions';

function kindBoxes(id, kinds, chosen) {
  return el('fieldset', { class: 'members kinds', id }, el('legend', {}, t('webhooks.kinds')),
    kinds.map((k) => el('label', { class: 'member', title: k.kind },
      el('input', { type: 'checkbox', value: k.kind, checked: chosen.includes(k.kind) }), ` ${t(`webhooks.kind_${k.kind}`)}`)));
}

function checked(fieldset) {
  return [...fieldset.querySelectorAll('input:checked')].map((i) => i.value);
}

function statusText(sub) {
  if (sub.active) return sub.attempts > 0 ? t('webhooks.retrying', { n: sub.attempts }) : t('webhooks.active');
  return sub.paused_reason === 'failing' ? t('webhooks.paused_failing') : t('webhooks.paused');
}

/** The newest deliveries of a subscription, as a table. */
async function showLog(sub, box) {
  const rows = await api('GET', `${base}/${sub.id}/deliveries?limit=20`);
  if (rows.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, t('webhooks.no_deliveries')));
    return;
  }
  box.replaceChildren(el('div', { class: 'table-scroll' }, el('table', { class: 'deliveries' },
    el('thead', {}, el('tr', {}, ['when', 'event', 'outcome', 'status', 'latency', 'answer']
      .map((h) => el('th', {}, t(`webhooks.log_${h}`))))),
    el('tbody', {}, rows.map((d) => el('tr', { class: d.outcome },
      el('td', {}, formatDateTime(d.created_at)),
      el('td', {}, d.kind, d.replay ? el('span', { class: 'muted' }, ` (${t('webhooks.replay')})`) : null),
      el('td', {}, t(`webhooks.outcome_${d.outcome}`), d.attempt > 1 ? ` · ${t('webhooks.attempt', { n: d.attempt })}` : ''),
      el('td', {}, d.status_code ?? '—'),
      el('td', {}, `${d.latency_ms} ms`),
      el('td', { class: 'excerpt' }, d.error ?? d.response_excerpt ?? '')))))));
}

function subscriptionCard(sub, kinds, redraw) {
  const id = sub.id;
  const error = el('p', { class: 'error', id: `webhook-${id}-error`, role: 'alert', hidden: true });
  const log = el('div', { class: 'webhook-log', id: `webhook-${id}-log` });
  const boxes = kindBoxes(`webhook-${id}-kinds`, kinds, sub.kinds);
  const patch = (body, done) => async () => {
    if (await attempt(error, () => api('PATCH', `${base}/${id}`, body()))) { toast(done); redraw(); }
  };
  const button = (name, text, onclick, extra = {}) =>
    el('button', { type: 'button', id: `webhook-${id}-${name}`, onclick, ...extra }, text);
  const form = el('form', { class: 'settings-form webhook', dataset: { subscription: id } },
    el('h3', { class: 'url' }, sub.url),
    el('p', { class: sub.active ? 'status ok' : 'status warn', id: `webhook-${id}-status` }, statusText(sub)),
    boxes,
    el('div', { class: 'actions' },
      el('button', { type: 'submit', class: 'primary', id: `webhook-${id}-save` }, t('settings.save')),
      sub.active
        ? button('pause', t('webhooks.pause'), patch(() => ({ active: false }), t('webhooks.paused')))
        : button('resume', t('webhooks.resume'), patch(() => ({ active: true }), t('webhooks.active'))),
      button('ping', t('webhooks.ping'), async () => {
        await attempt(error, async () => {
          const d = await api('POST', `${base}/${id}/ping`);
          toast(d.outcome === 'delivered' ? t('webhooks.ping_ok', { status: d.status_code })
            : t('webhooks.ping_failed', { why: d.error ?? d.status_code }), d.outcome === 'delivered' ? 'info' : 'error');
          await showLog(sub, log);
        });
      }),
      button('log', t('webhooks.show_log'), () => attempt(error, () => showLog(sub, log))),
      button('delete', t('webhooks.delete'), async () => {
        if (!(await confirmAction({ title: t('webhooks.delete_title'), body: sub.url, confirm: t('webhooks.delete'), danger: true }))) return;
        if (await attempt(error, () => api('DELETE', `${base}/${id}`))) redraw();
      }, { class: 'delete' })),
    error, log);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await patch(() => ({ kinds: checked(boxes) }), t('settings.saved'))();
  });
  return form;
}

function subscribeForm(kinds, redraw) {
  const error = el('p', { class: 'error', id: 'webhook-new-error', role: 'alert', hidden: true });
  const url = el('input', { id: 'webhook-new-url', type: 'url', required: true, placeholder: 'https://', class: 'wide' });
  const boxes = kindBoxes('webhook-new-kinds', kinds, ['message.received', 'conversation.closed']);
  const form = el('form', { class: 'settings-form', id: 'webhook-new' }, el('h3', {}, t('webhooks.new')),
    el('p', { class: 'muted' }, t('webhooks.new_hint')),
    el('label', { class: 'field' }, t('webhooks.url'), url), boxes,
    el('button', { type: 'submit', class: 'primary', id: 'webhook-new-save' }, t('webhooks.subscribe')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let made;
    if (!(await attempt(error, async () => { made = await api('POST', base, { url: url.value.trim(), kinds: checked(boxes) }); }))) return;
    await redraw();
    const box = document.getElementById('webhook-secret-box');
    if (box) {
      box.replaceChildren(el('p', {}, t('webhooks.secret_once')),
        el('input', { id: 'webhook-secret', readonly: true, value: made.secret, class: 'wide', onfocus: (ev) => ev.target.select() }));
    }
  });
  return form;
}

/** The section, read from the API. */
export async function webhooksSection(redraw) {
  const [catalog, subs] = await Promise.all([api('GET', `${base}/kinds`), api('GET', base)]);
  return [el('h2', { id: 'webhooks-title' }, t('webhooks.title')),
    el('p', { class: 'muted' }, t('webhooks.hint')),
    el('div', { class: 'secret-box', id: 'webhook-secret-box', role: 'status' }),
    el('div', { class: 'settings', id: 'webhooks' },
      subs.map((s) => subscriptionCard(s, catalog.kinds, redraw)), subscribeForm(catalog.kinds, redraw))];
}
