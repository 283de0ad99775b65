// Groups: create one with members, rename it and change its members (the owner may), delete it
// (owner). The API has no "leave" for a member; the nearest is deleting the group's
// conversation for yourself, which a new message undoes.

import { html, useState } from '../lib/html.js';
import {
  useStore, state, createGroup, updateGroup, deleteGroup, deleteConversation, openConversation,
  attempt, contactName, closeConversation,
} from '../lib/store.js';
import { ask } from './dialog.js';
import { Avatar } from './sidebar.js';
import { Icon } from '../lib/icons.js';

function MemberPicker({ chosen, onChange, idPrefix }) {
  const contacts = [...state.contacts.values()].filter((c) => c.id !== state.me.id);
  if (!contacts.length) return html`<p class="muted small">Add contacts first to have members to pick.</p>`;
  return html`<fieldset class="members">
    <legend>Members</legend>
    ${contacts.map((c) => html`<label key=${c.id} class="check">
      <input type="checkbox" id=${`${idPrefix}-${c.id}`} checked=${chosen.includes(c.id)}
        onChange=${(e) => onChange(e.target.checked ? [...chosen, c.id] : chosen.filter((x) => x !== c.id))} />
      ${contactName(c)}</label>`)}
  </fieldset>`;
}

function NewGroup() {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [members, setMembers] = useState([]);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const group = await createGroup({ name: name.trim(), description: description.trim() || null, contacts: members });
      setName('');
      setDescription('');
      setMembers([]);
      openConversation(group.conversation_id);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<form class="card form-grid" onSubmit=${submit} aria-labelledby="new-group">
    <h2 id="new-group">New group</h2>
    <label>Name <input required maxlength="128" value=${name} onInput=${(e) => setName(e.target.value)} /></label>
    <label>Description (optional) <input value=${description} onInput=${(e) => setDescription(e.target.value)} /></label>
    <${MemberPicker} chosen=${members} onChange=${setMembers} idPrefix="new" />
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit" class="primary">Create group</button>
  </form>`;
}

function GroupRow({ group }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(group.name);
  const [members, setMembers] = useState(group.contacts.map((c) => c.id).filter((id) => id !== state.me.id));
  const [error, setError] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await updateGroup(group.id, { name: name.trim(), contacts: members });
      setEditing(false);
    } catch (err) {
      setError(err.status === 403 ? 'Only the group\u2019s owner can change it.' : err.message);
    }
  };
  const remove = async () => {
    const yes = await ask({
      title: `Delete the group ${group.name}?`,
      body: 'Only its owner can: the group, its conversation and all its messages go, for everyone.',
      confirm: 'Delete group',
      danger: true,
    });
    if (yes) attempt(() => deleteGroup(group.id), 'Deleting');
  };
  const hide = async () => {
    const yes = await ask({
      title: `Leave ${group.name}?`,
      body: 'The API lets only the owner change the members, so this deletes the group\u2019s conversation for you; a new message in it brings it back.',
      confirm: 'Delete its conversation for me',
      danger: true,
    });
    if (yes) attempt(() => deleteConversation(group.conversation_id), 'Leaving');
  };
  return html`<li class="row">
    <${Avatar} name=${group.name} />
    <div class="row-main">
      ${editing ? html`<form class="form-grid" onSubmit=${save}>
          <label>Name <input required maxlength="128" value=${name} onInput=${(e) => setName(e.target.value)} /></label>
          <${MemberPicker} chosen=${members} onChange=${setMembers} idPrefix=${group.id} />
          ${error && html`<p class="error" role="alert">${error}</p>`}
          <div class="row-actions">
            <button type="button" onClick=${() => setEditing(false)}>Cancel</button>
            <button type="submit" class="primary">Save</button>
          </div>
        </form>`
        : html`<p class="row-title">${group.name}</p>
          ${group.description && html`<p class="small">${group.description}</p>`}
          <p class="muted small">${group.contacts.map((c) => (c.id === state.me.id ? 'you' : contactName(state.contacts.get(c.id) || c))).join(', ')}</p>`}
    </div>
    ${!editing && html`<div class="row-actions">
      <button type="button" onClick=${() => attempt(() => openConversation(group.conversation_id), 'Opening')}>Open</button>
      <button type="button" onClick=${() => setEditing(true)}>Edit</button>
      <button type="button" onClick=${hide}>Leave</button>
      <button type="button" class="danger-text" onClick=${remove}>Delete</button>
    </div>`}
  </li>`;
}

export function Groups() {
  const s = useStore();
  const groups = [...s.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
  return html`<section class="page" aria-labelledby="groups-title">
    <header class="page-head">
      <button type="button" class="back" onClick=${closeConversation} aria-label="Back to the conversation list"><${Icon} name="back" /></button>
      <h1 id="groups-title">Groups</h1>
    </header>
    <div class="page-body">
      <${NewGroup} />
      <ul class="rows" aria-label="Your groups">${groups.map((g) => html`<${GroupRow} key=${g.id} group=${g} />`)}</ul>
      ${!groups.length && html`<p class="muted">No groups yet.</p>`}
    </div>
  </section>`;
}
