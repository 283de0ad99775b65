//! `protocol backup`'s database half: a consistent copy of a live SQLite file through SQLite's
//! backup API. The copy goes a few pages at a time (for a progress line) inside one read
//! transaction of the source, so every step reads the same snapshot: concurrent writes neither
//! corrupt the copy nor make it start over.

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Pages copied per step (4 MiB of 4 KiB pages) between progress reports.
const PAGES_PER_STEP: std::os::raw::c_int = 1024;

/// Copies the database at `source_path` to a new file `target`, calling `progress(done, total)`
/// in pages between steps. Returns the ids of the attachments the copy holds, whose files the
/// caller copies beside it.
pub fn copy(
    source_path: &str,
    target: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<String>, String> {
    let source = Connection::open_with_flags(source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {source_path}: {e}"))?;
    source
        .busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    // The snapshot every step reads.
    source
        .execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")
        .map_err(|e| format!("cannot read {source_path}: {e}"))?;
    let mut copy =
        Connection::open(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    {
        let backup =
            Backup::new(&source, &mut copy).map_err(|e| format!("cannot start the backup: {e}"))?;
        loop {
            match backup
                .step(PAGES_PER_STEP)
                .map_err(|e| format!("backup failed: {e}"))?
            {
                StepResult::Done => break,
                StepResult::More => {}
                // The copy is locked by someone else for a moment.
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
            let step = backup.progress();
            let total = u64::try_from(step.pagecount).unwrap_or(0);
            let left = u64::try_from(step.remaining).unwrap_or(0);
            progress(total.saturating_sub(left), total);
        }
    }
    let _ = source.execute_batch("COMMIT");
    copy.prepare("SELECT id FROM attachments")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| format!("cannot list attachments in the copy: {e}"))
}
