//! The database: one writer connection beside a pool of readers.
//!
//! SQLite lets one connection write at a time, so every change goes through the single writer in
//! an `IMMEDIATE` transaction (it takes the write lock at `BEGIN` and never fails upgrading a read
//! lock); reads run in parallel on the readers. Every unit of work, `pool.get()` included, runs
//! inside `web::block`, off the async executor threads.

pub mod attachments;
pub mod contacts;
pub mod conversations;
pub mod events;
pub mod groups;
pub mod idempotency;
pub mod ids;
pub mod messages;
pub mod page;
pub mod schema;

use crate::config::Synchronous;
use crate::error::{Error, Result};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::time::Duration;

type SqlitePool = Pool<SqliteConnectionManager>;

#[derive(Clone)]
pub struct Db {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Bumped after every commit, so the realtime hub learns of new events without polling.
    commits: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

const READERS: u32 = 8;
const BUSY_TIMEOUT_MS: u32 = 5_000;
const STATEMENT_CACHE: usize = 128;

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`; `:memory:` gives a private
    /// in-memory database served by one connection.
    pub fn open(path: &str, synchronous: Synchronous) -> Result<Db, String> {
        let sync = match synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        let pragmas = format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
             PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY;"
        );
        let in_memory = path == ":memory:";
        let manager = if in_memory {
            SqliteConnectionManager::memory()
        } else {
            SqliteConnectionManager::file(path)
        };
        let writer_init = pragmas.clone();
        let writer = Pool::builder()
            .max_size(1)
            .connection_timeout(Duration::from_secs(30))
            .build(manager.with_init(move |c| {
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c.execute_batch(&writer_init)
            }))
            .map_err(|e| format!("cannot open database {path}: {e}"))?;

        {
            let mut conn = writer
                .get()
                .map_err(|e| format!("cannot open database {path}: {e}"))?;
            if !in_memory {
                // WAL lets readers run beside the writer; it is stored in the file, so set once.
                let mode: String = conn
                    .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                    .map_err(|e| format!("cannot use database {path}: {e}"))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(format!("database {path} cannot use WAL mode (got {mode})"));
                }
            }
            schema::migrate(&mut conn).map_err(|e| format!("database {path}: {e}"))?;
        }

        let readers = if in_memory {
            writer.clone()
        } else {
            let reader_init = format!("{pragmas} PRAGMA query_only = ON;");
            Pool::builder()
                .max_size(READERS)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build(SqliteConnectionManager::file(path).with_init(move |c| {
                    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                    c.execute_batch(&reader_init)
                }))
                .map_err(|e| format!("cannot open database {path}: {e}"))?
        };
        Ok(Db {
            writer,
            readers,
            commits: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// Runs read-only work on a reader connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let readers = self.readers.clone();
        blocking(move || {
            let conn = readers.get()?;
            work(&conn)
        })
        .await
    }

    /// Runs work in one `IMMEDIATE` transaction on the writer: committed when it returns `Ok`,
    /// rolled back otherwise, so no request leaves a half-written change.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        blocking(move || db.write_blocking(work)).await
    }

    /// `write` for callers outside the async runtime (start-up, worker threads, the CLI).
    pub fn write_blocking<T>(&self, work: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let out = write_now(&self.writer, work)?;
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        Ok(out)
    }

    /// `read` for callers outside the async runtime.
    pub fn read_blocking<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.get()?;
        work(&conn)
    }

    /// Wakes whenever a write has committed.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }
}

fn write_now<T>(writer: &SqlitePool, work: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
    let mut conn = writer.get()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = work(&tx)?;
    tx.commit()?;
    Ok(out)
}

async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match actix_web::web::block(work).await {
        Ok(result) => result,
        Err(e) => Err(Error::internal(format!("database task failed: {e}"))),
    }
}

/// The current time as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
