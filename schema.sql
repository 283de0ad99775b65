-- Protocol server schema.
--
-- Applied at every start-up: every statement here is idempotent. `PRAGMA user_version` records the
-- schema version; src/db/schema.rs applies the migrations that move an older file to this one.
--
-- Public ids (`id`) are 16 characters: the creation time, then 9 random ones (src/db/ids.rs).
-- Every table also has an integer `seq` that only grows: it is the keyset that lists page on, so a page costs the same at any depth.

-- People known to the server. An account (from protocol.toml) is a contact too: its row is its
-- public profile (`owner_id` NULL). Anyone else is a private contact: a row of one address book
-- (`owner_id`), with what its owner entered, that nobody else can see or find. Usernames compare
-- without regard to case (they are ASCII); src/db/contacts.rs keeps them unique among accounts
-- and within each address book.
CREATE TABLE IF NOT EXISTS contacts (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    owner_id       TEXT    REFERENCES contacts (id),
    username       TEXT    NOT NULL,
    phone_number   TEXT    NOT NULL,
    avatar_url     TEXT,
    last_active_at INTEGER,
    created_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_accounts_by_username
    ON contacts (username COLLATE NOCASE) WHERE owner_id IS NULL;
CREATE INDEX IF NOT EXISTS contacts_private_by_username
    ON contacts (owner_id, username COLLATE NOCASE) WHERE owner_id IS NOT NULL;

-- Each person's address book: who they know, and what they call them.
CREATE TABLE IF NOT EXISTS address_book (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     TEXT    NOT NULL REFERENCES contacts (id),
    contact_id   TEXT    NOT NULL REFERENCES contacts (id),
    display_name TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (owner_id, contact_id)
);
CREATE INDEX IF NOT EXISTS address_book_by_owner ON address_book (owner_id, seq);
CREATE INDEX IF NOT EXISTS address_book_by_contact ON address_book (contact_id);

CREATE TABLE IF NOT EXISTS chat_groups (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    owner_id    TEXT    NOT NULL REFERENCES contacts (id),
    name        TEXT    NOT NULL,
    description TEXT,
    avatar_url  TEXT,
    created_at  INTEGER NOT NULL,
    archived_at INTEGER
);

-- A direct conversation names its two people in (direct_low, direct_high), sorted, so the
-- UNIQUE constraint keeps one per pair. A group conversation has group_id instead.
CREATE TABLE IF NOT EXISTS conversations (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT    NOT NULL UNIQUE,
    direct_low        TEXT REFERENCES contacts (id),
    direct_high       TEXT REFERENCES contacts (id),
    group_id          TEXT UNIQUE REFERENCES chat_groups (id) ON DELETE CASCADE,
    pinned_message_id TEXT,
    last_active_at    INTEGER,
    created_at        INTEGER NOT NULL,
    -- The ordering key of "most recently active": the newest message's seq (or, before any,
    -- the newest seq of the whole server when the conversation began). Kept up to date, with
    -- `last_active_at`, for a large conversation only: a small one's participants carry both.
    activity_seq      INTEGER NOT NULL DEFAULT 0,
    -- 1 for a group too large to copy `activity_seq` into every member's row on each message
    -- (src/db/conversations.rs: LARGE_ABOVE members); its members' rows follow this one.
    large             INTEGER NOT NULL DEFAULT 0,
    UNIQUE (direct_low, direct_high),
    CHECK ((group_id IS NULL) <> (direct_low IS NULL))
);

-- Who takes part in a conversation, and each person's own view of it.
-- `activity_seq` copies the conversation's ordering key into the participant row, so "my
-- conversations, most recently active first" is one index range; it is NULL in a large
-- conversation, whose place in each member's list is read from the conversation instead (a
-- message there writes one row, not one per member). `group_seq` does the same for "my groups,
-- newest first".
CREATE TABLE IF NOT EXISTS participants (
    seq             INTEGER PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    contact_id      TEXT    NOT NULL REFERENCES contacts (id),
    conversation_seq INTEGER NOT NULL,
    activity_seq    INTEGER,
    group_seq       INTEGER,
    is_pinned       INTEGER NOT NULL DEFAULT 0,
    is_muted        INTEGER NOT NULL DEFAULT 0,
    archived_at     INTEGER,
    last_opened_at  INTEGER,
    -- 1 after this person deleted the conversation; a new message sets it back to 0.
    hidden          INTEGER NOT NULL DEFAULT 0,
    -- Messages with seq <= visible_after are not in this person's view (deleted, or sent before
    -- they joined the group).
    visible_after   INTEGER NOT NULL DEFAULT 0,
    -- Every message of others up to this seq is read: this person opened the conversation
    -- after it came. Opening reads only what came after (src/db/messages.rs: mark_read).
    read_through_seq INTEGER NOT NULL DEFAULT 0,
    -- When the conversation last had a message, beside `activity_seq` (NULL with it in a large
    -- conversation): a message into a small conversation writes its participants' rows only.
    last_active_at  INTEGER,
    UNIQUE (conversation_id, contact_id)
);
CREATE INDEX IF NOT EXISTS participants_by_activity
    ON participants (contact_id, activity_seq, conversation_seq) WHERE activity_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS participants_in_large
    ON participants (contact_id) WHERE activity_seq IS NULL;
CREATE INDEX IF NOT EXISTS participants_by_contact ON participants (contact_id, hidden);
-- Who had deleted a conversation: a message brings it back for them without visiting the rest.
CREATE INDEX IF NOT EXISTS participants_hidden
    ON participants (conversation_id) WHERE hidden = 1;
CREATE INDEX IF NOT EXISTS participants_by_group
    ON participants (contact_id, group_seq) WHERE group_seq IS NOT NULL;

-- seq is the server's arrival order (AUTOINCREMENT: never reused, so it also orders
-- conversations by activity across deletes).
CREATE TABLE IF NOT EXISTS messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id       TEXT    NOT NULL REFERENCES contacts (id),
    body            TEXT    NOT NULL,
    read_at         INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER,
    -- 1 while the message has reactions / attachments. Kept by the triggers below, so a page
    -- of messages asks for details only where there are some (most messages have none).
    has_reactions   INTEGER NOT NULL DEFAULT 0,
    has_attachments INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);

CREATE TABLE IF NOT EXISTS reactions (
    seq        INTEGER PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT    NOT NULL,
    contact_id TEXT    NOT NULL REFERENCES contacts (id),
    created_at INTEGER NOT NULL,
    UNIQUE (message_id, emoji, contact_id)
);
CREATE INDEX IF NOT EXISTS reactions_by_contact ON reactions (message_id, contact_id);
CREATE TRIGGER IF NOT EXISTS reactions_mark_message AFTER INSERT ON reactions
BEGIN
    UPDATE messages SET has_reactions = 1 WHERE id = new.message_id AND has_reactions = 0;
END;
CREATE TRIGGER IF NOT EXISTS reactions_unmark_message AFTER DELETE ON reactions
BEGIN
    UPDATE messages
       SET has_reactions = EXISTS (SELECT 1 FROM reactions WHERE message_id = old.message_id)
     WHERE id = old.message_id;
END;

-- Attachment records; the bytes live in files named by id in the folder beside the database
-- (see src/files.rs). `conversation_id` and `message_seq` copy the message's, so a
-- conversation's attachments are one index range and visibility needs no join.
CREATE TABLE IF NOT EXISTS attachments (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    uploader_id     TEXT    NOT NULL REFERENCES contacts (id),
    message_id      TEXT REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT,
    message_seq     INTEGER,
    filename        TEXT    NOT NULL,
    file_type       TEXT    NOT NULL,
    file_size       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments (message_id);
CREATE INDEX IF NOT EXISTS attachments_by_uploader ON attachments (uploader_id, seq);
CREATE INDEX IF NOT EXISTS attachments_by_conversation
    ON attachments (conversation_id, seq) WHERE conversation_id IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS attachments_mark_message_on_insert AFTER INSERT ON attachments
    WHEN new.message_id IS NOT NULL
BEGIN
    UPDATE messages SET has_attachments = 1 WHERE id = new.message_id AND has_attachments = 0;
END;
CREATE TRIGGER IF NOT EXISTS attachments_mark_message_on_update AFTER UPDATE OF message_id ON attachments
BEGIN
    UPDATE messages
       SET has_attachments = EXISTS (SELECT 1 FROM attachments WHERE message_id = messages.id)
     WHERE id IN (old.message_id, new.message_id);
END;
CREATE TRIGGER IF NOT EXISTS attachments_unmark_message AFTER DELETE ON attachments
    WHEN old.message_id IS NOT NULL
BEGIN
    UPDATE messages
       SET has_attachments = EXISTS (SELECT 1 FROM attachments WHERE message_id = old.message_id)
     WHERE id = old.message_id;
END;

-- Files whose record is gone (deleted directly, or with a message, conversation or group):
-- the trigger notes them in the same transaction, and the file store removes the bytes after
-- the commit, or at the next start-up if the process died first.
CREATE TABLE IF NOT EXISTS file_trash (
    attachment_id TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS attachments_to_trash AFTER DELETE ON attachments
BEGIN
    INSERT OR IGNORE INTO file_trash (attachment_id) VALUES (old.id);
END;

-- The outbox (contract sections 7 and 8): every change writes its event here in the same
-- transaction. An event's id is its seq (in decimal), so the id needs no column or index of its
-- own; `body_tail` is the exact JSON that webhooks and the SSE stream send, after the id:
-- `"type":…,"created_at":…,"account_id":…,"payload":…}` (src/db/events.rs puts the two together).
-- (AUTOINCREMENT: a seq is never used twice, even after pruning took the newest events.)
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    body_tail  TEXT    NOT NULL,
    -- Who may see it on the realtime stream: contact ids, space-separated, and, for an event
    -- of a large conversation, everyone in `audience_conversation` whose `visible_after` is
    -- below `audience_after` (its members are not copied into every event).
    audience   TEXT    NOT NULL,
    audience_conversation TEXT,
    audience_after        INTEGER
);


-- How far each webhook endpoint (by URL) has got: every event up to `delivered_seq` has been
-- delivered, skipped (not subscribed) or given up on.
-- Servers sharing a database take turns: the one named in `lease_holder` delivers the
-- endpoint's events until `lease_until` (ms), renewing it as it goes (src/events/webhooks.rs).
CREATE TABLE IF NOT EXISTS webhook_cursors (
    url           TEXT    PRIMARY KEY,
    delivered_seq INTEGER NOT NULL,
    lease_holder  TEXT,
    lease_until   INTEGER
) WITHOUT ROWID;

-- Deliveries given up on after the last retry.
CREATE TABLE IF NOT EXISTS webhook_failures (
    seq        INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT    NOT NULL,
    failed_at  INTEGER NOT NULL
);

-- Responses to POSTs sent with an Idempotency-Key, kept 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    account_id  TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    request     TEXT    NOT NULL,  -- method and path
    fingerprint BLOB    NOT NULL,  -- SHA-256 of the body
    status      INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_by_time ON idempotency_keys (created_at);

-- Facts about the database itself, e.g. when the demo data was loaded (src/demo.rs).
CREATE TABLE IF NOT EXISTS server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
