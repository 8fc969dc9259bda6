// The team page (owners and managers): the workspace's users and adding one, teams and their
// members, and canned responses. Each change redraws the page from the API.

import { api, el, errorText, t, toast } from './api.js';

/** A form whose submit posts its fields to `path`, then says `notice(fields)` and redraws. */
function postForm(id, path, fields, submit, redraw, notice = () => null) {
  const form = el('form', { id }, fields, el('button', { type: 'submit', class: 'primary' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const data = Object.fromEntries(new FormData(form));
      await api('POST', path, data);
      const said = notice(data);
      if (said) toast(said);
      redraw();
    } catch (error) { toast(errorText(error), 'error'); }
  });
  return form;
}

function usersSection(users, redraw) {
  const form = postForm('invite-form', '/users', [
    el('h3', {}, t('team.invite')),
    el('input', { name: 'name', required: true, placeholder: t('team.name'), 'aria-label': t('team.name') }),
    el('input', { name: 'email', type: 'email', required: true, placeholder: t('login.email'), 'aria-label': t('login.email') }),
    el('input', { name: 'password', type: 'password', required: true, minlength: 10, placeholder: t('team.password'), 'aria-label': t('team.password') }),
    el('select', { name: 'role', 'aria-label': t('team.role') }, ['agent', 'manager', 'owner'].map((r) => el('option', { value: r }, t(`role.${r}`)))),
  ], t('team.add'), redraw, (data) => t('team.added', { name: data.name }));
  return [
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, t('team.name')), el('th', {}, t('login.email')), el('th', {}, t('team.role')))),
      el('tbody', {}, users.map((u) => el('tr', {}, el('td', {}, u.name), el('td', {}, u.email), el('td', {}, t(`role.${u.role}`)))))),
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
      el('button', { type: 'button', onclick: async () => {
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
    el('button', { type: 'button', onclick: async () => {
      try { await api('DELETE', `/canned-responses/${c.id}`); redraw(); } catch (error) { toast(errorText(error), 'error'); }
    } }, t('canned.delete')))));
  const form = postForm('canned-form', '/canned-responses', [
    el('input', { name: 'shortcut', required: true, placeholder: t('canned.shortcut'), 'aria-label': t('canned.shortcut') }),
    el('input', { name: 'body', required: true, placeholder: t('canned.body'), 'aria-label': t('canned.body'), class: 'wide' }),
  ], t('canned.add'), redraw);
  return [el('h2', {}, t('canned.title')), list, form];
}

/** Draws the team page into `box`. */
export async function teamPage(box) {
  const redraw = () => teamPage(box).catch((error) => toast(errorText(error), 'error'));
  const [users, teams, canned] = await Promise.all([api('GET', '/users'), api('GET', '/teams'), api('GET', '/canned-responses')]);
  box.replaceChildren(
    el('h2', {}, t('team.title')),
    ...usersSection(users, redraw),
    ...teamsSection(teams, users, redraw),
    ...cannedSection(canned, redraw),
    el('p', {}, el('a', { href: '#' }, t('team.back'))));
}
