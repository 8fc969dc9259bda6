// How conversations are handled, on the team page (owners and managers): whether closing asks for
// a closing note and which categories it offers, how new conversations are assigned, and when
// answered conversations close by themselves. Each form saves with its own button; a refusal
// shows under it in words, and nothing changes.

import { api, el, errorText, t, toast } from './api.js';

/** Runs `action`; a refusal is written into `error` in words (and answers false). */
export async function attempt(error, action) {
  error.hidden = true;
  try {
    await action();
    return true;
  } catch (failure) {
    error.textContent = errorText(failure);
    error.hidden = false;
    return false;
  }
}

/** A form that PUTs `body()` to `path`; `id` names it and its error line. */
function settingsForm(id, title, hint, path, fields, body) {
  const error = el('p', { class: 'error', id: `${id}-error`, role: 'alert', hidden: true });
  const form = el('form', { id, class: 'settings-form' }, el('h3', {}, title), el('p', { class: 'muted' }, hint), fields,
    el('button', { type: 'submit', class: 'primary', id: `${id}-save` }, t('settings.save')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (await attempt(error, () => api('PUT', path, body()))) toast(t('settings.saved'));
  });
  return form;
}

function select(id, label, options, value) {
  const box = el('select', { id, name: id }, options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
  return el('label', { class: 'field' }, label, box);
}

function closingNotesForm(current) {
  const mode = select('closing-mode', t('settings.closing_mode'), ['off', 'optional', 'category', 'both']
    .map((m) => [m, t(`settings.closing_${m}`)]), current.mode);
  const categories = el('textarea', { id: 'closing-categories', rows: 4 });
  categories.value = current.categories.join('\n');
  return settingsForm('closing-notes-form', t('settings.closing_title'), t('settings.closing_hint'), '/workspace/closing-notes',
    [mode, el('label', { class: 'field' }, t('settings.closing_categories'), categories)],
    () => ({
      mode: mode.querySelector('select').value,
      categories: categories.value.split('\n').map((c) => c.trim()).filter(Boolean),
    }));
}

function assignmentForm(current) {
  const mode = select('assignment-mode', t('settings.assignment_mode'), ['off', 'round_robin', 'least_open']
    .map((m) => [m, t(`settings.assignment_${m}`)]), current.mode);
  const cap = el('input', { type: 'number', id: 'assignment-max-open', min: 1, max: 10000, placeholder: t('settings.no_cap') });
  cap.value = current.max_open ?? '';
  return settingsForm('assignment-form', t('settings.assignment_title'), t('settings.assignment_hint'), '/workspace/assignment',
    [mode, el('label', { class: 'field' }, t('settings.assignment_max_open'), cap)],
    () => ({ mode: mode.querySelector('select').value, max_open: cap.value === '' ? null : Number(cap.value) }));
}

function autoCloseForm(current) {
  const on = el('input', { type: 'checkbox', id: 'auto-close-on', checked: current.after_hours !== null });
  const hours = el('input', { type: 'number', id: 'auto-close-hours', min: 1, max: 720, value: current.after_hours ?? 24 });
  hours.disabled = !on.checked;
  on.addEventListener('change', () => { hours.disabled = !on.checked; });
  return settingsForm('auto-close-form', t('settings.auto_close_title'), t('settings.auto_close_hint'), '/workspace/auto-close',
    [el('label', { class: 'check' }, on, ` ${t('settings.auto_close_on')}`), el('label', { class: 'field' }, t('settings.auto_close_hours'), hours)],
    () => ({ after_hours: on.checked ? Number(hours.value) : null }));
}

/** The section, read from the API. */
export async function settingsSection() {
  const [closing, assignment, autoClose] = await Promise.all([
    api('GET', '/workspace/closing-notes'), api('GET', '/workspace/assignment'), api('GET', '/workspace/auto-close')]);
  return [el('h2', { id: 'settings-title' }, t('settings.title')),
    el('div', { class: 'settings', id: 'settings' }, closingNotesForm(closing), assignmentForm(assignment), autoCloseForm(autoClose))];
}
