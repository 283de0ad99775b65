//! Rate limits: failed authentication per client address (against token guessing), and an
//! optional request rate per account. Fixed one-minute windows, kept in memory.

use crate::error::{Error, ErrorKind};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked keys, expired windows are dropped (and, if all are live, the oldest
/// half), so a flood of addresses cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// Counts events per key in one-minute windows.
pub struct WindowCounter<K> {
    limit: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Eq + Hash + Clone> WindowCounter<K> {
    /// `limit` events per minute; 0 means no limit.
    pub fn new(limit: u32) -> Self {
        WindowCounter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may act again, if it is over its limit now.
    pub fn blocked(&self, key: &K) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = windows.get(key)?;
        let elapsed = start.elapsed();
        (elapsed < WINDOW && *count >= self.limit).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    /// Counts one event for `key`.
    pub fn count(&self, key: &K) {
        if self.limit == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if windows.len() >= MAX_KEYS {
                let mut starts: Vec<Instant> = windows.values().map(|(s, _)| *s).collect();
                starts.sort();
                let cut = starts[starts.len() / 2];
                windows.retain(|_, (start, _)| *start > cut);
            }
        }
        let entry = windows.entry(key.clone()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Counts one event and says whether it went over the limit (seconds to wait).
    pub fn hit(&self, key: &K) -> Option<u64> {
        self.count(key);
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = windows.get(key)?;
        (self.limit > 0 && *count > self.limit)
            .then(|| (WINDOW.saturating_sub(start.elapsed())).as_secs().max(1))
    }
}

/// The 429 with `Retry-After`.
pub fn too_many(message: &str, retry_after: u64) -> Error {
    let mut error = Error::new(ErrorKind::TooManyRequests, message);
    error.retry_after = Some(retry_after);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_within_a_window() {
        let counter = WindowCounter::new(3);
        for _ in 0..3 {
            assert!(counter.blocked(&"a").is_none());
            counter.count(&"a");
        }
        let wait = counter.blocked(&"a").unwrap();
        assert!((1..=60).contains(&wait));
        assert!(counter.blocked(&"b").is_none());
    }

    #[test]
    fn zero_means_unlimited() {
        let counter = WindowCounter::new(0);
        for _ in 0..1000 {
            assert!(counter.hit(&1).is_none());
        }
    }

    #[test]
    fn hit_reports_going_over() {
        let counter = WindowCounter::new(2);
        assert!(counter.hit(&1).is_none());
        assert!(counter.hit(&1).is_none());
        assert!(counter.hit(&1).is_some());
    }
}
