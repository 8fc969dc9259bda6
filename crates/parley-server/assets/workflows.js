// The workflows page (`#workflows`, owners and managers): the workspace's automations with their
// state, the gallery to start from, and the editor — the trigger, the flow (`workflow_builder.js`),
// saving the draft, publishing (problems show on their steps; paths without a way to a person
// are warned about), switching on and off, a dry run on a conversation (nothing is sent), JSON
// export and import, and the latest runs with their history.

import { api, el, errorText, formatDateTime, t, toast } from './api.js';
import { drawFlow, problemText, tidy, triggerForm } from './workflow_builder.js';

/** The workflow open in the editor, if any (kept across redraws). */
let editing = null;

function runRow(run, show) {
  return el('tr', { class: `run ${run.status}`, dataset: { run: run.id } },
    el('td', {}, formatDateTime(run.started_at)), el('td', {}, t(`wf.status_${run.status}`)),
    el('td', {}, run.conversation_id ? `#${run.conversation_id}` : '—'), el('td', {}, run.step ?? ''),
    el('td', { class: 'error' }, run.error ?? ''),
    el('td', {}, el('button', { type: 'button', class: 'wf-history', onclick: () => show(run.id) }, t('wf.history'))));
}

/** One entry of a run's history (or of a dry run). */
function historyItem(h) {
  const detail = { ...(h.detail ?? h) };
  for (const key of ['step', 'kind', 'seq', 'at', 'outcome', 'detail']) delete detail[key];
  return el('li', { class: `wf-history-item ${h.outcome ?? ''}` },
    el('strong', {}, h.step), ' ', el('span', { class: 'muted' }, t(`wf.kind_${h.kind}`)), ' ',
    h.outcome ? el('span', { class: 'badge' }, t(`wf.outcome_${h.outcome}`)) : null,
    h.at ? el('span', { class: 'muted' }, ` ${formatDateTime(h.at)}`) : null,
    el('pre', { class: 'wf-detail' }, JSON.stringify(detail, null, 1)));
}

async function runsPanel(box, workflow) {
  const runs = await api('GET', `/workflows/${workflow.id}/runs`);
  const history = el('ol', { class: 'wf-history-list', id: 'wf-run-history' });
  const show = async (id) => {
    const run = await api('GET', `/workflow-runs/${id}`);
    history.replaceChildren(...run.history.map(historyItem));
  };
  box.replaceChildren(el('h3', {}, t('wf.runs')),
    runs.length ? el('div', { class: 'table-scroll' }, el('table', { id: 'wf-runs' }, el('tbody', {}, runs.map((r) => runRow(r, show)))))
      : el('p', { class: 'muted' }, t('wf.no_runs')),
    history);
}

function jsonDialog(title, value, onApply) {
  const area = el('textarea', { id: 'wf-json', rows: 16, readonly: onApply ? null : true }, value);
  const error = el('p', { class: 'error', role: 'alert', hidden: true });
  const dialog = el('dialog', { class: 'wf-json-dialog' }, el('form', { method: 'dialog' },
    el('h2', {}, title), area, error,
    el('menu', {}, el('button', { type: 'button', onclick: () => dialog.close() }, t('common.cancel')),
      onApply ? el('button', { type: 'button', class: 'primary', id: 'wf-json-apply', onclick: () => {
        try { onApply(JSON.parse(area.value)); dialog.close(); } catch { error.hidden = false; error.textContent = t('wf.not_json'); }
      } }, t('wf.import')) : null)));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

async function editor(box, id, redraw) {
  const workflow = await api('GET', `/workflows/${id}`);
  let def;
  def = structuredClone(workflow.draft ?? {});
  def.trigger ??= { kind: 'manual' };
  def.steps ??= [];
  let problems = workflow.problems ?? [];
  let dirty = false;
  const status = el('p', { class: 'muted', id: 'wf-state' });
  const flowBox = el('div', { class: 'wf-flow', id: 'wf-flow' });
  const triggerBox = el('div', {});
  const warnings = el('div', { id: 'wf-warnings' });
  const runsBox = el('div', { class: 'wf-runs' });
  const dryBox = el('ol', { class: 'wf-history-list', id: 'wf-dry-run' });
  const name = el('input', { id: 'wf-name', value: workflow.name, 'aria-label': t('wf.name'), oninput: () => { dirty = true; } });
  const touched = () => { dirty = true; status.textContent = t('wf.unsaved'); };
  const drawAll = () => {
    triggerBox.replaceChildren(triggerForm(def, (structural) => { touched(); if (structural) drawAll(); }));
    drawFlow(flowBox, def, problems, touched);
    warnings.replaceChildren(...problems.filter((p) => !p.step).map((p) => el('p', { class: 'error', role: 'alert' }, problemText(p))),
      ...(workflow.paths_without_a_person ?? []).map((path) => el('p', { class: 'warn wf-no-person' }, t('wf.no_person', { path: path.join(' → ') }))));
    status.textContent = `${workflow.active ? t('wf.active') : t('wf.inactive')} · ${t('wf.version', { n: workflow.version })}${dirty ? ` · ${t('wf.unsaved')}` : ''}`;
  };
  const save = async () => {
    const saved = await api('PATCH', `/workflows/${id}`, { name: name.value, definition: tidy(def) });
    Object.assign(workflow, saved);
    problems = saved.problems ?? [];
    dirty = false;
    drawAll();
    return saved;
  };
  const act = (fn) => async () => { try { await fn(); } catch (error) { toast(errorText(error), 'error'); } };
  const publish = act(async () => {
    const saved = await save();
    if (saved.problems?.length) { toast(t('wf.fix_problems'), 'error'); return; }
    const published = await api('POST', `/workflows/${id}/publish`, {});
    Object.assign(workflow, published);
    drawAll();
    toast(t('wf.published', { n: published.version }));
  });
  const toggle = act(async () => {
    Object.assign(workflow, await api('PATCH', `/workflows/${id}`, { active: !workflow.active }));
    activeButton.textContent = workflow.active ? t('wf.switch_off') : t('wf.switch_on');
    drawAll();
  });
  const activeButton = el('button', { type: 'button', id: 'wf-toggle', onclick: toggle }, workflow.active ? t('wf.switch_off') : t('wf.switch_on'));
  const dryInput = el('input', { id: 'wf-dry-conversation', type: 'number', min: 1, placeholder: t('wf.conversation_id'),
    'aria-label': t('wf.conversation_id') });
  const dryRun = act(async () => {
    const walked = await api('POST', `/workflows/${id}/dry-run`, { conversation_id: Number(dryInput.value), definition: tidy(def) });
    dryBox.replaceChildren(...walked.map(historyItem));
  });
  box.replaceChildren(
    el('p', {}, el('a', { href: '#workflows', onclick: () => { editing = null; redraw(); } }, `← ${t('wf.all')}`)),
    el('div', { class: 'wf-toolbar' }, name,
      el('button', { type: 'button', id: 'wf-save', class: 'primary', onclick: act(async () => { await save(); toast(t('wf.saved')); }) }, t('wf.save')),
      el('button', { type: 'button', id: 'wf-publish', onclick: publish }, t('wf.publish')), activeButton,
      el('button', { type: 'button', id: 'wf-export', onclick: () => jsonDialog(t('wf.export'), JSON.stringify(tidy(def), null, 2)) }, t('wf.export')),
      el('button', { type: 'button', id: 'wf-import', onclick: () => jsonDialog(t('wf.import'), '', (imported) => {
        def = imported; def.trigger ??= { kind: 'manual' }; def.steps ??= []; touched(); drawAll();
      }) }, t('wf.import'))),
    status, warnings, triggerBox, flowBox,
    el('div', { class: 'wf-dry' }, el('h3', {}, t('wf.dry_run')), el('p', { class: 'muted' }, t('wf.dry_run_help')),
      el('div', { class: 'wf-toolbar' }, dryInput, el('button', { type: 'button', id: 'wf-dry-go', onclick: dryRun }, t('wf.try'))), dryBox),
    runsBox);
  drawAll();
  runsPanel(runsBox, workflow).catch((error) => toast(errorText(error), 'error'));
}

async function listing(box, redraw) {
  const [workflows, gallery] = await Promise.all([api('GET', '/workflows'), api('GET', '/workflows/gallery')]);
  const open = (id) => { editing = id; redraw(); };
  const create = async () => {
    try {
      const made = await api('POST', '/workflows', { name: t('wf.untitled'), definition: { trigger: { kind: 'manual' }, steps: [] } });
      open(made.id);
    } catch (error) { toast(errorText(error), 'error'); }
  };
  const install = (key) => async () => {
    try { open((await api('POST', `/workflows/gallery/${key}`, {})).id); } catch (error) { toast(errorText(error), 'error'); }
  };
  box.replaceChildren(
    el('h2', {}, t('wf.title')),
    el('button', { type: 'button', id: 'wf-new', class: 'primary', onclick: create }, t('wf.new')),
    workflows.length ? el('div', { class: 'table-scroll' }, el('table', { id: 'wf-list' }, el('tbody', {}, workflows.map((w) =>
      el('tr', { dataset: { workflow: w.id } }, el('td', {}, el('strong', {}, w.name)),
        el('td', {}, t(`wf.trigger_${w.draft?.trigger?.kind ?? 'manual'}`)),
        el('td', {}, w.active ? t('wf.active') : t('wf.inactive')), el('td', {}, t('wf.version', { n: w.version })),
        el('td', {}, el('button', { type: 'button', class: 'wf-open', onclick: () => open(w.id) }, t('wf.edit'))))))))
      : el('p', { class: 'muted' }, t('wf.none')),
    el('h3', {}, t('wf.gallery')),
    el('div', { class: 'wf-gallery' }, gallery.map((g) => el('div', { class: 'wf-card', dataset: { template: g.key } },
      el('strong', {}, g.name), el('p', { class: 'muted' }, g.description),
      el('button', { type: 'button', class: 'wf-install', onclick: install(g.key) }, t('wf.install'))))));
}

/** Draws the workflows page into `box`. */
export async function workflowsPage(box) {
  const redraw = () => workflowsPage(box).catch((error) => toast(errorText(error), 'error'));
  if (editing) await editor(box, editing, redraw);
  else await listing(box, redraw);
}
