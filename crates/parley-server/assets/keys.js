// Keyboard shortcuts that work anywhere in the inbox, and the sheet that lists them (`?`). A key
// does nothing while the focus is in a field (typing "j" in a reply is a "j"), nor while a dialog
// is open; Escape leaves a field or closes the sheet. Phones have no keyboard: the sheet's button
// is hidden there, and every shortcut is also a button on screen.

import { el, t } from './api.js';

/** The shortcuts, in the order the sheet lists them: key, and the i18n key of what it does. */
export const SHORTCUTS = [
  ['j', 'keys.next'],
  ['k', 'keys.previous'],
  ['r', 'keys.reply'],
  ['n', 'keys.note'],
  ['/', 'keys.search'],
  ['e', 'keys.close'],
  ['?', 'keys.help'],
  ['Esc', 'keys.escape'],
];

function typingIn(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

/** Opens the list of shortcuts as a modal dialog. */
export function showShortcuts() {
  if (document.getElementById('shortcuts-help')) return;
  const close = el('button', { type: 'button', id: 'shortcuts-close', onclick: () => dialog.close() }, t('common.close'));
  const dialog = el('dialog', { class: 'confirm shortcuts', id: 'shortcuts-help', 'aria-labelledby': 'shortcuts-title' },
    el('h2', { id: 'shortcuts-title' }, t('keys.title')),
    el('dl', {}, SHORTCUTS.map(([key, what]) => [el('dt', {}, el('kbd', {}, key)), el('dd', {}, t(what))])),
    el('menu', {}, close));
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

/** Listens for the shortcuts; `actions` holds what next/previous/reply/note/search/close do. */
export function setupShortcuts(actions) {
  const byKey = { j: actions.next, k: actions.previous, r: actions.reply, n: actions.note, '/': actions.search, e: actions.close, '?': showShortcuts };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    if (e.key === 'Escape' && typingIn(e.target) && !document.querySelector('dialog[open]')) {
      e.target.blur();
      return;
    }
    if (typingIn(e.target) || document.querySelector('dialog[open]')) return;
    const action = byKey[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  });
}
