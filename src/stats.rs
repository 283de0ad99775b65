//! Fixed-bucket histograms for the metrics (`metrics.rs`): lock-free, allocation-free to
//! record into, written out in Prometheus' text format. A leaf module, so that the database's
//! writer can keep its own without depending on the metrics server.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the writer's batch size histogram (jobs per transaction; 128 at most).
pub const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
/// Upper bounds (seconds) of the writer's queue wait histogram.
pub const QUEUE_WAIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A histogram of fixed buckets: a count per bucket (not cumulative: one increment per
/// observation), their sum and count.
pub struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    /// `N` buckets and the last one, `+Inf`.
    counts: [AtomicU64; N],
    overflow: AtomicU64,
    /// The sum of observations, in millionths (microseconds for times).
    sum_micros: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds: &'static [f64; N]) -> Histogram<N> {
        Histogram {
            bounds,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            overflow: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|bound| value <= *bound);
        match bucket {
            Some(i) => self.counts[i].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.overflow.load(Ordering::Relaxed)
    }

    /// `NAME_bucket{LABELS,le="…"}` (cumulative), `NAME_sum`, `NAME_count`.
    pub fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.overflow.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_in_the_text() {
        static BOUNDS: [f64; 3] = [1.0, 2.0, 4.0];
        let histogram = Histogram::new(&BOUNDS);
        for value in [0.5, 1.0, 3.0, 9.0] {
            histogram.observe(value);
        }
        let mut out = String::new();
        histogram.write(&mut out, "x", "a=\"b\"");
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"2\"} 2\n\
             x_bucket{a=\"b\",le=\"4\"} 3\nx_bucket{a=\"b\",le=\"+Inf\"} 4\n\
             x_sum{a=\"b\"} 13.5\nx_count{a=\"b\"} 4\n"
        );
    }
}
