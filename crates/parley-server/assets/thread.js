// The thread: every message type rendered (text with WhatsApp formatting, images, an audio
// player, video, documents, stickers, locations, contact cards, interactive replies, reactions,
// orders, system notices, edits and deletions), with delivery ticks whose hover tells the reason
// of a failure. As WhatsApp shows them: a reply quotes its message, a reaction sits on the message
// it reacts to, an edit changes its message (marked "edited", the earlier text on demand), and a
// sent template shows the text the customer received.

import { boot, COLON, el, formatNumber, formatted, formatTime, t } from './api.js';

const TICKS = {
  queued: '🕓',
  sending: '🕓',
  unknown: '?',
  sent: '✓',
  delivered: '✓✓',
  read: '✓✓',
  played: '✓✓',
  failed: '⚠',
};

/**
 * WhatsApp's reason for a failure in the user's language, by its code (Meta's own English
 * title for codes we have no words for), with the code: agents quote it to support.
 */
function errorReason(error) {
  const key = `meta_error.${error.code}`;
  return `${key in boot.strings ? t(key) : error.title} (${error.code})`;
}

/** The tick of an outbound message, with the failure's reason (Meta's code and title) on hover. */
function tick(message) {
  let title = t(`tick.${message.status}`);
  if (message.status === 'failed' && message.error) {
    title = `${t('tick.failed')}${COLON}${errorReason(message.error)}`;
  }
  return el('span', { class: `tick ${message.status}`, title, dataset: { status: message.status }, 'aria-label': title },
    TICKS[message.status] ?? '');
}

function mediaBody(message, kind) {
  const content = message.content;
  const available = message.media?.state === 'available' ? message.media.url : null;
  const caption = content.caption ? el('p', { class: 'caption' }, formatted(content.caption)) : null;
  if (!available) {
    const state = message.media?.state === 'failed' ? t('media.failed') : t('media.pending');
    return [el('p', { class: 'media-missing' }, `${t(`type.${kind}`)} · ${state}`), caption];
  }
  switch (kind) {
    case 'image':
    case 'sticker':
      return [el('img', { src: available, alt: content.caption ?? t(`type.${kind}`), class: kind, loading: 'lazy' }), caption];
    case 'audio':
      return [el('audio', { src: available, controls: true, preload: 'none' }), caption];
    case 'video':
      return [el('video', { src: available, controls: true, preload: 'none' }), caption];
    default:
      return [el('a', { href: available, download: content.filename ?? 'document', class: 'document' },
        content.filename ?? t('type.document')), caption];
  }
}

function contactCard(card) {
  const name = card.name?.formatted_name ?? card.name?.first_name ?? t('type.contacts');
  const phones = (card.phones ?? []).map((p) => p.phone ?? p.wa_id).filter(Boolean);
  return el('li', {}, el('strong', {}, name), phones.length ? ` · ${phones.join(', ')}` : '');
}

/**
 * A template's body as the customer received it: its text (`bodyText`, as Meta holds it) with
 * each `{{1}}` or `{{name}}` replaced by the value sent for it.
 */
export function fillTemplate(bodyText, parameters) {
  return bodyText.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, key) => {
    const named = parameters.find((p) => p.parameter_name === key);
    const value = named ?? (/^\d+$/.test(key) ? parameters[Number(key) - 1] : null);
    return value?.text ?? whole;
  });
}

/**
 * A WhatsApp notice in the reader's language, by its kind (with the new number where it says
 * one); WhatsApp's own English text only for kinds we have no words for.
 */
function systemText(c) {
  const key = `system.${c.kind}`;
  if (c.new_wa_id && `${key}_to` in boot.strings) return t(`${key}_to`, { number: `+${c.new_wa_id}` });
  if (key in boot.strings) return t(key);
  return c.body ?? t('system.other');
}

/** The body of a message, by its type (`people.templateText` gives a sent template's text). */
export function messageBody(message, people = NO_PEOPLE) {
  const c = message.content;
  switch (c.type) {
    case 'text':
      return [el('p', { class: 'text' }, formatted(c.body))];
    case 'image': case 'audio': case 'video': case 'document': case 'sticker':
      return mediaBody(message, c.type);
    case 'location': {
      const label = c.name ?? c.address ?? `${c.latitude}, ${c.longitude}`;
      const map = `https://www.openstreetmap.org/?mlat=${c.latitude}&mlon=${c.longitude}#map=16/${c.latitude}/${c.longitude}`;
      return [el('p', { class: 'location' }, '📍 ', el('a', { href: map, target: '_blank', rel: 'noopener' }, label)),
        c.address && c.name ? el('p', { class: 'muted' }, c.address) : null];
    }
    case 'contacts':
      return [el('ul', { class: 'contact-cards' }, c.contacts.map(contactCard))];
    case 'interactive':
      return [el('p', { class: 'interactive' }, `↪ ${c.title ?? c.kind}`, c.description ? el('span', { class: 'muted' }, ` · ${c.description}`) : null),
        c.response ? el('pre', { class: 'flow' }, JSON.stringify(c.response, null, 1)) : null];
    case 'button':
      return [el('p', { class: 'interactive' }, `↪ ${c.text}`)];
    case 'reaction':
      return [el('p', { class: 'reaction' }, c.emoji ? t('message.reacted', { emoji: c.emoji }) : t('message.reaction_removed'))];
    case 'order':
      return [el('p', {}, `${t('type.order')} · ${formatNumber(c.items.length)}`), c.text ? el('p', {}, c.text) : null];
    case 'system':
      return [el('p', { class: 'system' }, systemText(c))];
    case 'edit':
      return [el('p', { class: 'muted' }, t('message.edited')), ...messageBody({ ...message, content: c.message }, people)];
    case 'revoke':
      return [el('p', { class: 'muted' }, t('message.deleted'))];
    case 'template': {
      const body = (c.components ?? []).find((x) => x.type === 'body');
      const params = (body?.parameters ?? []).map((p) => p.text).filter(Boolean);
      const text = people.templateText?.(c, body?.parameters ?? []);
      const name = el('p', { class: 'template-name muted' }, `${t('type.template')}${COLON}${c.name}`);
      if (text) return [name, el('p', { class: 'text template-text' }, formatted(text))];
      return [el('p', { class: 'template' }, `${t('type.template')}${COLON}${c.name}`, params.length ? el('span', { class: 'muted' }, ` · ${params.join(' · ')}`) : null)];
    }
    case 'interactive_message':
      return [el('p', { class: 'interactive' }, c.interactive?.body?.text ?? t('type.interactive'))];
    case 'request_welcome':
      return [el('p', { class: 'system' }, t('message.welcome'))];
    default:
      return [el('p', { class: 'muted' }, t('message.unsupported', { type: c.provider_type ?? c.kind ?? message.type }))];
  }
}

/**
 * Under a reply that failed (or whose outcome is unknown after a crash): why, in words — phones
 * and keyboards cannot hover a tick — and a Retry button (`retry(id)` sends it again).
 */
function failure(message, retry) {
  if (message.direction !== 'out' || !['failed', 'unknown'].includes(message.status)) return null;
  const why = message.status === 'unknown'
    ? t('tick.unknown')
    : message.error ? errorReason(message.error) : t('tick.failed');
  return el('div', { class: 'failure', role: 'status' },
    el('p', { class: 'failure-reason' }, message.status === 'failed' ? t('message.failed_because', { reason: why }) : why),
    retry ? el('button', { type: 'button', class: 'retry', dataset: { retry: message.id }, onclick: (e) => retry(message.id, e.currentTarget) },
      t('message.retry')) : null);
}

/** A short line of what a message says, for a quote. */
function excerpt(message) {
  const text = message.text ?? message.content.caption ?? message.content.body;
  return text ? text.slice(0, 90) : t(`type.${message.content.type}`);
}

/**
 * The message a reply quotes, as WhatsApp shows it above the reply: who wrote it and how it
 * began; a click goes to it. One no longer in the thread is only named.
 */
function quote(message, related, people) {
  const target = message.context?.reply_to;
  if (!target) return null;
  const quoted = related.byProvider.get(target);
  if (!quoted) return el('p', { class: 'reply-to muted' }, `↩ ${t('message.reply')}`);
  const who = quoted.direction === 'in' ? (people.contact?.() ?? t('message.customer')) : t('message.team');
  return el('button', { type: 'button', class: 'quote', dataset: { quoted: quoted.id }, onclick: () => {
    const node = document.getElementById(`message-${quoted.id}`);
    node?.scrollIntoView({ block: 'center', behavior: 'smooth' });
    node?.classList.add('flash');
    setTimeout(() => node?.classList.remove('flash'), 1500);
  } }, el('strong', {}, who), el('span', {}, excerpt(quoted)));
}

/** The reactions on a message (the customer's and the team's latest), under it. */
function reactions(message, related) {
  const on = [...(related.reactions.get(message.id) ?? new Map())].filter(([, emoji]) => emoji);
  if (!on.length) return null;
  return el('ul', { class: 'reactions' }, on.map(([direction, emoji]) => el('li', {
    title: direction === 'in' ? t('message.reaction_customer') : t('message.reaction_team'),
    dataset: { direction },
  }, emoji)));
}

/** "Edited", and what the message said before on demand. */
function edited(message, people) {
  if (!message.edited_at || message.revoked_at) return null;
  if (!message.previous) return el('p', { class: 'edited muted' }, t('message.edited_mark'));
  return el('details', { class: 'edited' }, el('summary', { class: 'muted' }, t('message.edited_mark')),
    el('div', { class: 'earlier' }, el('p', { class: 'muted' }, t('message.earlier')), messageBody({ ...message, content: message.previous }, people)));
}

/**
 * One message of the thread; `retry`, when given, sends a failed one again. A reply an agent
 * wrote carries the agent's name; a reply quotes its message; reactions and edits show on the
 * message they change (`related`, from `relations`).
 */
export function messageItem(message, retry = null, people = NO_PEOPLE, related = relations([message])) {
  const out = message.direction === 'out';
  const author = out && message.author_id ? people.user(message.author_id) : null;
  return el('li', {
    class: `message ${out ? 'out' : 'in'} type-${message.content.type}`,
    id: `message-${message.id}`,
    dataset: { id: message.id, status: message.status, type: message.content.type },
  },
  quote(message, related, people),
  message.revoked_at ? el('p', { class: 'muted' }, t('message.deleted')) : messageBody(message, people),
  edited(message, people),
  reactions(message, related),
  el('footer', {}, author ? el('span', { class: 'author' }, author) : null,
    el('time', { datetime: message.sent_at }, formatTime(message.sent_at)), out ? tick(message) : null),
  failure(message, retry));
}

/**
 * What messages say about each other: messages by provider id (for quotes), the latest reaction
 * of each side on each message, and the messages shown on another rather than as bubbles of
 * their own — reactions and edits whose message is in the thread.
 */
export function relations(messages) {
  const byProvider = new Map(messages.filter((m) => m.provider_message_id).map((m) => [m.provider_message_id, m]));
  const reactionsOn = new Map();
  const folded = new Set();
  const inTime = [...messages].sort((a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0));
  for (const m of inTime) {
    const c = m.content;
    const target = byProvider.get(c.type === 'reaction' ? c.message_id : c.type === 'edit' ? c.original_message_id : undefined);
    if (!target) continue;
    folded.add(m.id);
    if (c.type === 'reaction') {
      const sides = reactionsOn.get(target.id) ?? new Map();
      sides.set(m.direction, c.emoji || null);
      reactionsOn.set(target.id, sides);
    }
  }
  return { byProvider, reactions: reactionsOn, folded };
}

/** An internal note, inline in the thread and styled apart from messages, with its author. */
export function noteItem(note, people = NO_PEOPLE) {
  const author = note.author_id ? people.user(note.author_id) : null;
  return el('li', { class: 'note', dataset: { note: note.id } },
    el('p', { class: 'note-label' }, t('note.internal')),
    el('p', { class: 'text' }, note.body),
    el('footer', {}, author ? el('span', { class: 'author' }, author) : null,
      el('time', { datetime: note.created_at }, formatTime(note.created_at))));
}

/** Names for ids (users, teams) when nothing better is known. */
const NO_PEOPLE = { user: (id) => `#${id}`, team: (id) => `#${id}` };

/** A closing note as one line: its category, then its summary. */
function closingNote(note) {
  const parts = [note?.category, note?.summary].filter(Boolean);
  return parts.length ? el('q', { class: 'closing-note' }, parts.join(' — ')) : null;
}

/** What a status change says, by whom (`null`: Parley did it, on a timer). */
function statusLine(p, by) {
  switch (p.status) {
    case 'closed':
      if (p.reason === 'auto_closed') return t('activity.auto_closed');
      return by ? t('activity.closed', { by }) : t('activity.closed_by_parley');
    case 'snoozed':
      return t('activity.snoozed', { by: by ?? t('activity.parley'), until: p.until ? formatTime(p.until) : '' });
    case 'pending':
      return t('activity.pending', { by: by ?? t('activity.parley') });
    default:
      if (p.reason === 'snooze_ended') return t('activity.snooze_ended');
      return t('activity.reopened', { by: by ?? t('activity.parley') });
  }
}

/**
 * A line in the thread for something that happened to the conversation: who did what, and when
 * (`people` names users and teams by id).
 */
export function activityItem(event, people = NO_PEOPLE) {
  const p = event.payload ?? {};
  const by = p.by ? people.user(p.by) : null;
  let text;
  let extra = null;
  switch (event.kind) {
    case 'conversation.opened':
      text = t('activity.opened');
      break;
    case 'conversation.reopened':
      text = t('activity.reopened_by_customer');
      break;
    case 'conversation.assigned':
      text = by ? t('activity.assigned', { by, to: people.user(p.to) }) : t('activity.assigned_auto', { to: people.user(p.to) });
      break;
    case 'conversation.unassigned':
      text = t('activity.unassigned', { by: by ?? t('activity.parley') });
      break;
    case 'conversation.team_changed':
      text = p.to ? t('activity.team', { by: by ?? t('activity.parley'), team: people.team(p.to) })
        : t('activity.team_removed', { by: by ?? t('activity.parley') });
      break;
    case 'conversation.tags_changed': {
      const changes = [...(p.added ?? []).map((tag) => `+${tag}`), ...(p.removed ?? []).map((tag) => `−${tag}`)];
      text = t('activity.tags', { by: by ?? t('activity.parley'), tags: changes.join(' ') });
      break;
    }
    case 'conversation.status_changed':
      text = statusLine(p, by);
      extra = p.status === 'closed' ? closingNote(p.closing_note) : null;
      break;
    default:
      text = event.kind;
  }
  return el('li', { class: 'activity', dataset: { kind: event.kind, event: event.id } },
    el('p', {}, el('span', { class: 'activity-text' }, text), extra ? ' ' : null, extra, ' · ',
      el('time', { datetime: event.created_at }, formatTime(event.created_at))));
}

/** Where each list was last scrolled to by the page itself (not by the reader). */
const ownScroll = new WeakMap();

function toEnd(list) {
  list.scrollTop = list.scrollHeight;
  ownScroll.set(list, list.scrollTop);
}

/** Whether the thread shows its end (within a few pixels). */
function atEnd(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

/**
 * Keeps `list` at its newest message while the reader is there: when the list itself gets
 * smaller or larger (the composer below it is drawn, grows, or the window turns) and when an
 * image or video in it loads and grows. Scrolling up lets go; scrolling back down holds again.
 */
export function followEnd(list) {
  list.dataset.atEnd = 'yes';
  // Only the reader's scrolling decides: a scroll event that follows our own move (or a resize,
  // which fires its scroll event before the resize is observed) leaves the decision as it was.
  list.addEventListener('scroll', () => {
    if (Math.abs(list.scrollTop - ownScroll.get(list)) < 2) return;
    list.dataset.atEnd = atEnd(list) ? 'yes' : 'no';
  });
  const hold = () => { if (list.dataset.atEnd === 'yes') toEnd(list); };
  new ResizeObserver(hold).observe(list);
  // `load` does not bubble: caught on the way down.
  list.addEventListener('load', hold, true);
  list.addEventListener('loadedmetadata', hold, true);
}

/**
 * Renders the thread (messages, notes and what happened to the conversation, by time) into
 * `list`: a conversation just opened shows its newest message, and a thread read at its end stays
 * there. `retry(id)` sends a failed reply again; `people` names users and teams by id.
 */
export function renderThread(list, messages, notes = [], retry = null, { activity = [], people = NO_PEOPLE } = {}) {
  const related = relations(messages);
  // Messages of the same second keep the order they were stored in.
  messages = [...messages].sort((a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : a.id - b.id));
  const items = [
    ...messages.filter((m) => !related.folded.has(m.id)).map((m) => ({ at: m.sent_at, node: () => messageItem(m, retry, people, related) })),
    ...notes.map((n) => ({ at: n.created_at, node: () => noteItem(n, people) })),
    ...activity.map((e) => ({ at: e.created_at, node: () => activityItem(e, people) })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const end = atEnd(list) || list.dataset.atEnd === 'yes';
  list.replaceChildren(...items.map((i) => i.node()));
  if (end || list.dataset.fresh !== 'no') {
    toEnd(list);
    list.dataset.atEnd = 'yes';
  }
  list.dataset.fresh = 'no';
}
