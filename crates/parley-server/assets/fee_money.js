// The fees page's money in and out of one account: a card top-up (sent to Stripe's Checkout;
// the balance moves when Stripe's signed webhook confirms it), the alert and auto-recharge
// terms, the recent card payments, a chart of the last 30 days' charges per category (an SVG
// drawn here from the usage API: no charting library), monthly statements to download and the
// last nightly reconciliations with the provider.
// Amounts stay decimal text; only the chart's bar heights are computed, never stored.

import { api, boot, el, formatDateTime, locale, t, toast } from './api.js';
import { attempt } from './settings.js';

const isOwner = boot.user.role === 'owner';

/** "12,50 $US" / "$12.50" as the locale writes an amount of `currency`. */
export function money(text, currency) {
  const value = Number(text);
  if (!Number.isFinite(value)) return text;
  const digits = Math.abs(value) > 0 && Math.abs(value) < 0.01 ? 4 : 2;
  return new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: 6 })
    .format(value);
}

const decimal = (input) => input.value.trim().replace(',', '.');

/** An owner's form to pay by card: off to Stripe's page, back to this one. */
export function cardTopUp(account) {
  const id = `fees-${account.id}-card`;
  const error = el('p', { class: 'error', id: `${id}-error`, role: 'alert', hidden: true });
  const amount = el('input', { id: `${id}-amount`, inputmode: 'decimal', required: true, placeholder: '50.00' });
  const form = el('form', { class: 'settings-form', id },
    el('h4', {}, t('fees.card_title')), el('p', { class: 'muted' }, t('fees.card_hint')),
    el('label', { class: 'field' }, t('fees.amount', { currency: account.currency }), amount),
    el('button', { type: 'submit', class: 'primary', id: `${id}-pay` }, t('fees.card_pay')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let begun;
    if (await attempt(error, async () => { begun = await api('POST', `/fees/accounts/${account.id}/top-ups`, { amount: decimal(amount) }); })) {
      window.location.assign(begun.checkout_url);
    }
  });
  return form;
}

/**
 * Says what became of a card payment the payer just came back from (once), and — Stripe's
 * webhook may come a moment after the payer — calls `redraw` when the payment is credited.
 */
export function paymentReturn(accounts, redraw) {
  const query = new URLSearchParams(location.search);
  const paid = query.get('top_up_paid');
  const cancelled = query.get('top_up_cancelled');
  if (!paid && !cancelled) return null;
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  if (paid) waitForCredit(Number(paid), accounts, redraw);
  return el('p', { class: `status ${paid ? 'ok' : 'warn'}`, id: 'fees-payment-return', role: 'status' },
    t(paid ? 'fees.card_paid' : 'fees.card_cancelled'));
}

async function waitForCredit(id, accounts, redraw) {
  for (let tries = 0; tries < 30; tries += 1) {
    await new Promise((done) => { setTimeout(done, 1000); });
    for (const account of accounts) {
      const top = await api('GET', `/fees/accounts/${account.id}/top-ups?limit=20`).catch(() => []);
      const found = top.find((p) => p.id === id);
      if (found && found.state !== 'pending') {
        redraw();
        return;
      }
    }
  }
}

/** The alert and auto-recharge terms (owners change them; managers read). */
export function termsForm(account, redraw) {
  const id = `fees-${account.id}-terms`;
  const error = el('p', { class: 'error', id: `${id}-error`, role: 'alert', hidden: true });
  const input = (name, value, attrs = {}) => el('input', { id: `${id}-${name}`, inputmode: 'decimal', value: value ?? '', disabled: !isOwner, ...attrs });
  const recharge = account.auto_recharge;
  const alert = input('alert', account.alert_threshold ? Number(account.alert_threshold) : '');
  const emails = input('emails', account.alert_emails.join(', '), { inputmode: 'email', class: 'wide' });
  const threshold = input('threshold', recharge ? Number(recharge.threshold) : '');
  const amount = input('amount', recharge ? Number(recharge.amount) : '');
  const cap = input('cap', recharge ? Number(recharge.monthly_cap) : '');
  const form = el('form', { class: 'settings-form', id },
    el('h4', {}, t('fees.terms_title')), el('p', { class: 'muted' }, t('fees.terms_hint')),
    el('label', { class: 'field' }, t('fees.alert_threshold', { currency: account.currency }), alert),
    el('label', { class: 'field' }, t('fees.alert_emails'), emails),
    el('p', { class: 'muted' }, account.card_saved ? t('fees.card_saved') : t('fees.no_card_saved')),
    el('label', { class: 'field' }, t('fees.recharge_threshold', { currency: account.currency }), threshold),
    el('label', { class: 'field' }, t('fees.recharge_amount', { currency: account.currency }), amount),
    el('label', { class: 'field' }, t('fees.recharge_cap', { currency: account.currency }), cap),
    isOwner ? el('button', { type: 'submit', class: 'primary', id: `${id}-save` }, t('settings.save')) : null, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const off = [threshold, amount, cap].every((i) => !i.value.trim());
    const body = {
      alert_threshold: alert.value.trim() ? decimal(alert) : null,
      alert_emails: emails.value.split(/[,;\s]+/).map((m) => m.trim()).filter(Boolean),
      auto_recharge: off ? null : { threshold: decimal(threshold), amount: decimal(amount), monthly_cap: decimal(cap) },
    };
    if (await attempt(error, () => api('PATCH', `/fees/accounts/${account.id}`, body))) {
      toast(t('settings.saved'));
      redraw();
    }
  });
  return form;
}

/** The account's recent card payments and recharges. */
export async function topUpsList(account) {
  const top = await api('GET', `/fees/accounts/${account.id}/top-ups?limit=10`);
  if (!top.length) return null;
  return [el('h4', {}, t('fees.top_ups')),
    el('div', { class: 'table-scroll' }, el('table', { class: 'ledger', id: `fees-${account.id}-top-ups` },
      el('tbody', {}, top.map((p) => el('tr', { class: `top-up ${p.state}` },
        el('td', {}, formatDateTime(p.created_at)), el('td', {}, t(`fees.source_${p.source}`)),
        el('td', { class: 'amount' }, money(p.amount, p.currency)), el('td', {}, t(`fees.state_${p.state}`)),
        el('td', { class: 'excerpt' }, p.error ?? ''))))))];
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const shortDay = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', timeZone: 'UTC' });
const CATEGORY_ORDER = ['marketing', 'marketing_lite', 'utility', 'authentication', 'authentication_international', 'service', 'referral_conversion'];

/** The last 30 days' charges per day, stacked by category, with a legend and the total. */
export async function usageChart(account) {
  const usage = await api('GET', `/fees/accounts/${account.id}/usage?by=day&group=category`);
  // The server's days (its clock decides what "the last 30 days" are), UTC.
  const days = [];
  for (let d = Date.parse(`${usage.from}T00:00:00Z`); d <= Date.parse(`${usage.to}T00:00:00Z`); d += 86_400_000) {
    days.push(new Date(d).toISOString().slice(0, 10));
  }
  const keys = [...new Set(usage.lines.map((l) => l.key ?? 'unknown'))]
    .sort((a, b) => CATEGORY_ORDER.indexOf(a) - CATEGORY_ORDER.indexOf(b));
  const byDay = new Map(days.map((d) => [d, new Map()]));
  for (const l of usage.lines) byDay.get(l.period)?.set(l.key ?? 'unknown', Number(l.amount));
  const totals = days.map((d) => [...byDay.get(d).values()].reduce((a, b) => a + b, 0));
  const top = Math.max(...totals, 0);
  const [W, H, PAD] = [600, 160, 24];
  const bar = (W - PAD) / days.length;
  const bars = [];
  days.forEach((d, i) => {
    let y = H - PAD;
    for (const [k, key] of keys.entries()) {
      const value = byDay.get(d).get(key) ?? 0;
      if (!value || !top) continue;
      const h = (value / top) * (H - PAD - 8);
      y -= h;
      bars.push(svg('rect', { x: PAD + i * bar + 1, y, width: Math.max(bar - 2, 1), height: h, class: `series s${k}` },
        svg('title', {}, `${d} · ${t(`fees.category_${key}`)} · ${money(String(value), usage.currency)}`)));
    }
  });
  const label = (x, y, text, anchor = 'start') => svg('text', { x, y, 'text-anchor': anchor, class: 'axis' }, text);
  const summary = t('fees.chart_summary', { total: money(usage.amount, usage.currency), messages: usage.messages });
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'usage-chart', id: `fees-${account.id}-chart` },
    svg('line', { x1: PAD, y1: H - PAD, x2: W, y2: H - PAD, class: 'axis-line' }),
    label(PAD, H - 6, shortDay.format(new Date(`${days[0]}T12:00:00Z`))),
    label(W, H - 6, shortDay.format(new Date(`${days[days.length - 1]}T12:00:00Z`)), 'end'),
    label(PAD, 10, top ? money(String(top), usage.currency) : ''), ...bars);
  const legend = el('ul', { class: 'legend' }, keys.map((key, k) => el('li', {}, el('span', { class: `swatch s${k}` }), t(`fees.category_${key}`))));
  return [el('h4', {}, t('fees.chart_title')), el('p', { class: 'muted', id: `fees-${account.id}-chart-total` }, summary), chart,
    keys.length ? legend : el('p', { class: 'muted' }, t('fees.chart_empty'))];
}

/** Monthly statements to download (the last twelve months). */
export function statements(account) {
  const now = new Date();
  const months = [];
  for (let i = 0; i < 12; i += 1) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1));
    months.push(d.toISOString().slice(0, 7));
  }
  const month = el('select', { id: `fees-${account.id}-month` }, months.map((m) => el('option', { value: m }, m)));
  const link = el('a', { class: 'button', id: `fees-${account.id}-statement`, download: '' }, t('fees.statement_download'));
  const point = () => link.setAttribute('href', `/api/v1/fees/accounts/${account.id}/statements/${month.value}?format=csv`);
  month.addEventListener('change', point);
  point();
  return el('div', { class: 'statements' }, el('h4', {}, t('fees.statements')),
    el('label', { class: 'field' }, t('fees.statement_month'), month), link);
}

/** The last week's reconciliations with the provider, with the lines that differ. */
export async function reconciliationsList(account) {
  const days = (await api('GET', `/fees/accounts/${account.id}/reconciliations`)).slice(0, 7);
  if (!days.length) return null;
  const side = (x) => t('fees.reconcile_side', { messages: x.messages, cost: money(x.cost, account.currency) });
  const line = (d) => el('li', {}, `${t(`fees.category_${d.category}`)} · ${t('fees.reconcile_ledger')} ${side(d.ledger)} · ${t('fees.reconcile_provider')} ${side(d.provider)}`);
  return [el('h4', {}, t('fees.reconciliations')),
    el('ul', { class: 'reconciliations', id: `fees-${account.id}-reconciliations` }, days.map((r) => el('li', { class: `outcome ${r.outcome}` },
      `${r.day}: ${t(`fees.outcome_${r.outcome}`)}`, r.error ? ` (${r.error})` : '',
      r.differences.length ? el('ul', {}, r.differences.map(line)) : null)))];
}
