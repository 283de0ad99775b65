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
        self.blocked_at(key, Instant::now())
    }

    /// Counts one event for `key`.
    pub fn count(&self, key: &K) {
        self.count_at(key, Instant::now());
    }

    /// Counts one event and says whether it went over the limit (seconds to wait).
    pub fn hit(&self, key: &K) -> Option<u64> {
        self.hit_at(key, Instant::now())
    }

    // The same, at a given moment: the clock is a parameter so that tests can move it.

    fn blocked_at(&self, key: &K, now: Instant) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = windows.get(key)?;
        let elapsed = now.saturating_duration_since(*start);
        (elapsed < WINDOW && *count >= self.limit).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    fn count_at(&self, key: &K, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
            if windows.len() >= MAX_KEYS {
                let mut starts: Vec<Instant> = windows.values().map(|(s, _)| *s).collect();
                starts.sort();
                let cut = starts[starts.len() / 2];
                windows.retain(|_, (start, _)| *start > cut);
            }
        }
        let entry = windows.entry(key.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    fn hit_at(&self, key: &K, now: Instant) -> Option<u64> {
        self.count_at(key, now);
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = windows.get(key)?;
        (self.limit > 0 && *count > self.limit).then(|| {
            WINDOW
                .saturating_sub(now.saturating_duration_since(*start))
                .as_secs()
                .max(1)
        })
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
    fn a_window_expires_after_a_minute_and_counting_starts_afresh() {
        let counter = WindowCounter::new(2);
        let start = Instant::now();
        let at = |seconds: f64| start + Duration::from_secs_f64(seconds);
        counter.count_at(&"a", at(0.0));
        counter.count_at(&"a", at(1.0));
        // Blocked for the rest of the minute that began with the first failure...
        assert_eq!(counter.blocked_at(&"a", at(1.0)), Some(59));
        assert_eq!(counter.blocked_at(&"a", at(59.5)), Some(1));
        // ...and free once it is over.
        assert_eq!(counter.blocked_at(&"a", at(60.0)), None);
        // A new window: one failure is under the limit again.
        counter.count_at(&"a", at(60.0));
        assert_eq!(counter.blocked_at(&"a", at(60.0)), None);
        counter.count_at(&"a", at(61.0));
        assert!(counter.blocked_at(&"a", at(61.0)).is_some());

        let requests = WindowCounter::new(1);
        assert_eq!(requests.hit_at(&1, at(0.0)), None);
        assert_eq!(requests.hit_at(&1, at(30.0)), Some(30));
        assert_eq!(requests.hit_at(&1, at(60.0)), None, "the window expired");
        assert!(requests.hit_at(&1, at(60.5)).is_some());
    }

    #[test]
    fn hit_reports_going_over() {
        let counter = WindowCounter::new(2);
        assert!(counter.hit(&1).is_none());
        assert!(counter.hit(&1).is_none());
        assert!(counter.hit(&1).is_some());
    }
}
