//! The log: env_logger (stderr, `RUST_LOG`), behind a filter for lines that a client can make
//! the server write at will. A malformed request is the client's mistake, not the server's
//! error, yet actix-http logs each at ERROR; and accept failures (out of descriptors) come twice
//! a second while they last. Such lines are written below ERROR and at most once a second.

use crate::log_limit::Throttled;
use log::{Level, Log, Metadata, Record};

static CLIENT_MISTAKES: Throttled = Throttled::new();
static ACCEPT_FAILURES: Throttled = Throttled::new();

/// Installs the logger; `default_filter` applies when `RUST_LOG` is unset.
pub fn init(default_filter: &str) {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
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
