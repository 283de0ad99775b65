// The developer drawer: the raw events as they arrive, and every request the app made as a
// curl command to copy (the token masked until revealed).

import { html, useEffect, useState } from '../lib/html.js';
import { useStore } from '../lib/store.js';
import { requestLog, onRequestLogged, curlCommand } from '../lib/api.js';

function CopyButton({ text }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 1500);
    } catch { /* no clipboard: the text can still be selected */ }
  };
  return html`<button type="button" class="link" onClick=${copy}>${done ? 'Copied' : 'Copy'}</button>`;
}

export function DevDrawer({ onClose }) {
  const s = useStore();
  const [tab, setTab] = useState('requests');
  const [reveal, setReveal] = useState(false);
  const [, setCount] = useState(0);
  useEffect(() => onRequestLogged(() => setCount((n) => n + 1)), []);
  const requests = requestLog().slice().reverse();
  return html`<aside class="drawer" aria-label="Developer drawer"
      onKeyDown=${(e) => { if (e.key === 'Escape') onClose(); }}>
    <header class="drawer-head">
      <h2>Developer</h2>
      <div class="tabs" role="group" aria-label="Show">
        <button type="button" aria-pressed=${tab === 'requests' ? 'true' : 'false'} onClick=${() => setTab('requests')}>Requests (${requests.length})</button>
        <button type="button" aria-pressed=${tab === 'events' ? 'true' : 'false'} onClick=${() => setTab('events')}>Events (${s.devEvents.length})</button>
      </div>
      <button type="button" class="link" onClick=${onClose} aria-label="Close the developer drawer">✕</button>
    </header>
    ${tab === 'requests' && html`<label class="check small"><input type="checkbox" checked=${reveal}
      onChange=${(e) => setReveal(e.target.checked)} /> Show the token in the commands</label>`}
    <ol class="drawer-list" aria-live="off">
      ${tab === 'requests'
        ? requests.map((entry) => {
          const command = curlCommand(entry, reveal);
          return html`<li key=${entry.seq}>
            <div class="drawer-meta"><span class=${`status s${String(entry.status)[0]}`}>${entry.status ?? '…'}</span>
              <span>${entry.method} ${entry.url}</span><${CopyButton} text=${command} /></div>
            <pre><code>${command}</code></pre></li>`;
        })
        : s.devEvents.map((event) => html`<li key=${event.id}>
            <div class="drawer-meta"><strong>${event.type}</strong><span class="muted">${event.id}</span></div>
            <pre><code>${JSON.stringify(event, null, 2)}</code></pre></li>`)}
    </ol>
  </aside>`;
}
