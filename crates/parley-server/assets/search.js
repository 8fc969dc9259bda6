// The search box above the conversation list: contacts, messages and notes that match what is
// typed (each word matches the start of a word, accents and case ignored). While a search is
// shown it takes the list's place; a hit opens its conversation, Escape or an empty box goes
// back to the list.

import { api, COLON, el, errorText, formatTime, t, toast } from './api.js';

const $ = (id) => document.getElementById(id);

/** Wraps the words of `text` that start with one of the query's words in <mark>. */
function highlighted(text, words) {
  const out = document.createDocumentFragment();
  const fold = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').replace(/đ/g, 'd').replace(/Đ/g, 'D').toLowerCase();
  for (const part of text.split(/([\p{L}\p{N}]+)/u)) {
    const hit = part && words.some((w) => fold(part).startsWith(w));
    out.append(hit ? el('mark', {}, part) : part);
  }
  return out;
}

function section(id, title, items) {
  return items.length
    ? el('section', { class: 'search-section', id }, el('h3', {}, title), el('ul', { class: 'search-hits' }, items))
    : null;
}

/**
 * Runs the search box. `open(conversationId)` opens a conversation; `showList(shown)` hides the
 * conversation list while results are shown.
 */
export function setupSearch({ open, showList }) {
  const input = $('search');
  const box = $('search-results');
  let timer = null;
  let asked = 0;

  const close = () => {
    box.hidden = true;
    box.replaceChildren();
    showList(true);
  };

  const openContact = async (contact) => {
    const page = await api('GET', `/conversations?contact=${contact.id}&limit=1`).catch(() => ({ items: [] }));
    if (page.items.length) open(page.items[0].id);
    else toast(t('search.no_conversation', { name: contact.name ?? contact.phone ?? `#${contact.id}` }));
  };

  const render = (q, results) => {
    const words = q.normalize('NFD').replace(/\p{M}/gu, '').replace(/[đĐ]/g, 'd').toLowerCase()
      .split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    const contacts = results.contacts.items.map((c) => el('li', {},
      el('button', { type: 'button', class: 'hit', dataset: { contact: c.id }, onclick: () => openContact(c) },
        el('strong', {}, highlighted(c.name ?? c.phone ?? `#${c.id}`, words)),
        el('span', { class: 'muted' }, [c.phone, c.email].filter(Boolean).join(' · ')))));
    const messages = results.messages.items.map((m) => el('li', {},
      el('button', { type: 'button', class: 'hit', dataset: { conversation: m.conversation_id, message: m.id }, onclick: () => open(m.conversation_id) },
        el('span', { class: 'row' }, el('strong', {}, m.contact_name ?? `#${m.contact_id}`), el('time', { class: 'muted' }, formatTime(m.sent_at))),
        el('span', { class: 'preview' }, m.direction === 'out' ? `${t('list.you')}${COLON}` : '', highlighted(m.text ?? '', words)))));
    const notes = results.notes.map((n) => el('li', {},
      el('button', { type: 'button', class: 'hit note-hit', dataset: { note: n.id, on: n.on },
        onclick: () => (n.conversation_id ? open(n.conversation_id) : openContact({ id: n.contact_id, name: n.contact_name })) },
      el('span', { class: 'row' }, el('strong', {}, n.contact_name ?? `#${n.contact_id}`), el('time', { class: 'muted' }, formatTime(n.created_at))),
      el('span', { class: 'preview' }, `${t(n.on === 'contact' ? 'search.contact_note' : 'search.note')}${COLON}`, highlighted(n.body, words)))));
    const sections = [
      section('search-contacts', t('search.contacts'), contacts),
      section('search-messages', t('search.messages'), messages),
      section('search-notes', t('search.notes'), notes),
    ].filter(Boolean);
    box.replaceChildren(...(sections.length ? sections : [el('p', { class: 'muted empty', id: 'search-empty' }, t('search.none', { q }))]));
    box.hidden = false;
    showList(false);
  };

  const run = async () => {
    const q = input.value.trim();
    if ([...q.matchAll(/[\p{L}\p{N}]/gu)].length < 2) {
      close();
      return;
    }
    const mine = ++asked;
    try {
      const results = await api('GET', `/search?q=${encodeURIComponent(q)}&limit=20`);
      if (mine === asked) render(q, results);
    } catch (error) {
      if (mine === asked) toast(errorText(error), 'error');
    }
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      input.value = '';
      close();
    }
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(timer);
      run();
    }
  });
  // Opening a hit leaves the results in place until the box is cleared (Escape or ×).
  input.addEventListener('search', () => { if (!input.value) close(); });
}
