// The composer: Enter sends, Shift+Enter breaks the line. Files come from the button, a drop
// on the conversation, or a pasted image; each uploads at once with a progress bar and goes
// with the next message.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { sendMessage } from '../lib/store.js';
import { fileSize } from '../lib/format.js';
import { Icon } from '../lib/icons.js';

export function Composer({ conversationId, uploads, setUploads, startUpload }) {
  const [text, setText] = useState('');
  const input = useRef(null);
  useEffect(() => {
    input.current?.focus({ preventScroll: true });
  }, [conversationId]);

  const ready = uploads.filter((u) => u.attachment);
  const busy = uploads.some((u) => !u.attachment && !u.error);
  const canSend = !busy && (text.trim() || ready.length);

  const send = () => {
    if (!canSend) return;
    const attachments = ready.map((u) => u.attachment);
    // The API needs text with every message: a message of files alone is named after them.
    const message = text.trim() ? text : attachments.map((a) => a.filename).join(', ');
    sendMessage(conversationId, message, attachments);
    setText('');
    setUploads((all) => all.filter((u) => !u.attachment));
    input.current?.focus();
  };

  const onPaste = (e) => {
    const files = [...(e.clipboardData?.files || [])].filter((f) => f.type.startsWith('image/'));
    if (files.length) {
      e.preventDefault();
      files.forEach(startUpload);
    }
  };

  return html`<form class="composer" onSubmit=${(e) => { e.preventDefault(); send(); }}>
    ${uploads.length > 0 && html`<ul class="uploads" aria-label="Attachments for the next message">
      ${uploads.map((u) => html`<li key=${u.localId} class=${u.error ? 'failed' : ''}>
        <span class="file-name">${u.name}</span>
        ${u.attachment && html`<span class="muted small">${fileSize(u.attachment.file_size)}</span>`}
        ${!u.attachment && !u.error && html`<progress max="1" value=${u.progress} aria-label=${`Uploading ${u.name}`}></progress>`}
        ${u.error && html`<span class="error">${u.error}</span>`}
        <button type="button" class="link" aria-label=${`Remove ${u.name}`}
          onClick=${() => setUploads((all) => all.filter((x) => x.localId !== u.localId))}>✕</button>
      </li>`)}
    </ul>`}
    <div class="composer-row">
      <label class="attach" title="Attach files">
        <input type="file" multiple class="sr-only" onChange=${(e) => { [...e.target.files].forEach(startUpload); e.target.value = ''; }} />
        <${Icon} name="clip" /><span class="sr-only">Attach files</span>
      </label>
      <label class="sr-only" for="compose">Message</label>
      <textarea id="compose" ref=${input} rows="1" placeholder="Message (Enter sends, Shift+Enter for a new line)"
        value=${text} onInput=${(e) => setText(e.target.value)} onPaste=${onPaste}
        onKeyDown=${(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
        }}></textarea>
      <button type="submit" class="primary" disabled=${!canSend}>Send</button>
    </div>
  </form>`;
}
