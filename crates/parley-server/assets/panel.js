// The contact panel beside the thread: fields, tags, opt-in state, the identity-change warning
// with its acknowledgement, notes, merge suggestions (merging is for owners and managers), the
// contact's other conversations, and for owners and managers the number's health.

import { api, el, errorText, formatDateTime, formatNumber, isAdmin, label, t, toast } from './api.js';
import { confirmAction } from './confirm.js';

function section(title, ...children) {
  return el('section', { class: 'panel-section' }, el('h3', {}, title), ...children);
}

function fieldsSection(contact) {
  const rows = [
    [t('contact.phone'), contact.phone],
    [t('contact.email'), contact.email],
    ...Object.entries(contact.fields ?? {}).map(([k, v]) => [k, String(v)]),
  ].filter(([, v]) => v);
  return section(t('panel.fields'), el('dl', { class: 'fields' }, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
}

function tagsSection(contact, refresh) {
  const input = el('input', { type: 'text', id: 'tag-input', list: 'tag-names-contact', autocomplete: 'off', placeholder: t('panel.add_tag'), 'aria-label': t('panel.add_tag') });
  const add = async (e) => {
    e.preventDefault();
    const tag = input.value.trim();
    if (!tag) return;
    try {
      await api('POST', `/contacts/${contact.id}/tags`, { tags: [tag] });
      refresh();
      document.dispatchEvent(new Event('parley:tags-changed'));
    } catch (error) { toast(errorText(error), 'error'); }
  };
  const chips = contact.tags.map((tag) => el('li', { class: 'chip' }, tag,
    el('button', { type: 'button', 'aria-label': t('panel.remove_tag', { tag }), onclick: async () => {
      try { await api('DELETE', `/contacts/${contact.id}/tags/${encodeURIComponent(tag)}`); refresh(); } catch (error) { toast(errorText(error), 'error'); }
    } }, '×')));
  return section(t('panel.tags'), el('ul', { class: 'chips', id: 'contact-tags' }, chips), el('form', { onsubmit: add }, input));
}

function identitySection(contact, flags, refresh) {
  if (!flags.identity_changed_at) return null;
  return el('section', { class: 'panel-section warning', id: 'identity-warning', role: 'alert' },
    el('p', {}, t('panel.identity_changed', { when: formatDateTime(flags.identity_changed_at) })),
    el('button', { type: 'button', id: 'identity-ack', onclick: async () => {
      try { await api('POST', `/contacts/${contact.id}/acknowledge-identity`); refresh(); } catch (error) { toast(errorText(error), 'error'); }
    } }, t('panel.acknowledge')));
}

function optInSection(optIns, flags) {
  const live = optIns.filter((o) => !o.revoked_at);
  return section(t('panel.opt_in'),
    flags.blocked_at ? el('p', { class: 'badge danger' }, t('panel.blocked')) : null,
    live.length
      ? el('ul', {}, live.map((o) => el('li', {}, t('panel.opted_in', { when: formatDateTime(o.opted_in_at), source: label('optin.source', o.source) }))))
      : el('p', { class: 'muted', id: 'no-opt-in' }, t('panel.no_opt_in')));
}

function notesSection(contact, notes, refresh) {
  const area = el('textarea', { id: 'note-input', rows: 2, placeholder: t('panel.add_note'), 'aria-label': t('panel.add_note') });
  return section(t('panel.notes'),
    el('ul', { class: 'notes' }, notes.map((n) => el('li', {}, el('p', {}, n.body), el('time', { class: 'muted' }, formatDateTime(n.created_at))))),
    area,
    el('button', { type: 'button', id: 'note-add', onclick: async () => {
      const body = area.value.trim();
      if (!body) return;
      try { await api('POST', `/contacts/${contact.id}/notes`, { body }); refresh(); } catch (error) { toast(errorText(error), 'error'); }
    } }, t('panel.save_note')));
}

/** The suggestions involving this contact (the server picks them: `?contact=`). */
function mergeSection(contact, suggestions, refresh) {
  if (!suggestions.length) return null;
  return section(t('panel.duplicates'), el('ul', { class: 'suggestions', id: 'merge-suggestions' }, suggestions.map((s) => {
    const other = s.contact_a.id === contact.id ? s.contact_b : s.contact_a;
    return el('li', {},
      el('p', {}, t('panel.maybe_same', { name: other.name ?? other.phone ?? `#${other.id}`, matched: s.matched })),
      isAdmin ? el('button', { type: 'button', class: 'merge', onclick: async () => {
        const kept = contact.name ?? contact.phone ?? `#${contact.id}`;
        const gone = other.name ?? other.phone ?? `#${other.id}`;
        const yes = await confirmAction({
          title: t('merge.title'),
          body: [t('merge.keeps', { kept }), t('merge.moves', { gone, kept })],
          confirm: t('merge.confirm', { gone, kept }),
          danger: true,
        });
        if (!yes) return;
        try {
          await api('POST', '/contacts/merge', { primary: String(contact.id), secondary: String(other.id) });
          toast(t('panel.merged'));
          refresh();
        } catch (error) { toast(errorText(error), 'error'); }
      } }, t('panel.merge')) : null,
      isAdmin ? el('button', { type: 'button', class: 'dismiss', onclick: async () => {
        try {
          await api('POST', `/contacts/merge-suggestions/${s.id}/dismiss`);
          refresh();
        } catch (error) { toast(errorText(error), 'error'); }
      } }, t('merge.not_duplicate')) : null);
  })));
}

function historySection(conversations, current, open) {
  const others = conversations.filter((c) => c.id !== current);
  if (!others.length) return null;
  return section(t('panel.history'), el('ul', { class: 'history' }, others.map((c) => el('li', {},
    el('a', { href: `#c${c.id}`, onclick: (e) => { e.preventDefault(); open(c.id); } },
      `${t(`status.${c.status}`)} · ${formatDateTime(c.last_message_at)}`)))));
}

/** Meta's tier name (`TIER_2K`, `TIER_UNLIMITED`) as customers a day; unknown names as Meta wrote them. */
export function tierText(tier) {
  const m = /^TIER_(\d+)(K?)$/i.exec(tier ?? '');
  if (m) return t('health.tier_limited', { n: formatNumber(Number(m[1]) * (m[2] ? 1000 : 1)) });
  if (/^TIER_UNLIMITED$/i.test(tier ?? '')) return t('health.unlimited');
  return tier || t('health.status.unknown');
}

/** One health field's value (as the API or a notification's change has it), in words where we have them. */
export function healthValue(field, value) {
  if (value === null || value === undefined || value === '') return t('health.status.unknown');
  if (field === 'status') return label('health.status', value);
  if (field === 'quality_rating') return label('quality', value);
  if (field === 'messaging_limit') return tierText(value);
  if (field === 'throughput_level') return label('health.throughput', value);
  return String(value);
}

function healthSection(health) {
  if (!health) return null;
  const limit = health.messaging_limit;
  const usage = limit.limit === null ? t('health.unlimited')
    : t('health.usage', { used: formatNumber(limit.used), limit: formatNumber(limit.limit) });
  return section(t('panel.health'), el('dl', { class: 'fields', id: 'channel-health' },
    el('dt', {}, t('health.quality')), el('dd', { class: `quality ${health.quality_rating ?? 'unknown'}` }, t(`quality.${health.quality_rating ?? 'unknown'}`)),
    el('dt', {}, t('health.status')), el('dd', { dataset: { status: health.status ?? '' } }, healthValue('status', health.status)),
    el('dt', {}, t('health.tier')), el('dd', { dataset: { tier: limit.tier } }, tierText(limit.tier)),
    el('dt', {}, t('health.used')), el('dd', {}, usage)));
}

/** Fills the panel for the contact of `conversation`; `open(id)` opens another conversation. */
/** How many times the panel was asked to draw: each call knows its own turn. */
let panelTurns = 0;

export async function renderPanel(box, conversation, open) {
  const id = conversation.contact_id;
  // The latest call owns the panel: an answer that arrives after another conversation was
  // opened draws nothing (its contact is not the one on screen).
  const turn = String(++panelTurns);
  box.dataset.turn = turn;
  const refresh = () => renderPanel(box, conversation, open);
  // At phone width the panel is an overlay over the thread: its own way back (app.js listens).
  const hide = el('button', { type: 'button', class: 'panel-close', id: 'panel-close', 'aria-label': t('panel.hide'),
    title: t('panel.hide'), onclick: () => box.dispatchEvent(new CustomEvent('panel-close', { bubbles: true })) }, '×');
  try {
    const [contact, flags, optIns, notes, suggestions, history, health] = await Promise.all([
      api('GET', `/contacts/${id}`),
      api('GET', `/contacts/${id}/flags`),
      api('GET', `/contacts/${id}/opt-ins`),
      api('GET', `/contacts/${id}/notes`),
      api('GET', `/contacts/merge-suggestions?contact=${id}&limit=50`).then((p) => p.items).catch(() => []),
      api('GET', `/conversations?contact=${id}&limit=20`).then((p) => p.items),
      isAdmin ? api('GET', `/channels/${conversation.channel_id}/health`).catch(() => null) : Promise.resolve(null),
    ]);
    if (box.dataset.turn !== turn) return null;
    const parts = [
      el('div', { class: 'panel-head' }, el('h2', { id: 'panel-name' }, contact.name ?? contact.phone ?? `#${contact.id}`), hide),
      identitySection(contact, flags, refresh),
      fieldsSection(contact),
      tagsSection(contact, refresh),
      optInSection(optIns, flags),
      mergeSection(contact, suggestions, refresh),
      notesSection(contact, notes, refresh),
      historySection(history, conversation.id, open),
      healthSection(health),
    ];
    box.replaceChildren(...parts.filter(Boolean));
    return contact;
  } catch (error) {
    if (box.dataset.turn === turn) box.replaceChildren(hide, el('p', { class: 'error' }, errorText(error)));
    return null;
  }
}
