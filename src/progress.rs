//! Progress of the long commands (`protocol backup`, `seed-demo`): a line on stderr that
//! updates in place while stderr is a terminal, nothing when it is not (a cron job's mail or
//! a log stays clean), and the time taken in the command's last line either way.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    what: &'static str,
    started: Instant,
    /// `None` when stderr is not a terminal.
    drawn: Option<Instant>,
    visible: bool,
}

impl Progress {
    pub fn start(what: &'static str) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let mut progress = Progress {
            what,
            started: Instant::now(),
            drawn: terminal.then(|| Instant::now() - REDRAW_EVERY),
            visible: false,
        };
        progress.draw(format_args!("{what}…"));
        progress
    }

    /// `done` of `total` units (pages, files).
    pub fn update(&mut self, done: u64, total: u64, unit: &str) {
        if self.drawn.is_some_and(|at| at.elapsed() >= REDRAW_EVERY) {
            let percent = (done * 100).checked_div(total).unwrap_or(100);
            let what = self.what;
            self.draw(format_args!(
                "{what}: {percent:>3}% ({done}/{total} {unit})"
            ));
        }
    }

    fn draw(&mut self, line: std::fmt::Arguments) {
        if self.drawn.is_none() {
            return;
        }
        let mut stderr = std::io::stderr().lock();
        // Back to the start of the line, the text, and the rest of the old text erased.
        let _ = write!(stderr, "\r{line}\x1b[K");
        let _ = stderr.flush();
        self.drawn = Some(Instant::now());
        self.visible = true;
    }

    /// Clears the line; the time since `start`, for the command's last line.
    pub fn finish(self) -> Duration {
        if self.visible {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
        self.started.elapsed()
    }
}

/// `1.2 s`, `45 ms`.
pub fn took(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{} ms", elapsed.as_millis())
    } else {
        format!("{:.1} s", elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(took(Duration::from_millis(45)), "45 ms");
        assert_eq!(took(Duration::from_millis(1234)), "1.2 s");
    }
}
