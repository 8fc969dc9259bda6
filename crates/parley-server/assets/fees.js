// The WhatsApp fees page (`#fees`, owners and managers; managers read only): each WhatsApp
// Business Account's fee account — balance, holds, what is available — with its ledger newest
// first; owners pay by card or record a bank transfer or a correction, set alerts and
// auto-recharge (`fee_money.js`, with the usage chart and statements), open an account for a
// WABA and set the workspace's markup. The rate card in force shows below, marked when it is the sample.
// Amounts come as decimal text and are only formatted here (per locale, in the account's
// currency); nothing is computed from them.

import { api, boot, el, formatDateTime, formatNumber, t, toast } from './api.js';
import { cardTopUp, money, paymentReturn, reconciliationsList, statements, termsForm, topUpsList, usageChart } from './fee_money.js';
import { attempt } from './settings.js';

const isOwner = boot.user.role === 'owner';

function entryRow(e, currency) {
  // Parley's own references (`hold:12`) say nothing to a reader; an owner's transfer reference does.
  const reference = e.reference?.startsWith('manual:') ? e.reference.slice(7) : null;
  const about = [e.market, e.category ? t(`fees.category_${e.category}`) : null, e.reason, reference]
    .filter(Boolean).join(' · ');
  return el('tr', { class: `entry ${e.kind}` },
    el('td', {}, formatDateTime(e.at)),
    el('td', {}, t(`fees.kind_${e.kind}`)),
    el('td', { class: 'amount' }, Number(e.amount) !== 0 || e.kind !== 'hold' ? money(e.amount, currency) : ''),
    el('td', { class: 'amount muted' }, Number(e.held_change) !== 0 ? money(e.held_change, currency) : ''),
    el('td', { class: 'amount' }, money(e.balance_after, currency)),
    el('td', { class: 'excerpt' }, about));
}

/** An owner's form to record money by hand (`kind`: top_up or adjustment). */
function moneyForm(account, kind, redraw) {
  const id = `fees-${account.id}-${kind}`;
  const error = el('p', { class: 'error', id: `${id}-error`, role: 'alert', hidden: true });
  const amount = el('input', { id: `${id}-amount`, inputmode: 'decimal', required: true, placeholder: kind === 'top_up' ? '100.00' : '-2.50' });
  const note = el('input', { id: `${id}-note`, required: kind !== 'top_up', class: 'wide' });
  const form = el('form', { class: 'settings-form', id },
    el('h4', {}, t(`fees.${kind}_title`)),
    el('label', { class: 'field' }, t('fees.amount', { currency: account.currency }), amount),
    el('label', { class: 'field' }, t(kind === 'top_up' ? 'fees.reference' : 'fees.reason'), note),
    el('button', { type: 'submit', class: 'primary', id: `${id}-save` }, t(`fees.${kind}_save`)), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { kind, amount: amount.value.trim().replace(',', '.') };
    if (kind === 'top_up') body.reference = note.value.trim() || null;
    else body.reason = note.value.trim();
    if (await attempt(error, () => api('POST', `/fees/accounts/${account.id}/entries`, body))) {
      toast(t('fees.recorded'));
      redraw();
    }
  });
  return form;
}

async function accountCard(account, settings, redraw) {
  const entries = await api('GET', `/fees/accounts/${account.id}/entries?limit=50`);
  const c = account.currency;
  const figure = (name, value) => el('div', { class: 'figure', id: `fees-${account.id}-${name}` },
    el('span', { class: 'muted' }, t(`fees.${name}`)), el('strong', {}, money(value, c)));
  return el('section', { class: 'settings-form fee-account', dataset: { account: account.id } },
    el('h3', {}, t('fees.account', { waba: account.waba_id })),
    el('p', { class: 'muted' }, account.postpaid ? t('fees.postpaid', { limit: money(account.credit_limit, c) }) : t('fees.prepaid')),
    el('div', { class: 'figures' }, figure('balance', account.balance), figure('held', account.held), figure('available', account.available)),
    isOwner ? el('div', { class: 'fee-forms' }, settings.card_payments ? cardTopUp(account) : null,
      moneyForm(account, 'top_up', redraw), moneyForm(account, 'adjustment', redraw)) : null,
    el('div', { class: 'fee-forms' }, termsForm(account, redraw), statements(account)),
    await usageChart(account),
    await topUpsList(account),
    await reconciliationsList(account),
    el('h4', {}, t('fees.ledger')),
    entries.length
      ? el('div', { class: 'table-scroll' }, el('table', { class: 'ledger', id: `fees-${account.id}-ledger` },
        el('thead', {}, el('tr', {}, ['when', 'kind', 'amount', 'held', 'balance_after', 'about'].map((h) => el('th', {}, t(`fees.col_${h}`))))),
        el('tbody', {}, entries.map((e) => entryRow(e, c)))))
      : el('p', { class: 'muted' }, t('fees.no_entries')));
}

/** An owner's form to open an account for a WABA of the workspace's numbers without one. */
async function openForm(accounts, redraw) {
  const channels = await api('GET', '/channels');
  const wabas = [...new Set(channels.map((ch) => ch.waba_id))].filter((w) => !accounts.some((a) => a.waba_id === w));
  if (!wabas.length) return null;
  const error = el('p', { class: 'error', id: 'fees-open-error', role: 'alert', hidden: true });
  const waba = el('select', { id: 'fees-open-waba' }, wabas.map((w) => el('option', { value: w }, w)));
  const currency = el('input', { id: 'fees-open-currency', value: 'USD', maxlength: 3, size: 4 });
  const form = el('form', { class: 'settings-form', id: 'fees-open' }, el('h3', {}, t('fees.open_title')),
    el('p', { class: 'muted' }, t('fees.open_hint')),
    el('label', { class: 'field' }, t('fees.waba'), waba), el('label', { class: 'field' }, t('fees.currency'), currency),
    el('button', { type: 'submit', class: 'primary', id: 'fees-open-save' }, t('fees.open_save')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { waba_id: waba.value, currency: currency.value.trim().toUpperCase() };
    if (await attempt(error, () => api('POST', '/fees/accounts', body))) redraw();
  });
  return form;
}

function markupForm(settings) {
  const error = el('p', { class: 'error', id: 'fees-markup-error', role: 'alert', hidden: true });
  const percent = el('input', { id: 'fees-markup', inputmode: 'decimal', value: settings.markup_percent, size: 6, disabled: !isOwner });
  const form = el('form', { class: 'settings-form', id: 'fees-settings' }, el('h3', {}, t('fees.markup_title')),
    el('p', { class: 'muted' }, t('fees.markup_hint')), el('label', { class: 'field' }, t('fees.markup'), percent),
    isOwner ? el('button', { type: 'submit', class: 'primary', id: 'fees-markup-save' }, t('settings.save')) : null, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { markup_percent: percent.value.trim().replace(',', '.') };
    if (await attempt(error, () => api('PUT', '/fees/settings', body))) toast(t('settings.saved'));
  });
  return form;
}

async function rateCard() {
  const card = await api('GET', '/fees/rates').catch(() => null);
  if (!card) return [el('h2', {}, t('fees.rates_title')), el('p', { class: 'muted', id: 'fees-no-card' }, t('fees.no_card'))];
  const tier = (l) => (l.tier_from || l.tier_to
    ? `${formatNumber(l.tier_from ?? 1)}–${l.tier_to ? formatNumber(l.tier_to) : '∞'}` : '');
  return [el('h2', {}, t('fees.rates_title')),
    card.sample ? el('p', { class: 'status warn', id: 'fees-sample' }, t('fees.sample')) : null,
    el('p', { class: 'muted' }, t('fees.card_from', { date: formatDateTime(card.effective_from), source: card.source })),
    el('div', { class: 'table-scroll' }, el('table', { class: 'rates', id: 'fees-rates' },
      el('thead', {}, el('tr', {}, ['market', 'category', 'tier', 'rate'].map((h) => el('th', {}, t(`fees.col_${h}`))))),
      el('tbody', {}, card.lines.map((l) => el('tr', {}, el('td', {}, l.market), el('td', {}, t(`fees.category_${l.category}`)),
        el('td', {}, tier(l)), el('td', { class: 'amount' }, money(l.rate, card.currency)))))))];
}

/** Draws the page into `box`. */
export async function feesPage(box) {
  const redraw = () => feesPage(box);
  const [accounts, settings] = await Promise.all([api('GET', '/fees/accounts'), api('GET', '/fees/settings')]);
  const returned = paymentReturn(accounts, redraw);
  const cards = [];
  for (const account of accounts) cards.push(await accountCard(account, settings, redraw));
  const parts = [el('h2', { id: 'fees-title' }, t('fees.title')), returned, el('p', { class: 'muted' }, t('fees.hint')),
    accounts.length ? null : el('p', { class: 'muted', id: 'fees-none' }, t('fees.none')),
    ...cards, isOwner ? await openForm(accounts, redraw) : null, markupForm(settings), ...(await rateCard())];
  box.replaceChildren(...parts.filter(Boolean));
}
