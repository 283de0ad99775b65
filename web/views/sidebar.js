// The left column: who you are, the connection, the sections, and the conversation list
// (pinned first, then by activity; more pages as it scrolls).

import { html, useEffect, useState } from '../lib/html.js';
import {
  useStore, state, changed, signOut, setFilter, loadConversations, openConversation,
  conversationTitle, senderName, reconnectNow,
} from '../lib/store.js';
import { relativeTime, fullTime, initials } from '../lib/format.js';
import { ask } from './dialog.js';
import { Icon } from '../lib/icons.js';

export function Avatar({ name, small }) {
  let hue = 0;
  for (const ch of name || '') hue = (hue * 31 + ch.charCodeAt(0)) % 360;
  return html`<span class=${`avatar${small ? ' small' : ''} hue-${hue % 12}`} aria-hidden="true">${initials(name)}</span>`;
}

function ConnectionState({ connection }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (connection.state !== 'offline') return undefined;
    const timer = setInterval(() => tick((t) => t + 1), 1000);
    return () => clearInterval(timer);
  }, [connection]);
  const labels = { connecting: 'Connecting…', live: 'Live', unauthorized: 'Signed out' };
  let text = labels[connection.state];
  if (connection.state === 'offline') {
    const seconds = Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000));
    text = seconds ? `Offline, retrying in ${seconds} s` : 'Offline, retrying…';
  }
  return html`<div class=${`connection conn-${connection.state}`} role="status" aria-live="polite">
    <span class="dot" aria-hidden="true"></span><span class="conn-text">${text}</span>
    ${connection.state === 'offline' && html`<button type="button" class="link" onClick=${reconnectNow}>Retry now</button>`}
  </div>`;
}

function go(view) {
  state.view = view;
  state.openId = null;
  const hash = view === 'chats' ? '' : `#${view}`;
  if (location.hash !== hash) history.pushState(null, '', hash || location.pathname);
  changed();
}

const FILTERS = [['inbox', 'All'], ['unread', 'Unread'], ['muted', 'Muted'], ['archived', 'Archived']];

function ConversationItem({ id, s }) {
  const c = s.conversations.get(id);
  if (!c) return null;
  const title = conversationTitle(c);
  const preview = s.previews.get(id);
  const unread = s.unread.has(id);
  const open = s.openId === id;
  let previewText = preview === undefined ? '' : 'No messages yet';
  if (preview) {
    const files = preview.attachments?.length ? '[file] ' : '';
    previewText = `${senderName(preview.contact)}: ${files}${preview.message}`;
  }
  const when = preview?.created_at || c.last_active_at || c.created_at;
  return html`<li>
    <button type="button" class=${`conv${unread ? ' unread' : ''}${open ? ' open' : ''}`}
      aria-current=${open ? 'true' : undefined} data-id=${id} onClick=${() => openConversation(id)}>
      <${Avatar} name=${title} />
      <span class="conv-body">
        <span class="conv-line">
          <span class="conv-title">${title}</span>
          <time datetime=${new Date(when * 1000).toISOString()} title=${fullTime(when)}>${relativeTime(when)}</time>
        </span>
        <span class="conv-line">
          <span class="conv-preview">${previewText}</span>
          <span class="conv-flags">
            ${c.is_pinned && html`<${Icon} name="pin" label="pinned" />`}
            ${c.is_muted && html`<${Icon} name="muted" label="muted" />`}
            ${c.archived_at && html`<span class="tag">Archived</span>`}
            ${unread && html`<span class="unread-dot" title="Unread"><span class="sr-only">unread</span></span>`}
          </span>
        </span>
      </span>
    </button>
  </li>`;
}

export function Sidebar({ devOpen, onToggleDev }) {
  const s = useStore();
  const onScroll = (e) => {
    const el = e.currentTarget;
    if (s.listHasMore && !s.listLoading && el.scrollHeight - el.scrollTop - el.clientHeight < 200) {
      loadConversations(false);
    }
  };
  const visible = (ids) => (s.filter === 'unread' ? ids.filter((id) => s.unread.has(id)) : ids);
  const pinned = visible(s.pinnedIds);
  const rest = visible(s.listIds);
  const confirmSignOut = async () => {
    if (await ask({ title: 'Sign out?', body: 'This browser forgets your token.', confirm: 'Sign out' })) signOut();
  };
  return html`
    <aside class="sidebar" aria-label="Chats">
      <header class="side-head">
        <div class="me"><${Avatar} name=${s.me.username} small /><span class="me-name">${s.me.username}</span></div>
        <${ConnectionState} connection=${s.connection} />
        <button type="button" class="link" onClick=${confirmSignOut}>Sign out</button>
      </header>
      <nav class="sections" aria-label="Sections">
        ${[['chats', 'Chats'], ['contacts', 'Contacts'], ['groups', 'Groups']].map(([view, label]) => html`
          <button type="button" key=${view} aria-current=${s.view === view ? 'page' : undefined}
            onClick=${() => go(view)}>${label}</button>`)}
        <button type="button" aria-pressed=${devOpen ? 'true' : 'false'} onClick=${onToggleDev}
          title="Raw events and every request as curl">Developer</button>
      </nav>
      <div class="filters" role="group" aria-label="Show">
        ${FILTERS.map(([filter, label]) => html`
          <button type="button" key=${filter} aria-pressed=${s.filter === filter ? 'true' : 'false'}
            onClick=${() => setFilter(filter)}>${label}${filter === 'unread' && s.unread.size ? ` (${s.unread.size})` : ''}</button>`)}
      </div>
      <div class="conv-scroll" onScroll=${onScroll}>
        ${!s.listReady && html`<p class="muted pad">Loading conversations…</p>`}
        ${s.listReady && !pinned.length && !rest.length && html`<p class="muted pad">No conversations here.</p>`}
        ${pinned.length > 0 && html`<h2 class="list-head">Pinned</h2>
          <ul class="conv-list" aria-label="Pinned conversations">${pinned.map((id) => html`<${ConversationItem} key=${id} id=${id} s=${s} />`)}</ul>`}
        ${rest.length > 0 && html`${pinned.length > 0 && html`<h2 class="list-head">Recent</h2>`}
          <ul class="conv-list" aria-label="Conversations">${rest.map((id) => html`<${ConversationItem} key=${id} id=${id} s=${s} />`)}</ul>`}
        ${s.listLoading && s.listReady && html`<p class="muted pad">Loading…</p>`}
      </div>
    </aside>`;
}
