// The inbox: the conversation list (mine, unassigned, all; by status and channel; unread counts;
// arrow keys to move, Enter to open; the search box above it, in search.js), the open thread with its header actions (assign, close,
// reopen), the composer and the contact panel, the team page (users, canned responses) for owners
// and managers, and the live event stream that keeps all of it current without reloading.

import { api, boot, COLON, el, errorText, formatNumber, formatTime, isAdmin, label, locale, t, toast } from './api.js';
import { renderComposer, stopWindowClock, updateWindow } from './composer.js';
import { healthValue, renderPanel } from './panel.js';
import { setupSearch } from './search.js';
import { setupStatusActions, showStatusActions } from './status.js';
import { teamPage } from './team.js';
import { templatesPage } from './templates.js';
import { workflowsPage } from './workflows.js';
import { feesPage } from './fees.js';
import { setupShortcuts, showShortcuts } from './keys.js';
import { connectLive } from './live.js';
import { fillTemplate, followEnd, renderThread } from './thread.js';

const $ = (id) => document.getElementById(id);
const state = {
  filter: localStorage.getItem('parley.filter') ?? 'all',
  conversations: [],
  selected: null, // the open conversation's id
  channels: new Map(),
  users: [],
  teams: [],
  contact: null,
};

function preview(c) {
  const last = c.last_message;
  if (!last) return '';
  const text = last.text ?? t(`type.${last.type}`);
  return last.direction === 'out' ? `${t('list.you')}${COLON}${text}` : text;
}

function conversationItem(c) {
  const name = c.contact?.name ?? c.contact?.phone ?? `#${c.contact_id}`;
  const channel = state.channels.get(c.channel_id)?.name ?? '';
  return el('li', {
    role: 'option', id: `conversation-${c.id}`, class: `conversation${c.id === state.selected ? ' selected' : ''}`,
    'aria-selected': c.id === state.selected ? 'true' : 'false', dataset: { id: c.id, status: c.status },
    onclick: () => openConversation(c.id),
  },
  el('div', { class: 'row' }, el('strong', { class: 'name' }, name), el('time', { class: 'muted' }, formatTime(c.last_message_at))),
  el('div', { class: 'row' }, el('span', { class: 'preview' }, preview(c)),
    c.unread > 0 ? el('span', { class: 'unread', 'aria-label': t('list.unread', { n: formatNumber(c.unread) }) }, formatNumber(c.unread)) : null),
  el('div', { class: 'row meta' }, el('span', { class: `badge ${c.status}` }, t(`status.${c.status}`)),
    (c.tags ?? []).map((tag) => el('span', { class: 'chip small' }, tag)),
    el('span', { class: 'muted' }, channel), c.window.open ? null : el('span', { class: 'muted' }, t('list.window_closed'))));
}

/** The tab's title carries how many customer messages wait unread in the list: `(3) Inbox · Parley`. */
const baseTitle = document.title;
function showUnreadInTitle(items) {
  const unread = items.reduce((sum, c) => sum + (c.unread ?? 0), 0);
  document.title = unread > 0 ? `(${formatNumber(unread)}) ${baseTitle}` : baseTitle;
  showUnreadInIcon(unread);
}

/** Parley's icon, once fetched, to draw the unread count on. */
let baseIcon = null;

/** The tab's icon carries the count too: a red badge on Parley's icon (`99+` beyond 99). */
async function showUnreadInIcon(unread) {
  const link = document.querySelector('link[rel="icon"]');
  if (!link) return;
  if (unread <= 0) {
    link.href = '/assets/favicon.svg';
    delete link.dataset.unread;
    return;
  }
  baseIcon ??= await fetch('/assets/favicon.svg').then((r) => r.text()).catch(() => null);
  if (!baseIcon) return;
  const text = unread > 99 ? '99+' : String(unread);
  const badge = `<circle cx="23" cy="9" r="9" fill="#d93025"/><text x="23" y="13" text-anchor="middle" fill="#fff"
    font-family="sans-serif" font-weight="700" font-size="${text.length > 2 ? 8 : 12}">${text}</text>`;
  link.href = `data:image/svg+xml,${encodeURIComponent(baseIcon.replace('</svg>', `${badge}</svg>`))}`;
  link.dataset.unread = text;
}

/** Each list load's number: an answer to an older load (filters changed since) is dropped. */
let listLoads = 0;

async function loadList() {
  const load = ++listLoads;
  const params = new URLSearchParams({ limit: '100' });
  if (state.filter === 'mine') params.set('assignee', 'me');
  if (state.filter === 'unassigned') params.set('assignee', 'none');
  if (state.filter === 'bots') params.set('assignee', 'bots');
  if ($('filter-status').value) params.set('status', $('filter-status').value);
  if ($('filter-channel').value) params.set('channel', $('filter-channel').value);
  if ($('filter-tag').value.trim()) params.set('tag', $('filter-tag').value.trim());
  if ($('filter-contact-tag').value.trim()) params.set('contact_tag', $('filter-contact-tag').value.trim());
  if ($('filter-team').value) params.set('team', $('filter-team').value);
  try {
    const page = await api('GET', `/conversations?${params}`);
    if (load !== listLoads) return;
    loadCounts();
    state.conversations = page.items;
    showUnreadInTitle(page.items);
    $('conversations').replaceChildren(...page.items.map(conversationItem));
    $('list-empty').hidden = page.items.length > 0;
  } catch (error) {
    if (load === listLoads) toast(errorText(error), 'error');
  }
}

/** The conversation after the open one in the list (or before it, at the end), for "close and next". */
function nextConversation() {
  const list = state.conversations;
  const at = list.findIndex((c) => c.id === state.selected);
  const next = list[at + 1] ?? (at > 0 ? list[at - 1] : null);
  return next && next.id !== state.selected ? next.id : null;
}

/** The number of open conversations on each tab (`999+` past the API's cap). */
async function loadCounts() {
  try {
    const counts = await api('GET', '/conversations/counts');
    for (const tab of document.querySelectorAll('[data-filter]')) {
      const n = counts[tab.dataset.filter] ?? 0;
      const shown = n >= counts.capped_at ? `${formatNumber(counts.capped_at - 1)}+` : formatNumber(n);
      let badge = tab.querySelector('.count');
      if (!badge) {
        badge = el('span', { class: 'count' });
        tab.append(' ', badge);
      }
      badge.textContent = shown;
      badge.setAttribute('aria-label', t('list.open_count', { n: shown }));
    }
  } catch {
    // The counts are a convenience: the list itself still shows.
  }
}

function setFilter(filter) {
  state.filter = filter;
  localStorage.setItem('parley.filter', filter);
  for (const tab of document.querySelectorAll('[data-filter]')) {
    tab.setAttribute('aria-selected', tab.dataset.filter === filter ? 'true' : 'false');
  }
  loadList();
}

async function allMessages(id) {
  const out = [];
  let cursor = '';
  for (;;) {
    const page = await api('GET', `/conversations/${id}/messages?limit=200&cursor=${encodeURIComponent(cursor)}`);
    out.push(...page.items);
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

function renderHeader(c) {
  for (const control of ['assignee', 'close-conversation', 'reopen-conversation', 'status-action', 'conversation-tag-input']) {
    $(control).disabled = false;
  }
  $('thread-contact').textContent = state.contact?.name ?? state.contact?.phone ?? `#${c.contact_id}`;
  // The number, and the provider it goes through (one inbox for every provider).
  const channel = state.channels.get(c.channel_id);
  $('thread-channel').textContent = channel ? `${channel.name} · ${t(`numbers.provider_${channel.provider}`)}` : '';
  $('thread-status').textContent = t(`status.${c.status}`);
  $('thread-status').className = `badge ${c.status}`;
  $('thread-status').dataset.status = c.status;
  showStatusActions(c.status);
  const select = $('assignee');
  // Deactivated users take no new conversations; one still holding this one stays listed, so
  // the choice shows the truth.
  const assignable = state.users.filter((u) => !u.deactivated_at || u.id === c.assignee_id);
  const choices = [{ id: '', name: t('thread.unassigned') }, ...assignable];
  select.replaceChildren(...choices.map((u) => el('option', { value: String(u.id), selected: String(c.assignee_id ?? '') === String(u.id) },
    u.id === boot.user.id ? `${u.name} (${t('thread.me')})` : u.name)));
  // A bot's conversation: anyone takes it over for themself, at any time.
  $('take-over').hidden = !state.users.some((u) => u.bot && u.id === c.assignee_id);
  const team = $('team-select');
  team.replaceChildren(...[{ id: '', name: t('teams.no_team') }, ...state.teams].map((tm) => el('option',
    { value: String(tm.id), selected: String(c.team_id ?? '') === String(tm.id) }, tm.name)));
  // Agents hand over the conversations they hold; owners and managers move any.
  team.disabled = !isAdmin && c.assignee_id !== boot.user.id;
  team.hidden = state.teams.length === 0;
}

async function setTeam(value) {
  try {
    await api('POST', `/conversations/${state.selected}/team`, { team_id: value ? Number(value) : null });
    loadList();
  } catch (error) {
    toast(errorText(error), 'error');
    refreshThread({ composer: false });
  }
}

function renderTags(tags) {
  $('conversation-tags').replaceChildren(...tags.map((tag) => el('li', { class: 'chip' }, tag,
    el('button', { type: 'button', 'aria-label': t('panel.remove_tag', { tag }), onclick: async () => {
      try { renderTags(await api('DELETE', `/conversations/${state.selected}/tags/${encodeURIComponent(tag)}`)); loadList(); } catch (error) { toast(errorText(error), 'error'); }
    } }, '×'))));
}

/** Redraws the open thread (messages, header, composer) from the API. */
async function refreshThread({ composer = true } = {}) {
  const id = state.selected;
  if (!id) return;
  try {
    const [conversation, messages, notes, tags, activity] = await Promise.all([
      api('GET', `/conversations/${id}`), allMessages(id), api('GET', `/conversations/${id}/notes`),
      api('GET', `/conversations/${id}/tags`), api('GET', `/conversations/${id}/activity`)]);
    if (state.selected !== id) return;
    renderTags(tags);
    state.conversation = conversation;
    renderHeader(conversation);
    const templates = await sentTemplates(conversation.channel_id, messages);
    if (state.selected !== id) return;
    renderThread($('messages'), messages, notes, retryMessage, { activity, people: people(templates) });
    // The composer sends only to the conversation whose messages these are (see composer.js).
    $('messages').dataset.conversation = String(id);
    delete $('thread').dataset.loading;
    $('thread').removeAttribute('aria-busy');
    if (composer || !$('composer').hasChildNodes()) {
      renderComposer($('composer'), { conversation, contact: state.contact, onSent: () => refreshThread({ composer: false }) });
    } else {
      // Not redrawn (a draft may be in it), but a customer's message moves the window's end.
      updateWindow(conversation);
    }
    await api('POST', `/conversations/${id}/read`);
  } catch (error) {
    if (state.selected !== id) return;
    // Nothing shown yet (the first load failed): say so, with a way to try again.
    if ($('thread').dataset.loading) threadFailed(id, error);
    else toast(errorText(error), 'error');
  }
}

/** The number's templates, read once per page when a thread holds a template it sent. */
const templatesByChannel = new Map();
function sentTemplates(channelId, messages) {
  if (!messages.some((m) => m.content.type === 'template')) return [];
  if (!templatesByChannel.has(channelId)) {
    templatesByChannel.set(channelId, api('GET', `/channels/${channelId}/templates`).catch(() => {
      templatesByChannel.delete(channelId);
      return [];
    }));
  }
  return templatesByChannel.get(channelId);
}

/** Users, teams and the contact as the thread names them (someone since removed shows as
 *  `#id`), and the text a sent template carried (from `templates`, the number's). */
function people(templates = []) {
  const name = (list, id) => list.find((x) => x.id === id)?.name ?? `#${id}`;
  const templateText = (content, parameters) => {
    const template = templates.find((x) => x.name === content.name && x.language === content.language);
    const body = (template?.components ?? []).find((x) => String(x.type).toLowerCase() === 'body');
    return body?.text ? fillTemplate(body.text, parameters) : null;
  };
  return {
    user: (id) => name(state.users, id),
    team: (id) => name(state.teams, id),
    contact: () => state.conversation?.contact?.name ?? state.contact?.name ?? null,
    templateText,
  };
}

/** Sends a failed reply again (the rules are checked again first: the window may have closed). */
async function retryMessage(id, button) {
  button.disabled = true;
  try {
    await api('POST', `/messages/${id}/retry`);
  } catch (error) {
    toast(errorText(error), 'error');
    button.disabled = false;
    return;
  }
  refreshThread({ composer: false });
}

/**
 * Empties, at once, everything on screen that belongs to a conversation — header, tags,
 * messages, composer, contact panel — and marks the thread as loading, so that nothing of the
 * conversation being left stays on screen, or can be acted on, while the next one loads.
 */
function clearThread() {
  stopWindowClock();
  state.conversation = null;
  state.contact = null;
  $('thread').dataset.loading = 'yes';
  $('thread').setAttribute('aria-busy', 'true');
  $('thread-contact').textContent = '';
  $('thread-channel').textContent = '';
  $('thread-status').textContent = '';
  $('thread-status').className = 'badge';
  delete $('thread-status').dataset.status;
  for (const control of ['assignee', 'team-select', 'close-conversation', 'reopen-conversation', 'status-action', 'conversation-tag-input']) {
    $(control).disabled = true;
  }
  $('assignee').replaceChildren();
  $('team-select').replaceChildren();
  $('conversation-tags').replaceChildren();
  delete $('messages').dataset.conversation;
  $('messages').replaceChildren(el('li', { class: 'thread-loading muted', id: 'thread-loading' }, t('thread.loading')));
  $('composer').replaceChildren();
  $('panel').replaceChildren();
}

/** The conversation could not be loaded: the reason, and a button to try again. */
function threadFailed(id, error) {
  $('thread').setAttribute('aria-busy', 'false');
  $('messages').replaceChildren(el('li', { class: 'thread-error error', id: 'thread-error', role: 'alert' },
    el('span', {}, t('thread.load_failed', { reason: errorText(error) })), ' ',
    el('button', { type: 'button', id: 'thread-retry', onclick: () => openConversation(id) }, t('thread.retry'))));
}

async function openConversation(id) {
  state.selected = id;
  clearThread();
  showPanel(false, false);
  $('inbox').dataset.view = 'thread';
  $('thread-none').hidden = true;
  $('thread').hidden = false;
  $('messages').dataset.fresh = 'yes';
  for (const item of document.querySelectorAll('.conversation')) {
    const on = Number(item.dataset.id) === id;
    item.classList.toggle('selected', on);
    item.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  history.replaceState(null, '', `#c${id}`);
  let conversation;
  try {
    conversation = await api('GET', `/conversations/${id}`);
  } catch (error) {
    // An answer for a conversation no longer selected changes nothing on screen.
    if (state.selected === id) threadFailed(id, error);
    return;
  }
  if (state.selected !== id) return;
  const contact = await renderPanel($('panel'), conversation, openConversation);
  if (state.selected !== id) return;
  state.contact = contact;
  await refreshThread();
  loadList();
}

/**
 * Phone width has room for one pane: the contact panel then opens over the thread, from a button
 * in the thread's header (CSS shows both only there). `focus`: move the focus with it, so a
 * keyboard user lands in the panel and comes back to the button.
 */
function showPanel(on, focus = true) {
  $('inbox').dataset.panel = on ? 'open' : '';
  $('panel-toggle')?.setAttribute('aria-expanded', on ? 'true' : 'false');
  if (focus) (on ? $('panel-close') : $('panel-toggle'))?.focus();
}

function setupPanelToggle() {
  const toggle = el('button', { type: 'button', id: 'panel-toggle', class: 'panel-toggle', 'aria-controls': 'panel',
    'aria-expanded': 'false', onclick: () => showPanel($('inbox').dataset.panel !== 'open') }, t('panel.show'));
  $('thread-status').before(toggle);
  $('panel').addEventListener('panel-close', () => showPanel(false));
  $('panel').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('inbox').dataset.panel === 'open') { e.preventDefault(); showPanel(false); }
  });
}

async function setStatus(status, note = {}) {
  try {
    await api('POST', `/conversations/${state.selected}/status`, { status, ...note });
    await refreshThread();
    loadList();
    return null;
  } catch (error) {
    return error;
  }
}

async function assign(value) {
  try {
    await api('POST', `/conversations/${state.selected}/assign`, { user_id: value ? Number(value) : null });
    loadList();
  } catch (error) {
    toast(errorText(error), 'error');
    refreshThread({ composer: false });
  }
}

/** Keeps the screen current: every event of the log that concerns what is shown redraws it. */
function follow() {
  let pending = null;
  const later = (fn) => {
    clearTimeout(pending);
    pending = setTimeout(fn, 150);
  };
  const onEvent = (event) => {
    const p = event.payload ?? {};
    const conversation = p.conversation_id ?? (event.kind.startsWith('conversation.') ? event.subject_id : null);
    later(() => {
      loadList();
      if (state.selected && (conversation === state.selected || event.kind.startsWith('message.'))) {
        refreshThread({ composer: event.kind.startsWith('conversation.') && event.kind !== 'conversation.note_added' });
      }
      if (event.kind === 'conversation.note_added') loadNotifications();
    });
  };
  // The open contact changed under the agent (a new number, a merge, an edit): the panel shows it.
  const onContact = (event) => {
    if (state.contact && event.subject_id === state.contact.id && state.conversation) {
      renderPanel($('panel'), state.conversation, openConversation).then((contact) => { if (contact) state.contact = contact; });
    }
  };
  const handlers = {};
  for (const kind of ['message.received', 'message.status', 'message.queued', 'message.sent', 'message.media', 'message.updated',
    'conversation.opened', 'conversation.reopened', 'conversation.assigned', 'conversation.unassigned', 'conversation.status_changed',
    'conversation.note_added', 'conversation.tags_changed', 'conversation.team_changed']) {
    handlers[kind] = onEvent;
  }
  for (const kind of ['contact.identity_changed', 'contact.updated', 'contact.merged']) handlers[kind] = onContact;
  connectLive(handlers, { onResync: () => { loadList(); refreshThread({ composer: false }); loadNotifications(); } });
}

/** A template's change as the store recorded it in the notification's payload. */
function templateText(p) {
  const template = `${p.name} (${p.language})`;
  const change = p.change ?? { kind: 'status', status: p.after?.status };
  switch (change.kind) {
    case 'status': {
      const why = change.status === 'rejected' ? (change.reason && change.reason !== 'NONE' ? change.reason : change.detail) : null;
      return why ? t('notification.template_rejected', { template, reason: why })
        : change.status ? t('notification.template_status', { template, status: label('template.status', change.status) }) : null;
    }
    case 'quality': return t('notification.template_quality', { template, quality: label('quality', change.score) });
    case 'category': return t('notification.template_category', { template, category: label('template.category', change.category) });
    case 'category_notice': return t('notification.template_category_notice', { template, category: label('template.category', change.category) });
    case 'flagged': return t('notification.template_flagged', { template });
    case 'components': return t('notification.template_edited', { template });
    default: return null;
  }
}

const changeList = new Intl.ListFormat(locale, { type: 'unit' });

/**
 * A notification in the user's language, from its kind and payload; the server's `message`
 * (English) only for a kind, or a shape, this page does not know.
 */
function notificationText(n) {
  const p = n.payload ?? {};
  let text = null;
  if (n.kind === 'mention') {
    const author = state.users.find((u) => u.id === p.by);
    if (author) text = t('notification.mention', { name: author.name });
  } else if (n.kind === 'channel.health_changed' && Array.isArray(p.changes)) {
    const channel = state.channels.get(n.channel_id ?? p.channel_id);
    const changes = p.changes.map((c) => t('notification.health_change', {
      field: label('health.field', c.field), before: healthValue(c.field, c.before), after: healthValue(c.field, c.after) }));
    if (channel) text = t('notification.health_changed', { number: channel.display_phone_number, changes: changeList.format(changes) });
  } else if (n.kind === 'template.updated' && p.name) {
    text = templateText(p);
  }
  return text ?? n.message;
}

/** Atop the bell's list when the server can mail: mail me my mentions (`PATCH /me`). */
function mailSetting() {
  if (!boot.mail) return [];
  const box = el('input', { type: 'checkbox', id: 'mail-mentions' });
  box.checked = boot.mail_mentions;
  box.addEventListener('change', async () => {
    try {
      boot.mail_mentions = (await api('PATCH', '/me', { mail_mentions: box.checked })).mail_mentions;
    } catch (error) {
      box.checked = boot.mail_mentions;
      toast(errorText(error), 'error');
    }
  });
  return [el('li', { class: 'mail-setting' }, el('label', {}, box, ` ${t('notifications.mail_mentions')}`))];
}

/** The bell: notifications for me (mentions) and, for owners and managers, the team's notices. */
async function loadNotifications() {
  try {
    const list = await api('GET', '/notifications?limit=30');
    const unread = list.filter((n) => !n.read);
    $('bell-count').textContent = unread.length ? formatNumber(unread.length) : '';
    $('notifications').replaceChildren(...mailSetting(), ...(list.length ? list : [null]).map((n) => (n
      ? el('li', { class: n.read ? 'read' : 'unread', dataset: { kind: n.kind } },
        el('a', { href: n.payload?.conversation_id ? `#c${n.payload.conversation_id}` : '#', onclick: async (e) => {
          e.preventDefault();
          await api('POST', `/notifications/${n.id}/read`).catch(() => {});
          $('notifications').hidden = true;
          if (n.payload?.conversation_id) openConversation(n.payload.conversation_id);
          loadNotifications();
        } }, notificationText(n)), el('time', { class: 'muted' }, ` · ${formatTime(n.created_at)}`))
      : el('li', { class: 'muted' }, t('notifications.none')))));
  } catch { /* the bell stays as it was */ }
}

/** Arrow keys in the list; the shortcuts anywhere (`keys.js`). */
function keyboard() {
  const step = (by) => {
    const ids = state.conversations.map((c) => c.id);
    if (!ids.length) return;
    const at = ids.indexOf(state.selected);
    openConversation(ids[at < 0 ? 0 : Math.min(Math.max(at + by, 0), ids.length - 1)]);
  };
  $('conversations').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); step(1); }
    if (e.key === 'ArrowUp') { e.preventDefault(); step(-1); }
    if (e.key === 'Enter' && !state.conversations.some((c) => c.id === state.selected)) { e.preventDefault(); step(0); }
  });
  const compose = (tab, field) => {
    if ($('thread').hidden) return;
    document.getElementById(`composer-tab-${tab}`)?.click();
    (document.getElementById(field) ?? $('composer').querySelector('textarea, select, input'))?.focus();
  };
  setupShortcuts({
    next: () => step(1),
    previous: () => step(-1),
    reply: () => compose('reply', 'composer-text'),
    note: () => compose('note', 'note-text'),
    search: () => $('search').focus(),
    close: () => { if (!$('thread').hidden && !$('close-conversation').hidden) $('close-conversation').click(); },
  });
  $('shortcuts-button').addEventListener('click', showShortcuts);
}

/** The tag names in use, offered by the tag fields and filters (`<datalist>`s in the page). */
async function loadTagNames() {
  try {
    const names = await api('GET', '/tags');
    for (const kind of ['contact', 'conversation']) {
      $(`tag-names-${kind}`).replaceChildren(...names[kind].map((tag) => el('option', { value: tag })));
    }
  } catch { /* suggestions stay as they were */ }
}

/** The teams, for the list's filter and the thread's team queue choice. */
async function loadTeams() {
  state.teams = await api('GET', '/teams').catch(() => state.teams);
  const filter = $('filter-team');
  const chosen = filter.value;
  filter.replaceChildren(...[...filter.options].slice(0, 3), ...state.teams.map((tm) => el('option', { value: String(tm.id) }, tm.name)));
  filter.value = [...filter.options].some((o) => o.value === chosen) ? chosen : '';
}

function route() {
  const pages = { team: teamPage, templates: templatesPage, workflows: workflowsPage, fees: feesPage };
  const page = isAdmin && location.hash.slice(1) in pages ? location.hash.slice(1) : null;
  for (const name of Object.keys(pages)) $(name).hidden = page !== name;
  $('inbox').hidden = page !== null;
  if (page) {
    pages[page]($(page)).catch((error) => toast(errorText(error), 'error'));
    return;
  }
  // Back from the team page: the open conversation stays in the address; teams may have changed.
  if (state.selected) history.replaceState(null, '', `#c${state.selected}`);
  loadTeams().then(() => { if (state.conversation) renderHeader(state.conversation); });
}

async function start() {
  $('workspace-name').textContent = boot.workspace.name;
  $('me-name').textContent = boot.user.name;
  $('team-link').hidden = !isAdmin;
  $('templates-link').hidden = !isAdmin;
  $('workflows-link').hidden = !isAdmin;
  $('fees-link').hidden = !isAdmin;
  $('lang').value = boot.locale;
  $('lang').addEventListener('change', async () => {
    await api('PATCH', '/me', { locale: $('lang').value });
    location.reload();
  });
  api('GET', '/me/availability').then((a) => { $('available').checked = a.available; });
  $('available').addEventListener('change', () => api('PUT', '/me/availability', { available: $('available').checked }).catch((error) => toast(errorText(error), 'error')));
  for (const tab of document.querySelectorAll('[data-filter]')) tab.addEventListener('click', () => setFilter(tab.dataset.filter));
  $('filter-status').addEventListener('change', loadList);
  $('filter-channel').addEventListener('change', loadList);
  $('filter-tag').addEventListener('change', loadList);
  $('filter-contact-tag').addEventListener('change', loadList);
  loadTagNames();
  document.addEventListener('parley:tags-changed', loadTagNames);
  $('conversation-tag-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const tag = $('conversation-tag-input').value.trim();
    if (!tag || !state.selected) return;
    try {
      renderTags(await api('POST', `/conversations/${state.selected}/tags`, { tags: [tag] }));
      $('conversation-tag-input').value = '';
      loadList();
      loadTagNames();
    } catch (error) { toast(errorText(error), 'error'); }
  });
  $('back').addEventListener('click', () => { showPanel(false, false); $('inbox').dataset.view = 'list'; });
  setupPanelToggle();
  followEnd($('messages'));
  setupStatusActions({
    setStatus,
    current: () => state.selected,
    next: nextConversation,
    open: openConversation,
    reopen: async (id) => {
      try {
        await api('POST', `/conversations/${id}/status`, { status: 'open' });
        loadList();
        if (state.selected === id) refreshThread({ composer: false });
      } catch (error) { toast(errorText(error), 'error'); }
    },
  });
  $('assignee').addEventListener('change', (e) => assign(e.target.value));
  $('take-over').addEventListener('click', () => assign(String(boot.user.id)));
  $('team-select').addEventListener('change', (e) => setTeam(e.target.value));
  $('filter-team').addEventListener('change', loadList);
  window.addEventListener('hashchange', route);
  keyboard();
  setupSearch({
    open: openConversation,
    showList: (shown) => {
      for (const id of ['conversations', 'filters', 'tabs']) $(id).hidden = !shown;
      $('list-empty').hidden = !shown || state.conversations.length > 0;
    },
  });
  $('bell').addEventListener('click', () => { $('notifications').hidden = !$('notifications').hidden; });
  const [channels, users] = await Promise.all([api('GET', '/channels'), api('GET', '/users').catch(() => []), loadTeams()]);
  for (const c of channels) {
    state.channels.set(c.id, c);
    $('filter-channel').append(el('option', { value: String(c.id) }, c.name));
  }
  state.users = users;
  // The bots' tab shows once the workspace has a bot.
  $('tab-bots').hidden = !users.some((u) => u.bot);
  // After the users and numbers: notifications name them.
  loadNotifications();
  setInterval(loadNotifications, 30000);
  setFilter(state.filter);
  route();
  follow();
  const linked = /^#c(\d+)$/.exec(location.hash);
  if (linked) openConversation(Number(linked[1]));
}

start();
