// Files chosen to send, before they go: a preview of each (the picture itself, or the file's name
// and size), a caption where WhatsApp takes one (images, videos, documents), a way to take it
// back; several at once. Nothing is uploaded before Send. A tray belongs to its conversation: it
// survives the composer being redrawn, and another conversation has its own.

import { api, el, formatNumber, t } from './api.js';

/** Files waiting, per conversation id: `{ file, url, caption, uploaded }`. */
const trays = new Map();

/** WhatsApp's kind of message for a file type. */
export function kindOf(type) {
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

function size(bytes) {
  return bytes >= 1048576 ? `${formatNumber(Math.round(bytes / 104857.6) / 10)} MB` : `${formatNumber(Math.ceil(bytes / 1024))} KB`;
}

/** The tray of `conversationId`: its hidden file input (multiple), its list, and its items. */
export function attachmentTray(conversationId) {
  if (!trays.has(conversationId)) trays.set(conversationId, []);
  const items = trays.get(conversationId);
  const input = el('input', { type: 'file', id: 'composer-file', hidden: true, multiple: true });
  const list = el('ul', { class: 'attachments', id: 'attachments', 'aria-label': t('composer.attachments') });
  const remove = (item) => {
    items.splice(items.indexOf(item), 1);
    if (item.url) URL.revokeObjectURL(item.url);
    draw();
  };
  const draw = () => {
    list.hidden = items.length === 0;
    list.replaceChildren(...items.map((item, n) => {
      const kind = kindOf(item.file.type);
      const caption = kind === 'audio' ? null : el('input', {
        type: 'text', class: 'caption-input', id: `attachment-caption-${n}`, maxlength: 1024,
        placeholder: t('composer.caption'), 'aria-label': t('composer.caption_for', { name: item.file.name }),
        oninput: (e) => { item.caption = e.target.value; },
      });
      if (caption) caption.value = item.caption;
      return el('li', { class: 'attachment', dataset: { kind } },
        item.url ? el('img', { src: item.url, alt: item.file.name, class: 'thumb' })
          : el('span', { class: 'file-icon', 'aria-hidden': 'true' }, kind === 'audio' ? '🎵' : kind === 'video' ? '🎬' : '📄'),
        el('span', { class: 'file-name' }, item.file.name, el('small', { class: 'muted' }, ` · ${size(item.file.size)}`)),
        caption,
        el('button', { type: 'button', class: 'remove', 'aria-label': t('composer.remove_file', { name: item.file.name }), onclick: () => remove(item) }, '×'));
    }));
  };
  input.addEventListener('change', () => {
    for (const file of input.files) {
      items.push({ file, url: file.type.startsWith('image/') ? URL.createObjectURL(file) : null, caption: '', uploaded: null });
    }
    input.value = '';
    draw();
    list.querySelector('.caption-input:last-of-type')?.focus();
  });
  draw();
  return { input, list, items, remove };
}

/**
 * Sends the tray's files in order, each uploaded once (a retry after a failure reuses the upload
 * and its key, so nothing goes twice); `send(body)` sends one message and answers whether it
 * went. Stops at the first that does not go, leaving it and those after it in the tray.
 */
export async function sendAttachments(tray, conversation, send) {
  for (const item of [...tray.items]) {
    const kind = kindOf(item.file.type);
    const query = `?channel_id=${conversation.channel_id}&filename=${encodeURIComponent(item.file.name)}`;
    item.uploaded ??= await api('POST', `/media${query}`, item.file, { 'Content-Type': item.file.type || 'application/octet-stream' });
    const media = { id: item.uploaded.id };
    if (kind === 'document') media.filename = item.file.name;
    if (kind !== 'audio' && item.caption.trim()) media.caption = item.caption.trim();
    const body = { channel_id: conversation.channel_id, to: String(conversation.contact_id), type: kind, [kind]: media,
      idempotency_key: `ui-media-${item.uploaded.id}` };
    if (!(await send(body))) return false;
    tray.remove(item);
  }
  return true;
}
