// Sign in with a token. With demo data on, the server lists the accounts whose tokens are the
// public examples it ships, and the page offers them.

import { html, useEffect, useState, useRef } from '../lib/html.js';
import { signIn } from '../lib/store.js';

export function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(true);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [demo, setDemo] = useState([]);
  const input = useRef(null);

  useEffect(() => {
    input.current?.focus();
    fetch('/app/demo-accounts', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : []))
      .then(setDemo)
      .catch(() => setDemo([]));
  }, []);

  async function submit(value) {
    setBusy(true);
    setError(null);
    try {
      await signIn(value.trim(), remember);
      onSignedIn?.();
    } catch (e) {
      setError(e.status === 401 ? 'That token is not valid here.' : e.message);
      setBusy(false);
      input.current?.focus();
    }
  }

  return html`
    <main class="signin">
      <div class="signin-card">
        <h1><img src=${document.querySelector('link[rel=icon]')?.href} alt="" width="32" height="32" /> Protocol chat</h1>
        <form onSubmit=${(e) => { e.preventDefault(); if (token.trim()) submit(token); }}>
          <label for="token">Access token</label>
          <input id="token" ref=${input} type="password" autocomplete="current-password"
            value=${token} onInput=${(e) => setToken(e.target.value)}
            aria-invalid=${error ? 'true' : undefined} aria-describedby=${error ? 'token-error' : 'token-help'} />
          <p id="token-help" class="hint">Your token is in the server's protocol.toml. It stays in this browser.</p>
          ${error && html`<p id="token-error" class="error" role="alert">${error}</p>`}
          <label class="check"><input type="checkbox" checked=${remember}
            onChange=${(e) => setRemember(e.target.checked)} /> Keep me signed in on this device</label>
          <button type="submit" class="primary" disabled=${busy || !token.trim()}>Sign in</button>
        </form>
        ${demo.length > 0 && html`
          <section class="demo" aria-labelledby="demo-title">
            <h2 id="demo-title">Demo accounts</h2>
            <p class="hint">This server runs with demo data. These tokens are public examples shipped
              with the server: anyone can read them, so they must never guard real conversations.</p>
            <ul>
              ${demo.map((a) => html`<li key=${a.username}>
                <button type="button" disabled=${busy} onClick=${() => submit(a.token)}>
                  Sign in as <strong>${a.username}</strong></button>
                <code>${a.token}</code></li>`)}
            </ul>
          </section>`}
      </div>
    </main>`;
}
