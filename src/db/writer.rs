//! The writer thread: the one connection that changes the database, with group commit.
//!
//! Requests hand their unit of work to this thread through a queue instead of fighting over a
//! lock. The thread takes every job waiting (up to `MAX_BATCH`), runs each in its own savepoint
//! inside one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each job:
//! "2xx means committed" holds, and the cost of a commit is shared by everything in the batch.
//! A job that fails (or panics) is rolled back to its savepoint alone; the rest still commit.

use super::events::{self, Published};
use super::inbox::Inbox;
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};

/// Most jobs in one transaction: bounds how long the first of them waits for its answer.
const MAX_BATCH: usize = 128;
/// When the writer makes the WAL start over: once it holds this many pages (32 MiB of 4 KiB
/// pages). The checkpoint thread (`db/mod.rs`) copies the WAL back into the database
/// concurrently, but the WAL can only start over from its beginning (which is what keeps it
/// small) after a checkpoint that caught up completely while nothing was writing: between two
/// batches, the writer is the one place where that holds. It is PASSIVE (it never waits for a
/// reader; one in the way just means another try after the next batch), but it costs the writer
/// the rest of the copy and two fsyncs, 5-30 ms under full load, so it is worth doing rarely;
/// never doing it lets the WAL grow by gigabytes under constant load (measured, `bench/`).
const WAL_RESTART_PAGES: i64 = 8192;
/// Past this size (readers kept the WAL from starting over for a long time) the writer
/// truncates it, waiting for the readers in its way: a stall, but a bound.
const WAL_LIMIT_BYTES: u64 = 1024 * 1024 * 1024;

/// The WAL file, and the lock the writer and the checkpoint thread take turns with.
pub struct Wal {
    pub path: PathBuf,
    pub checkpoints: std::sync::Arc<std::sync::Mutex<()>>,
}

/// Called once the batch's commit succeeded or failed.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// Runs its work on the connection (or, given `None`, skips it) and returns its completion.
type Work = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

struct Job {
    work: Work,
    /// Where the completion runs: the submitting thread's inbox, or (`None`) the writer.
    inbox: Option<Arc<Inbox>>,
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread that owns `conn`. `after_commit` runs after every commit, with the
    /// events the transaction recorded.
    pub fn start(
        conn: Connection,
        wal: Option<Wal>,
        after_commit: impl Fn(Vec<Published>) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, wal, queue, after_commit))?;
        Ok(Writer { jobs })
    }

    /// Queues `work`; `reply` gets its result once the transaction holding it has committed
    /// (or the error that kept it from committing). `reply` runs on the thread that drains
    /// `inbox` or, without one, on the writer's.
    pub(crate) fn submit<T, F>(
        &self,
        work: F,
        inbox: Option<Arc<Inbox>>,
        reply: impl FnOnce(Result<T>) + Send + 'static,
    ) where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let work: Work = Box::new(move |conn| {
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
        if let Err(mpsc::SendError(job)) = self.jobs.send(Job { work, inbox }) {
            log::error!("the database writer has stopped");
            (job.work)(None)(Err(Error::internal("the database writer has stopped")));
        }
    }
}

fn run(
    conn: Connection,
    wal: Option<Wal>,
    queue: mpsc::Receiver<Job>,
    after_commit: impl Fn(Vec<Published>),
) {
    conn.wal_hook(Some(note_wal_pages));
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
        {
            let skipped = batch
                .into_iter()
                .map(|job| ((job.work)(None), job.inbox))
                .collect();
            answer(skipped, &Err(Error::from(e)));
            continue;
        }
        let completions = batch
            .into_iter()
            .map(|job| ((job.work)(Some(&conn)), job.inbox))
            .collect();
        let committed = conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                Error::from(e)
            });
        let published = events::take_pending();
        answer(completions, &committed);
        if committed.is_ok() {
            after_commit(published);
        }
        // Unless the checkpoint thread is at it (then after the next batch).
        if let Some(wal) = &wal
            && WAL_PAGES.get() >= WAL_RESTART_PAGES
            && let Ok(_held) = wal.checkpoints.try_lock()
            && checkpoint(&conn, &wal.path)
        {
            WAL_PAGES.set(0);
        }
    }
}

/// Runs each completion with the batch's outcome: through its thread's inbox, each inbox woken
/// once, or else right here.
fn answer(completions: Vec<(Completion, Option<Arc<Inbox>>)>, committed: &Result<()>) {
    let mut to_wake: Vec<Arc<Inbox>> = Vec::new();
    for (completion, inbox) in completions {
        let committed = committed.clone();
        match inbox {
            Some(inbox) => {
                inbox.push(Box::new(move || completion(committed)));
                if !to_wake.iter().any(|other| Arc::ptr_eq(other, &inbox)) {
                    to_wake.push(inbox);
                }
            }
            None => completion(committed),
        }
    }
    for inbox in to_wake {
        inbox.wake();
    }
}

thread_local! {
    /// Pages in the WAL after the writer's last commit (the writer thread's own).
    static WAL_PAGES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// SQLite's WAL hook: called after each commit with the number of pages in the WAL.
fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(i64::from(pages));
    Ok(())
}

/// A checkpoint between two batches; whether it copied the whole WAL back (so the next batch
/// starts the WAL over).
fn checkpoint(conn: &Connection, wal: &std::path::Path) -> bool {
    let wal_size = std::fs::metadata(wal).map_or(0, |m| m.len());
    let mode = if wal_size > WAL_LIMIT_BYTES {
        "TRUNCATE"
    } else {
        "PASSIVE"
    };
    // (busy, frames in the WAL, frames copied back)
    let result = conn
        .prepare_cached(&format!("PRAGMA wal_checkpoint({mode})"))
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
        });
    match result {
        Ok((busy, frames, copied)) => busy == 0 && frames == copied,
        Err(e) => {
            log::warn!("checkpoint: {e}");
            false
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
