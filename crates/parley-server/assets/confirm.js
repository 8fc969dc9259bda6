// A question before an action that is hard to take back (merging contacts, deleting, deactivating
// a user): a modal dialog saying what will happen, with the action's own words on its button.
// Cancel, Escape or a click outside answers no. And a toast with an Undo button for quick actions
// that are easy to reverse (closing a conversation).

import { el, t } from './api.js';

/** Asks; answers true when the user confirms. `body` is a paragraph or a list of them. */
export function confirmAction({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const ok = el('button', { type: 'submit', id: 'confirm-ok', value: 'yes', class: danger ? 'danger' : 'primary' }, confirm);
    const dialog = el('dialog', { class: 'confirm', id: 'confirm-dialog', 'aria-labelledby': 'confirm-title' },
      el('form', { method: 'dialog' },
        el('h2', { id: 'confirm-title' }, title),
        ...[body].flat().map((p) => el('p', {}, p)),
        el('menu', {},
          el('button', { type: 'button', id: 'confirm-cancel', onclick: () => dialog.close('no') }, t('common.cancel')),
          ok)));
    dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close('no'); });
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}

/** A short note of what was done, with an Undo button for a few seconds. */
export function toastWithUndo(message, undo) {
  const node = el('div', { class: 'toast info', role: 'status', id: 'undo-toast' }, message, ' ',
    el('button', { type: 'button', id: 'undo', onclick: () => { node.remove(); undo(); } }, t('common.undo')));
  document.body.append(node);
  setTimeout(() => node.remove(), 8000);
}
