//! Protocol server: the Protocol chat REST API on an embedded SQLite database.
//!
//! `main.rs` reads the command line and the config, binds the listener and calls [`run`]; tests
//! call [`build_state`] and [`run`] the same way on `127.0.0.1:0`.

pub mod account;
pub mod activity;
pub mod api;
pub mod auth;
pub mod body_clock;
pub mod cli;
pub mod config;
pub mod connections;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod idempotency;
pub mod input;
pub mod json;
pub mod limits;
pub mod log_limit;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod middleware;
pub mod pagination;
pub mod progress;
pub mod ranges;
pub mod rules;
pub mod s3;
pub mod state;
pub mod stats;
pub mod views;

pub use state::{AppState, Settings, build_state, sync_accounts};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Debug)]
pub struct RunOptions {
    /// Worker threads; `None` is one per CPU core.
    pub workers: Option<usize>,
    /// Stop gracefully on SIGTERM / Ctrl-C (off in tests, where many servers share a process).
    pub handle_signals: bool,
    /// Where to serve `/metrics` (`server.metrics_listen`); `None`: no metrics, and nothing
    /// on the request path records them.
    pub metrics_listener: Option<TcpListener>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: None,
            handle_signals: true,
            metrics_listener: None,
        }
    }
}

/// Serves the API on `listener` until stopped, with the background work beside it: the realtime
/// hub, webhook delivery, pruning and the attachment sweep. On SIGTERM / Ctrl-C (when
/// `handle_signals`) it stops accepting, ends the event streams, lets the requests in flight
/// finish (up to 30 s) and resolves. Call it inside an actix (tokio) runtime.
pub fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    options: RunOptions,
) -> std::io::Result<Server> {
    start_background_work(&state);
    let app_state = state.clone();
    let metrics = options
        .metrics_listener
        .as_ref()
        .map(|_| web::Data::new(metrics::Registry::default()));
    if metrics.is_some() {
        state.db.writer_stats().enable();
    }
    let routes = api::Routes {
        openapi: web::Data::new(api::openapi::OpenApiJson::new(&state.settings)),
        metrics: metrics.clone(),
    };
    let descriptors = connections::raise_descriptor_limit();
    let cap = connections::connection_cap(state.settings.max_connections, descriptors);
    if cap < state.settings.max_connections {
        log::warn!(
            "at most {cap} connections at once: the open-files limit is {descriptors} \
             (server.max_connections asks for {})",
            state.settings.max_connections
        );
    }
    let limit = Arc::new(connections::ConnectionLimit::new(cap));
    let mut server = HttpServer::new(move || {
        // Runs on each worker thread: the writer's answers reach it a batch at a time.
        db::inbox::install();
        App::new()
            .app_data(app_state.clone())
            .wrap(actix_web::middleware::from_fn(idempotency::idempotency))
            .wrap(actix_web::middleware::from_fn(middleware::render_errors))
            // Off, it is not in the chain: the request path pays nothing for metrics.
            .wrap(actix_web::middleware::Condition::new(
                routes.metrics.is_some(),
                actix_web::middleware::from_fn(metrics::track),
            ))
            .wrap(actix_web::middleware::from_fn(middleware::access_log))
            .configure(|cfg| api::configure(cfg, &routes))
    })
    // A client gets this long to send its request head (slow-loris guard).
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(30)
    .on_connect(move |io, extensions| limit.on_connect(io, extensions))
    // Our own cap answers and closes connections past it; actix's (per worker) would instead
    // stop accepting and leave new clients hanging, so it is set out of the way.
    .max_connections(cap.saturating_add(1024))
    // Database reads run on each worker's blocking pool, as many threads as the cores can use
    // (see `READ_THREADS_PER_WORKER`) instead of tokio's default of hundreds.
    .worker_max_blocking_threads(db::READ_THREADS_PER_WORKER)
    .disable_signals();
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    let server = server.listen(listener)?.run();
    let metrics_server = match (options.metrics_listener, metrics) {
        (Some(listener), Some(registry)) => {
            let metrics_server = metrics::serve(listener, state.clone(), registry)?;
            let handle = metrics_server.handle();
            actix_web::rt::spawn(metrics_server);
            Some(handle)
        }
        _ => None,
    };
    if options.handle_signals {
        actix_web::rt::spawn(reload_on_sighup(state.clone()));
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            wait_for_stop_signal().await;
            log::info!("stopping: finishing requests in flight");
            stop_background_work(&state);
            if let Some(metrics_server) = metrics_server {
                metrics_server.stop(true).await;
            }
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
    state.start_webhooks();
    actix_web::rt::spawn(events::prune_periodically(state.clone()));
}

/// Ends what would keep the process busy: event streams and webhook workers.
pub fn stop_background_work(state: &AppState) {
    state.stopping.store(true, Ordering::Relaxed);
    state.stop_webhooks();
    state.hub.close();
}

/// SIGHUP reloads the accounts and webhooks from the config file; a bad file is refused with a
/// log line and the running config stays.
async fn reload_on_sighup(state: web::Data<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        log::warn!("cannot listen for SIGHUP; reload by restarting");
        return;
    };
    while hangups.recv().await.is_some() {
        let target = state.clone();
        match actix_web::web::block(move || target.reload()).await {
            Ok(Ok(summary)) => log::info!("config reloaded: {summary}"),
            Ok(Err(e)) => log::error!("config not reloaded, the running one stays: {e}"),
            Err(e) => log::error!("config not reloaded: {e}"),
        }
    }
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
