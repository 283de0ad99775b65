//! Schema versions. `schema.sql` is the whole current schema and is idempotent; `user_version`
//! says which version a file has, and `MIGRATIONS` move an older file forward step by step.

use rusqlite::{Connection, OptionalExtension};

const SCHEMA: &str = include_str!("../../schema.sql");

/// The version `schema.sql` describes.
pub const VERSION: i64 = 6;

/// Version 5, on both backends: each person's read mark starts just before their oldest unread
/// message from others (found with the index of unread messages, which then goes). A macro, not
/// a const, so that each backend's migration can be one literal (`concat!`).
macro_rules! read_marks_from_unread {
    () => {
        "UPDATE participants SET read_through_seq = coalesce(
             (SELECT min(m.seq) - 1 FROM messages m
               WHERE m.conversation_id = participants.conversation_id AND m.read_at IS NULL
                 AND m.sender_id <> participants.contact_id),
             (SELECT activity_seq FROM conversations c WHERE c.id = participants.conversation_id));
         DROP INDEX IF EXISTS messages_unread;"
    };
}
pub(crate) use read_marks_from_unread;

/// Version 6, on both backends: each participant of a small conversation keeps the time of its
/// last message (a message no longer writes the conversation's row).
macro_rules! last_active_into_participants {
    () => {
        "UPDATE participants SET last_active_at =
             (SELECT c.last_active_at FROM conversations c WHERE c.id = participants.conversation_id)
          WHERE activity_seq IS NOT NULL;"
    };
}
pub(crate) use last_active_into_participants;

/// Steps from version N-1 to N, run before `schema.sql` for files older than `VERSION`.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        2,
        // Messages say whether they have reactions / attachments (schema.sql's triggers keep it).
        "ALTER TABLE messages ADD COLUMN has_reactions INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE messages ADD COLUMN has_attachments INTEGER NOT NULL DEFAULT 0;
         UPDATE messages SET has_reactions = 1 WHERE id IN (SELECT message_id FROM reactions);
         UPDATE messages SET has_attachments = 1
          WHERE id IN (SELECT message_id FROM attachments WHERE message_id IS NOT NULL);",
    ),
    (
        3,
        // Contacts get an owner (private contacts) and usernames stop being unique across
        // address books: the table is rebuilt (SQLite cannot drop a UNIQUE constraint). Every
        // existing row starts as public; `private_contacts::make_private` then gives each
        // person who is not an account to the address book(s) that know them. Large groups:
        // conversations keep their own activity, participants' may be NULL (another rebuild:
        // NOT NULL cannot be dropped either), events may name a conversation as audience.
        "CREATE TABLE IF NOT EXISTS server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE contacts_v3 (
             seq            INTEGER PRIMARY KEY,
             id             TEXT    NOT NULL UNIQUE,
             owner_id       TEXT    REFERENCES contacts (id),
             username       TEXT    NOT NULL,
             phone_number   TEXT    NOT NULL,
             avatar_url     TEXT,
             last_active_at INTEGER,
             created_at     INTEGER NOT NULL
         );
         INSERT INTO contacts_v3
             (seq, id, owner_id, username, phone_number, avatar_url, last_active_at, created_at)
           SELECT seq, id, NULL, username, phone_number, avatar_url, last_active_at, created_at
             FROM contacts;
         DROP TABLE contacts;
         ALTER TABLE contacts_v3 RENAME TO contacts;
         CREATE TABLE participants_v3 (
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
             hidden          INTEGER NOT NULL DEFAULT 0,
             visible_after   INTEGER NOT NULL DEFAULT 0,
             UNIQUE (conversation_id, contact_id)
         );
         INSERT INTO participants_v3
             (seq, conversation_id, contact_id, conversation_seq, activity_seq, group_seq,
              is_pinned, is_muted, archived_at, last_opened_at, hidden, visible_after)
           SELECT seq, conversation_id, contact_id, conversation_seq, activity_seq, group_seq,
                  is_pinned, is_muted, archived_at, last_opened_at, hidden, visible_after
             FROM participants;
         DROP TABLE participants;
         ALTER TABLE participants_v3 RENAME TO participants;
         ALTER TABLE conversations ADD COLUMN activity_seq INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE conversations ADD COLUMN large INTEGER NOT NULL DEFAULT 0;
         UPDATE conversations SET activity_seq = coalesce(
             (SELECT max(activity_seq) FROM participants WHERE conversation_id = conversations.id), 0);
         ALTER TABLE events ADD COLUMN audience_conversation TEXT;
         ALTER TABLE events ADD COLUMN audience_after INTEGER;
         INSERT OR REPLACE INTO server_meta (key, value) VALUES ('private_contacts', 'pending');",
    ),
    (
        4,
        // Webhook endpoints are leased to one server at a time (servers sharing a database).
        "ALTER TABLE webhook_cursors ADD COLUMN lease_holder TEXT;
         ALTER TABLE webhook_cursors ADD COLUMN lease_until INTEGER;",
    ),
    (
        5,
        // An event's id is its seq: the `id` column and its index go (a rebuild: SQLite cannot
        // drop a UNIQUE column), and the stored JSON starts after the id. The table's place in
        // `sqlite_sequence` is carried over, so no seq is ever used twice.
        // Each person's read mark replaces the index of unread messages (which every send
        // wrote to): it starts just before their oldest unread message from others.
        concat!(
            "ALTER TABLE participants ADD COLUMN read_through_seq INTEGER NOT NULL DEFAULT 0;",
            read_marks_from_unread!(),
            "CREATE TABLE events_v5 (
             seq        INTEGER PRIMARY KEY AUTOINCREMENT,
             type       TEXT    NOT NULL,
             created_at INTEGER NOT NULL,
             body_tail  TEXT    NOT NULL,
             audience   TEXT    NOT NULL,
             audience_conversation TEXT,
             audience_after        INTEGER
         );
         INSERT INTO events_v5
             (seq, type, created_at, body_tail, audience, audience_conversation, audience_after)
           SELECT seq, type, created_at, substr(body, instr(body, '\"type\":')), audience,
                  audience_conversation, audience_after
             FROM events;
         DELETE FROM sqlite_sequence WHERE name = 'events_v5';
         INSERT INTO sqlite_sequence (name, seq)
           SELECT 'events_v5', seq FROM sqlite_sequence WHERE name = 'events';
         DROP TABLE events;
         ALTER TABLE events_v5 RENAME TO events;"
        ),
    ),
    (
        6,
        // A message into a small conversation writes its participants' rows only: they carry
        // the time of the last message beside `activity_seq`.
        concat!(
            "ALTER TABLE participants ADD COLUMN last_active_at INTEGER;",
            last_active_into_participants!()
        ),
    ),
];

/// Moves the file to `VERSION`. Foreign keys are off meanwhile (rebuilding a table that others
/// reference needs it) and checked before the commit.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let migrated = migrate_within(conn);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    migrated
}

fn migrate_within(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {current}, newer than this server's {VERSION}; \
             use a newer server"
        )));
    }
    let started = std::time::Instant::now();
    let migrating = current != 0 && current < VERSION;
    if migrating {
        // It may take a while on a large database; say so, and how long it took.
        log::info!("migrating the database from schema version {current} to {VERSION}…");
    }
    for (version, sql) in MIGRATIONS {
        if current != 0 && *version > current {
            tx.execute_batch(sql)?;
        }
    }
    tx.execute_batch(SCHEMA)?;
    // Only after a migration: the check reads every row (seconds on 10M messages).
    let migrated = current != 0 && current < VERSION;
    let broken: Option<String> = if migrated {
        tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?
    } else {
        None
    };
    if let Some(table) = broken {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the migrated database has a broken reference in {table}"
        )));
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    if migrating {
        log::info!(
            "migrated the database to schema version {VERSION} in {}",
            crate::progress::took(started.elapsed())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_is_idempotent_and_sets_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
    }

    #[test]
    fn version_1_files_learn_which_messages_have_details() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO contacts (id, username, phone_number, created_at) VALUES ('k', 'kevin', '1', 0);
             INSERT INTO conversations (id, direct_low, direct_high, created_at) VALUES ('c', 'k', 'k', 0);
             INSERT INTO messages (id, conversation_id, sender_id, body, created_at)
                  VALUES ('m1', 'c', 'k', 'hi', 0), ('m2', 'c', 'k', 'hi', 0), ('m3', 'c', 'k', 'hi', 0);
             INSERT INTO reactions (message_id, emoji, contact_id, created_at) VALUES ('m1', '👍', 'k', 0);
             INSERT INTO attachments (id, uploader_id, message_id, filename, file_type, file_size, created_at)
                  VALUES ('a', 'k', 'm2', 'f', 'text/plain', 1, 0);
             -- What a version-1 file looks like: no flags, no triggers.
             DROP TRIGGER reactions_mark_message; DROP TRIGGER reactions_unmark_message;
             DROP TRIGGER attachments_mark_message_on_insert;
             DROP TRIGGER attachments_mark_message_on_update; DROP TRIGGER attachments_unmark_message;
             ALTER TABLE messages DROP COLUMN has_reactions;
             ALTER TABLE messages DROP COLUMN has_attachments;
             -- Nor what version 3 added.
             ALTER TABLE conversations DROP COLUMN activity_seq;
             ALTER TABLE conversations DROP COLUMN large;
             DROP TABLE events;
             CREATE TABLE events (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                 id         TEXT    NOT NULL UNIQUE,
                 type       TEXT    NOT NULL,
                 created_at INTEGER NOT NULL,
                 body       TEXT    NOT NULL,
                 audience   TEXT    NOT NULL
             );
             -- Nor what version 4 added.
             ALTER TABLE webhook_cursors DROP COLUMN lease_holder;
             ALTER TABLE webhook_cursors DROP COLUMN lease_until;
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let flags: Vec<(String, i64, i64)> = conn
            .prepare("SELECT id, has_reactions, has_attachments FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected = [("m1", 1, 0), ("m2", 0, 1), ("m3", 0, 0)];
        let expected: Vec<(String, i64, i64)> = expected
            .iter()
            .map(|(id, r, a)| (id.to_string(), *r, *a))
            .collect();
        assert_eq!(flags, expected);
    }

    /// Stale marks would not show wrong data (a page would just look for details in vain), so
    /// the API tests cannot see them: this checks that the triggers also take marks away.
    #[test]
    fn triggers_keep_the_marks_exact() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let marks = |conn: &Connection| -> Vec<(i64, i64)> {
            conn.prepare("SELECT has_reactions, has_attachments FROM messages ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        conn.execute_batch(
            "INSERT INTO contacts (id, username, phone_number, created_at) VALUES ('k', 'kevin', '1', 0);
             INSERT INTO conversations (id, direct_low, direct_high, created_at) VALUES ('c', 'k', 'k', 0);
             INSERT INTO messages (id, conversation_id, sender_id, body, created_at)
                  VALUES ('m1', 'c', 'k', 'hi', 0), ('m2', 'c', 'k', 'hi', 0);
             INSERT INTO reactions (message_id, emoji, contact_id, created_at)
                  VALUES ('m1', 'a', 'k', 0), ('m1', 'b', 'k', 0);
             INSERT INTO attachments (id, uploader_id, message_id, filename, file_type, file_size, created_at)
                  VALUES ('a', 'k', 'm1', 'f', 'text/plain', 1, 0);",
        )
        .unwrap();
        assert_eq!(marks(&conn), [(1, 1), (0, 0)]);
        conn.execute_batch(
            "DELETE FROM reactions WHERE emoji = 'a';
             UPDATE attachments SET message_id = 'm2' WHERE id = 'a';",
        )
        .unwrap();
        assert_eq!(
            marks(&conn),
            [(1, 0), (0, 1)],
            "one reaction left; the file moved"
        );
        conn.execute_batch("DELETE FROM reactions; DELETE FROM attachments;")
            .unwrap();
        assert_eq!(marks(&conn), [(0, 0), (0, 0)]);
    }

    /// Version 5: events keep their seq, type, JSON (from after the id) and audience, and
    /// their sequence: the next event comes after the newest ever written, even a pruned one.
    /// Each person's read mark starts just before their oldest unread message from others.
    #[test]
    fn version_4_events_lose_their_id_column_but_nothing_else() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            r#"ALTER TABLE participants DROP COLUMN read_through_seq;
             ALTER TABLE participants DROP COLUMN last_active_at;
             CREATE INDEX messages_unread ON messages (conversation_id) WHERE read_at IS NULL;
             INSERT INTO contacts (id, username, phone_number, created_at)
                  VALUES ('k', 'kevin', '1', 0), ('t', 'kate', '2', 0);
             INSERT INTO conversations (id, direct_low, direct_high, created_at, activity_seq)
                  VALUES ('c', 'k', 't', 0, 3), ('d', 'k', 'k', 0, 7);
             INSERT INTO participants (conversation_id, contact_id, conversation_seq)
                  VALUES ('c', 'k', 1), ('c', 't', 1), ('d', 'k', 2);
             INSERT INTO messages (seq, id, conversation_id, sender_id, body, read_at, created_at)
                  VALUES (1, 'm1', 'c', 'k', 'read', 5, 0), (2, 'm2', 'c', 't', 'unread', NULL, 0),
                         (3, 'm3', 'c', 'k', 'unread', NULL, 0);
             DROP TABLE events;
             CREATE TABLE events (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                 id         TEXT    NOT NULL UNIQUE,
                 type       TEXT    NOT NULL,
                 created_at INTEGER NOT NULL,
                 body       TEXT    NOT NULL,
                 audience   TEXT    NOT NULL,
                 audience_conversation TEXT,
                 audience_after        INTEGER
             );
             INSERT INTO events (seq, id, type, created_at, body, audience, audience_conversation, audience_after)
                  VALUES (3, 'Ab3dEf5hIj7lMn9p', 'message.created', 42,
                          '{"id":"Ab3dEf5hIj7lMn9p","type":"message.created","created_at":42,"account_id":"k","payload":{"type":"x"}}',
                          'k t', 'c', 7),
                         (9, 'Zz3dEf5hIj7lMn9p', 'group.deleted', 43,
                          '{"id":"Zz3dEf5hIj7lMn9p","type":"group.deleted","created_at":43,"account_id":"k","payload":null}',
                          'k', NULL, NULL);
             UPDATE sqlite_sequence SET seq = 12 WHERE name = 'events';
             PRAGMA user_version = 4;"#,
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        type EventRow = (i64, String, String, String, Option<String>, Option<i64>);
        let rows: Vec<EventRow> = conn
            .prepare("SELECT seq, type, body_tail, audience, audience_conversation, audience_after FROM events ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (3, "message.created".into(),
                 r#""type":"message.created","created_at":42,"account_id":"k","payload":{"type":"x"}}"#.into(),
                 "k t".into(), Some("c".into()), Some(7)),
                (9, "group.deleted".into(),
                 r#""type":"group.deleted","created_at":43,"account_id":"k","payload":null}"#.into(),
                 "k".into(), None, None),
            ]
        );
        conn.execute(
            "INSERT INTO events (type, created_at, body_tail, audience) VALUES ('x', 0, '}', '')",
            [],
        )
        .unwrap();
        assert_eq!(
            conn.last_insert_rowid(),
            13,
            "the sequence was carried over"
        );
    }

    /// Version 6: the participants of a small conversation get the time of its last message,
    /// those of a large one (whose own row keeps it) do not.
    #[test]
    fn version_5_small_conversations_hand_their_last_activity_to_their_participants() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "ALTER TABLE participants DROP COLUMN last_active_at;
             INSERT INTO contacts (id, username, phone_number, created_at)
                  VALUES ('k', 'kevin', '1', 0), ('t', 'kate', '2', 0);
             INSERT INTO conversations (id, direct_low, direct_high, created_at, last_active_at, activity_seq, large)
                  VALUES ('small', 'k', 't', 0, 41, 3, 0), ('large', 'k', 'k', 0, 42, 7, 1),
                         ('quiet', 't', 't', 0, NULL, 0, 0);
             INSERT INTO participants (conversation_id, contact_id, conversation_seq, activity_seq)
                  VALUES ('small', 'k', 1, 3), ('small', 't', 1, 3), ('large', 'k', 2, NULL),
                         ('quiet', 't', 3, 0);
             PRAGMA user_version = 5;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(String, String, Option<i64>)> = conn
            .prepare(
                "SELECT conversation_id, contact_id, last_active_at FROM participants ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected = [
            ("small", "k", Some(41)),
            ("small", "t", Some(41)),
            ("large", "k", None),
            ("quiet", "t", None),
        ];
        let expected: Vec<(String, String, Option<i64>)> = expected
            .iter()
            .map(|(c, p, t)| (c.to_string(), p.to_string(), *t))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
