// The chat web app: sign in, then the conversation list beside the open conversation (or the
// contacts, or the groups). The address bar holds only which screen is open (#c=ID,
// #contacts, #groups), never the token.

import { html, render, useEffect, useState } from './lib/html.js';
import {
  useStore, state, changed, restoreSession, openConversation, closeConversation,
} from './lib/store.js';
import { SignIn } from './views/signin.js';
import { Sidebar } from './views/sidebar.js';
import { Conversation } from './views/conversation.js';
import { Contacts } from './views/contacts.js';
import { Groups } from './views/groups.js';
import { DevDrawer } from './views/devdrawer.js';

/** Shows the screen the address names (after a reload, or Back on a phone). */
function followHash() {
  if (!state.me) return;
  const hash = location.hash;
  if (hash.startsWith('#c=')) {
    const id = hash.slice(3);
    if (id !== state.openId) openConversation(id).catch(() => closeConversation());
    return;
  }
  state.openId = null;
  state.view = hash === '#contacts' ? 'contacts' : hash === '#groups' ? 'groups' : 'chats';
  changed();
}

function Notice({ notice }) {
  return html`<div class="notice-region" role="alert" aria-live="assertive">
    ${notice && html`<p class="notice notice-${notice.kind}">${notice.text}</p>`}
  </div>`;
}

function App() {
  const s = useStore();
  const [booting, setBooting] = useState(true);
  const [devOpen, setDevOpen] = useState(false);

  useEffect(() => {
    restoreSession().finally(() => {
      setBooting(false);
      followHash();
    });
    window.addEventListener('popstate', followHash);
    return () => window.removeEventListener('popstate', followHash);
  }, []);

  if (booting) return html`<p class="boot">Loading…</p>`;
  if (!s.me) return html`<${SignIn} onSignedIn=${followHash} /><${Notice} notice=${s.notice} />`;

  let main;
  if (s.view === 'contacts') main = html`<${Contacts} />`;
  else if (s.view === 'groups') main = html`<${Groups} />`;
  else if (s.openId) main = html`<${Conversation} key=${s.openId} id=${s.openId} />`;
  else main = html`<div class="empty-main"><p>Pick a conversation, or start one from <a href="#contacts">Contacts</a>.</p></div>`;

  const showingMain = Boolean(s.openId) || s.view !== 'chats';
  return html`
    <div class=${`shell${showingMain ? ' showing-main' : ''}${devOpen ? ' with-drawer' : ''}`}>
      <button type="button" class="skip" onClick=${() => document.getElementById('main').focus()}>Skip to the conversation</button>
      <${Sidebar} devOpen=${devOpen} onToggleDev=${() => setDevOpen(!devOpen)} />
      <main id="main" class="main" tabindex="-1">${main}</main>
      ${devOpen && html`<${DevDrawer} onClose=${() => setDevOpen(false)} />`}
      <${Notice} notice=${s.notice} />
    </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
