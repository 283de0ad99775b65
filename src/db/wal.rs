//! WAL upkeep: copying the WAL back into the database file, and making it start over.
//!
//! Checkpoints (the copy, with two fsyncs) run every 50 ms on their own thread and connection,
//! blocking neither the writer nor the readers. But the WAL only starts over from its beginning,
//! which is what keeps it small, after a checkpoint that copied all of it while nothing was
//! writing: between two of the writer's batches. That last checkpoint holds up every write for
//! as long as it takes to copy what the checkpoint thread has not copied yet, plus the fsyncs.
//! So once the WAL is due to start over, the writer first has the checkpoint thread run at once
//! and finishes the job itself right after that run, when little is left to copy (instead of up
//! to 50 ms of writes: that stall was 3-19 ms under the send load, and set its p99).

use rusqlite::Connection;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How often the checkpoint thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// When the WAL is due to start over: once it holds this many pages (4 MiB of 4 KiB pages,
/// SQLite's own default). Never starting over lets it grow by gigabytes under constant load,
/// and a big WAL makes every read and write slower (measured, `bench/`): its index files each
/// frame in hash chains that grow with the frames of the same few hot pages (a send's 8), so
/// at 8,192 pages appending a frame cost ~900 instructions. Starting over stalls the writes
/// briefly; at 1,024 pages against 8,192 the send's p99 under `bench/run.sh` did not rise
/// (7.4 ms against 8.9 ms, same run) and a send took 2.7k instructions fewer.
const RESTART_PAGES: i64 = 1024;
/// Past this size (readers kept the WAL from starting over for a long time) the writer
/// truncates it, waiting for the readers in its way: a stall, but a bound.
const LIMIT_BYTES: u64 = 1024 * 1024 * 1024;

/// The writer's side of the upkeep.
pub struct Upkeep {
    wal_path: PathBuf,
    /// Held by whichever of the checkpoint thread and the writer is checkpointing.
    lock: Arc<Mutex<()>>,
    /// Checkpoint thread runs finished so far.
    runs: Arc<AtomicU64>,
    /// `runs` when the writer asked for a run at once, while it waits for that run (the
    /// writer thread owns the `Upkeep`).
    asked_at: Cell<Option<u64>>,
    run_now: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the checkpoint thread for the database at `path`, on its own connection set up with
/// `pragmas`. It stops when the returned `Upkeep` is dropped.
static CHECKPOINT_FAILURES: crate::log_limit::Throttled = crate::log_limit::Throttled::new();

pub fn start(path: &str, pragmas: &str) -> std::io::Result<Upkeep> {
    let conn = Connection::open(path).map_err(std::io::Error::other)?;
    conn.execute_batch(pragmas).map_err(std::io::Error::other)?;
    let lock = Arc::new(Mutex::new(()));
    let runs = Arc::new(AtomicU64::new(0));
    let (run_now, asked) = mpsc::channel();
    let (held, finished) = (lock.clone(), runs.clone());
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
                asked.recv_timeout(CHECKPOINT_EVERY)
            {
                let _held = held.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    // Every 50 ms while it lasts (a full disk): once a second is plenty.
                    CHECKPOINT_FAILURES.log(log::Level::Warn, format_args!("checkpoint: {e}"));
                }
                finished.fetch_add(1, Ordering::Release);
            }
        })?;
    Ok(Upkeep {
        wal_path: PathBuf::from(format!("{path}-wal")),
        lock,
        runs,
        asked_at: Cell::new(None),
        run_now,
        thread,
    })
}

impl Upkeep {
    /// Ends the checkpoint thread and waits for it, so that its connection is closed (at
    /// shutdown, before the writer closes the last connection).
    pub fn stop(self) {
        let Upkeep {
            run_now, thread, ..
        } = self;
        drop(run_now);
        if thread.join().is_err() {
            log::warn!("the checkpoint thread panicked");
        }
    }

    /// Called by the writer between two batches, with the pages in the WAL; whether the WAL
    /// was copied back completely, so that the next batch starts it over.
    pub fn between_batches(&self, conn: &Connection, wal_pages: i64) -> bool {
        if wal_pages < RESTART_PAGES {
            return false;
        }
        let runs = self.runs.load(Ordering::Acquire);
        // (Should the checkpoint thread be gone, the writer copies it all itself.)
        if !self.thread.is_finished() {
            let Some(asked_at) = self.asked_at.get() else {
                self.asked_at.set(Some(runs));
                let _ = self.run_now.send(());
                return false;
            };
            // Its run has not finished yet, or a run is under way: after a later batch.
            if runs == asked_at {
                return false;
            }
        }
        let Ok(_held) = self.lock.try_lock() else {
            return false;
        };
        // Done, or a reader was in the way: either way the next try starts with a new run.
        self.asked_at.set(None);
        checkpoint(conn, &self.wal_path)
    }
}

/// A checkpoint while nothing writes; whether it copied the whole WAL back. It is PASSIVE (it
/// never waits for a reader) unless the WAL is past `LIMIT_BYTES`.
fn checkpoint(conn: &Connection, wal: &Path) -> bool {
    let wal_size = std::fs::metadata(wal).map_or(0, |m| m.len());
    let mode = if wal_size > LIMIT_BYTES {
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
            CHECKPOINT_FAILURES.log(log::Level::Warn, format_args!("checkpoint: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static WAL_PAGES: AtomicU64 = AtomicU64::new(0);

    fn note_pages(_: &rusqlite::hooks::Wal, pages: std::os::raw::c_int) -> rusqlite::Result<()> {
        WAL_PAGES.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    /// Pages in the WAL after a small write: few once it has started over.
    fn pages_after_a_write(conn: &Connection) -> u64 {
        conn.execute("INSERT INTO t (x) VALUES (randomblob(100))", [])
            .unwrap();
        WAL_PAGES.load(Ordering::Relaxed)
    }

    #[test]
    fn the_wal_starts_over_after_a_run_of_the_checkpoint_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").to_string_lossy().into_owned();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x);",
        )
        .unwrap();
        conn.wal_hook(Some(note_pages));
        let upkeep = start(&path, "").unwrap();
        for _ in 0..200 {
            pages_after_a_write(&conn);
        }
        assert!(pages_after_a_write(&conn) > 100);

        // Below the mark nothing happens; at it, the writer first asks for a run.
        assert!(!upkeep.between_batches(&conn, RESTART_PAGES - 1));
        assert_eq!(upkeep.asked_at.get(), None);
        assert!(!upkeep.between_batches(&conn, RESTART_PAGES));
        assert!(upkeep.asked_at.get().is_some());
        let mut done = false;
        for _ in 0..200 {
            if upkeep.between_batches(&conn, RESTART_PAGES) {
                done = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(done, "the WAL was never copied back completely");
        assert!(upkeep.runs.load(Ordering::Acquire) >= 1);
        assert!(pages_after_a_write(&conn) <= 2);
    }
}
