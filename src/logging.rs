//! The log: env_logger (stderr, `RUST_LOG`), behind a filter for lines that a client can make
//! the server write at will. A malformed request is the client's mistake, not the server's
//! error, yet actix-http logs each at ERROR; and accept failures (out of descriptors) come twice
//! a second while they last. Such lines are written below ERROR and at most once a second.
//!
//! Each line keeps env_logger's usual shape, `[2026-11-30T00:03:00Z INFO  access] …`; the
//! timestamp is written here so that env_logger builds without its date-time dependency.

use crate::log_limit::Throttled;
use log::{Level, Log, Metadata, Record};
use std::io::Write;

static CLIENT_MISTAKES: Throttled = Throttled::new();
static ACCEPT_FAILURES: Throttled = Throttled::new();

/// Installs the logger; `default_filter` applies when `RUST_LOG` is unset.
pub fn init(default_filter: &str) {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
            .format(|out, record| {
                writeln!(
                    out,
                    "[{} {:<5} {}] {}",
                    utc_timestamp(std::time::SystemTime::now()),
                    record.level(),
                    record.target(),
                    record.args()
                )
            })
            .build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Quieter { inner })).is_ok() {
        log::set_max_level(max);
    }
}

struct Quieter {
    inner: env_logger::Logger,
}

/// Which flood-prone line a record is, if any: its throttle and the level it is written at.
fn flood_prone(record: &Record) -> Option<(&'static Throttled, Level)> {
    let target = record.target();
    if target.starts_with("actix_http::h1") && record.level() == Level::Error {
        // "stream error: request parse error: …": a request that is not HTTP.
        return Some((&CLIENT_MISTAKES, Level::Info));
    }
    if target.starts_with("actix_server::accept") && record.level() == Level::Error {
        return Some((&ACCEPT_FAILURES, Level::Warn));
    }
    None
}

impl Log for Quieter {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        let Some((throttle, level)) = flood_prone(record) else {
            self.inner.log(record);
            return;
        };
        let quieter = Metadata::builder()
            .level(level)
            .target(record.target())
            .build();
        if !self.inner.enabled(&quieter) {
            return;
        }
        let Some(held_back) = throttle.admit() else {
            return;
        };
        let suffix = match held_back {
            0 => String::new(),
            n => format!(" ({n} more like it since the last such line)"),
        };
        self.inner.log(
            &Record::builder()
                .args(format_args!("{}{suffix}", record.args()))
                .level(level)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// RFC 3339 in UTC, to the second (also the S3 signer's clock, `s3::sigv4`).
pub(crate) fn utc_timestamp(at: std::time::SystemTime) -> String {
    let seconds = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s| utc_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(at(692_233_200), "1991-12-08T23:00:00Z");
    }
}
