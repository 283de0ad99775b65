// Your address book: add by username and phone, your own name for someone, delete, and start
// (or open) the direct conversation.

import { html, useState } from '../lib/html.js';
import {
  useStore, addContact, renameContact, deleteContact, messageContact, attempt, closeConversation,
} from '../lib/store.js';
import { ask } from './dialog.js';
import { Avatar } from './sidebar.js';
import { Icon } from '../lib/icons.js';

function AddContact() {
  const [fields, setFields] = useState({ username: '', phone_number: '', display_name: '' });
  const [error, setError] = useState(null);
  const set = (name) => (e) => setFields({ ...fields, [name]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await addContact({
        username: fields.username.trim(),
        phone_number: fields.phone_number.trim(),
        ...(fields.display_name.trim() ? { display_name: fields.display_name.trim() } : {}),
      });
      setFields({ username: '', phone_number: '', display_name: '' });
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<form class="card form-grid" onSubmit=${submit} aria-labelledby="add-contact">
    <h2 id="add-contact">Add a contact</h2>
    <label>Username <input required value=${fields.username} onInput=${set('username')} autocomplete="off" /></label>
    <label>Phone number <input required type="tel" value=${fields.phone_number} onInput=${set('phone_number')} /></label>
    <label>Your name for them (optional) <input value=${fields.display_name} onInput=${set('display_name')} /></label>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit" class="primary">Add</button>
  </form>`;
}

function ContactRow({ contact }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(contact.display_name || '');
  const save = async (e) => {
    e.preventDefault();
    await attempt(() => renameContact(contact.id, name.trim()), 'Renaming');
    setEditing(false);
  };
  const remove = async () => {
    const yes = await ask({
      title: `Delete ${contact.display_name || contact.username}?`,
      body: 'They leave your address book, and your direct conversation with them is deleted for you.',
      confirm: 'Delete',
      danger: true,
    });
    if (yes) attempt(() => deleteContact(contact.id), 'Deleting');
  };
  return html`<li class="row">
    <${Avatar} name=${contact.display_name || contact.username} />
    <div class="row-main">
      ${editing
        ? html`<form class="inline-form" onSubmit=${save}>
            <label class="sr-only" for=${`name-${contact.id}`}>Your name for ${contact.username}</label>
            <input id=${`name-${contact.id}`} value=${name} onInput=${(e) => setName(e.target.value)}
              placeholder=${contact.username}
              onKeyDown=${(e) => { if (e.key === 'Escape') setEditing(false); }} ref=${(el) => el?.focus()} />
            <button type="submit" class="primary">Save</button>
            <button type="button" onClick=${() => setEditing(false)}>Cancel</button>
          </form>`
        : html`<p class="row-title">${contact.display_name || contact.username}</p>`}
      <p class="muted small">@${contact.username} · ${contact.phone_number}</p>
    </div>
    <div class="row-actions">
      <button type="button" onClick=${() => attempt(() => messageContact(contact.id), 'Opening')}>Message</button>
      <button type="button" onClick=${() => setEditing(true)}>Rename</button>
      <button type="button" class="danger-text" onClick=${remove}>Delete</button>
    </div>
  </li>`;
}

export function Contacts() {
  const s = useStore();
  const contacts = [...s.contacts.values()]
    .filter((c) => c.id !== s.me.id)
    .sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username));
  return html`<section class="page" aria-labelledby="contacts-title">
    <header class="page-head">
      <button type="button" class="back" onClick=${closeConversation} aria-label="Back to the conversation list"><${Icon} name="back" /></button>
      <h1 id="contacts-title">Contacts</h1>
    </header>
    <div class="page-body">
      <${AddContact} />
      <ul class="rows" aria-label="Your contacts">${contacts.map((c) => html`<${ContactRow} key=${c.id} contact=${c} />`)}</ul>
      ${!contacts.length && html`<p class="muted">Nobody yet.</p>`}
    </div>
  </section>`;
}
