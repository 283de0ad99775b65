//! Log lines that may repeat at most once a second. A flood of the same failure (a full disk,
//! connections refused at the cap, malformed requests) must not become a flood of log lines:
//! the first line of each second is written, with how many were held back since the last one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Throttled {
    /// The second of the last line written (Unix seconds).
    last: AtomicU64,
    held_back: AtomicU64,
}

impl Throttled {
    pub const fn new() -> Throttled {
        Throttled {
            last: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// Writes the line at `level` unless one was written this second already.
    pub fn log(&self, level: log::Level, line: std::fmt::Arguments) {
        match self.admit() {
            Some(0) => log::log!(level, "{line}"),
            Some(n) => log::log!(level, "{line} ({n} more like it in the last seconds)"),
            None => {}
        }
    }

    /// Whether a line may be written now; if so, how many were held back since the last one.
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Ordering::Relaxed);
        if now <= last
            || self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

impl Default for Throttled {
    fn default() -> Self {
        Throttled::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_line_a_second() {
        let throttled = Throttled::new();
        for _ in 0..100 {
            throttled.log(log::Level::Warn, format_args!("disk full"));
        }
        // Every call but the first was held back (the test takes far less than two seconds,
        // so at most one more can have passed at a second boundary).
        assert!(throttled.held_back.load(Ordering::Relaxed) >= 98);
    }
}
