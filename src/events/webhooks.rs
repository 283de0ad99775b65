//! Webhook delivery: one thread per endpoint walks the outbox in event order from the
//! endpoint's stored cursor, POSTs each event it subscribed to, and moves the cursor on.
//!
//! A failure (no 2xx, a timeout, a refused connection) is retried with exponential backoff and
//! jitter, holding back that endpoint's later events so they arrive in order; after
//! `max_attempts` the event is recorded in `webhook_failures`, logged, and passed. Each endpoint
//! has its own thread, so a dead or slow endpoint delays nobody else and never the API. The
//! cursor is stored after every event: a restart resumes where it stopped (an event whose
//! delivery was in flight at the crash is sent again: at-least-once).
//!
//! Servers sharing a database (PostgreSQL) take turns per endpoint, so each event goes out
//! once however many servers run: a worker delivers only while it holds the endpoint's lease
//! (`webhook_cursors.lease_holder`, until `lease_until`), which it takes when nobody holds it
//! or the holder's lease ran out, and renews with every cursor move and while it waits. A
//! server that stops lets go at once; one killed mid-delivery is taken over once its lease
//! runs out (`LEASE`), and the event it had in flight may then be sent twice: every delivery
//! carries the event's id (`x-protocol-event-id`, also `id` in the body) so a receiver can
//! drop the second.

use crate::config::WebhookConfig;
use crate::db::Db;
use crate::db::events::StoredEvent;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often an idle worker looks for new events.
const POLL: Duration = Duration::from_millis(100);
/// How long an endpoint stays with a server that stops renewing its lease (killed, cut off):
/// the longest another server waits to take over its deliveries.
const LEASE: Duration = Duration::from_secs(15);
/// A holder renews its lease when a third of it has passed.
const RENEW: Duration = Duration::from_secs(5);
/// How often a server that does not hold an endpoint tries to take it.
const CLAIM_RETRY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
const BATCH: u32 = 100;

/// The event's id, so a receiver can drop a delivery it has had (after a takeover).
pub const EVENT_ID_HEADER: &str = "x-protocol-event-id";

/// The signature header: lowercase hex HMAC-SHA256 of the exact body, keyed with the secret.
pub const SIGNATURE_HEADER: &str = "x-protocol-signature";

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deliveries per endpoint since the server started, for the metrics. An endpoint keeps its
/// counters across reloads.
#[derive(Default)]
pub struct Stats {
    endpoints: Mutex<Vec<(String, Arc<EndpointStats>)>>,
}

#[derive(Default)]
pub struct EndpointStats {
    /// Events the endpoint accepted (2xx).
    pub delivered: AtomicU64,
    /// Failed attempts that were tried again.
    pub retries: AtomicU64,
}

impl Stats {
    fn endpoint(&self, url: &str) -> Arc<EndpointStats> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, found)) = endpoints.iter().find(|(u, _)| u == url) {
            return found.clone();
        }
        let stats = Arc::new(EndpointStats::default());
        endpoints.push((url.to_owned(), stats.clone()));
        stats
    }

    pub fn snapshot(&self) -> Vec<(String, Arc<EndpointStats>)> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Starts one delivery thread per endpoint; they stop when `stop` is set.
pub fn start(db: &Db, hooks: &[WebhookConfig], stop: Arc<AtomicBool>, stats: &Stats) {
    for hook in hooks {
        let (db, stop) = (db.clone(), stop.clone());
        let counters = stats.endpoint(&hook.url);
        let hook = hook.clone();
        let name = format!("webhook {}", shown_url(&hook.url));
        let spawned = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || Worker::new(db, hook, stop, counters).run());
        if let Err(e) = spawned {
            log::error!("cannot start the {name} worker: {e}");
        }
    }
}

struct Worker {
    db: Db,
    hook: WebhookConfig,
    /// Who this worker is in `webhook_cursors.lease_holder`: random, per start.
    holder: String,
    /// When this worker last renewed its lease.
    renewed: std::cell::Cell<std::time::Instant>,
    stop: Arc<AtomicBool>,
    agent: ureq::Agent,
    counters: Arc<EndpointStats>,
    /// The URL as logs show it: without credentials or query string.
    shown: String,
}

impl Worker {
    fn new(
        db: Db,
        hook: WebhookConfig,
        stop: Arc<AtomicBool>,
        counters: Arc<EndpointStats>,
    ) -> Worker {
        // HTTPS through rustls, trusting the system's certificate store (so an internal CA
        // added to it, or named by SSL_CERT_FILE, works too).
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(hook.timeout_seconds)))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        let holder: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        Worker {
            db,
            holder,
            renewed: std::cell::Cell::new(std::time::Instant::now()),
            shown: shown_url(&hook.url),
            hook,
            stop,
            agent,
            counters,
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(self) {
        while !self.stopped() {
            match self.claim() {
                Some(cursor) => self.deliver_from(cursor),
                None => {
                    if self.sleep(CLAIM_RETRY) {
                        break;
                    }
                }
            }
        }
        // Stopping: another server may take over at once.
        let (url, holder) = (self.hook.url.clone(), self.holder.clone());
        if let Err(e) = self.db.release_webhook_blocking(url, holder) {
            log::warn!("webhook {}: cannot let go of its lease: {e}", self.shown);
        }
    }

    /// Takes (or keeps) the endpoint's lease: its cursor, or `None` while another server
    /// holds it.
    fn claim(&self) -> Option<i64> {
        let now = now_ms();
        let until = now.saturating_add(millis(LEASE));
        let (url, holder) = (self.hook.url.clone(), self.holder.clone());
        match self.db.claim_webhook_blocking(url, holder, now, until) {
            Ok(Some(cursor)) => {
                self.renewed.set(std::time::Instant::now());
                log::info!("webhook {}: this server delivers its events", self.shown);
                Some(cursor)
            }
            Ok(None) => None,
            Err(e) => {
                log::warn!("webhook {}: cannot take its lease: {e}", self.shown);
                None
            }
        }
    }

    /// Moves the cursor (None: keeps it) and renews the lease; false once it is lost (or
    /// cannot be renewed: better to stop than to deliver beside another server).
    fn keep(&self, seq: Option<i64>) -> bool {
        let until = now_ms().saturating_add(millis(LEASE));
        let (url, holder) = (self.hook.url.clone(), self.holder.clone());
        match self.db.keep_webhook_blocking(url, holder, seq, until) {
            Ok(true) => {
                self.renewed.set(std::time::Instant::now());
                true
            }
            Ok(false) => {
                log::warn!("webhook {}: another server took over", self.shown);
                false
            }
            Err(e) => {
                log::warn!("webhook {}: cannot renew its lease: {e}", self.shown);
                false
            }
        }
    }

    /// Renews the lease if a third of it has passed; false once it is lost.
    fn keep_if_due(&self) -> bool {
        self.renewed.get().elapsed() < RENEW || self.keep(None)
    }

    /// Delivers the events after `cursor` while the lease holds.
    fn deliver_from(&self, mut cursor: i64) {
        while !self.stopped() {
            let batch = match self.db.events_after_blocking(cursor, BATCH) {
                Ok(batch) => batch,
                Err(e) => {
                    log::warn!("webhook {}: {e}", self.shown);
                    Vec::new()
                }
            };
            if batch.is_empty() {
                if self.sleep(POLL) || !self.keep_if_due() {
                    return;
                }
                continue;
            }
            for event in batch {
                if self.hook.wants(&event.kind) && !self.deliver(&event) {
                    return; // stopping, or the lease is gone
                }
                cursor = event.seq;
                if !self.keep(Some(cursor)) {
                    return;
                }
            }
        }
    }

    /// Delivers one event, retrying; `false` if the worker is stopping, or lost its lease,
    /// before it is done.
    fn deliver(&self, event: &StoredEvent) -> bool {
        let signature = sign(&self.hook.secret, event.body.as_bytes());
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self
                .agent
                .post(&self.hook.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header("x-protocol-event", &event.kind)
                .header(EVENT_ID_HEADER, &event.id)
                .send(event.body.as_bytes());
            let error = match outcome {
                Ok(response) if response.status().is_success() => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(e) => e.to_string(),
            };
            if attempt >= self.hook.max_attempts {
                log::error!(
                    "webhook {}: giving up on event {} ({}) after {attempt} attempts: {error}",
                    self.shown,
                    event.id,
                    event.kind
                );
                let (url, id, reason) = (self.hook.url.clone(), event.id.clone(), error.clone());
                if let Err(e) = self
                    .db
                    .record_webhook_failure_blocking(url, id, attempt, reason)
                {
                    log::warn!("webhook {}: cannot record the failure: {e}", self.shown);
                }
                return true;
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            let wait = backoff(self.hook.retry_base_ms, attempt);
            log::warn!(
                "webhook {}: event {} attempt {attempt} failed ({error}); retrying in {:?}",
                self.shown,
                event.id,
                wait
            );
            if self.sleep_holding(wait) {
                return false;
            }
        }
    }

    /// `sleep`, renewing the lease meanwhile; `true` if asked to stop, or the lease was lost.
    fn sleep_holding(&self, total: Duration) -> bool {
        let mut left = total;
        while !left.is_zero() {
            let nap = left.min(RENEW);
            if self.sleep(nap) || !self.keep_if_due() {
                return true;
            }
            left -= nap;
        }
        false
    }

    /// Sleeps in short steps; `true` if asked to stop meanwhile.
    fn sleep(&self, total: Duration) -> bool {
        let step = Duration::from_millis(50);
        let mut slept = Duration::ZERO;
        while slept < total {
            if self.stopped() {
                return true;
            }
            let nap = step.min(total - slept);
            std::thread::sleep(nap);
            slept += nap;
        }
        self.stopped()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A webhook URL as logs and metrics show it: without the credentials or the query string it
/// may carry (`https://user:secret@host/in?token=…` → `https://host/in`).
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

/// `base * 2^(attempt-1)`, capped, with up to 50% random jitter added.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let exponential = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = Duration::from_millis(exponential).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.0..0.5);
    capped.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_lowercase_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn shown_urls_carry_no_secrets() {
        assert_eq!(
            shown_url("https://user:pass@hooks.example.com:8443/in?token=s3cret#x"),
            "https://hooks.example.com:8443/in"
        );
        assert_eq!(shown_url("http://127.0.0.1:9/h"), "http://127.0.0.1:9/h");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let first = backoff(1000, 1);
        assert!(first >= Duration::from_millis(1000) && first <= Duration::from_millis(1500));
        let third = backoff(1000, 3);
        assert!(third >= Duration::from_millis(4000) && third <= Duration::from_millis(6000));
        assert!(backoff(1000, 40) <= MAX_BACKOFF.mul_f64(1.5));
    }
}
