//! The writer thread: the one connection that changes the database, with group commit.
//!
//! Requests hand their unit of work to this thread through a queue instead of fighting over a
//! lock. The thread takes every job waiting (up to `MAX_BATCH`), runs them all inside one
//! `BEGIN IMMEDIATE` transaction, commits once, and only then answers each job: "2xx means
//! committed" holds, and the cost of a commit is shared by everything in the batch.
//!
//! A job that fails (or panics) must not take the others with it, nor leave half of its own
//! change behind. Most failures are checks that fail before the job has changed a row, and
//! those need nothing undone, so jobs first run without savepoints (each costs a copy of every
//! page the job touches). Only when a job fails after changing rows is the batch rolled back and
//! run again with each job in its own savepoint, where a failure rolls back that job alone.

use super::error::{Result, StoreError};
use super::events::{self, Published};
use super::inbox::Inbox;
use super::profiles::Profiles;
use super::sql::Sql;
use super::wal::Upkeep;
use crate::stats::{BATCH_BUCKETS, Histogram, QUEUE_WAIT_BUCKETS};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// Opens a new writer connection when the old one broke (PostgreSQL; SQLite's cannot).
pub type Reconnect = Box<dyn Fn() -> Result<Sql, super::sql::SqlError> + Send>;

/// Most jobs in one transaction: bounds how long the first of them waits for its answer.
const MAX_BATCH: usize = 128;
/// Work queued for the writer, with the reply that gets its result.
trait Job: Send {
    /// Runs the work (again, when the batch is run again), keeping its result; whether it
    /// succeeded.
    fn run(&mut self, conn: &Sql) -> bool;
    /// Replaces the kept result with an error that came up around the work.
    fn fail(&mut self, error: StoreError);
    /// Hands the kept result, or the error that kept the batch from committing, to the reply.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Queued<F, T, R> {
    work: F,
    result: Option<Result<T>>,
    reply: R,
}

impl<F, T, R> Job for Queued<F, T, R>
where
    F: FnMut(&Sql) -> Result<T> + Send,
    T: Send,
    R: FnOnce(Result<T>) + Send,
{
    fn run(&mut self, conn: &Sql) -> bool {
        let result = catch_unwind(AssertUnwindSafe(|| (self.work)(conn))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::internal(format!(
                "database work panicked: {what}"
            )))
        });
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let Queued { result, reply, .. } = *self;
        reply(match committed {
            Ok(()) => result.unwrap_or_else(|| Err(StoreError::internal("the write was not run"))),
            Err(e) => Err(e),
        })
    }
}

struct Submitted {
    job: Box<dyn Job>,
    /// Where the answer runs: the submitting thread's inbox, or (`None`) the writer.
    inbox: Option<Arc<Inbox>>,
    /// When it was queued, if the metrics are on.
    queued_at: Option<Instant>,
}

/// What the writer reports to the metrics, once they are on (off, it reads no clock).
pub struct WriterStats {
    enabled: AtomicBool,
    /// Jobs per transaction.
    pub batch_size: Histogram<{ BATCH_BUCKETS.len() }>,
    /// From a job's submission to the start of its batch.
    pub queue_wait: Histogram<{ QUEUE_WAIT_BUCKETS.len() }>,
}

impl WriterStats {
    fn new() -> WriterStats {
        WriterStats {
            enabled: AtomicBool::new(false),
            batch_size: Histogram::new(&BATCH_BUCKETS),
            queue_wait: Histogram::new(&QUEUE_WAIT_BUCKETS),
        }
    }

    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    fn record(&self, batch: &[Submitted]) {
        let now = Instant::now();
        self.batch_size.observe(batch.len() as f64);
        for queued_at in batch.iter().filter_map(|s| s.queued_at) {
            self.queue_wait.observe_duration(now - queued_at);
        }
    }
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Submitted>,
    stats: Arc<WriterStats>,
    /// The thread, for `stop` to wait for.
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Writer {
    /// Starts the thread that owns `conn`; events are rendered by `render`. `profiles` (the
    /// readers' copy of the accounts' profiles) is brought up to date after each commit,
    /// before the answers; `after_commit` runs after them, with the events the transaction
    /// recorded.
    pub fn start(
        conn: Sql,
        render: Arc<dyn events::Render>,
        wal: Option<Upkeep>,
        reconnect: Option<Reconnect>,
        profiles: Option<Arc<Profiles>>,
        after_commit: impl Fn(Vec<Published>) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Submitted>();
        let stats = Arc::new(WriterStats::new());
        let recorder = stats.clone();
        let thread = std::thread::Builder::new()
            .name("database-writer".into())
            .spawn(move || {
                events::install_renderer(render);
                let commits = Commits {
                    profiles,
                    after_commit,
                };
                run(conn, wal, reconnect, queue, &recorder, commits)
            })?;
        Ok(Writer {
            jobs,
            stats,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Lets the thread finish what is queued and close its connection, and waits for it. The
    /// thread ends once every handle is gone: call this on the last one.
    pub fn stop(self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(self);
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            log::warn!("the database writer panicked");
        }
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Queues `work`; `reply` gets its result once the transaction holding it has committed
    /// (or the error that kept it from committing). `reply` runs on the thread that drains
    /// `inbox` or, without one, on the writer's. `work` may run twice (see the module's
    /// comment), so it must change nothing but the database.
    pub(crate) fn submit<T, F>(
        &self,
        work: F,
        inbox: Option<Arc<Inbox>>,
        reply: impl FnOnce(Result<T>) + Send + 'static,
    ) where
        F: FnMut(&Sql) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let job = Box::new(Queued {
            work,
            result: None,
            reply,
        });
        let queued_at = self
            .stats
            .enabled
            .load(Ordering::Relaxed)
            .then(Instant::now);
        let submitted = Submitted {
            job,
            inbox,
            queued_at,
        };
        if let Err(mpsc::SendError(submitted)) = self.jobs.send(submitted) {
            log::error!("the database writer has stopped");
            let stopped = StoreError::internal("the database writer has stopped");
            submitted.job.answer(Err(stopped));
        }
    }
}

/// What follows a commit: the profiles' reload, then (after the answers) `after_commit`.
struct Commits<F> {
    profiles: Option<Arc<Profiles>>,
    after_commit: F,
}

fn run(
    mut conn: Sql,
    wal: Option<Upkeep>,
    reconnect: Option<Reconnect>,
    queue: mpsc::Receiver<Submitted>,
    stats: &WriterStats,
    commits: Commits<impl Fn(Vec<Published>)>,
) {
    if let Some(sqlite) = conn.sqlite() {
        sqlite.wal_hook(Some(note_wal_pages));
    }
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if stats.enabled.load(Ordering::Relaxed) {
            stats.record(&batch);
        }
        if conn.is_broken()
            && let Some(reconnect) = &reconnect
        {
            // The database server went away (a restart, a failover): connect again before
            // this batch; if that fails too, the batch fails and the next one tries again.
            match reconnect() {
                Ok(fresh) => {
                    log::warn!("the database writer reconnected");
                    conn = fresh;
                }
                Err(e) => log::error!("the database writer cannot reconnect: {e}"),
            }
        }
        let committed = run_batch(&conn, &mut batch);
        let published = events::take_pending();
        if committed.is_ok()
            && let Some(profiles) = &commits.profiles
        {
            profiles.after_commit(&conn);
        }
        answer(batch, &committed);
        if committed.is_ok() {
            (commits.after_commit)(published);
        }
        if let Some(wal) = &wal
            && let Some(sqlite) = conn.sqlite()
            && wal.between_batches(sqlite, WAL_PAGES.get())
        {
            WAL_PAGES.set(0);
        }
    }
    // Every handle is gone. The checkpoint thread closes its connection first, so that this
    // one is the last: closing it, SQLite copies the WAL back and removes the -wal and -shm
    // files.
    if let Some(wal) = wal {
        wal.stop();
    }
    drop(conn);
}

/// Runs the batch's jobs in one transaction and commits it.
fn run_batch(conn: &Sql, batch: &mut [Submitted]) -> Result<()> {
    if !conn.is_autocommit() {
        // Left open by a failure of the last batch's: start from a clean slate.
        execute(conn, "ROLLBACK")?;
    }
    conn.begin_write()?;
    if !run_without_savepoints(conn, batch) {
        // A job failed after changing rows: its changes cannot be told from the others'.
        if !conn.is_autocommit() {
            execute(conn, "ROLLBACK")?;
        }
        drop(events::take_pending());
        conn.begin_write()?;
        for submitted in batch.iter_mut() {
            if conn.is_autocommit() {
                // SQLite rolled the transaction back under an earlier job (a full disk, say):
                // run alone, the rest would each commit before the batch fails.
                submitted
                    .job
                    .fail(StoreError::internal("the transaction was rolled back"));
                continue;
            }
            in_savepoint(conn, submitted.job.as_mut());
        }
    }
    if conn.must_roll_back() {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(StoreError::internal("the transaction failed"));
    }
    Ok(conn.commit(events::newest_pending()).inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })?)
}

/// Runs each job straight in the transaction. A job that fails without having changed a row
/// (SQLite counts the rows each statement changes; a statement that fails undoes its own)
/// leaves nothing to undo. False when a job failed after changing rows, or when the
/// transaction ended under a job (SQLite rolls it all back on errors such as a full disk).
fn run_without_savepoints(conn: &Sql, batch: &mut [Submitted]) -> bool {
    for submitted in batch {
        let changes = conn.total_changes();
        let mark = events::pending_mark();
        let succeeded = submitted.job.run(conn);
        if conn.is_autocommit() || (succeeded && conn.must_roll_back()) {
            return false;
        }
        if !succeeded {
            // PostgreSQL ends a transaction's use at its first failed statement.
            if conn.total_changes() != changes || conn.must_roll_back() {
                return false;
            }
            events::rollback_pending(mark);
        }
    }
    true
}

/// Runs a job in a savepoint: released when it succeeds, rolled back when it fails or panics.
fn in_savepoint(conn: &Sql, job: &mut dyn Job) {
    let mut around = || -> Result<()> {
        execute(conn, "SAVEPOINT job")?;
        let mark = events::pending_mark();
        let succeeded = job.run(conn);
        if succeeded && conn.must_roll_back() {
            // It went on past a failed statement: on PostgreSQL its changes would not commit.
            job.fail(StoreError::internal("a statement of the write failed"));
        }
        if !succeeded || conn.must_roll_back() {
            execute(conn, "ROLLBACK TO job")?;
            events::rollback_pending(mark);
        }
        execute(conn, "RELEASE job")
    };
    if let Err(e) = around() {
        job.fail(e);
    }
}

/// Runs a transaction control statement: these run for every batch or job.
fn execute(conn: &Sql, sql: &str) -> Result<()> {
    Ok(conn.control(sql)?)
}

/// Answers each job with the batch's outcome: through its thread's inbox, each inbox woken
/// once, or else right here.
fn answer(batch: Vec<Submitted>, committed: &Result<()>) {
    let mut to_wake: Vec<Arc<Inbox>> = Vec::new();
    for Submitted { job, inbox, .. } in batch {
        let committed = committed.clone();
        match inbox {
            Some(inbox) => {
                inbox.push(Box::new(move || job.answer(committed)));
                if !to_wake.iter().any(|other| Arc::ptr_eq(other, &inbox)) {
                    to_wake.push(inbox);
                }
            }
            None => job.answer(committed),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A writer on a fresh in-memory database, and the kinds of the events it has published.
    fn writer() -> (Writer, Arc<Mutex<Vec<String>>>) {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::schema::migrate(&mut conn).unwrap();
        let conn = Sql::Sqlite(conn);
        let published = Arc::new(Mutex::new(Vec::new()));
        let seen = published.clone();
        let writer = Writer::start(
            conn,
            Arc::new(events::Plain),
            None,
            None,
            None,
            move |events| {
                let kinds = events.into_iter().map(|p| p.event.kind);
                seen.lock().unwrap().extend(kinds);
            },
        )
        .unwrap();
        (writer, published)
    }

    fn put(conn: &Sql, key: &str) -> Result<()> {
        conn.execute(
            "INSERT INTO server_meta (key, value) VALUES (?1, '')",
            [key],
        )?;
        events::record(
            conn,
            &format!("put.{key}"),
            "A",
            events::Payload::Text(key),
            &[],
        )
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Put,
        /// Fails after its change.
        PutThenFail,
        PutThenPanic,
        /// Fails before changing anything.
        Fail,
    }

    /// Submits a job that holds the writer until the returned sender is sent to (or dropped):
    /// whatever is submitted meanwhile runs as one batch after it.
    fn hold(writer: &Writer) -> mpsc::Sender<()> {
        let (open, gate) = mpsc::channel::<()>();
        let (holding, held) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        writer.submit(
            move |_| {
                holding.send(()).unwrap();
                Ok(gate.lock().unwrap().recv().ok())
            },
            None,
            |_| {},
        );
        held.recv().unwrap();
        open
    }

    /// Runs `steps` as one batch (queued while a first job holds the writer) and returns each
    /// answer, how often each job's work ran, and the keys that were committed.
    fn batch(steps: &[Step]) -> (Vec<Result<()>>, Vec<usize>, Vec<String>, Vec<String>) {
        let (writer, published) = writer();
        // The first job holds the writer until the rest are queued behind it.
        let open = hold(&writer);
        let mut answers = Vec::new();
        let mut runs = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let key = format!("k{i}");
            let ran = Arc::new(AtomicUsize::new(0));
            let count = ran.clone();
            let step = *step;
            let (reply, answer) = mpsc::channel();
            writer.submit(
                move |conn| {
                    count.fetch_add(1, Ordering::SeqCst);
                    if step == Step::Fail {
                        return Err(StoreError::invalid("k", "no"));
                    }
                    put(conn, &key)?;
                    match step {
                        Step::PutThenFail => Err(StoreError::invalid("k", "no")),
                        Step::PutThenPanic => panic!("on purpose"),
                        Step::Put | Step::Fail => Ok(()),
                    }
                },
                None,
                move |result| reply.send(result).unwrap(),
            );
            answers.push(answer);
            runs.push(ran);
        }
        open.send(()).unwrap();
        let answers = answers.iter().map(|a| a.recv().unwrap()).collect();
        let (reply, keys) = mpsc::channel();
        writer.submit(
            |conn| {
                let mut keys = conn.prepare_cached("SELECT key FROM server_meta ORDER BY key")?;
                let keys = keys.query_map(rusqlite::params![], |r| r.get::<String>(0))?;
                Ok(keys.collect::<crate::db::sql::Result<Vec<_>>>()?)
            },
            None,
            move |result| reply.send(result).unwrap(),
        );
        let keys = keys.recv().unwrap().unwrap();
        let runs = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        let published = published.lock().unwrap().clone();
        (answers, runs, keys, published)
    }

    #[test]
    fn a_job_that_fails_before_changing_anything_costs_the_others_nothing() {
        let (answers, runs, keys, published) = batch(&[Step::Put, Step::Fail, Step::Put]);
        assert!(answers[0].is_ok() && answers[1].is_err() && answers[2].is_ok());
        assert_eq!(runs, [1, 1, 1]);
        assert_eq!(keys, ["k0", "k2"]);
        assert_eq!(published, ["put.k0", "put.k2"]);
    }

    #[test]
    fn a_job_that_fails_halfway_is_undone_alone() {
        let (answers, runs, keys, published) =
            batch(&[Step::Put, Step::PutThenFail, Step::Fail, Step::Put]);
        assert!(answers[0].is_ok() && answers[1].is_err() && answers[2].is_err());
        assert!(answers[3].is_ok());
        // The batch started over, each job in a savepoint: those before the failure ran twice.
        assert_eq!(runs, [2, 2, 1, 1]);
        assert_eq!(keys, ["k0", "k3"]);
        // Each event once: those of the first run were dropped with it.
        assert_eq!(published, ["put.k0", "put.k3"]);
    }

    /// "2xx means committed": when the COMMIT itself fails (here a deferred foreign key, as a
    /// full disk would), no job of the batch may have been answered with success. (The SIGKILL
    /// test finds an answer sent before the commit only by chance: the gap is microseconds.)
    #[test]
    fn a_batch_whose_commit_fails_answers_every_job_with_the_error() {
        let (writer, published) = writer();
        let open = hold(&writer);
        let mut answers = Vec::new();
        for i in 0..3 {
            let (reply, answer) = mpsc::channel();
            writer.submit(
                move |conn| {
                    put(conn, &format!("k{i}"))?;
                    if i == 1 {
                        // Accepted by the statement, refused by the COMMIT.
                        conn.execute_batch(
                            "PRAGMA defer_foreign_keys = ON;
                             INSERT INTO contacts (id, owner_id, username, phone_number, created_at)
                             VALUES ('c', 'nobody', 'u', '1', 0);",
                        )?;
                    }
                    Ok(())
                },
                None,
                move |result| reply.send(result).unwrap(),
            );
            answers.push(answer);
        }
        open.send(()).unwrap();
        for answer in &answers {
            assert!(answer.recv().unwrap().is_err());
        }
        assert!(published.lock().unwrap().is_empty());
    }

    #[test]
    fn a_job_that_panics_halfway_is_undone_alone() {
        let (answers, runs, keys, published) = batch(&[Step::PutThenPanic, Step::Put]);
        assert!(answers[0].is_err() && answers[1].is_ok());
        assert_eq!(runs, [2, 1]);
        assert_eq!(keys, ["k1"]);
        assert_eq!(published, ["put.k1"]);
    }
}
