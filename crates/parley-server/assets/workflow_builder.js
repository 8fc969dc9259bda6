// The workflow builder: a definition (`docs/workflows.md`) drawn as a flow — steps one under the
// other, the ways out of a branch (rules, opening hours, a question's timeout, a call's error)
// side by side — and edited without writing JSON: each step has a form for its kind, can be
// moved, deleted, or followed by a new step. Problems the server names show on their step.
// Only the object `def` is changed here; the page (`workflows.js`) saves, publishes and runs it.

import { boot, el, formatNumber, t } from './api.js';

export const STEP_KINDS = ['send_message', 'ask_question', 'csat', 'assign', 'unassign', 'close', 'reopen', 'add_tags',
  'remove_tags', 'add_note', 'set_field', 'wait', 'wait_until', 'business_hours', 'branch', 'http_request',
  'run_workflow', 'jump'];
export const TRIGGER_KINDS = ['conversation_opened', 'conversation_closed', 'message_received', 'tag_added',
  'tag_removed', 'assignment_changed', 'contact_created', 'contact_field_updated', 'ad_referral', 'shortcut',
  'inactivity', 'schedule', 'incoming_webhook', 'manual'];
const OPS = ['equals', 'not_equals', 'contains', 'not_contains', 'exists', 'not_exists'];
const EXPECT = ['text', 'number', 'email', 'phone', 'date', 'choice'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A new step of `kind` with what it needs filled in. */
function fresh(kind) {
  switch (kind) {
    case 'send_message': return { text: t('wf.default_text') };
    case 'ask_question': return { text: t('wf.default_question'), expect: 'text', timeout_seconds: 86400, retries: 0 };
    case 'assign': return { to: { available: 'round_robin' } };
    case 'add_tags': case 'remove_tags': return { tags: ['tag'] };
    case 'add_note': return { text: t('wf.default_note') };
    case 'set_field': return { field: 'field', value: '' };
    case 'wait': return { seconds: 3600 };
    case 'wait_until': return { time: '09:00', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' };
    case 'business_hours': return { hours: { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
      days: { mon: ['09:00-18:00'], tue: ['09:00-18:00'], wed: ['09:00-18:00'], thu: ['09:00-18:00'], fri: ['09:00-18:00'] } } };
    case 'branch': return { rules: [{ when: [{ subject: 'message.text', op: 'contains', value: '' }], next: '' }] };
    case 'http_request': return { method: 'POST', url: 'https://', retries: 0 };
    case 'run_workflow': return { workflow_id: 0 };
    case 'jump': return { to: '', max_times: 3 };
    default: return {};
  }
}

/** A step id not used yet, made from its kind. */
function newId(def, kind) {
  const base = kind.replace(/_/g, '-');
  for (let n = 1; ; n += 1) {
    const id = `${base}-${n}`;
    if (!def.steps.some((s) => s.id === id)) return id;
  }
}

/** The ways out of a step besides `next`, with their labels. */
function exits(step) {
  switch (step.kind) {
    case 'branch': return [...(step.rules ?? []).map((r, i) => ({ label: t('wf.rule_n', { n: i + 1 }), to: r.next })),
      { label: t('wf.otherwise'), to: step.otherwise }];
    case 'business_hours': return [{ label: t('wf.open'), to: step.open }, { label: t('wf.closed'), to: step.closed }];
    case 'ask_question': return [{ label: t('wf.answered'), to: step.next }, { label: t('wf.on_timeout'), to: step.on_timeout },
      { label: t('wf.on_invalid'), to: step.on_invalid }];
    case 'http_request': return [{ label: t('wf.succeeded'), to: step.next }, { label: t('wf.on_error'), to: step.on_error }];
    default: return [];
  }
}

/** A short line saying what a step does. */
function summary(step) {
  switch (step.kind) {
    case 'send_message': case 'add_note': case 'ask_question': return step.text ?? '';
    case 'add_tags': case 'remove_tags': return (step.tags ?? []).join(', ');
    case 'set_field': return `${step.field} = ${step.value}`;
    case 'wait': return t('wf.wait_for', { n: Math.round((step.seconds ?? 0) / 60) });
    case 'wait_until': return `${step.time} (${step.timezone})`;
    case 'http_request': return `${step.method} ${step.url}`;
    case 'jump': return t('wf.jump_to', { to: step.to, n: step.max_times });
    case 'assign': return step.to?.user_id ? t('wf.to_user', { id: step.to.user_id })
      : step.to?.available ? t(`wf.pick_${step.to.available}`) : t('wf.to_team', { id: step.to?.team_id });
    default: return '';
  }
}

// Field editors: each writes into `obj[key]` as the person types and calls `changed`.
function field(labelText, input) {
  return el('label', { class: 'field' }, el('span', {}, labelText), input);
}

function text(obj, key, labelKey, changed, { area = false, kind = 'text' } = {}) {
  const attrs = { value: obj[key] ?? '', dataset: { field: key }, oninput: (e) => {
    obj[key] = kind === 'number' ? Number(e.target.value) : e.target.value; changed(false);
  } };
  const input = area ? el('textarea', { ...attrs, rows: 3 }, obj[key] ?? '') : el('input', { ...attrs, type: kind });
  return field(t(labelKey), input);
}

function choice(obj, key, labelKey, options, changed, labelOf = (o) => o) {
  const select = el('select', { dataset: { field: key }, onchange: (e) => { obj[key] = e.target.value || undefined; changed(true); } },
    options.map((o) => el('option', { value: o, selected: (obj[key] ?? '') === o }, labelOf(o))));
  return field(t(labelKey), select);
}

function list(obj, key, labelKey, changed) {
  return field(t(labelKey), el('input', { value: (obj[key] ?? []).join(', '), dataset: { field: key }, oninput: (e) => {
    obj[key] = e.target.value.split(',').map((s) => s.trim()).filter(Boolean); changed(false);
  } }));
}

function stepRef(obj, key, labelKey, def, changed) {
  return choice(obj, key, labelKey, ['', ...def.steps.map((s) => s.id)], changed, (o) => o || t('wf.end'));
}

function conditionRow(c, changed) {
  return el('div', { class: 'wf-condition' },
    el('input', { value: c.subject ?? '', 'aria-label': t('wf.subject'), placeholder: 'message.text',
      oninput: (e) => { c.subject = e.target.value; changed(false); } }),
    el('select', { 'aria-label': t('wf.op'), onchange: (e) => { c.op = e.target.value; changed(false); } },
      OPS.map((o) => el('option', { value: o, selected: c.op === o }, t(`wf.op_${o}`)))),
    el('input', { value: c.value ?? '', 'aria-label': t('wf.value'),
      oninput: (e) => { c.value = e.target.value || undefined; changed(false); } }));
}

function hoursForm(hours, changed) {
  const lines = DAYS.filter((d) => hours.days?.[d]).map((d) => `${d} ${hours.days[d].join(', ')}`).join('\n');
  return [text(hours, 'timezone', 'wf.timezone', changed),
    field(t('wf.days'), el('textarea', { rows: 5, dataset: { field: 'days' }, oninput: (e) => {
      hours.days = {};
      for (const line of e.target.value.split('\n')) {
        const [day, ...rest] = line.trim().split(/\s+/);
        if (DAYS.includes(day)) hours.days[day] = rest.join(' ').split(',').map((s) => s.trim()).filter(Boolean);
      }
      changed(false);
    } }, lines)),
    list(hours, 'closed_dates', 'wf.closed_dates', changed)];
}

/** The form of one step's own settings. */
function stepForm(step, def, changed) {
  const ref = (key, labelKey) => stepRef(step, key, labelKey, def, changed);
  switch (step.kind) {
    case 'send_message': {
      step.template ??= undefined;
      const tpl = step.template ?? {};
      const keepTemplate = () => { step.template = tpl.name ? tpl : undefined; changed(false); };
      const media = step.media ?? { kind: '' };
      const keepMedia = (structural) => { step.media = media.kind ? media : undefined; changed(structural); };
      return [text(step, 'text', 'wf.text', changed, { area: true }),
        choice(media, 'kind', 'wf.media_kind', ['', 'image', 'video', 'document'], keepMedia, (o) => t(`wf.media_${o || 'none'}`)),
        media.kind ? text(media, 'link', 'wf.media_link', keepMedia) : null,
        media.kind === 'document' ? text(media, 'filename', 'wf.media_filename', keepMedia) : null,
        list(step, 'buttons', 'wf.buttons', changed),
        text(tpl, 'name', 'wf.template_name', keepTemplate), text(tpl, 'language', 'wf.template_language', keepTemplate),
        list(tpl, 'parameters', 'wf.template_parameters', keepTemplate), ref('next', 'wf.next')];
    }
    case 'ask_question':
      return [text(step, 'text', 'wf.text', changed, { area: true }), choice(step, 'expect', 'wf.expect', EXPECT, changed, (o) => t(`wf.expect_${o}`)),
        step.expect === 'choice' ? list(step, 'options', 'wf.options', changed) : null,
        text(step, 'save_to', 'wf.save_to', changed), text(step, 'timeout_seconds', 'wf.timeout', changed, { kind: 'number' }),
        text(step, 'retries', 'wf.retries', changed, { kind: 'number' }), text(step, 'retry_text', 'wf.retry_text', changed),
        ref('next', 'wf.next'), ref('on_timeout', 'wf.on_timeout'), ref('on_invalid', 'wf.on_invalid')];
    case 'csat': return [text(step, 'text', 'wf.text', changed, { area: true }), ref('next', 'wf.next')];
    case 'assign': {
      const to = step.to ?? {};
      const mode = to.user_id ? 'user' : to.available ? to.available : 'team';
      const setMode = (m) => {
        const id = to.user_id ?? to.team_id;
        step.to = m === 'user' ? { user_id: id ?? 0 } : m === 'team' ? { team_id: id ?? 0 } : { available: m, team_id: to.team_id };
        if (step.to.team_id === undefined) delete step.to.team_id;
        changed(true);
      };
      const holder = { mode };
      const idKey = mode === 'user' ? 'user_id' : 'team_id';
      return [choice(holder, 'mode', 'wf.assign_mode', ['round_robin', 'least_open', 'user', 'team'], () => setMode(holder.mode),
        (o) => t(`wf.assign_${o}`)), text(to, idKey, mode === 'user' ? 'wf.user_id' : 'wf.team_id', changed, { kind: 'number' }),
        ref('next', 'wf.next')];
    }
    case 'close': return [text(step, 'note', 'wf.closing_note', changed), ref('next', 'wf.next')];
    case 'add_tags': case 'remove_tags': return [list(step, 'tags', 'wf.tags', changed), ref('next', 'wf.next')];
    case 'add_note': return [text(step, 'text', 'wf.text', changed, { area: true }), ref('next', 'wf.next')];
    case 'set_field': return [text(step, 'field', 'wf.field', changed), text(step, 'value', 'wf.value', changed), ref('next', 'wf.next')];
    case 'wait': return [text(step, 'seconds', 'wf.seconds', changed, { kind: 'number' }), ref('next', 'wf.next')];
    case 'wait_until': return [text(step, 'time', 'wf.time', changed), text(step, 'timezone', 'wf.timezone', changed), ref('next', 'wf.next')];
    case 'business_hours': return [...hoursForm(step.hours, changed), ref('open', 'wf.open'), ref('closed', 'wf.closed')];
    case 'branch':
      return [...(step.rules ?? []).map((rule, i) => el('fieldset', { class: 'wf-rule' }, el('legend', {}, t('wf.rule_n', { n: i + 1 })),
        rule.when.map((c) => conditionRow(c, changed)), stepRef(rule, 'next', 'wf.then', def, changed),
        el('button', { type: 'button', class: 'link', onclick: () => { step.rules.splice(i, 1); changed(true); } }, t('wf.remove_rule')))),
      el('button', { type: 'button', class: 'wf-add-rule', onclick: () => {
        step.rules.push({ when: [{ subject: 'message.text', op: 'contains', value: '' }], next: '' }); changed(true);
      } }, t('wf.add_rule')), ref('otherwise', 'wf.otherwise')];
    case 'http_request': {
      const save = Object.entries(step.save ?? {}).map(([k, v]) => `${k}=${v}`).join('\n');
      return [choice(step, 'method', 'wf.method', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], changed), text(step, 'url', 'wf.url', changed),
        field(t('wf.body_json'), el('textarea', { rows: 3, dataset: { field: 'body' }, oninput: (e) => {
          try { step.body = e.target.value.trim() ? JSON.parse(e.target.value) : undefined; e.target.setCustomValidity(''); changed(false); } catch { e.target.setCustomValidity(t('wf.not_json')); }
        } }, step.body ? JSON.stringify(step.body, null, 2) : '')),
        field(t('wf.save_values'), el('textarea', { rows: 2, dataset: { field: 'save' }, oninput: (e) => {
          step.save = Object.fromEntries(e.target.value.split('\n').map((l) => l.split('=').map((s) => s.trim())).filter((p) => p[0] && p[1]));
          changed(false);
        } }, save)),
        text(step, 'retries', 'wf.retries', changed, { kind: 'number' }), ref('next', 'wf.next'), ref('on_error', 'wf.on_error')];
    }
    case 'run_workflow': return [text(step, 'workflow_id', 'wf.workflow_id', changed, { kind: 'number' }), ref('next', 'wf.next')];
    case 'jump': return [ref('to', 'wf.jump_target'), text(step, 'max_times', 'wf.max_times', changed, { kind: 'number' }), ref('next', 'wf.next')];
    default: return [ref('next', 'wf.next')];
  }
}

/** Empty settings out of a step before it is saved (an empty select means "none"). */
export function tidy(def) {
  for (const step of def.steps) {
    for (const key of Object.keys(step)) if (step[key] === '' || step[key] === undefined) delete step[key];
  }
  return def;
}

/**
 * A problem the server names, in the user's language: `wf.problem.<code>` with its `params`
 * filled in (numbers formatted for the locale) when we have that string, else the server's
 * English `message` (a server newer than this page, or an older one without codes).
 */
export function problemText(p) {
  const key = `wf.problem.${p.code}`;
  if (!p.code || !(key in boot.strings)) return p.message;
  const params = Object.fromEntries(Object.entries(p.params ?? {})
    .map(([name, value]) => [name, typeof value === 'number' ? formatNumber(value) : value]));
  return t(key, params);
}

/**
 * Draws `def` into `box`; `problems` ([{step, code, params, message}]) show on their steps
 * (`problemText`); `onChange` is called after every change (`true` when the drawing must be
 * redone).
 */
export function drawFlow(box, def, problems, onChange) {
  // The steps whose forms are open stay open across redraws (kept on the box).
  box.openSteps ??= new Set();
  const open = box.openSteps;
  const redraw = () => drawFlow(box, def, problems, onChange);
  const changed = (structural) => { onChange(); if (structural) redraw(); };
  const drawn = new Set();
  const card = (step) => {
    const index = def.steps.indexOf(step);
    const mine = problems.filter((p) => p.step === step.id);
    const editing = open.has(step.id);
    const kindPick = el('select', { 'aria-label': t('wf.add_after'), class: 'wf-add-kind' },
      el('option', { value: '' }, t('wf.add_after')), STEP_KINDS.map((k) => el('option', { value: k }, t(`wf.kind_${k}`))));
    kindPick.addEventListener('change', () => {
      if (!kindPick.value) return;
      const id = newId(def, kindPick.value);
      const added = { id, kind: kindPick.value, ...fresh(kindPick.value) };
      if (step.next) added.next = step.next;
      if (!['branch', 'business_hours'].includes(step.kind)) step.next = id;
      def.steps.splice(index + 1, 0, added);
      open.add(id);
      changed(true);
    });
    const move = (by) => {
      const to = index + by;
      if (to < 0 || to >= def.steps.length) return;
      [def.steps[index], def.steps[to]] = [def.steps[to], def.steps[index]];
      changed(true);
    };
    const remove = () => {
      def.steps.splice(index, 1);
      for (const s of def.steps) {
        for (const key of ['next', 'otherwise', 'open', 'closed', 'on_timeout', 'on_invalid', 'on_error', 'to']) {
          if (s[key] === step.id) s[key] = key === 'to' ? '' : step.next;
        }
        for (const r of s.rules ?? []) if (r.next === step.id) r.next = step.next ?? '';
      }
      changed(true);
    };
    const node = el('div', { class: `wf-step${mine.length ? ' has-problem' : ''}${editing ? ' editing' : ''}`, id: `wf-step-${step.id}`,
      dataset: { step: step.id } },
      el('div', { class: 'wf-step-head' },
        el('strong', {}, t(`wf.kind_${step.kind}`)), el('code', { class: 'muted' }, step.id),
        el('span', { class: 'wf-step-tools' },
          el('button', { type: 'button', class: 'wf-edit', 'aria-expanded': String(editing),
            onclick: () => { if (editing) open.delete(step.id); else open.add(step.id); redraw(); } }, t(editing ? 'wf.done' : 'wf.edit')),
          el('button', { type: 'button', 'aria-label': t('wf.move_up'), disabled: index === 0, onclick: () => move(-1) }, '↑'),
          el('button', { type: 'button', 'aria-label': t('wf.move_down'), disabled: index === def.steps.length - 1, onclick: () => move(1) }, '↓'),
          el('button', { type: 'button', class: 'wf-delete', 'aria-label': t('wf.delete_step'), onclick: remove }, '✕'))),
      el('p', { class: 'wf-summary' }, summary(step)),
      mine.map((p) => el('p', { class: 'error wf-problem', role: 'alert' }, problemText(p))),
      editing ? el('div', { class: 'wf-form' }, stepForm(step, def, changed)) : null,
      kindPick);
    return node;
  };
  const column = (id) => {
    const items = [];
    let at = id;
    while (at) {
      const step = def.steps.find((s) => s.id === at);
      if (!step) { items.push(el('p', { class: 'error wf-missing' }, t('wf.missing', { id: at }))); break; }
      if (drawn.has(at)) { items.push(el('p', { class: 'wf-goto muted' }, t('wf.goes_to', { id: at }))); break; }
      drawn.add(at);
      items.push(card(step));
      const ways = exits(step);
      if (ways.length) {
        items.push(el('div', { class: 'wf-branches' }, ways.map((w) => el('div', { class: 'wf-branch' },
          el('span', { class: 'wf-edge' }, w.label), w.to ? column(w.to) : el('p', { class: 'muted wf-end' }, t('wf.end'))))));
        break;
      }
      at = step.kind === 'jump' ? null : step.next;
      if (step.kind === 'jump') items.push(el('p', { class: 'wf-goto muted' }, t('wf.jump_to', { to: step.to, n: step.max_times })));
      if (step.kind === 'jump' && step.next) at = step.next;
    }
    if (!at) items.push(el('p', { class: 'muted wf-end' }, t('wf.end')));
    return el('div', { class: 'wf-column' }, items);
  };
  const flow = def.steps.length ? column(def.steps[0].id) : el('p', { class: 'muted' }, t('wf.no_steps'));
  const unreached = def.steps.filter((s) => !drawn.has(s.id));
  const first = el('select', { class: 'wf-add-kind', id: 'wf-add-first', 'aria-label': t('wf.add_first') },
    el('option', { value: '' }, t('wf.add_first')), STEP_KINDS.map((k) => el('option', { value: k }, t(`wf.kind_${k}`))));
  first.addEventListener('change', () => {
    if (!first.value) return;
    const id = newId(def, first.value);
    def.steps.unshift({ id, kind: first.value, ...fresh(first.value), ...(def.steps[0] ? { next: def.steps[0].id } : {}) });
    open.add(id);
    changed(true);
  });
  const rest = unreached.length ? [el('div', { class: 'wf-unreached' }, el('h4', {}, t('wf.unreached')), unreached.map(card))] : [];
  box.replaceChildren(first, flow, ...rest);
}

/** The trigger's form. */
export function triggerForm(def, changed) {
  const trig = def.trigger;
  const kind = el('select', { id: 'wf-trigger-kind', onchange: (e) => { def.trigger = { kind: e.target.value }; changed(true); } },
    TRIGGER_KINDS.map((k) => el('option', { value: k, selected: trig.kind === k }, t(`wf.trigger_${k}`))));
  const extra = [];
  const soft = () => changed(false);
  switch (trig.kind) {
    case 'message_received':
      extra.push(list(trig, 'keywords', 'wf.keywords', soft), text(trig, 'pattern', 'wf.pattern', soft),
        field(t('wf.first_only'), el('input', { type: 'checkbox', checked: !!trig.first_only, dataset: { field: 'first_only' },
          onchange: (e) => { trig.first_only = e.target.checked; soft(); } })));
      break;
    case 'conversation_opened':
      extra.push(choice(trig, 'by', 'wf.opened_by', ['', 'contact', 'person', 'workflow'], soft, (o) => t(`wf.opened_by_${o || 'anyone'}`)));
      break;
    case 'tag_added': case 'tag_removed': extra.push(text(trig, 'tag', 'wf.tag', soft)); break;
    case 'contact_field_updated': extra.push(text(trig, 'field', 'wf.field', soft)); break;
    case 'ad_referral': extra.push(text(trig, 'source_id', 'wf.source_id', soft)); break;
    case 'inactivity':
      trig.who ??= 'team'; trig.hours ??= 24;
      extra.push(choice(trig, 'who', 'wf.who', ['team', 'contact'], soft, (o) => t(`wf.silent_${o}`)),
        text(trig, 'hours', 'wf.hours', soft, { kind: 'number' }));
      break;
    case 'schedule':
      trig.cron ??= '0 9 * * 1'; trig.timezone ??= 'UTC';
      extra.push(text(trig, 'cron', 'wf.cron', soft), text(trig, 'timezone', 'wf.timezone', soft), list(trig, 'tags', 'wf.segment_tags', soft));
      break;
    default: break;
  }
  return el('div', { class: 'wf-trigger' }, field(t('wf.trigger'), kind), extra);
}
