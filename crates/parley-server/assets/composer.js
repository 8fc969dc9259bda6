// The composer knows the 24-hour customer service window (as the server's clock sees it): inside
// it, free text with WhatsApp formatting, attachments and the time left; outside it, a picker of
// the number's approved templates with a field per parameter, prefilled from the contact. Every
// send is tried as a dry run first, so a refusal shows here before anything is queued. Typing
// `/` and a shortcut offers the team's canned responses; `@` in a note offers teammates.
//
// The window keeps running while the composer is on screen: a clock redraws the time left and
// turns the composer into the template picker when the window closes. Drafts are kept per
// conversation, so a redraw (an event, the window closing, another conversation) loses no text.
//
// A send goes out once: its button is busy until the answer, and every send carries an
// idempotency key made when its draft was last written, so a double click, a retry after a lost
// answer or Ctrl+Enter pressed twice replays the first send instead of making a second message.
// And it goes only to the conversation whose messages are on screen (`#messages` says which).

import { api, COLON, el, errorText, formatDuration, t, toast } from './api.js';
import { attachmentTray, sendAttachments } from './attachments.js';
import { cannedSuggestions, mentionSuggestions } from './suggest.js';

/** `{{1}}` or `{{name}}` placeholders of a template's body, in order, without repeats. */
export function placeholders(text) {
  const seen = [];
  for (const m of (text ?? '').matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen;
}

/** What a parameter starts as: the contact's value where the placeholder names a field. */
function prefill(name, index, contact) {
  const first = (contact?.name ?? '').split(/\s+/)[0] ?? '';
  const fields = contact?.fields ?? {};
  if (name in fields) return String(fields[name]);
  if (['name', 'first_name', 'customer_name'].includes(name)) return first;
  return index === 0 && /^\d+$/.test(name) ? first : '';
}

function showRefusal(box, text) {
  box.hidden = !text;
  box.textContent = text ?? '';
}

/** How often the time left is redrawn; the server refuses a late send anyway (dry run). */
const CLOCK_MS = 15000;

/** Unsent text per conversation and tab (`12:text`, `12:note`). */
const drafts = new Map();

/** The composer on screen and its timer: one at a time. */
let clock = null;

function draftKey(ctx, kind) {
  return `${ctx.conversation.id}:${kind}`;
}

function keepDraft(ctx, kind, text) {
  if (text.trim()) drafts.set(draftKey(ctx, kind), text);
  else drafts.delete(draftKey(ctx, kind));
  // A changed draft is a new message: its send gets a new key.
  sendKeys.delete(draftKey(ctx, kind));
}

/** The idempotency key of each draft's send (`12:text`, `12:template`), made when first needed. */
const sendKeys = new Map();

/** A random key (128 bits; `crypto.getRandomValues` works over plain HTTP too). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `ui-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function sendKey(ctx, kind) {
  const at = draftKey(ctx, kind);
  if (!sendKeys.has(at)) sendKeys.set(at, newKey());
  return sendKeys.get(at);
}

/** Whether `ctx`'s conversation is the one whose messages are on screen. */
function onScreen(ctx) {
  return document.getElementById('messages')?.dataset.conversation === String(ctx.conversation.id);
}

/**
 * Runs `send` once at a time for `button`: busy (disabled, `aria-busy`) until it ends, and a
 * second click or key press meanwhile does nothing.
 */
async function once(button, send) {
  if (button.dataset.busy) return;
  button.dataset.busy = 'yes';
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await send();
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * When the window closes, in this browser's clock: from the server's `seconds_left` (its clock
 * decides), counted from when the conversation was read, so a skewed local clock does not matter.
 */
function windowEnd(conversation) {
  return conversation.window.open ? Date.now() + (conversation.window.seconds_left ?? 0) * 1000 : 0;
}

function secondsLeft(ctx) {
  return Math.max(0, Math.floor((ctx.endsAt - Date.now()) / 1000));
}

/** Stops the clock (another conversation is being opened). */
export function stopWindowClock() {
  if (clock) clearInterval(clock.timer);
  clock = null;
}

/** Redraws what depends on the time: the time left, or the switch between text and templates. */
function tick() {
  if (!clock) return;
  const { box, ctx } = clock;
  const mode = box.dataset.mode;
  if (box.dataset.tab === 'note') return;
  const left = secondsLeft(ctx);
  if (mode === 'text' && left > 0) {
    const shown = box.querySelector('#window-state');
    if (shown) shown.textContent = t('composer.window_open', { left: formatDuration(left) });
    return;
  }
  // A template being filled in stays: it can be sent inside the window too.
  if (mode === 'template' && box.querySelector('#template-select')?.value) return;
  const want = left > 0 ? 'text' : drafts.has(draftKey(ctx, 'text')) ? 'text-closed' : 'template';
  if (want !== mode) renderComposer(box, ctx);
}

/**
 * The conversation as read again (a message came in, a status changed): a customer's message
 * reopens the window, so the clock starts from the new end.
 */
export function updateWindow(conversation) {
  if (!clock || clock.ctx.conversation.id !== conversation.id) return;
  clock.ctx.conversation = conversation;
  clock.ctx.endsAt = windowEnd(conversation);
  tick();
}

/** Tries `body` as a dry run, then sends it; answers true once queued (or replayed). */
async function trySend(ctx, body, refusal) {
  showRefusal(refusal, null);
  if (!onScreen(ctx)) return false;
  try {
    const dry = await api('POST', '/messages?dry_run=true', body);
    if (!dry.allowed) {
      // Translated by its code, like every API error; the server's text only as a fallback.
      showRefusal(refusal, `${t('composer.refused')}${COLON}${errorText(dry.refusal)}`);
      refusal.dataset.code = dry.refusal.code;
      return false;
    }
    await api('POST', '/messages', body);
    return true;
  } catch (error) {
    showRefusal(refusal, errorText(error));
    return false;
  }
}

function wrapSelection(area, mark) {
  const { selectionStart: a, selectionEnd: b, value } = area;
  area.value = `${value.slice(0, a)}${mark}${value.slice(a, b)}${mark}${value.slice(b)}`;
  area.focus();
  area.setSelectionRange(a + mark.length, b + mark.length);
  // Scripted changes fire no `input`: tell the draft keeper.
  area.dispatchEvent(new Event('change'));
}

/**
 * Free text while the window is open. `closed`: the window closed over a draft, which stays on
 * screen (to copy, or to send if the customer writes again) with sending off and the reason
 * shown, and a way on to the templates.
 */
function freeText(ctx, refusal, closed = false) {
  const { conversation, onSent } = ctx;
  const area = el('textarea', { id: 'composer-text', rows: 3, placeholder: t('composer.placeholder'), title: t('composer.canned_hint'), 'aria-label': t('composer.placeholder') });
  area.value = drafts.get(draftKey(ctx, 'text')) ?? '';
  const keep = () => keepDraft(ctx, 'text', area.value);
  area.addEventListener('input', keep);
  area.addEventListener('change', keep);
  const tray = attachmentTray(conversation.id);
  const sendButton = el('button', { type: 'button', id: 'composer-send', class: 'primary' }, t('composer.send'));
  // The text first, then each file in the order chosen; what did not go stays on screen.
  const send = () => once(sendButton, async () => {
    const text = area.value.trim();
    if (!text && !tray.items.length) return;
    if (text) {
      const body = { channel_id: conversation.channel_id, to: String(conversation.contact_id), type: 'text', text: { body: text },
        idempotency_key: sendKey(ctx, 'text') };
      if (!(await trySend(ctx, body, refusal))) return;
      area.value = '';
      keep();
    }
    try {
      await sendAttachments(tray, conversation, (body) => trySend(ctx, body, refusal));
    } catch (error) {
      toast(errorText(error), 'error');
    }
    onSent();
  });
  sendButton.addEventListener('click', send);
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  });
  if (closed) {
    showRefusal(refusal, errorText({ code: 'window_closed' }));
    const discard = () => {
      drafts.delete(draftKey(ctx, 'text'));
      renderComposer(ctx.box, ctx, 'reply');
    };
    return [
      el('p', { class: 'window closed', id: 'window-state' }, t('composer.window_closed')),
      area,
      el('button', { type: 'button', id: 'composer-send', class: 'primary', disabled: true, 'aria-describedby': 'composer-refusal' }, t('composer.send')),
      el('button', { type: 'button', id: 'composer-discard', onclick: discard }, t('composer.discard_for_template')),
    ];
  }
  return [
    el('p', { class: 'window open', id: 'window-state' }, t('composer.window_open', { left: formatDuration(secondsLeft(ctx)) })),
    el('div', { class: 'format-bar' },
      el('button', { type: 'button', title: t('composer.bold'), onclick: () => wrapSelection(area, '*') }, el('strong', {}, 'B')),
      el('button', { type: 'button', title: t('composer.italic'), onclick: () => wrapSelection(area, '_') }, el('em', {}, 'I')),
      el('button', { type: 'button', title: t('composer.strike'), onclick: () => wrapSelection(area, '~') }, el('s', {}, 'S')),
      el('button', { type: 'button', title: t('composer.code'), onclick: () => wrapSelection(area, '```') }, '</>'),
      el('button', { type: 'button', id: 'composer-attach', onclick: () => tray.input.click() }, t('composer.attach'))),
    cannedSuggestions(area),
    area,
    tray.input,
    tray.list,
    sendButton,
  ];
}

/** The example Meta holds for each of a body's parameters, by name (`1`, `first_name`). */
function examples(body) {
  const out = {};
  const positional = body?.example?.body_text?.[0] ?? [];
  positional.forEach((value, i) => { out[String(i + 1)] = value; });
  for (const p of body?.example?.body_text_named_params ?? []) out[p.param_name] = p.example;
  return out;
}

/** The body with each `{{name}}` replaced by what was typed for it (left as is while empty). */
function filled(text, values) {
  return (text ?? '').replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, name) => (values[name]?.trim() ? values[name] : whole));
}

/**
 * The templates outside the window. Every parameter is required and labelled by its example (or
 * its name); the preview shows the message as the customer will read it, filled as the agent
 * types; Send stays off until a template is chosen and every parameter has a value.
 */
function templatePicker(ctx, refusal) {
  const { conversation, contact, onSent } = ctx;
  const picker = el('select', { id: 'template-select', 'aria-label': t('composer.template') },
    el('option', { value: '' }, t('composer.choose_template')));
  const preview = el('p', { class: 'template-preview', id: 'template-preview', 'aria-live': 'polite' });
  const params = el('div', { class: 'template-params', id: 'template-params' });
  const sendButton = el('button', { type: 'button', id: 'template-send', class: 'primary', disabled: true }, t('composer.send_template'));
  let templates = [];
  const chosenTemplate = () => templates[Number(picker.value)] ?? null;
  const bodyOf = (chosen) => (chosen?.components ?? []).find((c) => c.type === 'body' || c.type === 'BODY');
  const inputs = () => [...params.querySelectorAll('input')];
  const refresh = () => {
    const chosen = chosenTemplate();
    const values = Object.fromEntries(inputs().map((i) => [i.dataset.name, i.value]));
    preview.textContent = chosen ? filled(bodyOf(chosen)?.text, values) : '';
    const missing = inputs().filter((i) => !i.value.trim());
    for (const i of inputs()) i.setAttribute('aria-invalid', i.value.trim() ? 'false' : 'true');
    sendButton.disabled = !chosen || missing.length > 0;
  };
  const show = () => {
    const chosen = chosenTemplate();
    params.replaceChildren();
    if (chosen) {
      const body = bodyOf(chosen);
      const hints = examples(body);
      placeholders(body?.text).forEach((name, i) => {
        const hint = hints[name];
        const label = /^\d+$/.test(name) ? t('composer.param_n', { n: name }) : name.replaceAll('_', ' ');
        params.append(el('label', {}, hint ? `${label} (${t('composer.param_example', { example: hint })})` : label,
          el('input', { type: 'text', class: 'template-param', required: true, dataset: { name }, value: prefill(name, i, contact),
            placeholder: hint ?? '' })));
      });
    }
    refresh();
  };
  picker.addEventListener('change', show);
  params.addEventListener('input', refresh);
  // Another template or another parameter is another message: a new key.
  const changed = () => sendKeys.delete(draftKey(ctx, 'template'));
  picker.addEventListener('change', changed);
  params.addEventListener('input', changed);
  api('GET', `/channels/${conversation.channel_id}/templates`).then((list) => {
    templates = list.filter((x) => x.status === 'approved');
    templates.forEach((x, i) => picker.append(el('option', { value: String(i) }, `${x.name} (${x.language})`)));
    if (!templates.length) preview.textContent = t('composer.no_templates');
  }).catch((error) => showRefusal(refusal, errorText(error)));
  const send = () => once(sendButton, async () => {
    const chosen = chosenTemplate();
    if (!chosen) return;
    const empty = inputs().find((i) => !i.value.trim());
    if (empty) {
      showRefusal(refusal, t('composer.params_required'));
      empty.focus();
      return;
    }
    const named = chosen.parameter_format === 'named';
    const parameters = inputs().map((i) => (named
      ? { type: 'text', parameter_name: i.dataset.name, text: i.value.trim() }
      : { type: 'text', text: i.value.trim() }));
    const body = {
      channel_id: conversation.channel_id, to: String(conversation.contact_id), type: 'template',
      template: { name: chosen.name, language: { code: chosen.language }, components: parameters.length ? [{ type: 'body', parameters }] : [] },
      idempotency_key: sendKey(ctx, 'template'),
    };
    if (await trySend(ctx, body, refusal)) {
      sendKeys.delete(draftKey(ctx, 'template'));
      onSent();
    }
  });
  sendButton.addEventListener('click', send);
  return [
    el('p', { class: 'window closed', id: 'window-state' }, t('composer.window_closed')),
    picker, preview, params,
    sendButton,
  ];
}

/** An internal note for the team (never sent); `@Name` mentions a teammate. */
function noteEditor(ctx, refusal) {
  const area = el('textarea', { id: 'note-text', rows: 3, class: 'note-input', placeholder: t('composer.note_placeholder'), 'aria-label': t('composer.note_placeholder') });
  area.value = drafts.get(draftKey(ctx, 'note')) ?? '';
  area.addEventListener('input', () => keepDraft(ctx, 'note', area.value));
  const button = el('button', { type: 'button', id: 'note-send' }, t('composer.add_note'));
  const add = () => once(button, async () => {
    const body = area.value.trim();
    if (!body || !onScreen(ctx)) return;
    try {
      await api('POST', `/conversations/${ctx.conversation.id}/notes`, { body });
      area.value = '';
      keepDraft(ctx, 'note', '');
      ctx.onSent();
    } catch (error) {
      showRefusal(refusal, errorText(error));
    }
  });
  button.addEventListener('click', add);
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); add(); }
  });
  return [area, mentionSuggestions(area), button];
}

/** Fills the composer for `ctx.conversation` (as `GET /conversations/{id}` shows it): a reply
 *  (free text or template, by the window) or an internal note; and keeps it current. */
/**
 * The shortcut workflows an agent can run on this conversation (`GET …/shortcuts`): a menu
 * shown only when there are some; choosing one starts it and says so.
 */
function shortcutsMenu(ctx) {
  const id = ctx.conversation.id;
  const menu = el('select', { id: 'composer-shortcuts', class: 'composer-shortcuts', hidden: true, 'aria-label': t('shortcuts.run') });
  api('GET', `/conversations/${id}/shortcuts`).then((found) => {
    if (!found.length) return;
    menu.replaceChildren(el('option', { value: '' }, t('shortcuts.run')), ...found.map((s) => el('option', { value: String(s.id) }, s.name)));
    menu.hidden = false;
  }).catch(() => {});
  menu.addEventListener('change', async () => {
    const chosen = menu.value;
    menu.value = '';
    if (!chosen) return;
    try {
      await api('POST', `/conversations/${id}/shortcuts/${chosen}`, {});
      toast(t('shortcuts.started'));
    } catch (error) { toast(errorText(error), 'error'); }
  });
  return menu;
}

export function renderComposer(box, ctx, mode = box.dataset.tab ?? 'reply') {
  stopWindowClock();
  ctx.box = box;
  ctx.endsAt ??= windowEnd(ctx.conversation);
  const open = secondsLeft(ctx) > 0;
  const refusal = el('p', { class: 'refusal error', id: 'composer-refusal', role: 'alert', hidden: true });
  const tab = (name, label) => el('button', {
    type: 'button', role: 'tab', id: `composer-tab-${name}`, 'aria-selected': mode === name ? 'true' : 'false',
    onclick: () => renderComposer(box, ctx, name),
  }, label);
  const tabs = el('div', { class: 'composer-top' },
    el('nav', { class: 'composer-tabs', role: 'tablist' }, tab('reply', t('composer.reply')), tab('note', t('composer.note'))),
    shortcutsMenu(ctx));
  let parts;
  if (mode === 'note') {
    parts = noteEditor(ctx, refusal);
    box.dataset.mode = 'note';
  } else if (open) {
    parts = freeText(ctx, refusal);
    box.dataset.mode = 'text';
  } else if (drafts.has(draftKey(ctx, 'text'))) {
    parts = freeText(ctx, refusal, true);
    box.dataset.mode = 'text-closed';
  } else {
    parts = templatePicker(ctx, refusal);
    box.dataset.mode = 'template';
  }
  box.dataset.tab = mode;
  box.replaceChildren(tabs, ...parts, refusal);
  clock = { box, ctx, timer: setInterval(tick, CLOCK_MS) };
}
