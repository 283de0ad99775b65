//! The database: one writer thread beside a pool of readers.
//!
//! SQLite lets one connection write at a time, so every change goes to the writer thread
//! (`writer.rs`), which runs concurrent changes together in one `IMMEDIATE` transaction (group
//! commit; a failing change is undone alone) and answers after the commit. Reads run in
//! parallel on the readers, inside `web::block` (pool checkout included), off the async
//! executor threads.
//!
//! Code outside `db` goes through the whole operations of `operations.rs`; `read` and `write`,
//! which hand out a connection, are private to `db`.

pub mod access;
pub mod attachments;
pub mod backup;
pub mod contacts;
pub mod conversations;
pub mod copy;
pub mod demo;
pub mod error;
pub mod events;
pub mod groups;
pub mod idempotency;
pub mod ids;
pub mod inbox;
pub mod messages;
pub mod operations;
pub mod page;
pub mod people;
pub mod pg_client;
pub mod postgres;
pub mod private_contacts;
pub mod profiles;
#[cfg(test)]
mod query_plans;
pub mod records;
pub mod schema;
pub mod sql;
pub mod wal;
pub mod writer;

use error::{Result, StoreError};
use profiles::Profiles;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use sql::{Sql, SqlError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use writer::Writer;

/// Opens the readers' connections, for the pool.
pub enum Connector {
    Sqlite(SqliteConnectionManager),
    Postgres(tokio_postgres::Config),
}

impl r2d2::ManageConnection for Connector {
    type Connection = Sql;
    type Error = SqlError;

    fn connect(&self) -> Result<Sql, SqlError> {
        match self {
            Connector::Sqlite(manager) => Ok(Sql::Sqlite(manager.connect()?)),
            Connector::Postgres(config) => postgres::connect(config),
        }
    }

    fn is_valid(&self, conn: &mut Sql) -> Result<(), SqlError> {
        conn.execute_batch("SELECT 1")
    }

    fn has_broken(&self, conn: &mut Sql) -> bool {
        match conn {
            Sql::Sqlite(_) => false,
            Sql::Postgres(conn) => conn.is_broken(),
        }
    }
}

fn reader_pool(connector: Connector, size: u32) -> Result<Pool<Connector>, r2d2::Error> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // A local SQLite connection does not go stale like a network one; the check on every
        // checkout (a statement run) cost ~4% of a list request. A broken PostgreSQL
        // connection is noticed by `has_broken` when it goes back.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(30))
        .build(connector)
}

#[derive(Clone)]
pub struct Db {
    /// The database file (`None`: in memory).
    path: Option<std::path::PathBuf>,
    writer: Writer,
    /// `None` for an in-memory database, whose only connection is the writer's.
    readers: Option<Pool<Connector>>,
    /// Bumped after every commit, so the realtime hub learns of new events without polling.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Events committed and not yet taken by the realtime hub.
    published: Arc<Mutex<Waiting>>,
    /// The accounts' profiles for readers, kept by the writer (SQLite only: `profiles.rs`).
    profiles: Option<Arc<Profiles>>,
    /// One count per handle: `close` waits to be the last.
    handles: Arc<()>,
    dialect: sql::Dialect,
}

/// The committed events waiting for the hub; past `MAX_WAITING` (no hub running, or one far
/// behind) they are dropped and `overflowed` tells the hub to read the outbox instead.
#[derive(Default)]
pub struct Waiting {
    pub events: Vec<events::Published>,
    pub overflowed: bool,
}

const MAX_WAITING: usize = 100_000;

/// Threads per actix worker that run database reads (`worker_max_blocking_threads` in `run`).
/// Reads are CPU work on cached pages, so past the cores more threads only take turns and wake
/// each other: on 2 cores, 2 per worker instead of 4 served lists 15% and /health 10% faster
/// with a lower p99 (1 was faster still, but then one fsync or cold page stalls a worker).
pub const READ_THREADS_PER_WORKER: usize = 2;

/// Reader connections: one for each read thread of each worker (actix runs one per core).
fn reader_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(READ_THREADS_PER_WORKER * cores.max(2)).unwrap_or(u32::MAX)
}
const BUSY_TIMEOUT_MS: u32 = 5_000;
const STATEMENT_CACHE: usize = 128;

/// How long a commit waits for the disk (`server.synchronous`): `Normal` survives a crash of
/// the process, `Full` also a power cut (SQLite's `PRAGMA synchronous`; the file store syncs
/// attachment bytes too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    Full,
}

impl Db {
    /// Opens (creating if needed) and migrates the database: a PostgreSQL one for a
    /// `postgres://` URL, else the SQLite file at `database` (`:memory:`: a private in-memory
    /// database).
    /// `readers`: connections for reads (0: `READ_THREADS_PER_WORKER` per core); `render`
    /// writes the payloads of events (the API's business: `views.rs`).
    pub fn open(
        database: &str,
        synchronous: Synchronous,
        readers: u32,
        render: Arc<dyn events::Render>,
    ) -> Result<Db, String> {
        let readers = if readers == 0 {
            reader_connections()
        } else {
            readers
        };
        if postgres::is_url(database) {
            Db::open_postgres(database, readers, render)
        } else {
            Db::open_sqlite(database, synchronous, readers, render)
        }
    }

    fn open_sqlite(
        path: &str,
        synchronous: Synchronous,
        readers: u32,
        render: Arc<dyn events::Render>,
    ) -> Result<Db, String> {
        let sync = match synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        let pragmas = format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
             PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY;"
        );
        let in_memory = path == ":memory:";
        let cannot = |e: &dyn std::fmt::Display| format!("cannot open database {path}: {e}");
        let mut conn = if in_memory {
            Connection::open_in_memory()
        } else {
            Connection::open(path)
        }
        .map_err(|e| cannot(&e))?;
        tune(&conn).map_err(|e| cannot(&e))?;
        conn.execute_batch(&pragmas).map_err(|e| cannot(&e))?;
        if !in_memory {
            // WAL lets readers run beside the writer; it is stored in the file, so set once.
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(|e| cannot(&e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(format!("database {path} cannot use WAL mode (got {mode})"));
            }
        }
        schema::migrate(&mut conn).map_err(|e| format!("database {path}: {e}"))?;
        let wal = if in_memory {
            None
        } else {
            // Checkpoints run on their own thread, not on commit (`wal.rs`). A WAL that starts
            // over is cut back to 64 MiB.
            conn.execute_batch(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;",
            )
            .map_err(|e| cannot(&e))?;
            Some(wal::start(path, &pragmas).map_err(|e| cannot(&e))?)
        };
        let readers = if in_memory {
            None
        } else {
            // Readers map the file (256 MiB window) instead of copying pages through read().
            let reader_init =
                format!("{pragmas} PRAGMA query_only = ON; PRAGMA mmap_size = 268435456;");
            let manager = SqliteConnectionManager::file(path).with_init(move |c| {
                tune(c)?;
                c.execute_batch(&reader_init)
            });
            Some(reader_pool(Connector::Sqlite(manager), readers).map_err(|e| cannot(&e))?)
        };
        Db::start(
            Sql::Sqlite(conn),
            render,
            wal,
            None,
            readers,
            (!in_memory).then(|| std::path::PathBuf::from(path)),
        )
        .map_err(|e| cannot(&e))
    }

    fn open_postgres(
        url: &str,
        readers: u32,
        render: Arc<dyn events::Render>,
    ) -> Result<Db, String> {
        let config = postgres::config(url)?;
        let cannot = |e: &dyn std::fmt::Display| {
            format!("cannot open database {}: {e}", postgres::redacted(url))
        };
        let conn = sql::off_runtime(|| {
            let conn = postgres::connect(&config).map_err(|e| cannot(&e))?;
            postgres::migrate(&conn).map_err(|e| cannot(&e))?;
            Ok::<_, String>(conn)
        })?;
        let readers =
            reader_pool(Connector::Postgres(config.clone()), readers).map_err(|e| cannot(&e))?;
        let listener = config.clone();
        let reconnect: writer::Reconnect = Box::new(move || postgres::connect(&config));
        let db = Db::start(conn, render, None, Some(reconnect), Some(readers), None)
            .map_err(|e| cannot(&e))?;
        postgres::listen(listener, Arc::downgrade(&db.commits)).map_err(|e| cannot(&e))?;
        Ok(db)
    }

    fn start(
        conn: Sql,
        render: Arc<dyn events::Render>,
        wal: Option<wal::Upkeep>,
        reconnect: Option<writer::Reconnect>,
        readers: Option<Pool<Connector>>,
        path: Option<std::path::PathBuf>,
    ) -> std::io::Result<Db> {
        let commits = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let published = Arc::new(Mutex::new(Waiting::default()));
        let (notify, waiting) = (commits.clone(), published.clone());
        let conn_dialect = conn.dialect();
        // A database other servers share is read by the hub from the outbox (every server's
        // events are there, in order): nothing to hand over then.
        let shared = conn_dialect == sql::Dialect::Postgres;
        let profiles = Profiles::watching(&conn)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map(Arc::new);
        let keep_up = profiles.clone();
        let writer = Writer::start(conn, render, wal, reconnect, keep_up, move |events| {
            if !events.is_empty() && !shared {
                let mut waiting = waiting.lock().unwrap_or_else(|p| p.into_inner());
                if waiting.events.len() + events.len() > MAX_WAITING {
                    waiting.events.clear();
                    waiting.overflowed = true;
                } else {
                    waiting.events.extend(events);
                }
            }
            notify.send_modify(|n| *n = n.wrapping_add(1));
        })?;
        Ok(Db {
            dialect: conn_dialect,
            path,
            writer,
            readers,
            commits,
            published,
            profiles,
            handles: Arc::new(()),
        })
    }

    /// Runs read-only work on a reader connection (on the writer's for an in-memory database:
    /// hence `FnMut`, see `write`).
    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        F: FnMut(&Sql) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.readers {
            Some(readers) => {
                let readers = readers.clone();
                blocking(move || {
                    let conn = checkout(&readers)?;
                    in_read_transaction(&conn, work)
                })
                .await
            }
            None => self.write(work).await,
        }
    }

    /// Runs work as part of the writer's next transaction; resolves once it has committed.
    /// An `Err` from `work` rolls back its changes alone, so no request leaves a half-written
    /// change. `work` may run a second time when another job of its batch failed halfway
    /// (`writer.rs`), so it changes nothing but the database.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: FnMut(&Sql) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .submit(work, inbox::this_thread(), move |result| {
                let _ = reply.send(result);
            });
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::internal("the database writer dropped a job")))
    }

    /// `write` for callers outside the async runtime (start-up, worker threads, the CLI).
    fn write_blocking<T>(&self, work: impl FnMut(&Sql) -> Result<T> + Send + 'static) -> Result<T>
    where
        T: Send + 'static,
    {
        // Never through this thread's inbox: its drain task cannot run while this waits.
        let (reply, answer) = std::sync::mpsc::channel();
        self.writer.submit(work, None, move |result| {
            let _ = reply.send(result);
        });
        answer
            .recv()
            .unwrap_or_else(|_| Err(StoreError::internal("the database writer dropped a job")))
    }

    /// `read` for callers outside the async runtime.
    fn read_blocking<T>(&self, work: impl FnMut(&Sql) -> Result<T> + Send + 'static) -> Result<T>
    where
        T: Send + 'static,
    {
        match &self.readers {
            Some(readers) => {
                let conn = checkout(readers)?;
                in_read_transaction(&conn, work)
            }
            None => self.write_blocking(work),
        }
    }

    /// Closes the database for good, once this is its last handle: the readers' connections,
    /// then the checkpoint thread's, then the writer's, so that SQLite copies the WAL back and
    /// removes the `-wal` and `-shm` files (a clean stop leaves the database file alone). Waits
    /// up to `within` for the other handles to go (background threads finishing); if they do
    /// not, the files stay, which is harmless. Whether it closed.
    pub fn close(self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        while Arc::strong_count(&self.handles) > 1 {
            if std::time::Instant::now() >= deadline {
                log::warn!("the database stays open: a background task still holds it");
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let Db {
            writer, readers, ..
        } = self;
        drop(readers);
        writer.stop();
        true
    }

    /// Whether a reader answers: the cost of a pooled read without touching a table (`/health`).
    /// On SQLite in the usual read transaction (cached BEGIN and COMMIT that touch no file
    /// until a table is read). On PostgreSQL the statement alone, outside a transaction: there
    /// BEGIN and COMMIT are round trips of their own, and would make one check three.
    pub async fn ping(&self) -> Result<()> {
        fn select_one(conn: &Sql) -> Result<()> {
            Ok(conn.query_row("SELECT 1", rusqlite::params![], |_| Ok(()))?)
        }
        match &self.readers {
            Some(readers) if self.dialect == sql::Dialect::Postgres => {
                let readers = readers.clone();
                blocking(move || {
                    let conn = checkout(&readers)?;
                    if !conn.is_autocommit() {
                        // Left open by an earlier failure: start from a clean slate.
                        conn.control("ROLLBACK")?;
                    }
                    select_one(&conn)
                })
                .await
            }
            _ => self.read(select_one).await,
        }
    }

    /// The database file (`None` for an in-memory database).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Bytes the database takes, and its write-ahead log (SQLite's `-wal` file; PostgreSQL's
    /// log belongs to the whole server: 0). 0 when unknown (in memory).
    pub async fn size(&self) -> (u64, u64) {
        let file_size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
        match &self.path {
            Some(path) => {
                let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
                (file_size(path), file_size(&wal))
            }
            None if self.dialect == sql::Dialect::Postgres => {
                let size = self
                    .read(|conn| {
                        Ok(conn.query_row(
                            "SELECT pg_database_size(current_database())",
                            rusqlite::params![],
                            |r| r.get::<i64>(0),
                        )?)
                    })
                    .await;
                (size.map_or(0, |s| u64::try_from(s).unwrap_or(0)), 0)
            }
            None => (0, 0),
        }
    }

    /// Whether other servers may write to this database too (PostgreSQL): then this server
    /// learns of their events only through the outbox.
    pub fn is_shared(&self) -> bool {
        self.dialect == sql::Dialect::Postgres
    }

    /// The writer's batch sizes and queue waits (recorded once enabled).
    pub fn writer_stats(&self) -> &writer::WriterStats {
        self.writer.stats()
    }

    /// Wakes whenever a write has committed: this server's, and on PostgreSQL any server's
    /// that recorded events (`postgres::listen`).
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Takes the committed events waiting for the hub (`None`: some were dropped, read the
    /// outbox instead).
    pub fn take_published(&self) -> Option<Vec<events::Published>> {
        let mut waiting = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let events = std::mem::take(&mut waiting.events);
        if std::mem::take(&mut waiting.overflowed) {
            None
        } else {
            Some(events)
        }
    }
}

/// A reader connection that still works. A PostgreSQL connection the server closed while it
/// sat in the pool (a restart, a terminated backend) is seen here, before a read fails on it:
/// dropped, and the next one taken (the pool makes new ones as needed).
fn checkout(readers: &Pool<Connector>) -> Result<r2d2::PooledConnection<Connector>> {
    let mut conn = readers.get()?;
    for _ in 0..readers.max_size() {
        if !conn.is_broken() {
            break;
        }
        // Returned broken, the pool drops it (`has_broken`).
        drop(conn);
        conn = readers.get()?;
    }
    Ok(conn)
}

/// One snapshot for the whole of a read (a page and its reactions agree with each other), and
/// one lock round instead of one per statement. On SQLite BEGIN and COMMIT are cached
/// statements; on PostgreSQL the BEGIN goes with the first statement and the COMMIT is not
/// waited for (`Sql::begin_read`, `end_read`).
fn in_read_transaction<T>(conn: &Sql, work: impl FnOnce(&Sql) -> Result<T>) -> Result<T> {
    if !conn.is_autocommit() {
        // Left open by an earlier failure: start from a clean slate.
        conn.control("ROLLBACK")?;
    }
    conn.begin_read()?;
    let result = work(conn);
    conn.end_read()?;
    result
}

/// Settings of every connection that serves requests. The query planner stability guarantee
/// (QPSG) keeps a statement's plan independent of the values bound to it: without it, a bound
/// value compared against a partial index's condition marks the statement for re-preparing
/// whenever that value changes, and the message page was parsed and planned anew on every
/// request (about 5% of the CPU of a list). Partial indexes stay usable: `x = ?` implies
/// `x IS NOT NULL` without looking at the value (`query_plans.rs` checks every list query).
pub(crate) fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match actix_web::web::block(work).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::internal(format!("database task failed: {e}"))),
    }
}

/// The current time as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
