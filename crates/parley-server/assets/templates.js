// The templates page (`#templates`, owners and managers): one number's templates with their review
// status, quality, category and version; a new template or the next version of one through the
// builder (`template_builder.js`); deleting one (every language of its name, as Meta does); and
// a sync with the provider. Each change redraws the page from the API; a page drawn for an older
// request never replaces a newer one.

import { api, COLON, el, errorText, formatDateTime, label, t, toast } from './api.js';
import { confirmAction } from './confirm.js';
import { languageList, templateBuilder } from './template_builder.js';

/** The number whose templates are on screen (kept across redraws). */
let chosenChannel = null;
/** Counts draws: an answer for an older one is dropped. */
let draws = 0;

function statusCell(tpl) {
  const why = tpl.rejected_reason ?? tpl.status_detail;
  return el('td', { class: `template-status ${tpl.status}` }, label('template.status', tpl.status),
    why ? el('small', { class: 'muted' }, ` ${why}`) : null);
}

function templateRow(channel, tpl, redraw, edit) {
  const remove = el('button', { type: 'button', class: 'delete', onclick: async () => {
    if (!(await confirmAction({ title: t('templates.delete_title', { name: tpl.name }), body: t('templates.delete_body'),
      confirm: t('templates.delete'), danger: true }))) return;
    try {
      await api('DELETE', `/channels/${channel.id}/templates/${encodeURIComponent(tpl.name)}`);
      toast(t('templates.deleted', { name: tpl.name }));
      redraw();
    } catch (error) { toast(errorText(error), 'error'); }
  } }, t('templates.delete'));
  const editable = !['pending', 'submitting', 'deleted', 'pending_deletion'].includes(tpl.status);
  const version = el('button', { type: 'button', class: 'new-version', disabled: !editable, onclick: async () => {
    try { edit(await api('GET', `/channels/${channel.id}/templates/${encodeURIComponent(tpl.name)}/${encodeURIComponent(tpl.language)}`)); } catch (error) { toast(errorText(error), 'error'); }
  } }, t('templates.new_version'));
  return el('tr', { dataset: { template: `${tpl.name}/${tpl.language}` } },
    el('td', {}, el('strong', {}, tpl.name)), el('td', {}, tpl.language),
    el('td', {}, label('template.category', tpl.category)), statusCell(tpl),
    el('td', {}, label('quality', tpl.quality, t('quality.unknown'))),
    el('td', {}, String(tpl.version)),
    el('td', { class: 'muted' }, formatDateTime(tpl.updated_at)),
    el('td', { class: 'actions' }, version, ' ', remove));
}

function listTable(channel, templates, redraw, edit) {
  if (!templates.length) return el('p', { class: 'muted', id: 'templates-empty' }, t('templates.none'));
  const head = ['templates.name', 'templates.language', 'templates.category', 'templates.status', 'templates.quality',
    'templates.version', 'templates.updated', ''].map((k) => el('th', {}, k ? t(k) : ''));
  return el('div', { class: 'table-scroll' }, el('table', { id: 'templates-list' }, el('thead', {}, el('tr', {}, head)),
    el('tbody', {}, templates.map((tpl) => templateRow(channel, tpl, redraw, edit)))));
}

/** Draws the templates page into `box`. */
export async function templatesPage(box) {
  const draw = ++draws;
  const redraw = () => templatesPage(box).catch((error) => toast(errorText(error), 'error'));
  const channels = (await api('GET', '/channels')).filter((c) => !c.deleted_at);
  if (draw !== draws) return;
  if (!channels.some((c) => c.id === chosenChannel)) chosenChannel = channels[0]?.id ?? null;
  const channel = channels.find((c) => c.id === chosenChannel);
  const back = el('p', {}, el('a', { href: '#' }, t('team.back')));
  if (!channel) {
    box.replaceChildren(el('h2', {}, t('templates.title')), el('p', { class: 'muted' }, t('templates.no_numbers')), back);
    return;
  }
  const templates = await api('GET', `/channels/${channel.id}/templates`);
  if (draw !== draws) return;
  const picker = el('select', { id: 'templates-number', 'aria-label': t('templates.number') },
    channels.map((c) => el('option', { value: String(c.id), selected: c.id === channel.id }, `${c.name} (+${c.display_phone_number})`)));
  picker.addEventListener('change', () => { chosenChannel = Number(picker.value); redraw(); });
  const builderBox = el('div', { id: 'template-builder-box' });
  const edit = (stored) => {
    builderBox.replaceChildren(templateBuilder(channel, stored, () => { toast(t('templates.submitted')); redraw(); },
      () => builderBox.replaceChildren()));
    builderBox.scrollIntoView({ block: 'start' });
  };
  const sync = el('button', { type: 'button', id: 'templates-sync', onclick: async () => {
    try {
      const report = await api('POST', `/channels/${channel.id}/templates/sync`);
      toast(t('templates.synced', { n: report.synced, changed: report.created + report.changed + report.removed }));
      redraw();
    } catch (error) { toast(errorText(error), 'error'); }
  } }, t('templates.sync'));
  const create = el('button', { type: 'button', class: 'primary', id: 'templates-new', onclick: () => edit(null) }, t('templates.new'));
  box.replaceChildren(
    el('h2', {}, t('templates.title')),
    el('div', { class: 'row templates-toolbar' }, el('label', {}, t('templates.number'), COLON, picker), create, sync),
    listTable(channel, templates, redraw, edit),
    builderBox, languageList(), back);
}
