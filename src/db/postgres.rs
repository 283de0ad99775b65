//! What only PostgreSQL needs: recognising its URL, connecting, and its schema versions.

use super::pg_client::{PgClient, Waited};
use super::sql::{EVENTS_CHANNEL, PgConnection, Sql, SqlError};
use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

const SCHEMA: &str = include_str!("../../schema-postgres.sql");

/// The version `schema-postgres.sql` describes (numbered like SQLite's `schema::VERSION`).
pub const VERSION: i64 = super::schema::VERSION;

/// Steps from version N-1 to N, run before the schema for databases older than `VERSION`
/// (version 3 is the first PostgreSQL one).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        4,
        // Webhook endpoints are leased to one server at a time.
        "ALTER TABLE webhook_cursors ADD COLUMN IF NOT EXISTS lease_holder TEXT COLLATE \"C\";
         ALTER TABLE webhook_cursors ADD COLUMN IF NOT EXISTS lease_until BIGINT;",
    ),
    (
        5,
        // An event's id is its seq: the `id` column goes, the stored JSON starts after the id.
        // Each person's read mark replaces the index of unread messages (schema.rs says more).
        concat!(
            "ALTER TABLE participants ADD COLUMN read_through_seq BIGINT NOT NULL DEFAULT 0;",
            super::schema::read_marks_from_unread!(),
            "ALTER TABLE events DROP COLUMN id;
             ALTER TABLE events RENAME COLUMN body TO body_tail;
             UPDATE events SET body_tail = substr(body_tail, strpos(body_tail, '\"type\":'));"
        ),
    ),
    (
        6,
        // Participants of small conversations carry the time of the last message.
        concat!(
            "ALTER TABLE participants ADD COLUMN last_active_at BIGINT;",
            super::schema::last_active_into_participants!()
        ),
    ),
];

/// The advisory lock held while the schema is brought up to date, so servers starting at
/// once migrate one after another.
const MIGRATION_LOCK: i64 = 0x5052_4f4d;

/// Whether `database` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// The connection settings of a `postgres://USER:PASS@HOST:PORT/DBNAME` URL.
pub fn config(url: &str) -> Result<tokio_postgres::Config, String> {
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| format!("invalid PostgreSQL URL {}: {e}", redacted(url)))?;
    if config.get_connect_timeout().is_none() {
        // A server that does not answer must not hold the writer (or a read) forever.
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    if config.get_dbname().is_none() {
        return Err(format!(
            "the PostgreSQL URL {} names no database (…/DBNAME)",
            redacted(url)
        ));
    }
    Ok(config)
}

/// A URL without its password (in the user part or a `password=` option), for messages.
pub fn redacted(url: &str) -> String {
    let mut out = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    if let Some(start) = out.find("password=") {
        let value = start + "password=".len();
        let end = out[value..].find('&').map_or(out.len(), |i| value + i);
        out.replace_range(value..end, "***");
    }
    out
}

/// How long a listener waits for a notification before it checks whether the database has
/// been closed.
const LISTEN_TICK: Duration = Duration::from_secs(1);

/// Starts the thread that wakes this server's realtime hub when any server sharing the
/// database (this one too) commits events: it `LISTEN`s on `EVENTS_CHANNEL` and bumps
/// `commits` for each notification. A lost connection is made again after a second (the hub
/// also reads the outbox every second, which covers what is missed meanwhile). The thread ends
/// once the database is closed (`commits` is gone).
pub fn listen(
    config: tokio_postgres::Config,
    commits: Weak<tokio::sync::watch::Sender<u64>>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("database-listener".into())
        .spawn(move || {
            while commits.strong_count() > 0 {
                if let Err(e) = listen_until_closed(&config, &commits) {
                    log::warn!("listening for other servers' events: {e}");
                    std::thread::sleep(LISTEN_TICK);
                }
            }
        })?;
    Ok(())
}

/// Listens on one connection until the database is closed (`Ok`) or the connection fails.
fn listen_until_closed(
    config: &tokio_postgres::Config,
    commits: &Weak<tokio::sync::watch::Sender<u64>>,
) -> Result<(), SqlError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SqlError::Conversion(format!("cannot start a runtime: {e}")))?;
    let mut client = PgClient::connect(runtime, config)?;
    client.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))?;
    // Events committed while no listener ran: the hub's next read of the outbox finds them.
    loop {
        let waited = client.wait_for_notification(LISTEN_TICK);
        let Some(commits) = commits.upgrade() else {
            return Ok(());
        };
        match waited {
            Waited::Notified => commits.send_modify(|n| *n = n.wrapping_add(1)),
            Waited::TimedOut => {}
            Waited::Closed => {
                return Err(SqlError::Conversion("the connection was closed".into()));
            }
        }
    }
}

pub fn connect(config: &tokio_postgres::Config) -> Result<Sql, SqlError> {
    Ok(Sql::Postgres(PgConnection::connect(config)?))
}

/// Brings the database to `VERSION`: creates it when empty, applies the steps after the
/// recorded version, refuses a newer one.
pub fn migrate(conn: &Sql) -> Result<(), String> {
    let fail = |e: SqlError| format!("cannot set up the schema: {e}");
    conn.execute_batch(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(fail)?;
    let result = migrate_locked(conn);
    let unlocked = conn
        .execute_batch(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .map_err(fail);
    result.and(unlocked)
}

fn migrate_locked(conn: &Sql) -> Result<(), String> {
    let fail = |e: SqlError| format!("cannot set up the schema: {e}");
    let current = recorded_version(conn).map_err(fail)?;
    if current > VERSION {
        return Err(format!(
            "the database has schema version {current}, newer than this server's {VERSION}; \
             use a newer server"
        ));
    }
    if current == VERSION {
        return Ok(());
    }
    conn.control("BEGIN").map_err(fail)?;
    let steps = || -> Result<(), SqlError> {
        for (version, sql) in MIGRATIONS {
            if current != 0 && *version > current {
                conn.execute_batch(sql)?;
            }
        }
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT INTO server_meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [VERSION.to_string()],
        )?;
        Ok(())
    };
    match steps() {
        Ok(()) => conn.control("COMMIT").map_err(fail),
        Err(e) => {
            let _ = conn.control("ROLLBACK");
            Err(fail(e))
        }
    }
}

/// The schema version recorded in the database (0: an empty database).
fn recorded_version(conn: &Sql) -> Result<i64, SqlError> {
    let has_meta: bool = conn.query_row(
        "SELECT to_regclass('server_meta') IS NOT NULL",
        rusqlite::params![],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    let version: Option<String> = super::sql::OptionalExtension::optional(conn.query_row(
        "SELECT value FROM server_meta WHERE key = 'schema_version'",
        rusqlite::params![],
        |r| r.get(0),
    ))?;
    Ok(version.and_then(|v| v.parse().ok()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://kate:secret@127.0.0.1:5432/chat"),
            "postgres://kate:***@127.0.0.1:5432/chat"
        );
        assert_eq!(
            redacted("postgres://localhost/chat"),
            "postgres://localhost/chat"
        );
    }
}
