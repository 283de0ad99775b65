// The app's state and every action that changes it. Views read `state` through useStore()
// and call the actions; the actions talk to the API and to the event stream, then call
// changed() so that the views render again.

import { api, ApiError, newKey, setToken } from './api.js';
import { connectEvents } from './events.js';
import { useEffect, useState } from './html.js';

/** Messages per page when a conversation opens and on each scroll up. */
export const MESSAGE_PAGE = 50;
const CONVERSATION_PAGE = 30;
const DEV_EVENTS_KEPT = 200;
const TOKEN_KEY = 'protocol.token';
/** Who the saved token belongs to, so that a reload can start before asking the server. */
const ME_KEY = 'protocol.me';

function fresh() {
  return {
    me: null,
    connection: { state: 'connecting' },
    view: 'chats', // chats | contacts | groups
    filter: 'inbox', // inbox | unread | muted | archived
    conversations: new Map(),
    pinnedIds: [],
    listIds: [],
    listHasMore: false,
    listLoading: false,
    listReady: false,
    previews: new Map(), // conversation id → its newest message, or null
    unread: new Set(),
    contacts: new Map(),
    groups: new Map(),
    contactsLoaded: false,
    groupsLoaded: false,
    threads: new Map(), // conversation id → { messages, ids, hasOlder, loadingOlder, pending }
    pinnedMessages: new Map(), // message id → message, for the banner
    openId: null,
    devEvents: [],
    notice: null,
  };
}

export let state = fresh();
const listeners = new Set();
let scheduled = false;
let stream = null;

/** Re-renders the views once, after the current task. */
export function changed() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    updateTitle();
    listeners.forEach((f) => f());
  });
}

export function useStore() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((t) => t + 1);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return state;
}

function updateTitle() {
  const count = [...state.unread].filter((id) => !state.conversations.get(id)?.is_muted).length;
  document.title = count ? `(${count}) Protocol chat` : 'Protocol chat';
}

export function notify(text, kind = 'error') {
  state.notice = { text, kind, at: Date.now() };
  changed();
  const at = state.notice.at;
  setTimeout(() => {
    if (state.notice?.at === at) {
      state.notice = null;
      changed();
    }
  }, 6000);
}

/** Runs an action; a failure becomes a notice instead of an unhandled rejection. */
export async function attempt(action, what) {
  try {
    return await action();
  } catch (error) {
    if (error.name !== 'AbortError') notify(`${what}: ${error.message}`);
    return undefined;
  }
}

// ---- Session --------------------------------------------------------------------------------

/** Checks the token with the server, keeps it in this browser and starts the app. */
export async function signIn(token, remember) {
  setToken(token);
  let me;
  try {
    me = await api('GET', '/app/me');
  } catch (error) {
    setToken(null);
    throw error;
  }
  const storage = remember ? localStorage : sessionStorage;
  storage.setItem(TOKEN_KEY, token);
  storage.setItem(ME_KEY, JSON.stringify(me));
  state = fresh();
  state.me = me;
  changed();
  start(token);
}

export function savedToken() {
  return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY);
}

/**
 * Signs in with the saved token. Who it belongs to was saved too, so the app starts at once;
 * the server's answer follows, and a token it no longer knows signs out.
 */
export async function restoreSession() {
  const token = savedToken();
  if (!token) return false;
  const storage = localStorage.getItem(TOKEN_KEY) ? localStorage : sessionStorage;
  let saved = null;
  try { saved = JSON.parse(storage.getItem(ME_KEY)); } catch { /* saved by an older version */ }
  if (!saved?.id) {
    try {
      await signIn(token, storage === localStorage);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) signOut();
      return false;
    }
  }
  setToken(token);
  state = fresh();
  state.me = saved;
  changed();
  start(token);
  api('GET', '/app/me')
    .then((me) => {
      if (me.id !== saved.id) {
        storage.setItem(ME_KEY, JSON.stringify(me));
        location.reload();
      }
    })
    .catch((error) => { if (error.status === 401) signOut(); });
  return true;
}

export function signOut() {
  stream?.stop();
  stream = null;
  for (const storage of [localStorage, sessionStorage]) {
    storage.removeItem(TOKEN_KEY);
    storage.removeItem(ME_KEY);
  }
  setToken(null);
  state = fresh();
  changed();
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
let initialLoad = Promise.resolve();

/**
 * Loads everything and connects the event stream side by side. A stream that starts without
 * Last-Event-ID (the first one, or one that had seen no event before the server went away)
 * does not hold what happened before it started: the app catches up on that instead.
 */
function start(token) {
  let liveSince = nowSeconds();
  initialLoad = Promise.all([
    attempt(loadContacts, 'Loading contacts'),
    attempt(loadGroups, 'Loading groups'),
    attempt(() => loadConversations(true), 'Loading conversations'),
  ]);
  stream = connectEvents({
    token,
    onState: (connection) => {
      const wasLive = state.connection.state === 'live';
      state.connection = connection;
      if (connection.state === 'unauthorized') {
        signOut();
        return;
      }
      if (connection.state === 'live' && !connection.resumed) {
        const since = liveSince;
        attempt(() => resync(since), 'Catching up');
      } else if (wasLive && connection.state !== 'live') {
        liveSince = nowSeconds();
      }
      changed();
    },
    onEvent: applyEvent,
  });
}

/**
 * Fetches what may have changed since `since` (Unix seconds) without the stream: the first
 * page of the list, the previews of conversations active since, and the newest page of every
 * loaded conversation.
 */
async function resync(since) {
  await initialLoad;
  await loadConversations(true, since);
  await Promise.all([...state.threads.keys()].map(refreshThread));
}

async function refreshThread(id) {
  const t = state.threads.get(id);
  if (!t?.loaded) return;
  const page = await api('GET', '/v1/messages', { query: { conversation_id: id, limit: MESSAGE_PAGE } });
  const fresh = page.data.slice().reverse();
  if (t.messages.length && !fresh.some((m) => t.ids.has(m.id))) {
    // More was missed than a page: start again from the newest page.
    t.messages = fresh;
    t.ids = new Set(fresh.map((m) => m.id));
    t.hasOlder = page.has_more;
  } else {
    for (const message of fresh) {
      if (t.ids.has(message.id)) {
        t.messages = t.messages.map((m) => (m.id === message.id ? message : m));
      } else {
        t.ids.add(message.id);
        t.messages = [...t.messages, message];
      }
    }
  }
  const newest = fresh[fresh.length - 1];
  if (id === state.openId && newest && newest.contact.id !== state.me.id) markOpenedSoon(id);
  changed();
}

// Back to a tab that had a conversation open: what arrived meanwhile is read now.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.openId && state.unread.has(state.openId)) {
    markOpened(state.openId);
  }
});
// Relative times ("5 min") move on.
setInterval(changed, 30000);

export function reconnectNow() {
  stream?.retryNow();
}

// ---- Contacts and groups --------------------------------------------------------------------

async function loadAll(path, into) {
  let after;
  for (let page = 0; page < 50; page += 1) {
    const list = await api('GET', path, { query: { limit: 100, starting_after: after } });
    list.data.forEach((item) => into.set(item.id, item));
    changed();
    if (!list.has_more || !list.data.length) return;
    after = list.data[list.data.length - 1].id;
  }
}

async function loadContacts() {
  await loadAll('/v1/contacts', state.contacts);
  state.contactsLoaded = true;
  changed();
}

async function loadGroups() {
  await loadAll('/v1/groups', state.groups);
  state.groupsLoaded = true;
  changed();
}

const fetching = new Set();
/** Contacts and groups deleted while the app runs: never fetched again. */
const gone = new Set();
/** Fetches one contact or group that the full lists (once loaded) did not have. */
function ensure(kind, id) {
  const map = kind === 'contacts' ? state.contacts : state.groups;
  const loaded = kind === 'contacts' ? state.contactsLoaded : state.groupsLoaded;
  if (!id || !loaded || map.has(id) || fetching.has(id) || gone.has(id)) return;
  fetching.add(id);
  api('GET', `/v1/${kind}/${id}`)
    .then((item) => { map.set(id, item); changed(); })
    .catch(() => {})
    .finally(() => fetching.delete(id));
}

export function contactName(contact) {
  return contact ? contact.display_name || contact.username : '…';
}

/** What a conversation is called: the group's name, or your name for the other person. */
export function conversationTitle(conversation) {
  if (!conversation) return '';
  if (conversation.group_id) {
    const group = state.groups.get(conversation.group_id);
    if (!group) ensure('groups', conversation.group_id);
    return group ? group.name : 'Group';
  }
  const contact = state.contacts.get(conversation.contact_id);
  if (!contact) ensure('contacts', conversation.contact_id);
  return contactName(contact);
}

/** How the sender of a message is called here (your name for them if you gave one). */
export function senderName(contact) {
  if (contact.id === state.me?.id) return 'You';
  return contactName(state.contacts.get(contact.id) || contact);
}

export async function addContact(fields) {
  const contact = await api('POST', '/v1/contacts', { json: fields, idempotencyKey: newKey() });
  state.contacts.set(contact.id, contact);
  changed();
  return contact;
}

export async function renameContact(id, displayName) {
  const contact = await api('PUT', `/v1/contacts/${id}`, { json: { display_name: displayName || null } });
  state.contacts.set(id, contact);
  changed();
}

export async function deleteContact(id) {
  const contact = state.contacts.get(id);
  await api('DELETE', `/v1/contacts/${id}`);
  gone.add(id);
  state.contacts.delete(id);
  if (contact?.conversation_id) forgetConversation(contact.conversation_id);
  changed();
}

/** Opens (starting it if needed) the direct conversation with a contact. */
export async function messageContact(contactId) {
  const conversation = await api('POST', '/v1/conversations', {
    json: { contact_id: contactId }, idempotencyKey: newKey(),
  });
  placeConversation(conversation, true);
  openConversation(conversation.id);
}

export async function createGroup(fields) {
  const group = await api('POST', '/v1/groups', { json: fields, idempotencyKey: newKey() });
  state.groups.set(group.id, group);
  changed();
  return group;
}

export async function updateGroup(id, fields) {
  const group = await api('PUT', `/v1/groups/${id}`, { json: fields });
  state.groups.set(id, group);
  changed();
  return group;
}

export async function deleteGroup(id) {
  const group = state.groups.get(id);
  await api('DELETE', `/v1/groups/${id}`);
  gone.add(id);
  state.groups.delete(id);
  if (group?.conversation_id) forgetConversation(group.conversation_id);
  changed();
}

// ---- Conversation list ----------------------------------------------------------------------

function filterQuery() {
  switch (state.filter) {
    case 'muted': return { muted: true, archived: false };
    case 'archived': return { archived: true };
    default: return { archived: false };
  }
}

/** Whether a conversation belongs in the list under the current filter. */
function fitsFilter(c) {
  switch (state.filter) {
    case 'muted': return c.is_muted && !c.archived_at;
    case 'archived': return Boolean(c.archived_at);
    default: return !c.archived_at;
  }
}

export function setFilter(filter) {
  if (state.filter === filter) return;
  state.filter = filter;
  loadConversations(true);
}

/**
 * The first page (with every pinned conversation), or the next page on scroll. With
 * `refreshSince` (Unix seconds), previews of conversations active since then are fetched again.
 */
export async function loadConversations(reset, refreshSince = null) {
  if (state.listLoading && !reset) return;
  state.listLoading = true;
  changed();
  try {
    const filter = state.filter;
    const query = filterQuery();
    const after = reset ? undefined : state.listIds[state.listIds.length - 1];
    const [pinned, page] = await Promise.all([
      reset ? api('GET', '/v1/conversations', { query: { ...query, pinned: true, limit: 100 } }) : null,
      api('GET', '/v1/conversations', {
        query: { ...query, pinned: false, limit: CONVERSATION_PAGE, starting_after: after },
      }),
    ]);
    if (filter !== state.filter) return;
    if (reset) {
      state.pinnedIds = pinned.data.map((c) => c.id);
      state.listIds = [];
      pinned.data.forEach((c) => state.conversations.set(c.id, c));
    }
    for (const c of page.data) {
      state.conversations.set(c.id, c);
      if (!state.listIds.includes(c.id)) state.listIds.push(c.id);
    }
    state.listHasMore = page.has_more;
    state.listReady = true;
    const ids = [...(pinned?.data || []), ...page.data].map((c) => c.id);
    // Timestamps are whole seconds: a second's margin.
    const active = (c) => refreshSince !== null && (c.last_active_at || 0) >= refreshSince - 1;
    loadPreviews(ids, [...(pinned?.data || []), ...page.data].filter(active).map((c) => c.id));
  } finally {
    state.listLoading = false;
    changed();
  }
}

let refreshTimer = null;
/** A conversation we do not have appeared (an event named it): fetch the first page again. */
function refreshListSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => attempt(() => loadConversations(true), 'Refreshing'), 200);
}

/** The newest message of each conversation that has none yet, and of each in `again`. */
async function loadPreviews(ids, again = []) {
  const queue = [...new Set([...ids.filter((id) => !state.previews.has(id)), ...again])];
  const worker = async () => {
    while (queue.length) {
      const id = queue.shift();
      try {
        const page = await api('GET', '/v1/messages', { query: { conversation_id: id, limit: 1 } });
        const [newest = null] = page.data;
        const shown = state.previews.get(id);
        // An event may have brought a newer one meanwhile.
        if (!shown || (newest && newest.created_at >= shown.created_at)) state.previews.set(id, newest);
        updateUnread(id);
        changed();
      } catch { /* the list still shows without a preview */ }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

/**
 * Unread: the newest message is someone else's and came after you last opened the
 * conversation. In a direct conversation its read_at says so exactly (only you can read it).
 */
function updateUnread(id) {
  const conversation = state.conversations.get(id);
  const newest = state.previews.get(id);
  let unread = false;
  if (conversation && newest && newest.contact.id !== state.me?.id && id !== state.openId) {
    unread = conversation.group_id
      ? !conversation.last_opened_at || newest.created_at > conversation.last_opened_at
      : !newest.read_at;
  }
  if (unread) state.unread.add(id);
  else state.unread.delete(id);
}

/** Puts a conversation where it belongs in the list (pinned first, then by activity). */
function placeConversation(conversation, toTop = false) {
  const { id } = conversation;
  state.conversations.set(id, conversation);
  const inPinned = state.pinnedIds.indexOf(id);
  const inList = state.listIds.indexOf(id);
  if (!fitsFilter(conversation)) {
    if (inPinned >= 0) state.pinnedIds.splice(inPinned, 1);
    if (inList >= 0) state.listIds.splice(inList, 1);
  } else if (conversation.is_pinned) {
    if (inList >= 0) state.listIds.splice(inList, 1);
    if (inPinned < 0) state.pinnedIds.unshift(id);
    else if (toTop) state.pinnedIds.unshift(...state.pinnedIds.splice(inPinned, 1));
  } else {
    if (inPinned >= 0) state.pinnedIds.splice(inPinned, 1);
    if (toTop || inList < 0) {
      if (inList >= 0) state.listIds.splice(inList, 1);
      if (toTop) {
        state.listIds.unshift(id);
      } else {
        const at = state.listIds.findIndex(
          (other) => (state.conversations.get(other)?.last_active_at || 0) < (conversation.last_active_at || 0),
        );
        if (at < 0 && state.listHasMore) {
          // Older than everything shown: its page has not been loaded yet.
        } else {
          state.listIds.splice(at < 0 ? state.listIds.length : at, 0, id);
        }
      }
    }
  }
  if (!state.previews.has(id)) loadPreviews([id]);
  changed();
}

function forgetConversation(id) {
  cancelMark(id);
  state.conversations.delete(id);
  state.pinnedIds = state.pinnedIds.filter((x) => x !== id);
  state.listIds = state.listIds.filter((x) => x !== id);
  state.threads.delete(id);
  state.previews.delete(id);
  state.unread.delete(id);
  if (state.openId === id) {
    state.openId = null;
    if (location.hash.startsWith('#c=')) history.replaceState(null, '', location.pathname);
  }
  changed();
}

export async function updateConversation(id, fields) {
  const conversation = await api('PUT', `/v1/conversations/${id}`, { json: fields });
  placeConversation(conversation);
  return conversation;
}

/** Delete for me: the conversation and its messages leave your view only. */
export async function deleteConversation(id) {
  cancelMark(id);
  await api('DELETE', `/v1/conversations/${id}`);
  forgetConversation(id);
}

// ---- One conversation -----------------------------------------------------------------------

function thread(id) {
  let t = state.threads.get(id);
  if (!t) {
    t = { messages: [], ids: new Set(), hasOlder: false, loadingOlder: false, loaded: false, pending: [] };
    state.threads.set(id, t);
  }
  return t;
}

/** Opening marks it read (GET /v1/conversations/:id) and loads its newest page. */
export async function openConversation(id) {
  state.openId = id;
  state.view = 'chats';
  state.unread.delete(id);
  if (location.hash !== `#c=${id}`) history.pushState(null, '', `#c=${id}`);
  changed();
  const t = thread(id);
  const opening = markOpened(id);
  if (!t.loaded) {
    const page = await api('GET', '/v1/messages', { query: { conversation_id: id, limit: MESSAGE_PAGE } });
    const older = page.data.slice().reverse().filter((m) => !t.ids.has(m.id));
    older.forEach((m) => t.ids.add(m.id));
    t.messages = [...older, ...t.messages];
    t.hasOlder = page.has_more;
    t.loaded = true;
    changed();
  }
  const conversation = await opening;
  if (conversation?.pinned_message_id) loadPinned(conversation.pinned_message_id);
}

/** Back to the list (on a phone, the list replaces the open screen). */
export function closeConversation() {
  state.openId = null;
  state.view = 'chats';
  if (location.hash) history.pushState(null, '', location.pathname);
  changed();
}

const markTimers = new Map();

/** A read mark still due (`markOpenedSoon`) would only ask for a conversation that is gone. */
function cancelMark(id) {
  clearTimeout(markTimers.get(id));
  markTimers.delete(id);
}

async function markOpened(id) {
  cancelMark(id);
  const conversation = await api('GET', `/v1/conversations/${id}`).catch((error) => {
    if (error.status === 404) forgetConversation(id);
    return null;
  });
  if (conversation) {
    state.unread.delete(id);
    placeConversation(conversation);
  }
  return conversation;
}

/** Marks a conversation read shortly: a burst of messages makes one request, not one each. */
function markOpenedSoon(id) {
  cancelMark(id);
  markTimers.set(id, setTimeout(() => markOpened(id), 250));
}

async function loadPinned(messageId) {
  if (state.pinnedMessages.has(messageId)) return;
  const message = await api('GET', `/v1/messages/${messageId}`).catch(() => null);
  state.pinnedMessages.set(messageId, message);
  changed();
}

export function pinnedMessage(conversation) {
  const id = conversation?.pinned_message_id;
  if (!id) return null;
  const t = state.threads.get(conversation.id);
  const loaded = t?.messages.find((m) => m.id === id);
  if (loaded) return loaded;
  if (!state.pinnedMessages.has(id)) loadPinned(id);
  return state.pinnedMessages.get(id) || null;
}

/** The page before the oldest loaded message (one request per call). */
export async function loadOlder(id) {
  const t = state.threads.get(id);
  if (!t || !t.hasOlder || t.loadingOlder || !t.messages.length) return;
  t.loadingOlder = true;
  changed();
  try {
    const page = await api('GET', '/v1/messages', {
      query: { conversation_id: id, limit: MESSAGE_PAGE, starting_after: t.messages[0].id },
    });
    const older = page.data.slice().reverse().filter((m) => !t.ids.has(m.id));
    older.forEach((m) => t.ids.add(m.id));
    t.messages = [...older, ...t.messages];
    t.hasOlder = page.has_more;
  } finally {
    t.loadingOlder = false;
    changed();
  }
}

function insertMessage(message) {
  const id = message.conversation_id;
  const t = state.threads.get(id);
  if (t?.loaded) {
    if (t.ids.has(message.id)) {
      t.messages = t.messages.map((m) => (m.id === message.id ? message : m));
    } else {
      t.ids.add(message.id);
      t.messages = [...t.messages, message];
    }
  }
  const preview = state.previews.get(id);
  if (!preview || preview.id === message.id || preview.created_at <= message.created_at) {
    state.previews.set(id, message);
  }
  changed();
}

function replaceMessage(message) {
  const t = state.threads.get(message.conversation_id);
  if (t?.ids.has(message.id)) t.messages = t.messages.map((m) => (m.id === message.id ? message : m));
  if (state.previews.get(message.conversation_id)?.id === message.id) {
    state.previews.set(message.conversation_id, message);
  }
  if (state.pinnedMessages.has(message.id)) state.pinnedMessages.set(message.id, message);
  changed();
}

function removeMessage(message) {
  const cid = message.conversation_id;
  const t = state.threads.get(cid);
  if (t?.ids.has(message.id)) {
    t.ids.delete(message.id);
    t.messages = t.messages.filter((m) => m.id !== message.id);
  }
  if (state.previews.get(cid)?.id === message.id) {
    state.previews.delete(cid);
    loadPreviews([cid]);
  }
  changed();
}

let localIds = 0;
/** Shows the message at once, then sends it with an Idempotency-Key kept for a retry. */
export function sendMessage(conversationId, text, attachments = []) {
  const t = thread(conversationId);
  const pending = {
    localId: `local-${(localIds += 1)}`, key: newKey(), text, attachments, state: 'sending', error: null,
  };
  t.pending = [...t.pending, pending];
  changed();
  deliver(conversationId, pending);
}

export function retrySend(conversationId, localId) {
  const pending = state.threads.get(conversationId)?.pending.find((p) => p.localId === localId);
  if (!pending) return;
  pending.state = 'sending';
  pending.error = null;
  changed();
  deliver(conversationId, pending);
}

export function discardSend(conversationId, localId) {
  const t = state.threads.get(conversationId);
  t.pending = t.pending.filter((p) => p.localId !== localId);
  changed();
}

async function deliver(conversationId, pending) {
  const t = thread(conversationId);
  try {
    const message = await api('POST', '/v1/messages', {
      json: { conversation_id: conversationId, message: pending.text, attachments: pending.attachments.map((a) => a.id) },
      idempotencyKey: pending.key,
    });
    t.pending = t.pending.filter((p) => p !== pending);
    insertMessage(message);
    const conversation = state.conversations.get(conversationId);
    if (conversation) placeConversation({ ...conversation, last_active_at: message.created_at }, true);
  } catch (error) {
    pending.state = 'failed';
    pending.error = error.message;
    changed();
  }
}

export async function editMessage(message, text) {
  replaceMessage(await api('PUT', `/v1/messages/${message.id}`, { json: { message: text } }));
}

export async function deleteMessage(message) {
  await api('DELETE', `/v1/messages/${message.id}`);
  removeMessage(message);
}

/** Adds your reaction, or takes it back when you had it. */
export async function toggleReaction(message, name) {
  const mine = message.reactions.some((r) => (r[name] || []).includes(state.me.username));
  const updated = await api('PUT', `/v1/messages/${message.id}`, {
    json: { reactions: { [name]: mine ? [] : [state.me.username] } },
  });
  replaceMessage(updated);
}

// ---- Live events ----------------------------------------------------------------------------

function applyEvent(event) {
  state.devEvents = [event, ...state.devEvents].slice(0, DEV_EVENTS_KEPT);
  const { payload } = event;
  const mine = event.account_id === state.me?.id;
  switch (event.type) {
    case 'message.created': {
      const cid = payload.conversation_id;
      const t = state.threads.get(cid);
      if (payload.contact.id === state.me.id && t) {
        // Our own send, seen before its response: the pending copy gives way.
        const i = t.pending.findIndex((p) => p.state === 'sending' && p.text === payload.message);
        if (i >= 0) t.pending = t.pending.filter((_, j) => j !== i);
      }
      insertMessage(payload);
      const conversation = state.conversations.get(cid);
      if (conversation) placeConversation({ ...conversation, last_active_at: payload.created_at }, true);
      else refreshListSoon();
      if (payload.contact.id !== state.me.id) {
        if (cid === state.openId && document.visibilityState === 'visible') markOpenedSoon(cid);
        else state.unread.add(cid);
      }
      break;
    }
    case 'message.updated':
      replaceMessage(payload);
      break;
    case 'message.deleted':
      removeMessage(payload);
      break;
    case 'conversation.created':
    case 'conversation.updated':
      if (mine) {
        const known = state.conversations.has(payload.id);
        placeConversation(payload);
        if (known) updateUnread(payload.id);
      }
      break;
    case 'conversation.deleted':
      if (mine) forgetConversation(payload.id);
      break;
    case 'contact.created':
    case 'contact.updated':
      if (mine) {
        gone.delete(payload.id);
        state.contacts.set(payload.id, payload);
      }
      break;
    case 'contact.deleted':
      if (mine) {
        gone.add(payload.id);
        state.contacts.delete(payload.id);
      }
      break;
    case 'group.created':
    case 'group.updated':
      if (mine) {
        gone.delete(payload.id);
        state.groups.set(payload.id, payload);
      }
      break;
    case 'group.deleted':
      if (mine) {
        gone.add(payload.id);
        state.groups.delete(payload.id);
        if (payload.conversation_id) forgetConversation(payload.conversation_id);
      }
      break;
    default:
      break;
  }
  changed();
}
