// Suggestions while typing in a textarea: canned responses after `/shortcut` in a reply, and
// teammates after `@` in a note. One list under the text: ArrowDown/ArrowUp move through it, Enter
// or Tab puts the highlighted one in, Escape closes it, a click works too. The textarea keeps the
// focus throughout (the list is its `aria-activedescendant`), so typing goes on where it was.

import { api, el } from './api.js';

/** The `/shortcut` being typed just before the cursor, if any. */
export function shortcutAt(text, cursor) {
  const m = /(^|\s)\/([a-z0-9_-]*)$/.exec(text.slice(0, cursor));
  return m ? { start: cursor - m[2].length - 1, prefix: m[2] } : null;
}

/** The `@name` being typed just before the cursor, if any (a name may hold one space). */
export function mentionAt(text, cursor) {
  const m = /(^|\s)@([\p{L}\p{N}_-]*(?: [\p{L}\p{N}_-]*)?)$/u.exec(text.slice(0, cursor));
  return m ? { start: cursor - m[2].length - 1, prefix: m[2] } : null;
}

/**
 * A suggestion list for `area`. `find(text, cursor)` says what is being typed (`{start, prefix}`)
 * or null; `load(prefix)` answers the items; `item(x)` gives one's `dataset` and `label`; `text(x)`
 * is what replaces the typed trigger. Answers the list element to put under the textarea.
 */
function suggestions(area, { id, itemClass, find, load, item, text }) {
  const list = el('ul', { class: 'canned', id, role: 'listbox', hidden: true });
  let shown = [];
  let active = 0;
  const highlight = (i) => {
    active = (i + shown.length) % shown.length;
    [...list.children].forEach((li, n) => {
      const on = n === active;
      li.firstChild.classList.toggle('active', on);
      li.firstChild.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    area.setAttribute('aria-activedescendant', `${id}-${active}`);
    list.children[active]?.scrollIntoView?.({ block: 'nearest' });
  };
  const close = () => { list.hidden = true; area.removeAttribute('aria-activedescendant'); };
  const insert = (x) => {
    const at = find(area.value, area.selectionStart);
    if (!at) return;
    const put = text(x);
    area.value = `${area.value.slice(0, at.start)}${put}${area.value.slice(area.selectionStart)}`;
    const cursor = at.start + put.length;
    area.setSelectionRange(cursor, cursor);
    close();
    area.focus();
    area.dispatchEvent(new Event('change'));
  };
  area.setAttribute('aria-controls', id);
  area.setAttribute('aria-autocomplete', 'list');
  area.addEventListener('input', async () => {
    const at = find(area.value, area.selectionStart);
    if (!at) { close(); return; }
    try { shown = (await load(at.prefix)).slice(0, 8); } catch { shown = []; }
    list.replaceChildren(...shown.map((x, n) => el('li', {},
      el('button', { type: 'button', class: itemClass, id: `${id}-${n}`, role: 'option', tabindex: -1, onclick: () => insert(x), dataset: item(x).dataset },
        item(x).label))));
    list.hidden = shown.length === 0;
    if (shown.length) highlight(0); else close();
  });
  area.addEventListener('keydown', (e) => {
    if (list.hidden || !shown.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      highlight(active + (e.key === 'ArrowDown' ? 1 : -1));
    } else if ((e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.shiftKey) || e.key === 'Tab') {
      e.preventDefault();
      e.stopPropagation();
      insert(shown[active]);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  });
  area.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== area) close(); }, 200));
  return list;
}

/** The team's canned responses, offered while a `/shortcut` is typed. */
export function cannedSuggestions(area) {
  return suggestions(area, {
    id: 'canned-list',
    itemClass: 'canned-item',
    find: shortcutAt,
    load: (prefix) => api('GET', `/canned-responses?q=${encodeURIComponent(prefix)}`),
    item: (reply) => ({ dataset: { shortcut: reply.shortcut }, label: [
      el('strong', {}, `/${reply.shortcut}`), ' ', el('span', { class: 'muted' }, reply.body.slice(0, 80))] }),
    text: (reply) => reply.body,
  });
}

let teammates = null;

/** Active teammates, for `@` in notes (read once per page). */
function loadTeammates() {
  teammates ??= api('GET', '/users').then((users) => users.filter((u) => !u.deactivated_at)).catch(() => { teammates = null; return []; });
  return teammates;
}

/** Teammates whose name (or a word of it) starts with what follows `@`, accents ignored. */
export function matchTeammates(users, prefix) {
  const fold = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const p = fold(prefix);
  return users.filter((u) => { const n = fold(u.name); return n.startsWith(p) || n.split(/\s+/).some((w) => w.startsWith(p)); });
}

/** Teammates, offered while an `@name` is typed in a note. */
export function mentionSuggestions(area) {
  return suggestions(area, {
    id: 'mention-list',
    itemClass: 'mention-item',
    find: mentionAt,
    load: async (prefix) => matchTeammates(await loadTeammates(), prefix),
    item: (user) => ({ dataset: { user: String(user.id) }, label: el('strong', {}, `@${user.name}`) }),
    text: (user) => `@${user.name} `,
  });
}
