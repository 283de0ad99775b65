// One message: sender, text (always as text, never as HTML), attachments, reactions, read
// receipt, and the actions (react, edit, delete, pin).

import { html, useEffect, useRef, useState } from '../lib/html.js';
import {
  state, senderName, editMessage, deleteMessage, toggleReaction, updateConversation, attempt,
  retrySend, discardSend,
} from '../lib/store.js';
import { fetchBlob } from '../lib/api.js';
import {
  clockTime, fullTime, fileSize, EMOJI, emojiGlyph, INLINE_IMAGE_TYPES,
} from '../lib/format.js';
import { ask } from './dialog.js';
import { Icon } from '../lib/icons.js';

const contentUrl = (attachment) => `/v1/attachments/${attachment.id}/content`;

/** An image attachment: fetched with the token, shown from a blob: URL. */
function ImageAttachment({ attachment }) {
  const [url, setUrl] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let objectUrl = null;
    let live = true;
    fetchBlob(contentUrl(attachment))
      .then((blob) => {
        if (!live) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch(() => live && setFailed(true));
    return () => {
      live = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [attachment.id]);
  const open = () => ask({
    title: attachment.filename,
    cancel: 'Close',
    wide: true,
    children: html`<img class="full-image" src=${url} alt=${attachment.filename} />`,
  });
  if (failed) return html`<${FileAttachment} attachment=${attachment} />`;
  return html`<button type="button" class="thumb" onClick=${open} disabled=${!url}
      aria-label=${`Image ${attachment.filename}, ${fileSize(attachment.file_size)}: open larger`}>
    ${url ? html`<img src=${url} alt="" />` : html`<span class="muted small">Loading image…</span>`}
  </button>`;
}

/**
 * Any other file: a download. The bytes become an application/octet-stream blob saved under
 * the file's name, so an HTML or SVG upload is never rendered by the browser at this origin.
 */
function FileAttachment({ attachment }) {
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    try {
      const blob = await fetchBlob(contentUrl(attachment), 'application/octet-stream');
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = attachment.filename;
      link.rel = 'noopener';
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (error) {
      attempt(() => Promise.reject(error), 'Downloading');
    } finally {
      setBusy(false);
    }
  };
  return html`<button type="button" class="file" onClick=${download} disabled=${busy}
      aria-label=${`Download ${attachment.filename}, ${fileSize(attachment.file_size)}`}>
    <${Icon} name="file" />
    <span class="file-name">${attachment.filename}</span>
    <span class="muted small">${fileSize(attachment.file_size)}</span>
  </button>`;
}

function Attachments({ attachments }) {
  if (!attachments?.length) return null;
  return html`<div class="attachments">${attachments.map((a) => (INLINE_IMAGE_TYPES.includes(a.file_type)
    ? html`<${ImageAttachment} key=${a.id} attachment=${a} />`
    : html`<${FileAttachment} key=${a.id} attachment=${a} />`))}</div>`;
}

function Reactions({ message }) {
  if (!message.reactions?.length) return null;
  return html`<ul class="reactions" aria-label="Reactions">
    ${message.reactions.map((entry) => {
      const [name, who] = Object.entries(entry)[0];
      const mine = who.includes(state.me.username);
      const names = who.map((u) => (u === state.me.username ? 'you' : u)).join(', ');
      return html`<li key=${name}><button type="button" class=${`chip${mine ? ' mine' : ''}`} aria-pressed=${mine ? 'true' : 'false'}
          title=${`${name} by ${names}`} aria-label=${`${name}, ${who.length}: ${names}`}
          onClick=${() => attempt(() => toggleReaction(message, name), 'Reacting')}>
        <span aria-hidden="true">${emojiGlyph(name)}</span> ${who.length}</button></li>`;
    })}
  </ul>`;
}

function ReactionPicker({ message, onClose }) {
  const ref = useRef(null);
  useEffect(() => {
    ref.current?.querySelector('button')?.focus();
  }, []);
  const pick = (name) => {
    onClose();
    attempt(() => toggleReaction(message, name), 'Reacting');
  };
  return html`<div class="picker" ref=${ref} role="group" aria-label="Pick a reaction"
      onKeyDown=${(e) => { if (e.key === 'Escape') { e.stopPropagation(); onClose(); } }}>
    ${Object.entries(EMOJI).map(([name, glyph]) => html`<button type="button" key=${name} title=${name}
      aria-label=${name} onClick=${() => pick(name)}>${glyph}</button>`)}
  </div>`;
}

function Editor({ message, onDone }) {
  const [text, setText] = useState(message.message);
  const ref = useRef(null);
  useEffect(() => {
    ref.current.focus();
    ref.current.setSelectionRange(text.length, text.length);
  }, []);
  const save = async () => {
    if (!text.trim() || text === message.message) { onDone(); return; }
    await attempt(() => editMessage(message, text), 'Editing');
    onDone();
  };
  return html`<div class="editor">
    <label class="sr-only" for=${`edit-${message.id}`}>Edit message</label>
    <textarea id=${`edit-${message.id}`} ref=${ref} value=${text} rows="2"
      onInput=${(e) => setText(e.target.value)}
      onKeyDown=${(e) => {
        if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); save(); }
        if (e.key === 'Escape') { e.preventDefault(); onDone(); }
      }}></textarea>
    <div class="editor-actions">
      <button type="button" onClick=${onDone}>Cancel</button>
      <button type="button" class="primary" onClick=${save}>Save</button>
    </div>
  </div>`;
}

function Receipt({ message }) {
  if (message.read_at) {
    return html`<span class="receipt read" title=${`Read ${fullTime(message.read_at)}`}>✓✓<span class="sr-only"> read</span></span>`;
  }
  return html`<span class="receipt" title="Sent">✓<span class="sr-only"> sent</span></span>`;
}

export function Message({ message, conversation, grouped }) {
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const mine = message.contact.id === state.me.id;
  const sender = senderName(message.contact);
  const pinned = conversation.pinned_message_id === message.id;
  const remove = async () => {
    const yes = await ask({
      title: 'Delete this message?', body: 'It is deleted for everyone, with its attachments.', confirm: 'Delete', danger: true,
    });
    if (yes) attempt(() => deleteMessage(message), 'Deleting');
  };
  const togglePin = () => attempt(
    () => updateConversation(conversation.id, { pinned_message_id: pinned ? null : message.id }),
    'Pinning',
  );
  return html`<article id=${`m-${message.id}`} class=${`msg${mine ? ' mine' : ''}${grouped ? ' grouped' : ''}`}
      aria-label=${`${sender}, ${clockTime(message.created_at)}`} data-id=${message.id}>
    ${!grouped && html`<header class="msg-head"><span class="sender">${sender}</span></header>`}
    <div class="bubble">
      ${editing
        ? html`<${Editor} message=${message} onDone=${() => setEditing(false)} />`
        : html`<p class="text">${message.message}</p>`}
      <${Attachments} attachments=${message.attachments} />
      <footer class="msg-meta">
        ${message.updated_at && html`<span class="muted" title=${`Edited ${fullTime(message.updated_at)}`}>edited</span>`}
        <time datetime=${new Date(message.created_at * 1000).toISOString()} title=${fullTime(message.created_at)}>${clockTime(message.created_at)}</time>
        ${mine && html`<${Receipt} message=${message} />`}
      </footer>
    </div>
    <${Reactions} message=${message} />
    <div class="msg-actions" role="group" aria-label="Message actions">
      <button type="button" aria-expanded=${picking ? 'true' : 'false'} onClick=${() => setPicking(!picking)}>React</button>
      ${mine && html`<button type="button" onClick=${() => setEditing(true)}>Edit</button>`}
      ${mine && html`<button type="button" onClick=${remove}>Delete</button>`}
      <button type="button" onClick=${togglePin}>${pinned ? 'Unpin' : 'Pin'}</button>
    </div>
    ${picking && html`<${ReactionPicker} message=${message} onClose=${() => setPicking(false)} />`}
  </article>`;
}

/** A message on its way: shown at once, with its failure and a retry. */
export function PendingMessage({ pending, conversationId }) {
  return html`<article class=${`msg mine pending ${pending.state}`} aria-label=${pending.state === 'failed' ? 'Not sent' : 'Sending'}>
    <div class="bubble">
      <p class="text">${pending.text}</p>
      ${pending.attachments.length > 0 && html`<p class="muted small"><${Icon} name="clip" /> ${pending.attachments.map((a) => a.filename).join(', ')}</p>`}
      <footer class="msg-meta">
        ${pending.state === 'sending'
          ? html`<span class="muted">Sending…</span>`
          : html`<span class="error" role="alert">Not sent: ${pending.error}</span>
            <button type="button" class="link" onClick=${() => retrySend(conversationId, pending.localId)}>Retry</button>
            <button type="button" class="link" onClick=${() => discardSend(conversationId, pending.localId)}>Discard</button>`}
      </footer>
    </div>
  </article>`;
}
