// A number's WhatsApp business profile (owners and managers), beside the number on the team page:
// read from the provider when opened (never on every page draw), changed field by field — only
// what the user changed is sent — and a new photo uploaded as a sample through the provider
// (`/channels/{id}/samples`), whose handle the profile takes. Meta serves the current photo from
// its own servers, which this page's security policy does not load: it is a link; a newly
// chosen photo shows from the browser's memory.

import { api, el, t, toast } from './api.js';
import { attempt } from './settings.js';

/** The industries Meta lets a business choose (parley-core's `profile::VERTICALS`). */
const VERTICALS = ['', 'ALCOHOL', 'APPAREL', 'AUTO', 'BEAUTY', 'EDU', 'ENTERTAIN', 'EVENT_PLAN', 'FINANCE', 'GOVT', 'GROCERY',
  'HEALTH', 'HOTEL', 'NONPROFIT', 'ONLINE_GAMBLING', 'OTC_DRUGS', 'OTHER', 'PHYSICAL_GAMBLING', 'PROF_SERVICES',
  'RESTAURANT', 'RETAIL', 'TRAVEL'];

function field(label, input) {
  return el('label', { class: 'field' }, label, input);
}

/** The form, filled from `profile` as the provider has it. */
function profileForm(channel, profile, reload) {
  const id = channel.id;
  const error = el('p', { class: 'error', id: `profile-${id}-error`, role: 'alert', hidden: true });
  const text = (name, max, value) => el('input', { id: `profile-${id}-${name}`, maxlength: max, value: value ?? '' });
  const about = text('about', 139, profile.about);
  const address = text('address', 256, profile.address);
  const email = el('input', { id: `profile-${id}-email`, type: 'email', maxlength: 128, value: profile.email ?? '' });
  const description = el('textarea', { id: `profile-${id}-description`, maxlength: 512, rows: 3 }, profile.description ?? '');
  const sites = [0, 1].map((i) => el('input', { id: `profile-${id}-website-${i}`, type: 'url', maxlength: 256,
    placeholder: 'https://', value: profile.websites?.[i] ?? '' }));
  const vertical = el('select', { id: `profile-${id}-vertical` }, VERTICALS.map((v) =>
    el('option', { value: v, selected: v === (profile.vertical ?? '') }, v ? t(`vertical.${v.toLowerCase()}`) : t('profile.no_vertical'))));
  let handle = null;
  // The provider's address, linked only when it is a web address (never `javascript:` or the like).
  const photoUrl = /^https?:\/\//i.test(profile.profile_picture_url ?? '') ? profile.profile_picture_url : null;
  const shown = el('div', { class: 'profile-photo', id: `profile-${id}-photo` },
    photoUrl
      ? el('a', { href: photoUrl, target: '_blank', rel: 'noopener noreferrer' }, t('profile.current_photo'))
      : el('span', { class: 'muted' }, t('profile.no_photo')));
  const photo = el('input', { type: 'file', id: `profile-${id}-photo-file`, accept: 'image/jpeg,image/png', 'aria-label': t('profile.photo') });
  photo.addEventListener('change', async () => {
    const file = photo.files[0];
    if (!file) return;
    shown.replaceChildren(el('span', { class: 'muted' }, t('templates.sample_uploading')));
    const ok = await attempt(error, async () => {
      handle = (await api('POST', `/channels/${id}/samples?file_name=${encodeURIComponent(file.name)}`, file,
        { 'Content-Type': file.type || 'application/octet-stream' })).handle;
    });
    shown.replaceChildren(ok
      ? el('img', { src: URL.createObjectURL(file), alt: t('profile.new_photo'), width: 96, height: 96 })
      : el('span', { class: 'muted' }, t('profile.no_photo')));
  });
  const save = el('button', { type: 'submit', class: 'primary', id: `profile-${id}-save` }, t('settings.save'));
  const form = el('form', { class: 'profile-form', id: `profile-${id}`, novalidate: true },
    el('div', { class: 'field' }, t('profile.photo'), shown, photo),
    field(t('profile.about'), about), field(t('profile.description'), description), field(t('profile.address'), address),
    field(t('profile.email'), email), field(t('profile.websites'), el('div', { class: 'stack' }, sites)),
    field(t('profile.vertical'), vertical), save, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    // Only what changed: an untouched empty field is not sent (Meta refuses an empty `about`).
    const patch = {};
    const changed = (name, value, before) => { if (value !== (before ?? '')) patch[name] = value; };
    changed('about', about.value.trim(), profile.about);
    changed('address', address.value.trim(), profile.address);
    changed('description', description.value.trim(), profile.description);
    changed('email', email.value.trim(), profile.email);
    changed('vertical', vertical.value, profile.vertical);
    const websites = sites.map((s) => s.value.trim()).filter(Boolean);
    if (JSON.stringify(websites) !== JSON.stringify(profile.websites ?? [])) patch.websites = websites;
    if (handle) patch.profile_picture_handle = handle;
    if (!Object.keys(patch).length) { toast(t('profile.unchanged')); return; }
    if (await attempt(error, () => api('PATCH', `/channels/${id}/profile`, patch))) { toast(t('settings.saved')); reload(); }
  });
  return form;
}

/** A folded section of `channel`'s card; the profile is read from the provider when unfolded. */
export function profileSection(channel) {
  const box = el('div', { class: 'profile-box' });
  const details = el('details', { class: 'settings-form profile', id: `profile-${channel.id}-section` },
    el('summary', {}, t('profile.title'), ' ', el('span', { class: 'muted' }, `${channel.name} +${channel.display_phone_number.replace(/^\+/, '')}`)), box);
  const load = async () => {
    box.replaceChildren(el('p', { class: 'muted' }, t('profile.loading')));
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    let profile = null;
    await attempt(error, async () => { profile = await api('GET', `/channels/${channel.id}/profile`); });
    box.replaceChildren(profile ? profileForm(channel, profile, load) : error);
  };
  details.addEventListener('toggle', () => { if (details.open) load(); });
  return details;
}
