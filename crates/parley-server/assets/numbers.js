// The workspace's WhatsApp numbers, on the team page (owners and managers): each number's name,
// visibility (shared with everyone, or private to its members) and members; a new credential
// replaces the old one (credentials are never shown back); its business profile (`profile.js`);
// and a form to connect a number of Meta's Cloud API, 360dialog, Twilio or MessageBird (its fields
// named as each provider names them; a 360dialog or MessageBird number's webhook is set at the
// provider right after, and again from its card). A refusal shows in words under its form and
// changes nothing.

import { api, boot, COLON, el, t, toast } from './api.js';
import { moveSection } from './number_move.js';
import { profileSection } from './profile.js';
import { attempt } from './settings.js';

export function field(label, input) {
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
    el('h3', {}, channel.name, ' ', el('span', { class: 'muted' }, `+${channel.display_phone_number.replace(/^\+/, '')}`),
      ' ', el('span', { class: 'badge', id: `number-${id}-provider` }, t(`numbers.provider_${channel.provider}`))),
    // Where the provider must post: the server's public URL (what signatures are checked on).
    el('p', { class: 'muted webhook-address' }, `${t('numbers.webhook')}${COLON}`,
      el('code', { id: `number-${id}-webhook` }, `${boot.public_url}${channel.webhook_path}`)),
    field(t('numbers.name'), name), field(t('numbers.visibility'), visibility), memberList,
    field(t(NEW_TOKEN[channel.provider] || 'numbers.new_token'), token), save,
    REGISTERS_WEBHOOK.includes(channel.provider) ? registerButton(channel, error) : null, error);
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

/** The label of a new credential, by provider. */
const NEW_TOKEN = { twilio: 'numbers.new_twilio_token', '360dialog': 'numbers.new_d360_key', messagebird: 'numbers.new_mb_key' };

/** The providers whose webhook Parley sets itself. */
const REGISTERS_WEBHOOK = ['360dialog', 'messagebird'];

/** Sets a number's webhook at its provider (Parley's URL; for 360dialog, its secret header token). */
function registerWebhook(channelId) {
  return api('POST', `/channels/${channelId}/webhook/register`);
}

function registerButton(channel, error) {
  const button = el('button', { type: 'button', id: `number-${channel.id}-register` }, t('numbers.register_webhook'));
  button.addEventListener('click', async () => {
    if (await attempt(error, () => registerWebhook(channel.id))) toast(t('numbers.webhook_registered'));
  });
  return button;
}

/** What each provider's fields are called, and which it has (Twilio: no app secret to type,
 * no handshake token; 360dialog: an optional partner secret, no handshake token). */
export const PROVIDER_FIELDS = {
  meta: { hint: 'numbers.connect_hint', phone_number_id: 'numbers.phone_number_id', waba_id: 'numbers.waba_id',
    access_token: 'numbers.access_token', app_secret: 'numbers.app_secret', verify_token: 'numbers.verify_token',
    graph_base_url: 'numbers.base_url', base: 'https://graph.facebook.com/v24.0', optional: ['graph_base_url'] },
  '360dialog': { hint: 'numbers.d360_hint', phone_number_id: 'numbers.phone_number_id', waba_id: 'numbers.waba_id',
    access_token: 'numbers.d360_key', app_secret: 'numbers.d360_partner_secret', graph_base_url: 'numbers.base_url',
    base: 'https://waba-v2.360dialog.io', optional: ['app_secret', 'graph_base_url'] },
  twilio: { hint: 'numbers.twilio_hint', phone_number_id: 'numbers.twilio_number', waba_id: 'numbers.twilio_account',
    access_token: 'numbers.twilio_token', graph_base_url: 'numbers.base_url', base: 'https://api.twilio.com',
    optional: ['graph_base_url'] },
  messagebird: { hint: 'numbers.mb_hint', phone_number_id: 'numbers.mb_channel', waba_id: 'numbers.waba_id',
    access_token: 'numbers.mb_key', app_secret: 'numbers.mb_signing_key', graph_base_url: 'numbers.base_url',
    base: 'https://conversations.messagebird.com/v1', optional: ['graph_base_url'] },
};

/**
 * A provider choice and the fields of a connection (ids, credentials, API address), named as
 * the chosen provider names them; `prefix` makes the inputs' ids. `read()` answers the values
 * to send (another provider's fields and empty optional ones left out).
 */
export function providerInputs(prefix) {
  const input = (name, type = 'text') => el('input', { name, id: `${prefix}-${name}`, type, required: true, autocomplete: 'off' });
  const provider = el('select', { name: 'provider', id: `${prefix}-provider` },
    Object.keys(PROVIDER_FIELDS).map((p) => el('option', { value: p }, t(`numbers.provider_${p}`))));
  const hint = el('p', { class: 'muted', id: `${prefix}-hint` });
  const labelled = {};
  const providerField = (name, type) => {
    const box = input(name, type);
    const label = el('span', {});
    labelled[name] = { wrapper: field(label, box), label, box };
    return labelled[name].wrapper;
  };
  const fields = [providerField('phone_number_id'), providerField('waba_id'),
    providerField('access_token', 'password'), providerField('app_secret', 'password'),
    providerField('verify_token', 'password'), providerField('graph_base_url', 'url')];
  const show = () => {
    const names = PROVIDER_FIELDS[provider.value];
    hint.textContent = t(names.hint);
    for (const [name, parts] of Object.entries(labelled)) {
      const present = Boolean(names[name]);
      parts.wrapper.hidden = !present;
      parts.box.disabled = !present;
      parts.box.required = present && !(names.optional || []).includes(name);
      if (present) parts.label.textContent = t(names[name]);
    }
    // The provider's own API unless another is typed (its sandbox, a pinned Graph version).
    labelled.graph_base_url.box.placeholder = names.base;
  };
  provider.addEventListener('change', show);
  show();
  const read = () => {
    const body = { provider: provider.value };
    for (const [name, parts] of Object.entries(labelled)) {
      if (!parts.box.disabled && parts.box.value) body[name] = parts.box.value;
    }
    return body;
  };
  return { choice: field(t('numbers.provider'), provider), hint, fields, read };
}

function connectForm(redraw) {
  const error = el('p', { class: 'error', id: 'connect-number-error', role: 'alert', hidden: true });
  const input = (name) => el('input', { name, id: `connect-${name}`, required: true, autocomplete: 'off' });
  const name = input('name');
  const display = input('display_phone_number');
  const connection = providerInputs('connect');
  const form = el('form', { class: 'settings-form', id: 'connect-number' }, el('h3', {}, t('numbers.connect')),
    connection.choice, connection.hint,
    field(t('numbers.name'), name),
    field(t('numbers.display_phone_number'), display),
    connection.fields,
    el('button', { type: 'submit', class: 'primary', id: 'connect-number-save' }, t('numbers.connect_button')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { ...connection.read(), name: name.value, display_phone_number: display.value.replace(/[^0-9]/g, '') };
    let created = null;
    if (!await attempt(error, async () => { created = await api('POST', '/channels', body); })) return;
    toast(t('settings.saved'));
    // Such a number hears nothing until its webhook is set at the provider: set it now. If that
    // fails, the number is saved and its card has the button to try again.
    if (REGISTERS_WEBHOOK.includes(created.provider) && !await attempt(error, () => registerWebhook(created.id))) return;
    redraw();
  });
  return form;
}

/** The section, read from the API. */
export async function numbersSection(users, redraw) {
  const channels = await api('GET', '/channels');
  const members = await Promise.all(channels.map((c) => api('GET', `/channels/${c.id}/members`).then((m) => m.user_ids).catch(() => [])));
  const timelines = await Promise.all(channels.map((c) => api('GET', `/channels/${c.id}/connections`).catch(() => [])));
  return [el('h2', { id: 'numbers-title' }, t('numbers.title')),
    el('div', { class: 'settings', id: 'numbers' }, channels.map((c, i) => [numberCard(c, members[i], users, redraw),
      moveSection(c, timelines[i], redraw),
      // The business profile lives at Meta; the other providers' numbers have none to edit here.
      c.provider === 'meta' ? profileSection(c) : null]), connectForm(redraw))];
}
