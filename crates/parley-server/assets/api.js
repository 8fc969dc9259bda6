// Shared by the inbox's scripts: the page's boot data, translations, the API client (session
// cookie + CSRF header), locale-aware formatting, and a small DOM builder that only ever sets
// text (never HTML from data), so nothing a customer writes can become markup.

export const boot = JSON.parse(document.body.dataset.boot);
const csrf = document.body.dataset.csrf;
export const locale = boot.locale;
/** "Label: value" as the language writes it: French puts a no-break space before the colon. */
export const COLON = locale.startsWith('fr') ? '\u00a0: ' : ': ';

/** The translation of `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = boot.strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/**
 * A value from the API (a number's status, a template's status…) in the user's language: the
 * string `prefix.value` (lower case, `_` for spaces) when we have it, the raw value otherwise (Meta's lists are open-ended, so
 * a new value still shows as Meta wrote it). `fallback` for a missing value.
 */
export function label(prefix, value, fallback = '') {
  if (value === null || value === undefined || value === '') return fallback;
  const key = `${prefix}.${String(value).trim().toLowerCase().replace(/[\s-]+/g, '_')}`;
  return key in boot.strings ? t(key) : String(value);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    // The stable code is what the UI translates; `http_error` when the answer was not ours
    // (a proxy's page, a timeout), `network` when there was no answer at all.
    this.code = body?.error?.code ?? 'http_error';
    this.field = body?.error?.field ?? null;
  }
}

/** Calls the REST API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(method, path, body, extraHeaders = {}) {
  const headers = { 'X-CSRF-Token': csrf, ...extraHeaders };
  let payload;
  if (body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: 'same-origin' });
  } catch (error) {
    throw new ApiError(0, { error: { code: 'network', message: error.message } });
  }
  if (response.status === 401) {
    window.location.href = '/login';
    throw new ApiError(401, null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not our JSON (a proxy's error page): only the status is known.
    if (response.ok) throw new ApiError(response.status, null);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(locale, { timeStyle: 'short' });
const numbers = new Intl.NumberFormat(locale);

/** A time as this locale writes it: the hour alone for today, the date too otherwise. */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOnly.format(d) : dateTime.format(d);
}

export function formatDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : '';
}

export function formatNumber(n) {
  return numbers.format(n);
}

/** "3 h 12 min" style, from seconds. */
export function formatDuration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? t('time.hours_minutes', { h: formatNumber(h), m: formatNumber(m) }) : t('time.minutes', { m: formatNumber(m) });
}

/**
 * Builds an element: `el('button', {class: 'x', onclick: f}, 'text', child)`. Strings become
 * text nodes; `null`/`false` children are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * WhatsApp formatting as DOM: *bold*, _italic_, ~strike~, ```code```. Works on text only, so a
 * message can never inject markup.
 */
export function formatted(text) {
  const out = document.createDocumentFragment();
  const pattern = /```([\s\S]+?)```|\*([^*\n]+)\*|_([^_\n]+)_|~([^~\n]+)~/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > last) out.append(text.slice(last, m.index));
    if (m[1] !== undefined) out.append(el('code', {}, m[1]));
    else if (m[2] !== undefined) out.append(el('strong', {}, m[2]));
    else if (m[3] !== undefined) out.append(el('em', {}, m[3]));
    else out.append(el('s', {}, m[4]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.append(text.slice(last));
  return out;
}

/** Shows a short notice at the bottom of the screen. */
export function toast(message, kind = 'info') {
  const node = el('div', { class: `toast ${kind}`, role: 'status' }, message);
  document.body.append(node);
  setTimeout(() => node.remove(), 5000);
}

/**
 * The text for anything with a stable `code`: an ApiError, or a dry run's refusal
 * (`{code, message}`). Translated by `error.<code>`; the server's English message only when no
 * translation exists for the code, and a generic translated text when there is neither.
 */
export function errorText(error) {
  const key = `error.${error?.code ?? 'http_error'}`;
  if (key in boot.strings) return t(key);
  return error?.message || t('error.http_error');
}

export const isAdmin = boot.user.role === 'owner' || boot.user.role === 'manager';
