//! The accounts' public profiles, held in memory for the readers of a SQLite database.
//!
//! A page of messages shows each sender's profile; read from the database that is a statement
//! per sender per page (about 8k instructions a sender, beside a 10-message page's 115k: a
//! group page with ten senders paid it ten times). The writer thread owns this copy: it loads every account when
//! the database opens and, after each commit, reloads the contacts rows the transaction changed
//! (its triggers name them), so readers only look and never fill it from a snapshot that may
//! be older than what the writer has since committed. A profile a reader gets may be a commit
//! newer or older than its own snapshot; what changes is `last_active_at` (a minute at a time)
//! and, at a restart, what the config says.
//!
//! PostgreSQL servers may share the database, so a commit elsewhere would not reach this copy:
//! there the page query joins the sender's row instead (`messages::MessageReader`).

use super::people::{PROFILE_COLUMNS, profile_from_row};
use super::records::Profile;
use super::sql::{self, Sql};
use rusqlite::functions::FunctionFlags;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

/// More changed rows than this in one commit (the demo loader, an account sync) reload all.
const RELOAD_ALL_ABOVE: usize = 256;

#[derive(Default)]
pub struct Profiles {
    by_id: RwLock<HashMap<String, Arc<Profile>>>,
    /// The contacts rows (by `seq`) changed since the last commit: filled by the writer
    /// connection's triggers, taken after the commit.
    changed: Arc<Mutex<Vec<i64>>>,
}

static ACCOUNTS: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PROFILE_COLUMNS} FROM contacts c WHERE c.owner_id IS NULL"));

static ROW: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT c.owner_id IS NULL, {PROFILE_COLUMNS} FROM contacts c WHERE c.seq = ?1")
});

impl Profiles {
    /// Every account's profile, read through the writer's connection `conn`, which then tells
    /// this copy of its changes (call `after_commit` after each of its commits). `None` on
    /// PostgreSQL.
    pub fn watching(conn: &Sql) -> sql::Result<Option<Profiles>> {
        let Some(sqlite) = conn.sqlite() else {
            return Ok(None);
        };
        let profiles = Profiles::default();
        let changed = profiles.changed.clone();
        // Temporary triggers (this connection's, never stored) that call back into Rust for
        // contacts rows only: an update hook would be called for every row of every table
        // (about 1k instructions a send).
        sqlite.create_scalar_function(
            "protocol_contact_changed",
            1,
            FunctionFlags::SQLITE_UTF8,
            move |context| {
                let seq: i64 = context.get(0)?;
                changed.lock().unwrap_or_else(|p| p.into_inner()).push(seq);
                Ok(0)
            },
        )?;
        sqlite.execute_batch(
            "CREATE TEMP TRIGGER IF NOT EXISTS contact_inserted AFTER INSERT ON main.contacts
             BEGIN SELECT protocol_contact_changed(new.seq); END;
             CREATE TEMP TRIGGER IF NOT EXISTS contact_updated AFTER UPDATE ON main.contacts
             BEGIN SELECT protocol_contact_changed(new.seq); END;",
        )?;
        profiles.reload_all(conn)?;
        Ok(Some(profiles))
    }

    /// The account's profile; `None` for anyone else (a private contact).
    pub fn get(&self, id: &str) -> Option<Arc<Profile>> {
        let by_id = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        by_id.get(id).cloned()
    }

    /// Brings the rows the last transaction changed up to date; runs on the writer, after
    /// its commit. A rolled-back change is reloaded as it stands, which is harmless.
    pub fn after_commit(&self, conn: &Sql) {
        let changed = std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()));
        if changed.is_empty() {
            return;
        }
        let reloaded = if changed.len() > RELOAD_ALL_ABOVE {
            self.reload_all(conn)
        } else {
            self.reload(conn, &changed)
        };
        if let Err(e) = reloaded {
            // A copy that may be stale is worse than none: readers fall back to the database.
            log::error!("could not reload profiles, reading them from the database: {e}");
            self.by_id
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }

    fn reload_all(&self, conn: &Sql) -> sql::Result<()> {
        let mut fresh = HashMap::new();
        conn.prepare_cached(&ACCOUNTS)?
            .for_each([] as [i64; 0], |row| {
                let profile = profile_from_row(row, 0)?;
                fresh.insert(profile.id.clone(), Arc::new(profile));
                Ok::<_, sql::SqlError>(true)
            })?;
        *self.by_id.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn reload(&self, conn: &Sql, rows: &[i64]) -> sql::Result<()> {
        let mut statement = conn.prepare_cached(&ROW)?;
        for &seq in rows {
            let mut found = None;
            statement.for_each([seq], |row| {
                found = Some((row.get::<bool>(0)?, profile_from_row(row, 1)?));
                Ok::<_, sql::SqlError>(false)
            })?;
            let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
            match found {
                Some((true, profile)) => {
                    by_id.insert(profile.id.clone(), Arc::new(profile));
                }
                // No longer an account (the config dropped it): its row is private now.
                Some((false, profile)) => {
                    by_id.remove(&profile.id);
                }
                // Deleted: accounts are not, and a private contact was never here.
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Sql {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::schema::migrate(&mut conn).unwrap();
        Sql::Sqlite(conn)
    }

    fn add(conn: &Sql, seq: i64, owner: Option<&str>) {
        conn.sqlite()
            .unwrap()
            .execute(
                "INSERT INTO contacts (seq, id, owner_id, username, phone_number, created_at)
                 VALUES (?1, 'contact' || ?1, ?2, 'user' || ?1, '555', 1)",
                rusqlite::params![seq, owner],
            )
            .unwrap();
    }

    fn active_at(profiles: &Profiles, seq: i64) -> Option<Option<i64>> {
        profiles
            .get(&format!("contact{seq}"))
            .map(|p| p.last_active_at)
    }

    #[test]
    fn the_copy_follows_every_committed_change_to_an_account() {
        let conn = database();
        add(&conn, 1, None);
        add(&conn, 2, Some("contact1"));
        let profiles = Profiles::watching(&conn).unwrap().unwrap();
        // Accounts only: a private contact is never here.
        assert_eq!(active_at(&profiles, 1), Some(None));
        assert_eq!(active_at(&profiles, 2), None);

        let sqlite = conn.sqlite().unwrap();
        add(&conn, 3, None);
        sqlite
            .execute("UPDATE contacts SET last_active_at = 7 WHERE seq = 1", [])
            .unwrap();
        // Not before the commit's turn…
        assert_eq!(active_at(&profiles, 1), Some(None));
        assert_eq!(active_at(&profiles, 3), None);
        profiles.after_commit(&conn);
        assert_eq!(active_at(&profiles, 1), Some(Some(7)));
        assert_eq!(active_at(&profiles, 3), Some(None));

        // An account the config no longer has becomes a private contact: out of the copy.
        sqlite
            .execute(
                "UPDATE contacts SET owner_id = 'contact1' WHERE seq = 3",
                [],
            )
            .unwrap();
        profiles.after_commit(&conn);
        assert_eq!(active_at(&profiles, 3), None);
        assert_eq!(active_at(&profiles, 1), Some(Some(7)));
    }

    #[test]
    fn a_commit_that_changes_many_rows_reloads_them_all() {
        let conn = database();
        let profiles = Profiles::watching(&conn).unwrap().unwrap();
        let many = RELOAD_ALL_ABOVE as i64 + 10;
        for seq in 1..=many {
            add(&conn, seq, None);
        }
        profiles.after_commit(&conn);
        assert!((1..=many).all(|seq| active_at(&profiles, seq) == Some(None)));
        conn.sqlite()
            .unwrap()
            .execute("UPDATE contacts SET last_active_at = seq", [])
            .unwrap();
        profiles.after_commit(&conn);
        assert!((1..=many).all(|seq| active_at(&profiles, seq) == Some(Some(seq))));
    }
}
