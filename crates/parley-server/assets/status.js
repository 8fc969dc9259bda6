// A conversation's status actions in the thread's header: Close (asking for the closing note when
// the workspace wants one), and a menu beside it — close and open the next conversation, snooze
// for an hour, until tomorrow or next Monday at 9:00 or until a chosen time, mark pending, open
// again — showing only what applies to the conversation's status.

import { api, el, errorText, t, toast } from './api.js';
import { toastWithUndo } from './confirm.js';

const $ = (id) => document.getElementById(id);

/** Local time `days` from today at 9:00. */
function morning(days) {
  const at = new Date();
  at.setDate(at.getDate() + days);
  at.setHours(9, 0, 0, 0);
  return at;
}

/** Days from today to the next Monday (7 on a Monday). */
function daysToMonday() {
  const day = new Date().getDay();
  return ((8 - day) % 7) || 7;
}

/** The value of a `datetime-local` input for `date` (local time, to the minute). */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * Wires the controls. `setStatus(status, extra)` changes the open conversation's status and
 * answers an error or null; `current()` is the open conversation's id; `next()` the one to open
 * after "close and open the next" (or null); `open(id)` opens one; `reopen(id)` opens a closed
 * one again (the Undo of a close).
 */
export function setupStatusActions({ setStatus, current, next, open, reopen }) {
  let thenOpen = null;
  let closing = null;
  const done = () => {
    const closed = closing;
    toastWithUndo(t('thread.closed_toast'), () => reopen(closed));
    if (thenOpen) open(thenOpen);
    thenOpen = null;
  };
  const change = async (status, extra = {}) => {
    const error = await setStatus(status, extra);
    if (error) toast(errorText(error), 'error');
    return error;
  };
  const close = async (andThen = null) => {
    thenOpen = andThen;
    closing = current();
    const settings = await api('GET', '/workspace/closing-notes').catch(() => ({ mode: 'off', categories: [] }));
    if (settings.mode === 'off') {
      if (!(await change('closed'))) done();
      return;
    }
    $('close-category').replaceChildren(el('option', { value: '' }, t('close.no_category')),
      ...settings.categories.map((c) => el('option', { value: c }, c)));
    $('close-summary').value = '';
    $('close-error').hidden = true;
    $('close-dialog').showModal();
  };
  $('close-conversation').addEventListener('click', () => close());
  $('reopen-conversation').addEventListener('click', () => change('open'));
  $('close-cancel').addEventListener('click', () => { thenOpen = null; $('close-dialog').close(); });
  $('close-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const note = {};
    if ($('close-category').value) note.category = $('close-category').value;
    if ($('close-summary').value.trim()) note.summary = $('close-summary').value.trim();
    const error = await setStatus('closed', note);
    if (error) {
      $('close-error').textContent = errorText(error);
      $('close-error').hidden = false;
      return;
    }
    $('close-dialog').close();
    done();
  });
  const snooze = (until) => change('snoozed', { until: until.toISOString() });
  $('status-action').addEventListener('change', (e) => {
    const action = e.target.value;
    e.target.value = '';
    switch (action) {
      case 'close_next': return close(next());
      case 'snooze_hour': return snooze(new Date(Date.now() + 3600 * 1000));
      case 'snooze_tomorrow': return snooze(morning(1));
      case 'snooze_monday': return snooze(morning(daysToMonday()));
      case 'snooze_until':
        $('snooze-when').min = localInput(new Date());
        $('snooze-when').value = localInput(morning(1));
        $('snooze-error').hidden = true;
        return $('snooze-dialog').showModal();
      case 'pending': return change('pending');
      case 'open': return change('open');
      default: return null;
    }
  });
  $('snooze-cancel').addEventListener('click', () => $('snooze-dialog').close());
  $('snooze-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const until = new Date($('snooze-when').value);
    if (Number.isNaN(until.getTime()) || until <= new Date()) {
      $('snooze-error').hidden = false;
      return;
    }
    if (!(await snooze(until))) $('snooze-dialog').close();
  });
}

/** Shows the Close/Reopen buttons and the menu's actions that apply to `status`. */
export function showStatusActions(status) {
  $('close-conversation').hidden = status === 'closed';
  $('reopen-conversation').hidden = status !== 'closed';
  const applies = {
    close_next: status !== 'closed',
    snooze_hour: true, snooze_tomorrow: true, snooze_monday: true, snooze_until: true,
    pending: status !== 'pending',
    open: status === 'pending' || status === 'snoozed',
  };
  for (const option of $('status-action').options) {
    if (!option.value) continue;
    option.hidden = !applies[option.value];
    option.disabled = !applies[option.value];
  }
}
