//! Protocol server: the Protocol chat REST API on an embedded SQLite database.
//!
//! `main.rs` reads the command line and the config, binds the listener and calls [`run`]; tests
//! call [`build_state`] and [`run`] the same way on `127.0.0.1:0`.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod files;
pub mod middleware;
pub mod pagination;
pub mod rules;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use auth::{Account, Accounts, ActivityTracker};
use config::Config;
use db::Db;
use files::FileStore;
use std::net::TcpListener;
use std::time::Duration;

/// Limits and addresses the handlers need, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of `file_url` and `documentation_url`, without a trailing slash.
    pub public_url: String,
    pub max_message_chars: usize,
    pub max_upload_bytes: u64,
    pub max_body_bytes: usize,
}

/// Everything a request handler can reach.
pub struct AppState {
    pub db: Db,
    pub files: FileStore,
    pub settings: Settings,
    pub accounts: Accounts,
    pub activity: ActivityTracker,
}

/// Opens the database and brings the accounts' contacts in line with the config.
pub fn build_state(config: &Config, public_url: &str) -> Result<AppState, String> {
    let db = Db::open(&config.server.database, config.server.synchronous)?;
    let now = db::now();
    let accounts = db
        .write_blocking(|tx| {
            config
                .accounts
                .iter()
                .map(|a| {
                    let id = db::contacts::upsert_account(
                        tx,
                        &a.username,
                        &a.phone_number,
                        a.avatar_url.as_deref(),
                        now,
                    )?;
                    let account = Account {
                        id,
                        username: a.username.clone(),
                    };
                    Ok((a.token.clone(), account))
                })
                .collect::<error::Result<Vec<_>>>()
        })
        .map_err(|e| format!("cannot set up the accounts: {e}"))?;
    let server = &config.server;
    let files = FileStore::open(
        &server.database,
        server.synchronous == config::Synchronous::Full,
    )?;
    Ok(AppState {
        db,
        files,
        settings: Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_message_chars: server.max_message_chars,
            max_upload_bytes: server.max_upload_bytes,
            max_body_bytes: server.max_body_bytes,
        },
        accounts: Accounts::new(accounts),
        activity: ActivityTracker::default(),
    })
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads; `None` is one per CPU core.
    pub workers: Option<usize>,
    /// Stop gracefully on SIGTERM / Ctrl-C (off in tests, where many servers share a process).
    pub handle_signals: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: None,
            handle_signals: true,
        }
    }
}

/// Serves the API on `listener` until stopped. On a stop signal it stops accepting, lets the
/// requests in flight finish (up to 30 s) and resolves.
pub fn run(listener: TcpListener, state: AppState, options: RunOptions) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let sweeper = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = sweeper.files.sweep(&sweeper.db).await {
            log::warn!("attachment clean-up at start-up failed: {e}");
        }
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(middleware::render_errors))
            .configure(api::configure)
    })
    // A client gets this long to send its request head (slow-loris guard).
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(30);
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    if !options.handle_signals {
        server = server.disable_signals();
    }
    Ok(server.listen(listener)?.run())
}
