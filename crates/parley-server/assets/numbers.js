// The workspace's WhatsApp numbers, on the team page (owners and managers): each number's name,
// visibility (shared with everyone, or private to its members) and members; a new credential
// replaces the old one (credentials are never shown back); its business profile (`profile.js`);
// and a form to connect a number of Meta's Cloud API. A refusal shows in words under its form and changes nothing.

import { api, el, t, toast } from './api.js';
import { profileSection } from './profile.js';
import { attempt } from './settings.js';

function field(label, input) {
  return el('label', { class: 'field' }, label, input);
}

function numberCard(channel, members, users, redraw) {
  const id = channel.id;
  const error = el('p', { class: 'error', id: `number-${id}-error`, role: 'alert', hidden: true });
  const name = el('input', { id: `number-${id}-name`, value: channel.name, maxlength: 100 });
  const visibility = el('select', { id: `number-${id}-visibility` },
    ['shared', 'private'].map((v) => el('option', { value: v, selected: channel.visibility === v }, t(`numbers.${v}`))));
  const token = el('input', { type: 'password', id: `number-${id}-token`, autocomplete: 'off', placeholder: t('numbers.keep_token') });
  const boxes = users.filter((u) => u.active).map((u) => el('label', { class: 'member' },
    el('input', { type: 'checkbox', value: String(u.id), checked: members.includes(u.id) }), ` ${u.name}`));
  const memberList = el('fieldset', { class: 'members', id: `number-${id}-members`, hidden: channel.visibility !== 'private' },
    el('legend', {}, t('numbers.members')), boxes);
  visibility.addEventListener('change', () => { memberList.hidden = visibility.value !== 'private'; });
  const save = el('button', { type: 'submit', class: 'primary', id: `number-${id}-save` }, t('settings.save'));
  const form = el('form', { class: 'settings-form number', dataset: { channel: id } },
    el('h3', {}, channel.name, ' ', el('span', { class: 'muted' }, `+${channel.display_phone_number}`)),
    field(t('numbers.name'), name), field(t('numbers.visibility'), visibility), memberList,
    field(t('numbers.new_token'), token), save, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const patch = { name: name.value.trim(), visibility: visibility.value };
    if (token.value) patch.access_token = token.value;
    const done = await attempt(error, async () => {
      await api('PATCH', `/channels/${id}`, patch);
      if (visibility.value === 'private') {
        const ids = [...memberList.querySelectorAll('input:checked')].map((i) => Number(i.value));
        await api('PUT', `/channels/${id}/members`, { user_ids: ids });
      }
    });
    if (done) { toast(t('settings.saved')); redraw(); }
  });
  return form;
}

function connectForm(redraw) {
  const error = el('p', { class: 'error', id: 'connect-number-error', role: 'alert', hidden: true });
  const input = (name, type = 'text') => el('input', { name, id: `connect-${name}`, type, required: true, autocomplete: 'off' });
  const form = el('form', { class: 'settings-form', id: 'connect-number' }, el('h3', {}, t('numbers.connect')),
    el('p', { class: 'muted' }, t('numbers.connect_hint')),
    field(t('numbers.name'), input('name')),
    field(t('numbers.display_phone_number'), input('display_phone_number')),
    field(t('numbers.phone_number_id'), input('phone_number_id')),
    field(t('numbers.waba_id'), input('waba_id')),
    field(t('numbers.access_token'), input('access_token', 'password')),
    field(t('numbers.app_secret'), input('app_secret', 'password')),
    field(t('numbers.verify_token'), input('verify_token', 'password')),
    el('button', { type: 'submit', class: 'primary', id: 'connect-number-save' }, t('numbers.connect_button')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { provider: 'meta', ...Object.fromEntries(new FormData(form)) };
    body.display_phone_number = body.display_phone_number.replace(/[^0-9]/g, '');
    if (await attempt(error, () => api('POST', '/channels', body))) { toast(t('settings.saved')); redraw(); }
  });
  return form;
}

/** The section, read from the API. */
export async function numbersSection(users, redraw) {
  const channels = await api('GET', '/channels');
  const members = await Promise.all(channels.map((c) => api('GET', `/channels/${c.id}/members`).then((m) => m.user_ids).catch(() => [])));
  return [el('h2', { id: 'numbers-title' }, t('numbers.title')),
    el('div', { class: 'settings', id: 'numbers' }, channels.map((c, i) => [numberCard(c, members[i], users, redraw), profileSection(c)]), connectForm(redraw))];
}
