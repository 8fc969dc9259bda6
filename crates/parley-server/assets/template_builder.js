// The template builder (owners and managers): every component Meta reviews — a header (text with
// one variable, an image, video or document sample uploaded through the provider, or a
// location), the body with an example per variable, a footer, and buttons (quick replies, links
// with a variable at the end, a phone number, a code to copy); an authentication template's
// security line, code expiry and copy-code button. A WhatsApp-like preview beside it fills the
// variables with their examples as the user types. The server checks every rule again; its
// refusal shows under the form in words, with the component it names.

import { api, el, formatted, t } from './api.js';
import { placeholders } from './composer.js';
import { attempt } from './settings.js';

export const HEADER_FORMATS = ['NONE', 'TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION'];
export const BUTTON_TYPES = ['QUICK_REPLY', 'URL', 'PHONE_NUMBER', 'COPY_CODE'];
const SAMPLE_TYPES = { IMAGE: 'image/jpeg,image/png', VIDEO: 'video/mp4', DOCUMENT: 'application/pdf' };

/** A fresh draft, or the state of `stored` (a template from the API) for its next version. */
export function draftState(stored = null) {
  const state = {
    name: stored?.name ?? '', language: stored?.language ?? 'en', category: stored?.category ?? 'utility',
    format: stored?.parameter_format ?? 'positional',
    header: { format: 'NONE', text: '', example: '', handle: '', fileName: '' },
    body: '', examples: {}, footer: '', buttons: [], security: true, expiry: '',
  };
  const latest = stored?.versions?.[0]?.components ?? stored?.components ?? [];
  for (const c of latest) {
    const type = String(c.type ?? '').toUpperCase();
    const ex = c.example ?? {};
    if (type === 'HEADER') {
      const format = String(c.format ?? 'TEXT').toUpperCase();
      state.header = { format, text: c.text ?? '', handle: ex.header_handle?.[0] ?? '', fileName: '',
        example: ex.header_text?.[0] ?? ex.header_text_named_params?.[0]?.example ?? '' };
    } else if (type === 'BODY') {
      state.body = c.text ?? '';
      state.security = c.add_security_recommendation ?? state.security;
      const names = placeholders(state.body);
      (ex.body_text?.[0] ?? []).forEach((v, i) => { if (names[i] !== undefined) state.examples[names[i]] = v; });
      for (const p of ex.body_text_named_params ?? []) state.examples[p.param_name] = p.example;
    } else if (type === 'FOOTER') {
      state.footer = c.text ?? '';
      state.expiry = c.code_expiration_minutes ?? '';
    } else if (type === 'BUTTONS') {
      state.buttons = (c.buttons ?? []).map((b) => {
        const kind = String(b.type ?? '').toUpperCase();
        const url = b.url ?? '';
        const fixed = url.endsWith('{{1}}') ? url.slice(0, -5) : url;
        const urlExample = kind === 'URL' && b.example?.[0]?.startsWith(fixed) ? b.example[0].slice(fixed.length) : '';
        return { type: kind, text: b.text ?? '', url, urlExample, phone: b.phone_number ?? '',
          code: kind === 'COPY_CODE' ? (b.example ?? '') : '' };
      }).filter((b) => BUTTON_TYPES.includes(b.type));
    }
  }
  return state;
}

/** Placeholders in the order their examples are listed: `{{1}}`, `{{2}}`… by number. */
function ordered(names) {
  return names.every((n) => /^\d+$/.test(n)) ? [...names].sort((a, b) => Number(a) - Number(b)) : names;
}

function exampleOf(names, examples, named) {
  if (!names.length) return undefined;
  return named ? names.map((n) => ({ param_name: n, example: examples[n] ?? '' })) : names.map((n) => examples[n] ?? '');
}

/** What the API takes: Meta's create shape. */
export function draftBody(state) {
  const named = state.format === 'named';
  const components = [];
  if (state.category === 'authentication') {
    components.push({ type: 'BODY', add_security_recommendation: state.security });
    if (state.expiry !== '') components.push({ type: 'FOOTER', code_expiration_minutes: Number(state.expiry) });
    components.push({ type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE' }] });
    return { name: state.name.trim(), language: state.language.trim(), category: state.category, parameter_format: 'positional', components };
  }
  const h = state.header;
  if (h.format === 'TEXT') {
    const header = { type: 'HEADER', format: 'TEXT', text: h.text };
    const vars = placeholders(h.text);
    if (vars.length) header.example = named ? { header_text_named_params: [{ param_name: vars[0], example: h.example }] } : { header_text: [h.example] };
    components.push(header);
  } else if (h.format === 'LOCATION') {
    components.push({ type: 'HEADER', format: 'LOCATION' });
  } else if (h.format !== 'NONE') {
    components.push({ type: 'HEADER', format: h.format, example: { header_handle: [h.handle] } });
  }
  const body = { type: 'BODY', text: state.body };
  const names = ordered(placeholders(state.body));
  const example = exampleOf(names, state.examples, named);
  if (example) body.example = named ? { body_text_named_params: example } : { body_text: [example] };
  components.push(body);
  if (state.footer.trim()) components.push({ type: 'FOOTER', text: state.footer });
  if (state.buttons.length) {
    components.push({ type: 'BUTTONS', buttons: state.buttons.map((b) => {
      if (b.type === 'URL') {
        const out = { type: 'URL', text: b.text, url: b.url };
        if (b.url.endsWith('{{1}}')) out.example = [b.url.slice(0, -5) + b.urlExample];
        return out;
      }
      if (b.type === 'PHONE_NUMBER') return { type: 'PHONE_NUMBER', text: b.text, phone_number: b.phone };
      if (b.type === 'COPY_CODE') return { type: 'COPY_CODE', example: b.code };
      return { type: 'QUICK_REPLY', text: b.text };
    }) });
  }
  return { name: state.name.trim(), language: state.language.trim(), category: state.category, parameter_format: state.format, components };
}

/** `text` with each `{{name}}` replaced by its example (the placeholder stays when it has none). */
function filled(text, examples) {
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, name) => (examples[name] ? examples[name] : whole));
}

/** The message as a customer would see it in WhatsApp. */
export function preview(state) {
  const parts = [];
  let buttons = [];
  if (state.category === 'authentication') {
    parts.push(el('p', { class: 'preview-body' }, t('templates.auth_body', { code: '123456' }),
      state.security ? ` ${t('templates.auth_security')}` : ''));
    if (state.expiry !== '') parts.push(el('p', { class: 'preview-footer' }, t('templates.auth_expiry', { n: state.expiry })));
    buttons = [t('templates.copy_code')];
  } else {
    const h = state.header;
    if (h.format === 'TEXT' && h.text) {
      const vars = placeholders(h.text);
      parts.push(el('p', { class: 'preview-header' }, filled(h.text, vars.length ? { [vars[0]]: h.example } : {})));
    } else if (h.format !== 'NONE' && h.format !== 'TEXT') {
      parts.push(el('div', { class: `preview-media ${h.format.toLowerCase()}` }, t(`templates.header_${h.format.toLowerCase()}`),
        h.fileName ? el('small', {}, h.fileName) : null));
    }
    parts.push(el('p', { class: 'preview-body' }, formatted(filled(state.body || t('templates.body_empty'), state.examples))));
    if (state.footer.trim()) parts.push(el('p', { class: 'preview-footer' }, state.footer));
    buttons = state.buttons.map((b) => (b.type === 'COPY_CODE' ? t('templates.copy_code') : b.text || t(`templates.button_${b.type.toLowerCase()}`)));
  }
  return el('div', { class: 'wa-preview', id: 'template-preview', 'aria-live': 'polite' },
    el('div', { class: 'wa-bubble' }, parts),
    buttons.map((text) => el('div', { class: 'wa-button' }, text)));
}

function field(label, input, hint) {
  return el('label', { class: 'field' }, label, input, hint ? el('small', { class: 'muted' }, hint) : null);
}

function input(id, value, attrs = {}) {
  return el('input', { id, value: value ?? '', ...attrs });
}

/**
 * The builder form for `channel`: a new template, or the next version of `stored`. `done` runs
 * after the provider took it.
 */
export function templateBuilder(channel, stored, done, cancel) {
  const state = draftState(stored);
  const editing = Boolean(stored);
  const error = el('p', { class: 'error', id: 'template-builder-error', role: 'alert', hidden: true });
  // `novalidate`: the server's refusal, in words under the form, is the one voice on what is wrong.
  const form = el('form', { class: 'settings-form template-builder', id: 'template-builder', novalidate: true });
  const previewBox = el('div', { class: 'preview-box' });
  const redrawPreview = () => previewBox.replaceChildren(el('h4', {}, t('templates.preview')), preview(state));

  // Each input writes its value into `state`; structural changes redraw the form.
  const bind = (node, set, structural = false) => {
    node.addEventListener('input', () => { set(node.type === 'checkbox' ? node.checked : node.value); if (structural) draw(); else redrawPreview(); });
    return node;
  };

  function exampleInputs() {
    const names = ordered(placeholders(state.body));
    if (!names.length) return null;
    return el('fieldset', { class: 'examples', id: 'template-examples' }, el('legend', {}, t('templates.examples')),
      names.map((n) => field(`{{${n}}}`, bind(input(`template-example-${n}`, state.examples[n], { required: true }), (v) => { state.examples[n] = v; }))));
  }

  function headerFields() {
    const h = state.header;
    const format = el('select', { id: 'template-header-format' }, HEADER_FORMATS.map((f) =>
      el('option', { value: f, selected: f === h.format }, t(`templates.header_${f.toLowerCase()}`))));
    format.addEventListener('change', () => { h.format = format.value; h.handle = ''; h.fileName = ''; draw(); });
    const out = [field(t('templates.header'), format)];
    if (h.format === 'TEXT') {
      out.push(field(t('templates.header_text_label'), bind(input('template-header-text', h.text, { maxlength: 60 }), (v) => { h.text = v; }, true)));
      if (placeholders(h.text).length) {
        out.push(field(t('templates.header_example'), bind(input('template-header-example', h.example, { required: true }), (v) => { h.example = v; })));
      }
    } else if (SAMPLE_TYPES[h.format]) {
      const status = el('small', { class: 'muted', id: 'template-sample-status' },
        h.handle ? t('templates.sample_ready', { name: h.fileName || t('templates.sample_previous') }) : t('templates.sample_needed'));
      const file = el('input', { type: 'file', id: 'template-sample', accept: SAMPLE_TYPES[h.format] });
      file.addEventListener('change', async () => {
        const chosen = file.files[0];
        if (!chosen) return;
        status.textContent = t('templates.sample_uploading');
        const ok = await attempt(error, async () => {
          const answer = await api('POST', `/channels/${channel.id}/samples?file_name=${encodeURIComponent(chosen.name)}`, chosen,
            { 'Content-Type': chosen.type || 'application/octet-stream' });
          h.handle = answer.handle;
          h.fileName = chosen.name;
        });
        status.textContent = ok ? t('templates.sample_ready', { name: chosen.name }) : t('templates.sample_needed');
        redrawPreview();
      });
      out.push(field(t('templates.sample'), file), status);
    }
    return out;
  }

  function buttonRow(b, i) {
    const remove = el('button', { type: 'button', class: 'delete', onclick: () => { state.buttons.splice(i, 1); draw(); } }, t('templates.remove'));
    const fields = [];
    if (b.type !== 'COPY_CODE') fields.push(field(t('templates.button_text'), bind(input(`template-button-${i}-text`, b.text, { maxlength: 25, required: true }), (v) => { b.text = v; })));
    if (b.type === 'URL') {
      fields.push(field(t('templates.url'), bind(input(`template-button-${i}-url`, b.url, { type: 'url', required: true, placeholder: 'https://shop.example/orders/{{1}}' }), (v) => { b.url = v; }, true)));
      if (b.url.endsWith('{{1}}')) fields.push(field(t('templates.url_example'), bind(input(`template-button-${i}-example`, b.urlExample, { required: true }), (v) => { b.urlExample = v; })));
    }
    if (b.type === 'PHONE_NUMBER') fields.push(field(t('templates.button_phone'), bind(input(`template-button-${i}-phone`, b.phone, { required: true, placeholder: '+33612345678' }), (v) => { b.phone = v; })));
    if (b.type === 'COPY_CODE') fields.push(field(t('templates.code_example'), bind(input(`template-button-${i}-code`, b.code, { maxlength: 15, required: true }), (v) => { b.code = v; })));
    return el('fieldset', { class: 'button-row', dataset: { button: i } }, el('legend', {}, t(`templates.button_${b.type.toLowerCase()}`)), fields, remove);
  }

  function buttonFields() {
    const kind = el('select', { id: 'template-add-button-type', 'aria-label': t('templates.button_type') },
      BUTTON_TYPES.map((b) => el('option', { value: b }, t(`templates.button_${b.toLowerCase()}`))));
    const add = el('button', { type: 'button', id: 'template-add-button', disabled: state.buttons.length >= 10 }, t('templates.add_button'));
    add.addEventListener('click', () => { state.buttons.push({ type: kind.value, text: '', url: '', urlExample: '', phone: '', code: '' }); draw(); });
    return el('fieldset', { class: 'buttons', id: 'template-buttons' }, el('legend', {}, t('templates.buttons')),
      state.buttons.map(buttonRow), el('div', { class: 'row' }, kind, add));
  }

  function draw() {
    // A redraw keeps the caret where it was: the user is typing in the field that caused it.
    const active = document.activeElement;
    const focused = active?.id;
    let caret = null;
    try { caret = [active.selectionStart, active.selectionEnd]; } catch { caret = null; }
    const auth = state.category === 'authentication';
    const category = el('select', { id: 'template-category', disabled: editing && stored.status === 'approved' },
      ['utility', 'marketing', 'authentication'].map((c) => el('option', { value: c, selected: c === state.category }, t(`template.category.${c}`))));
    category.addEventListener('change', () => { state.category = category.value; draw(); });
    const format = el('select', { id: 'template-parameter-format', disabled: auth },
      ['positional', 'named'].map((f) => el('option', { value: f, selected: f === state.format }, t(`templates.format_${f}`))));
    format.addEventListener('change', () => { state.format = format.value; draw(); });
    const common = [
      el('h3', {}, editing ? t('templates.new_version_of', { name: state.name, language: state.language }) : t('templates.new')),
      editing ? null : field(t('templates.name'), bind(input('template-name', state.name, { required: true, maxlength: 512, pattern: '[a-z0-9_]+', autocomplete: 'off' }), (v) => { state.name = v; }), t('templates.name_hint')),
      editing ? null : field(t('templates.language'), bind(input('template-language', state.language, { required: true, list: 'template-languages', maxlength: 15 }), (v) => { state.language = v; })),
      field(t('templates.category'), category),
      auth ? null : field(t('templates.parameter_format'), format),
    ];
    const parts = auth ? [
      el('label', { class: 'check' }, bind(el('input', { type: 'checkbox', id: 'template-security', checked: state.security }), (v) => { state.security = v; }), ` ${t('templates.security')}`),
      field(t('templates.expiry'), bind(input('template-expiry', state.expiry, { type: 'number', min: 1, max: 90 }), (v) => { state.expiry = v; })),
    ] : [
      ...headerFields(),
      field(t('templates.body'), bind(el('textarea', { id: 'template-body', rows: 5, maxlength: 1024, required: true }, state.body), (v) => { state.body = v; }, true), t('templates.body_hint')),
      exampleInputs(),
      field(t('templates.footer'), bind(input('template-footer', state.footer, { maxlength: 60 }), (v) => { state.footer = v; })),
      buttonFields(),
    ];
    const submit = el('button', { type: 'submit', class: 'primary', id: 'template-submit' }, t('templates.submit'));
    const close = el('button', { type: 'button', id: 'template-cancel', onclick: cancel }, t('common.cancel'));
    form.replaceChildren(el('div', { class: 'builder-grid' },
      el('div', { class: 'builder-fields' }, common, parts, el('div', { class: 'row' }, submit, close), error), previewBox));
    redrawPreview();
    const again = focused && document.getElementById(focused);
    if (again && form.contains(again)) {
      again.focus();
      try { if (caret?.[0] != null) again.setSelectionRange(caret[0], caret[1]); } catch { /* not a text field */ }
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = draftBody(state);
    const path = editing
      ? `/channels/${channel.id}/templates/${encodeURIComponent(stored.name)}/${encodeURIComponent(stored.language)}/versions`
      : `/channels/${channel.id}/templates`;
    const send = editing ? { components: body.components, ...(stored.status === 'approved' ? {} : { category: body.category }), parameter_format: body.parameter_format } : body;
    if (await attempt(error, () => api('POST', path, send))) done();
  });
  draw();
  return form;
}

/** Meta's language codes most used, offered while typing (any code Meta knows is accepted). */
export function languageList() {
  return el('datalist', { id: 'template-languages' }, ['en', 'en_US', 'en_GB', 'fr', 'vi', 'es', 'es_MX', 'pt_BR', 'de', 'it', 'nl', 'id', 'th', 'ar', 'hi', 'zh_CN']
    .map((code) => el('option', { value: code })));
}

