//! Schema versions. `schema.sql` is the whole current schema and is idempotent; `user_version`
//! says which version a file has, and `MIGRATIONS` move an older file forward step by step.

use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../schema.sql");

/// The version `schema.sql` describes.
pub const VERSION: i64 = 2;

/// Steps from version N-1 to N, run before `schema.sql` for files older than `VERSION`.
const MIGRATIONS: &[(i64, &str)] = &[(
    2,
    // Messages say whether they have reactions / attachments (schema.sql's triggers keep it).
    "ALTER TABLE messages ADD COLUMN has_reactions INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE messages ADD COLUMN has_attachments INTEGER NOT NULL DEFAULT 0;
     UPDATE messages SET has_reactions = 1 WHERE id IN (SELECT message_id FROM reactions);
     UPDATE messages SET has_attachments = 1
      WHERE id IN (SELECT message_id FROM attachments WHERE message_id IS NOT NULL);",
)];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
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

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
