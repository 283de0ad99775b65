//! Protocol server: the Protocol chat REST API on an embedded SQLite database.
//!
//! `main.rs` reads the command line and the config, binds the listener and calls [`run`]; tests
//! call [`build_state`] and [`run`] the same way on `127.0.0.1:0`.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod idempotency;
pub mod middleware;
pub mod pagination;
pub mod rules;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use auth::{Account, Accounts, ActivityTracker};
use config::{Config, WebhookConfig};
use db::Db;
use events::hub::Hub;
use files::FileStore;
use idempotency::KeyLocks;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Limits and addresses the handlers need, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of `file_url` and `documentation_url`, without a trailing slash.
    pub public_url: String,
    pub max_message_chars: usize,
    pub max_upload_bytes: u64,
    pub max_body_bytes: usize,
    pub event_retention_hours: u64,
}

/// Everything a request handler can reach.
pub struct AppState {
    pub db: Db,
    pub files: FileStore,
    pub settings: Settings,
    pub accounts: Accounts,
    pub activity: ActivityTracker,
    pub hub: Arc<Hub>,
    pub idempotency: KeyLocks,
    pub webhooks: Vec<WebhookConfig>,
    /// Set when the server stops: background workers end.
    pub stopping: Arc<AtomicBool>,
}

/// Opens the database and brings the accounts' contacts in line with the config.
pub fn build_state(config: &Config, public_url: &str) -> Result<AppState, String> {
    let db = Db::open(&config.server.database, config.server.synchronous)?;
    let now = db::now();
    let configured = config.accounts.clone();
    let accounts = db
        .write_blocking(move |tx| {
            configured
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
            event_retention_hours: server.event_retention_hours,
        },
        accounts: Accounts::new(accounts),
        activity: ActivityTracker::default(),
        hub: Arc::new(Hub::default()),
        idempotency: KeyLocks::default(),
        webhooks: config.webhooks.clone(),
        stopping: Arc::new(AtomicBool::new(false)),
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

/// Serves the API on `listener` until stopped, with the background work beside it: the realtime
/// hub, webhook delivery, pruning and the attachment sweep. On SIGTERM / Ctrl-C (when
/// `handle_signals`) it stops accepting, ends the event streams, lets the requests in flight
/// finish (up to 30 s) and resolves. Call it inside an actix (tokio) runtime.
pub fn run(listener: TcpListener, state: AppState, options: RunOptions) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    start_background_work(&state);
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(actix_web::middleware::from_fn(idempotency::idempotency))
            .wrap(actix_web::middleware::from_fn(middleware::render_errors))
            .configure(api::configure)
    })
    // A client gets this long to send its request head (slow-loris guard).
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(30)
    // Database reads run on each worker's blocking pool: a few threads per worker keep them
    // from queueing on the reader pool (and the scheduler) as hundreds of threads would.
    .worker_max_blocking_threads(db::READERS as usize / 2)
    .disable_signals();
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    let server = server.listen(listener)?.run();
    if options.handle_signals {
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            wait_for_stop_signal().await;
            log::info!("stopping: finishing requests in flight");
            stop_background_work(&state);
            handle.stop(true).await;
        });
    }
    Ok(server)
}

fn start_background_work(state: &web::Data<AppState>) {
    let sweeper = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = sweeper.files.sweep(&sweeper.db).await {
            log::warn!("attachment clean-up at start-up failed: {e}");
        }
    });
    actix_web::rt::spawn(state.hub.clone().run(state.db.clone()));
    events::webhooks::start(&state.db, &state.webhooks, state.stopping.clone());
    let urls = state.webhooks.iter().map(|w| w.url.clone()).collect();
    actix_web::rt::spawn(events::prune_periodically(
        state.db.clone(),
        state.settings.event_retention_hours,
        urls,
    ));
}

/// Ends what would keep the process busy: event streams and webhook workers.
pub fn stop_background_work(state: &AppState) {
    state.stopping.store(true, Ordering::Relaxed);
    state.hub.close();
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            log::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
