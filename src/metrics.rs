//! Metrics in Prometheus' text format at `/metrics`, on their own listen address
//! (`server.metrics_listen`, off by default): the API port never serves them, so no account's
//! token reaches them, and a firewall can keep them to the monitoring host.
//!
//! The request path pays for them only when they are on, and then little: each route's
//! counters are atomics the route carries with it (resource data, found without a lookup
//! table), bumped without a lock or an allocation. When off, the middleware that records them
//! is not in the chain at all. Everything else (sizes, backlogs, open streams) is read when
//! Prometheus scrapes.

use crate::AppState;
use crate::db::writer::WriterStats;
use crate::stats::{Histogram, LATENCY_BUCKETS};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::fmt::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The statuses this server answers with; any other is counted as `other`.
const STATUSES: [u16; 20] = [
    200, 201, 204, 206, 301, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 416, 429, 500, 503,
    0,
];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "OTHER"];

/// One route's requests: by method and status, and their latency by method.
pub struct RouteStats {
    route: String,
    counts: [[AtomicU64; STATUSES.len()]; METHODS.len()],
    latency: [Histogram<{ LATENCY_BUCKETS.len() }>; METHODS.len()],
}

impl RouteStats {
    fn new(route: &str) -> RouteStats {
        RouteStats {
            route: route.to_owned(),
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| Histogram::new(&LATENCY_BUCKETS)),
        }
    }

    fn record(&self, method: &Method, status: u16, elapsed: Duration) {
        let m = match *method {
            Method::GET => 0,
            Method::POST => 1,
            Method::PUT => 2,
            Method::DELETE => 3,
            _ => 4,
        };
        let s = STATUSES
            .iter()
            .position(|known| *known == status)
            .unwrap_or(STATUSES.len() - 1);
        self.counts[m][s].fetch_add(1, Ordering::Relaxed);
        self.latency[m].observe_duration(elapsed);
    }
}

/// The routes' counters. Routes register at start-up (each worker asks for the same route's
/// counters, and gets the same ones); requests only ever touch their route's atomics.
pub struct Registry {
    routes: Mutex<Vec<Arc<RouteStats>>>,
    /// Requests that matched no route (404s), and the docs page's files.
    unmatched: Arc<RouteStats>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            routes: Mutex::new(Vec::new()),
            unmatched: Arc::new(RouteStats::new("unmatched")),
        }
    }
}

impl Registry {
    /// The counters of the route with this pattern (`/v1/messages/{id}`).
    pub fn route(&self, pattern: &str) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = routes.iter().find(|r| r.route == pattern) {
            return found.clone();
        }
        let stats = Arc::new(RouteStats::new(pattern));
        routes.push(stats.clone());
        stats
    }
}

/// The counters a route carries as resource data.
#[derive(Clone)]
pub struct RouteLabel(pub Arc<RouteStats>);

/// App-wide, when metrics are on: counts each request under its route and times it.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.call(req).await?.map_into_boxed_body();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let request = response.request();
    if let Some(RouteLabel(route)) = request.app_data::<RouteLabel>() {
        route.record(&method, status, elapsed);
    } else if let Some(registry) = request.app_data::<web::Data<Registry>>() {
        registry.unmatched.record(&method, status, elapsed);
    }
    Ok(response)
}

/// Starts the metrics server on `listener`: `GET /metrics`, nothing else, one worker.
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    registry: web::Data<Registry>,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(registry.clone())
            .route("/metrics", web::get().to(scrape))
            .route("/metrics", web::head().to(scrape))
            .default_service(web::to(|| async {
                HttpResponse::NotFound()
                    .content_type("text/plain; charset=utf-8")
                    .body("Metrics are at /metrics.\n")
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// `GET /metrics`
async fn scrape(state: web::Data<AppState>, registry: web::Data<Registry>) -> HttpResponse {
    let mut out = String::with_capacity(64 * 1024);
    write_requests(&mut out, &registry);
    write_writer(&mut out, state.db.writer_stats());
    let _ = writeln!(
        out,
        "# HELP protocol_event_streams_open Open GET /v1/events streams.\n\
         # TYPE protocol_event_streams_open gauge\n\
         protocol_event_streams_open {}",
        state.hub.open_streams()
    );
    write_storage(&mut out, &state).await;
    write_webhooks(&mut out, &state).await;
    let _ = writeln!(
        out,
        "# HELP protocol_build_info The server's version.\n\
         # TYPE protocol_build_info gauge\n\
         protocol_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

fn write_requests(out: &mut String, registry: &Registry) {
    let mut routes = registry
        .routes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    routes.push(registry.unmatched.clone());
    out.push_str(
        "# HELP protocol_http_requests_total Requests answered, by route pattern, method and status.\n\
         # TYPE protocol_http_requests_total counter\n",
    );
    for route in &routes {
        for (method, counts) in METHODS.iter().zip(&route.counts) {
            for (status, count) in STATUSES.iter().zip(counts) {
                let count = count.load(Ordering::Relaxed);
                if count == 0 {
                    continue;
                }
                let status = match status {
                    0 => "other".to_owned(),
                    code => code.to_string(),
                };
                let _ = writeln!(
                    out,
                    "protocol_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                    escape(&route.route)
                );
            }
        }
    }
    out.push_str(
        "# HELP protocol_http_request_duration_seconds Time from the request's arrival to its response, by route pattern and method.\n\
         # TYPE protocol_http_request_duration_seconds histogram\n",
    );
    for route in &routes {
        for (method, histogram) in METHODS.iter().zip(&route.latency) {
            if histogram.count() == 0 {
                continue;
            }
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(&route.route));
            histogram.write(out, "protocol_http_request_duration_seconds", &labels);
        }
    }
}

fn write_writer(out: &mut String, stats: &WriterStats) {
    out.push_str(
        "# HELP protocol_writer_batch_size Changes committed together in one transaction of the writer.\n\
         # TYPE protocol_writer_batch_size histogram\n",
    );
    stats
        .batch_size
        .write(out, "protocol_writer_batch_size", "");
    out.push_str(
        "# HELP protocol_writer_queue_wait_seconds How long a change waited in the writer's queue before its transaction began.\n\
         # TYPE protocol_writer_queue_wait_seconds histogram\n",
    );
    stats
        .queue_wait
        .write(out, "protocol_writer_queue_wait_seconds", "");
}

async fn write_storage(out: &mut String, state: &AppState) {
    let (database, wal) = state.db.size().await;
    let _ = writeln!(
        out,
        "# HELP protocol_database_bytes Size of the database.\n\
         # TYPE protocol_database_bytes gauge\n\
         protocol_database_bytes {database}\n\
         # HELP protocol_database_wal_bytes Size of the database's write-ahead log (SQLite).\n\
         # TYPE protocol_database_wal_bytes gauge\n\
         protocol_database_wal_bytes {wal}"
    );
    match state.db.attachment_totals().await {
        Ok((count, bytes)) => {
            let _ = writeln!(
                out,
                "# HELP protocol_attachments Attachments stored.\n\
                 # TYPE protocol_attachments gauge\n\
                 protocol_attachments {count}\n\
                 # HELP protocol_attachment_bytes Bytes of the attachments stored.\n\
                 # TYPE protocol_attachment_bytes gauge\n\
                 protocol_attachment_bytes {bytes}"
            );
        }
        Err(e) => log::warn!("metrics: cannot count the attachments: {e}"),
    }
}

async fn write_webhooks(out: &mut String, state: &AppState) {
    let urls = state.webhook_urls();
    let stats = state.webhook_stats.snapshot();
    let backlogs = state.db.webhook_backlogs(urls.clone()).await;
    let backlogs = match backlogs {
        Ok(backlogs) => backlogs,
        Err(e) => {
            log::warn!("metrics: cannot read the webhook backlogs: {e}");
            return;
        }
    };
    let families = [
        (
            "protocol_webhook_backlog_events",
            "gauge",
            "Events after the endpoint's cursor, not yet passed by its worker.",
        ),
        (
            "protocol_webhook_deliveries_total",
            "counter",
            "Events delivered (a 2xx answer) since the server started.",
        ),
        (
            "protocol_webhook_retries_total",
            "counter",
            "Delivery attempts that failed and were retried, since the server started.",
        ),
        (
            "protocol_webhook_failures_total",
            "counter",
            "Events given up on after the last attempt (recorded in webhook_failures).",
        ),
    ];
    for (i, (name, kind, help)) in families.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (url, (backlog, failures)) in urls.iter().zip(&backlogs) {
            let counters = stats.iter().find(|(u, _)| u == url).map(|(_, s)| s);
            let value = match i {
                0 => u64::try_from(*backlog).unwrap_or(0),
                1 => counters.map_or(0, |s| s.delivered.load(Ordering::Relaxed)),
                2 => counters.map_or(0, |s| s.retries.load(Ordering::Relaxed)),
                _ => u64::try_from(*failures).unwrap_or(0),
            };
            let _ = writeln!(
                out,
                "{name}{{endpoint=\"{}\"}} {value}",
                escape(&crate::events::webhooks::shown_url(url))
            );
        }
    }
}

/// A label value in the text format: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn statuses_and_methods_land_in_their_slots() {
        let route = RouteStats::new("/x");
        route.record(&Method::PUT, 404, Duration::from_millis(3));
        route.record(&Method::PATCH, 599, Duration::from_secs(30));
        assert_eq!(route.counts[2][9].load(Ordering::Relaxed), 1);
        assert_eq!(
            route.counts[4][STATUSES.len() - 1].load(Ordering::Relaxed),
            1
        );
        assert_eq!(route.latency[4].count(), 1);
    }
}
