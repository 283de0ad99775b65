//! The writer thread: the one connection that changes the database, with group commit.
//!
//! Requests hand their unit of work to this thread through a queue instead of fighting over a
//! lock. The thread takes every job waiting (up to `MAX_BATCH`), runs each in its own savepoint
//! inside one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each job:
//! "2xx means committed" holds, and the cost of a commit is shared by everything in the batch.
//! A job that fails (or panics) is rolled back to its savepoint alone; the rest still commit.

use super::events::{self, Published};
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;

/// Most jobs in one transaction: bounds how long the first of them waits for its answer.
const MAX_BATCH: usize = 128;
/// Past this size the writer truncates the WAL between two batches. Under constant load some
/// reader always holds an old snapshot, so passive checkpoints alone would let it grow without
/// end; the writer can do it without waiting for any other writer (there is none), and the
/// jobs that arrive meanwhile simply queue.
const WAL_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// Called once the batch's commit succeeded or failed.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// Runs its work on the connection (or, given `None`, skips it) and returns its completion.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread that owns `conn`. `after_commit` runs after every commit, with the
    /// events the transaction recorded.
    pub fn start(
        conn: Connection,
        wal: Option<PathBuf>,
        after_commit: impl Fn(Vec<Published>) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, wal, queue, after_commit))?;
        Ok(Writer { jobs })
    }

    /// Queues `work`; `reply` gets its result once the transaction holding it has committed
    /// (or the error that kept it from committing).
    pub fn submit<T, F>(&self, work: F, reply: impl FnOnce(Result<T>) + Send + 'static)
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let out = match conn {
                Some(conn) => in_savepoint(conn, work),
                None => Err(Error::internal("the write was not run")),
            };
            Box::new(move |committed: Result<()>| {
                reply(match committed {
                    Ok(()) => out,
                    Err(e) => Err(e),
                })
            })
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            log::error!("the database writer has stopped");
            job(None)(Err(Error::internal("the database writer has stopped")));
        }
    }
}

fn run(
    conn: Connection,
    wal: Option<PathBuf>,
    queue: mpsc::Receiver<Job>,
    after_commit: impl Fn(Vec<Published>),
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let error = Error::from(e);
            for job in batch {
                job(None)(Err(error.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = batch.into_iter().map(|job| job(Some(&conn))).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Error::from(e)
        });
        let published = events::take_pending();
        for completion in completions {
            completion(committed.clone());
        }
        if committed.is_ok() {
            after_commit(published);
        }
        let wal_size = wal
            .as_ref()
            .and_then(|path| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len());
        if wal_size > WAL_LIMIT_BYTES
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            log::warn!("checkpoint: {e}");
        }
    }
}

/// Runs `work` in a savepoint: released when it succeeds, rolled back when it fails or panics.
fn in_savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    // Cached statements: these run for every job.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let mark = events::pending_mark();
    let out = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::internal(format!("database work panicked: {what}")))
    });
    if out.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
        events::rollback_pending(mark);
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    out
}
