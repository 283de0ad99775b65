//! Schema versions. `schema.sql` is the whole current schema and is idempotent; `user_version`
//! says which version a file has, and `MIGRATIONS` move an older file forward step by step.

use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../schema.sql");

/// The version `schema.sql` describes.
pub const VERSION: i64 = 1;

/// Steps from version N-1 to N, run before `schema.sql` for files older than `VERSION`.
/// Version 1 is the first, so there is nothing to step over yet.
const MIGRATIONS: &[(i64, &str)] = &[];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {current}, newer than this server's {VERSION}; \
             use a newer server"
        )));
    }
    for (version, sql) in MIGRATIONS {
        if current != 0 && *version > current {
            tx.execute_batch(sql)?;
        }
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
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
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
