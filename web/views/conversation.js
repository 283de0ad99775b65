// One conversation: header with its settings, the pinned message, the messages (newest at the
// bottom, older pages loaded as you scroll up) and the composer. Files can be dropped on it.

import { html, useLayoutEffect, useRef, useState } from '../lib/html.js';
import {
  useStore, state, loadOlder, conversationTitle, updateConversation, deleteConversation,
  closeConversation, pinnedMessage, attempt, senderName,
} from '../lib/store.js';
import { upload } from '../lib/api.js';
import { Message, PendingMessage } from './message.js';
import { Composer } from './composer.js';
import { ask } from './dialog.js';
import { Avatar } from './sidebar.js';
import { Icon } from '../lib/icons.js';

/** Within this many pixels of the top, the next older page loads. */
const LOAD_OLDER_MARGIN = 400;

let uploadIds = 0;

function Header({ conversation }) {
  const s = state;
  const title = conversationTitle(conversation);
  const group = conversation.group_id ? s.groups.get(conversation.group_id) : null;
  const contact = conversation.contact_id ? s.contacts.get(conversation.contact_id) : null;
  const subtitle = group ? `${group.contacts.length} members` : contact ? `@${contact.username} · ${contact.phone_number}` : '';
  const set = (fields, what) => attempt(() => updateConversation(conversation.id, fields), what);
  const remove = async () => {
    const yes = await ask({
      title: 'Delete this conversation for you?',
      body: 'It disappears from your list with all its messages. The others keep theirs; a new message brings it back.',
      confirm: 'Delete for me',
      danger: true,
    });
    if (yes) attempt(() => deleteConversation(conversation.id), 'Deleting');
  };
  return html`<header class="conv-head">
    <button type="button" class="back" onClick=${closeConversation} aria-label="Back to the conversation list"><${Icon} name="back" /></button>
    <${Avatar} name=${title} />
    <div class="conv-head-text">
      <h1 class="conv-name">${title}</h1>
      ${subtitle && html`<p class="muted small">${subtitle}</p>`}
    </div>
    <div class="conv-actions" role="group" aria-label="Conversation settings">
      <button type="button" aria-pressed=${conversation.is_pinned ? 'true' : 'false'}
        onClick=${() => set({ is_pinned: !conversation.is_pinned }, 'Pinning')}>${conversation.is_pinned ? 'Unpin' : 'Pin'}</button>
      <button type="button" aria-pressed=${conversation.is_muted ? 'true' : 'false'}
        onClick=${() => set({ is_muted: !conversation.is_muted }, 'Muting')}>${conversation.is_muted ? 'Unmute' : 'Mute'}</button>
      <button type="button" aria-pressed=${conversation.archived_at ? 'true' : 'false'}
        onClick=${() => set({ archived_at: conversation.archived_at ? null : Math.floor(Date.now() / 1000) }, 'Archiving')}>
        ${conversation.archived_at ? 'Unarchive' : 'Archive'}</button>
      <button type="button" class="danger-text" onClick=${remove}>Delete for me</button>
    </div>
  </header>`;
}

function PinnedBanner({ conversation }) {
  const message = pinnedMessage(conversation);
  if (!conversation.pinned_message_id) return null;
  const jump = () => document.getElementById(`m-${conversation.pinned_message_id}`)?.scrollIntoView({ block: 'center' });
  return html`<div class="pinned-banner" role="note" aria-label="Pinned message">
    <button type="button" class="pinned-text" onClick=${jump}>
      <${Icon} name="pin" /> 
      ${message ? html`<strong>${senderName(message.contact)}:</strong> ${message.message}` : 'Pinned message'}
    </button>
    <button type="button" class="link" onClick=${() => attempt(() => updateConversation(conversation.id, { pinned_message_id: null }), 'Unpinning')}>Unpin</button>
  </div>`;
}

export function Conversation({ id }) {
  const s = useStore();
  const conversation = s.conversations.get(id);
  const thread = s.threads.get(id);
  const list = useRef(null);
  const [uploads, setUploads] = useState([]);
  const [dragging, setDragging] = useState(false);

  const messages = thread?.messages || [];
  const first = messages[0]?.id;
  const last = messages[messages.length - 1]?.id;
  const pendingCount = thread?.pending.length || 0;

  // Where the list stood before this render (the DOM is not updated yet), and what it showed:
  // older messages coming in above must not move the view, and new ones are followed when the
  // view was at the bottom.
  const committed = useRef({ loaded: false, first: undefined, last: undefined, pending: 0 });
  const metrics = useRef(null);
  if (list.current) {
    const node = list.current;
    metrics.current = {
      top: node.scrollTop,
      height: node.scrollHeight,
      atBottom: node.scrollHeight - node.scrollTop - node.clientHeight < 80,
    };
  }

  useLayoutEffect(() => {
    const node = list.current;
    if (!node) return;
    const prev = committed.current;
    const was = metrics.current;
    const loaded = Boolean(thread?.loaded);
    if (loaded && !prev.loaded) {
      node.scrollTop = node.scrollHeight;
    } else if (was && prev.first !== undefined && prev.first !== first) {
      node.scrollTop = was.top + (node.scrollHeight - was.height);
    } else if (was && (prev.last !== last || pendingCount > prev.pending)) {
      const mine = pendingCount > prev.pending || messages[messages.length - 1]?.contact.id === s.me.id;
      if (was.atBottom || mine) node.scrollTop = node.scrollHeight;
    }
    committed.current = { loaded, first, last, pending: pendingCount };
    // A page that does not fill the view: fetch the one before it.
    if (thread?.hasOlder && node.scrollHeight <= node.clientHeight) loadOlder(id);
  });

  const onScroll = () => {
    const node = list.current;
    if (node && node.scrollTop < LOAD_OLDER_MARGIN) loadOlder(id);
  };

  const startUpload = (file) => {
    const item = { localId: (uploadIds += 1), name: file.name || 'pasted-image.png', progress: 0, attachment: null, error: null };
    setUploads((all) => [...all, item]);
    const patch = (fields) => setUploads((all) => all.map((u) => (u.localId === item.localId ? { ...u, ...fields } : u)));
    upload(file, (progress) => patch({ progress }))
      .then((attachment) => patch({ attachment, progress: 1 }))
      .catch((error) => patch({ error: error.message }));
  };

  const onDrop = (e) => {
    e.preventDefault();
    setDragging(false);
    [...(e.dataTransfer?.files || [])].forEach(startUpload);
  };

  if (!conversation) {
    return html`<div class="empty-main"><p>${thread?.loaded ? 'This conversation is gone.' : 'Opening…'}</p></div>`;
  }
  const title = conversationTitle(conversation);
  let lastSender = null;
  return html`<section class=${`conversation${dragging ? ' dragging' : ''}`} aria-label=${`Conversation with ${title}`}
      onDragOver=${(e) => { e.preventDefault(); setDragging(true); }}
      onDragLeave=${(e) => { if (e.currentTarget === e.target) setDragging(false); }}
      onDrop=${onDrop}>
    <${Header} conversation=${conversation} />
    <${PinnedBanner} conversation=${conversation} />
    <div class="messages" ref=${list} onScroll=${onScroll} role="log" aria-label="Messages" aria-live="polite" tabindex="0">
      <p class="thread-edge muted small">
        ${!thread?.loaded ? 'Loading messages…' : thread.loadingOlder ? 'Loading older messages…' : thread.hasOlder ? '' : 'This is the beginning of the conversation.'}
      </p>
      ${messages.map((m) => {
        const grouped = lastSender === m.contact.id;
        lastSender = m.contact.id;
        return html`<${Message} key=${m.id} message=${m} conversation=${conversation} grouped=${grouped} />`;
      })}
      ${(thread?.pending || []).map((p) => html`<${PendingMessage} key=${p.localId} pending=${p} conversationId=${id} />`)}
    </div>
    ${dragging && html`<div class="drop-hint" aria-hidden="true">Drop files to attach them</div>`}
    <${Composer} conversationId=${id} uploads=${uploads} setUploads=${setUploads} startUpload=${startUpload} />
  </section>`;
}
