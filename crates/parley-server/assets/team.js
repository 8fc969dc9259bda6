// The team page (owners and managers): the workspace's users (adding one with a password or an
// invitation link, changing roles, deactivating), teams and their members, canned responses, and
// how conversations are handled (`settings.js`), the WhatsApp numbers (`numbers.js`), outgoing
// webhooks (`webhooks.js`). Each change redraws the page from the API.

import { api, boot, el, errorText, t, toast } from './api.js';
import { confirmAction } from './confirm.js';
import { numbersSection } from './numbers.js';
import { settingsSection } from './settings.js';
import { webhooksSection } from './webhooks.js';

/** A form whose submit posts its fields to `path`, then redraws the page. */
function postForm(id, path, fields, submit, redraw) {
  const form = el('form', { id }, fields, el('button', { type: 'submit', class: 'primary' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', path, Object.fromEntries(new FormData(form)));
      redraw();
    } catch (error) { toast(errorText(error), 'error'); }
  });
  return form;
}

/** Shows an invitation link to send, under the users table. */
async function showInvite(user) {
  try {
    const invite = await api('POST', `/users/${user.id}/invite`);
    const url = `${location.origin}${invite.url}`;
    document.getElementById('invite-link-box').replaceChildren(
      el('p', {}, t('team.link_made', { name: user.name })),
      el('input', { id: 'invite-link', readonly: true, value: url, class: 'wide', onfocus: (e) => e.target.select() }));
  } catch (error) { toast(errorText(error), 'error'); }
}

function userRow(u, redraw) {
  const change = async (patch) => {
    try { await api('PATCH', `/users/${u.id}`, patch); } catch (error) { toast(errorText(error), 'error'); }
    redraw();
  };
  // A manager cannot change an owner, nor make one (the API refuses it too).
  const mayChange = boot.user.role === 'owner' || u.role !== 'owner';
  const roles = ['agent', 'manager', 'owner'].filter((r) => boot.user.role === 'owner' || r !== 'owner' || u.role === 'owner');
  const role = el('select', { 'aria-label': t('team.role'), disabled: !mayChange || !u.active, dataset: { user: u.id },
    onchange: (e) => change({ role: e.target.value }) },
  roles.map((r) => el('option', { value: r, selected: r === u.role }, t(`role.${r}`))));
  const actions = u.id === boot.user.id || !mayChange ? [] : [
    // A bot acts through its API token: it is never invited to log in.
    u.active && !u.bot ? el('button', { type: 'button', class: 'invite', onclick: () => showInvite(u) }, t('team.invite_link')) : null,
    el('button', { type: 'button', class: u.active ? 'deactivate' : 'reactivate', onclick: async () => {
      if (u.active && !(await confirmAction({ title: t('team.deactivate_title', { name: u.name }), body: t('team.deactivate_body'),
        confirm: t('team.deactivate'), danger: true }))) return;
      change({ active: !u.active });
    } }, t(u.active ? 'team.deactivate' : 'team.reactivate')),
  ];
  return el('tr', { class: u.active ? '' : 'deactivated', dataset: { user: u.id } },
    el('td', {}, u.name, u.bot ? el('span', { class: 'muted' }, ` (${t('team.bot')})`) : null,
      u.active ? null : el('span', { class: 'muted' }, ` (${t('team.deactivated')})`)),
    el('td', {}, u.email), el('td', {}, role), el('td', {}, actions));
}

function usersSection(users, redraw) {
  const form = el('form', { id: 'invite-form' },
    el('h3', {}, t('team.invite')),
    el('input', { name: 'name', required: true, placeholder: t('team.name'), 'aria-label': t('team.name') }),
    el('input', { name: 'email', type: 'email', required: true, placeholder: t('login.email'), 'aria-label': t('login.email') }),
    el('input', { name: 'password', type: 'password', minlength: 10, placeholder: t('team.password_optional'), 'aria-label': t('team.password_optional') }),
    el('select', { name: 'role', 'aria-label': t('team.role') },
      ['agent', 'manager', 'owner'].filter((r) => boot.user.role === 'owner' || r !== 'owner').map((r) => el('option', { value: r }, t(`role.${r}`)))),
    el('button', { type: 'submit', class: 'primary' }, t('team.add')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (!data.password) delete data.password;
    try {
      const user = await api('POST', '/users', data);
      toast(t('team.added', { name: data.name }));
      await redraw();
      // Without a password, the new teammate needs a link to choose one.
      if (!data.password) await showInvite(user);
    } catch (error) { toast(errorText(error), 'error'); }
  });
  return [
    el('div', { class: 'table-scroll' }, el('table', { id: 'users' },
      el('thead', {}, el('tr', {}, el('th', {}, t('team.name')), el('th', {}, t('login.email')), el('th', {}, t('team.role')), el('th', {}, ''))),
      el('tbody', {}, users.map((u) => userRow(u, redraw))))),
    el('div', { id: 'invite-link-box' }),
    form,
  ];
}

function teamsSection(teams, users, redraw) {
  const rows = teams.map((team) => {
    const boxes = users.map((u) => el('label', { class: 'member' },
      el('input', { type: 'checkbox', value: String(u.id), checked: team.user_ids.includes(u.id) }), ` ${u.name}`));
    const members = el('fieldset', { class: 'members', dataset: { team: team.id } }, el('legend', {}, t('teams.members')), boxes);
    members.addEventListener('change', async () => {
      const ids = [...members.querySelectorAll('input:checked')].map((i) => Number(i.value));
      try { await api('PUT', `/teams/${team.id}/members`, { user_ids: ids }); } catch (error) { toast(errorText(error), 'error'); redraw(); }
    });
    return el('li', { class: 'team-row', dataset: { team: team.id } },
      el('strong', {}, team.name), ' ',
      el('button', { type: 'button', class: 'delete', onclick: async () => {
        if (!(await confirmAction({ title: t('teams.delete_title', { name: team.name }), body: t('teams.delete_body'),
          confirm: t('teams.delete'), danger: true }))) return;
        try { await api('DELETE', `/teams/${team.id}`); redraw(); } catch (error) { toast(errorText(error), 'error'); }
      } }, t('teams.delete')),
      members);
  });
  const form = postForm('team-form', '/teams', [
    el('input', { name: 'name', required: true, placeholder: t('teams.name'), 'aria-label': t('teams.name') }),
  ], t('teams.add'), redraw);
  return [el('h2', {}, t('teams.title')), el('ul', { class: 'teams-admin', id: 'teams-admin' }, rows), form];
}

function cannedSection(canned, redraw) {
  const list = el('ul', { class: 'canned-admin', id: 'canned-admin' }, canned.map((c) => el('li', {},
    el('strong', {}, `/${c.shortcut}`), ' ', c.body, ' ',
    el('button', { type: 'button', class: 'delete', onclick: async () => {
      if (!(await confirmAction({ title: t('canned.delete_title', { shortcut: `/${c.shortcut}` }), body: c.body,
        confirm: t('canned.delete'), danger: true }))) return;
      try { await api('DELETE', `/canned-responses/${c.id}`); redraw(); } catch (error) { toast(errorText(error), 'error'); }
    } }, t('canned.delete')))));
  const form = postForm('canned-form', '/canned-responses', [
    el('input', { name: 'shortcut', required: true, placeholder: t('canned.shortcut'), 'aria-label': t('canned.shortcut') }),
    el('input', { name: 'body', required: true, placeholder: t('canned.body'), 'aria-label': t('canned.body'), class: 'wide' }),
  ], t('canned.add'), redraw);
  return [el('h2', {}, t('canned.title')), list, form];
}

/** Counts the page's draws: an answer for an older one is dropped. */
let draws = 0;

/** Draws the team page into `box`. */
export async function teamPage(box) {
  const draw = ++draws;
  const redraw = () => teamPage(box).catch((error) => toast(errorText(error), 'error'));
  const [users, teams, canned, settings] = await Promise.all([api('GET', '/users'), api('GET', '/teams'),
    api('GET', '/canned-responses'), settingsSection()]);
  const [numbers, webhooks] = await Promise.all([numbersSection(users, redraw), webhooksSection(redraw)]);
  // Two draws in flight (a save while the page loads): only the newest one lands.
  if (draw !== draws) return;
  box.replaceChildren(
    el('h2', {}, t('team.title')),
    ...usersSection(users, redraw),
    ...teamsSection(teams, users, redraw),
    ...cannedSection(canned, redraw),
    ...settings,
    ...numbers,
    ...webhooks,
    el('p', {}, el('a', { href: '#' }, t('team.back'))));
}
