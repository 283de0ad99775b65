//! The state every request handler reaches, built from the config, and its reload.

use crate::account::Account;
use crate::activity::ActivityTracker;
use crate::auth::Accounts;
use crate::config::{Config, WebhookConfig};
use crate::connections::{IpBlock, client_address};
use crate::db::Db;
use crate::db::operations::AccountContact;
use crate::demo::{DemoAccount, demo_accounts};
use crate::events::hub::Hub;
use crate::events::webhooks;
use crate::files::ByteStore;
use crate::limits::WindowCounter;
use crate::views::Views;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Limits and addresses the handlers need, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of `file_url` and `documentation_url`, without a trailing slash.
    pub public_url: String,
    pub max_message_chars: usize,
    pub max_upload_bytes: u64,
    pub max_body_bytes: usize,
    pub event_retention_hours: u64,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpBlock>,
    pub max_group_members: usize,
    pub max_event_streams_per_account: usize,
    pub max_connections: usize,
    pub min_body_bytes_per_second: u64,
}

/// Everything a request handler can reach.
pub struct AppState {
    pub db: Db,
    /// What the handlers print (and the events carry).
    pub views: Arc<Views>,
    pub files: ByteStore,
    pub settings: Settings,
    /// Swapped whole when the config is reloaded.
    accounts: RwLock<Arc<Accounts>>,
    pub activity: ActivityTracker,
    pub hub: Arc<Hub>,
    webhooks: Mutex<Webhooks>,
    /// Deliveries per webhook endpoint, for the metrics.
    pub webhook_stats: webhooks::Stats,
    /// Set when the server stops: background workers end.
    pub stopping: Arc<AtomicBool>,
    /// The file the config came from, for reloads (None: built in code, as tests do).
    pub config_path: Option<PathBuf>,
    pub limits: Limits,
    /// The accounts the web app's sign-in page may offer (see `demo::demo_accounts`);
    /// swapped with the accounts on reload.
    demo_accounts: RwLock<Arc<Vec<DemoAccount>>>,
}

/// Rate limits (see `limits.rs`).
pub struct Limits {
    /// Failed authentications per client address per minute.
    pub auth_failures: WindowCounter<IpAddr>,
    /// Requests per account per minute (0: no limit).
    pub requests: WindowCounter<String>,
}

/// The configured endpoints and the flag that stops their workers.
struct Webhooks {
    configs: Vec<WebhookConfig>,
    stop: Arc<AtomicBool>,
}

impl AppState {
    pub fn accounts(&self) -> Arc<Accounts> {
        self.accounts
            .read()
            .map(|a| a.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The client's address: the peer's, or behind a trusted proxy the one it forwarded.
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        let forwarded_for = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        client_address(
            req.peer_addr().map(|a| a.ip()),
            forwarded_for,
            &self.settings.trusted_proxies,
        )
    }

    pub fn demo_accounts(&self) -> Arc<Vec<DemoAccount>> {
        self.demo_accounts
            .read()
            .map(|a| a.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn webhook_urls(&self) -> Vec<String> {
        self.with_webhooks(|w| w.configs.iter().map(|c| c.url.clone()).collect())
    }

    fn with_webhooks<T>(&self, f: impl FnOnce(&mut Webhooks) -> T) -> T {
        let mut guard = self.webhooks.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Starts a delivery thread per configured endpoint.
    pub fn start_webhooks(&self) {
        self.with_webhooks(|w| {
            webhooks::start(&self.db, &w.configs, w.stop.clone(), &self.webhook_stats)
        });
    }

    /// Stops the webhook workers (at shutdown, or before a reload replaces them).
    pub fn stop_webhooks(&self) {
        self.with_webhooks(|w| w.stop.store(true, Ordering::Relaxed));
    }

    /// Reads the config file again and applies what can change while running: the accounts
    /// and the webhooks. A config that does not load leaves everything as it was.
    pub fn reload(&self) -> Result<String, String> {
        let path = self
            .config_path
            .as_ref()
            .ok_or("this server was not started from a config file")?;
        let config = Config::load(path)?;
        let accounts = sync_accounts(&self.db, &config)?;
        let summary = format!(
            "{} account(s), {} webhook(s)",
            accounts.len(),
            config.webhooks.len()
        );
        let people: Vec<String> = accounts.iter().map(|(_, a)| a.id.clone()).collect();
        *self.accounts.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Accounts::new(accounts));
        *self
            .demo_accounts
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(demo_accounts(&config));
        // After the swap: a stream authenticated just before it is either ended here or, if it
        // subscribes later, refused by the hub.
        self.hub.keep_only(&people);
        self.with_webhooks(|w| {
            w.stop.store(true, Ordering::Relaxed);
            w.configs = config.webhooks.clone();
            w.stop = Arc::new(AtomicBool::new(self.stopping.load(Ordering::Relaxed)));
            webhooks::start(&self.db, &w.configs, w.stop.clone(), &self.webhook_stats);
        });
        Ok(summary)
    }
}

/// Creates or updates each account's contact (matched by username); returns the accounts
/// with their tokens.
pub fn sync_accounts(db: &Db, config: &Config) -> Result<Vec<(String, Account)>, String> {
    let contacts = config
        .accounts
        .iter()
        .map(|a| AccountContact {
            username: a.username.clone(),
            phone_number: a.phone_number.clone(),
            avatar_url: a.avatar_url.clone(),
        })
        .collect();
    let (ids, made_private) = db
        .sync_accounts_blocking(contacts)
        .map_err(|e| format!("cannot set up the accounts: {e}"))?;
    let accounts = config
        .accounts
        .iter()
        .zip(ids)
        .map(|(a, id)| {
            let account = Account {
                id,
                username: a.username.clone(),
            };
            (a.token.clone(), account)
        })
        .collect();
    if made_private > 0 {
        log::info!(
            "{made_private} contact(s) who are not accounts are now private to the address books that know them"
        );
    }
    Ok(accounts)
}

/// Opens the database and brings the accounts' contacts in line with the config.
pub fn build_state(config: &Config, public_url: &str) -> Result<AppState, String> {
    let views = Arc::new(Views::new(public_url));
    let db = Db::open(
        &config.server.database,
        config.server.synchronous,
        config.server.read_connections,
        views.clone(),
    )?;
    let server = &config.server;
    let files = ByteStore::open(config)?;
    // Before the accounts: on a new database the demo people get the docs' ids, and the
    // accounts then find them by username.
    if server.demo_data
        && let Some(report) = crate::demo::load_once(&db, &files)?
    {
        log::info!("loaded the demo data ({} rows)", report.added);
        for note in report.notes {
            log::warn!("demo data: {note}");
        }
    }
    let accounts = sync_accounts(&db, config)?;
    Ok(AppState {
        db,
        views,
        files,
        settings: Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_message_chars: server.max_message_chars,
            max_upload_bytes: server.max_upload_bytes,
            max_body_bytes: server.max_body_bytes,
            event_retention_hours: server.event_retention_hours,
            trusted_proxies: server
                .trusted_proxies
                .iter()
                .map(|p| IpBlock::parse(p))
                .collect::<Result<_, _>>()?,
            max_group_members: server.max_group_members,
            max_event_streams_per_account: server.max_event_streams_per_account,
            max_connections: server.max_connections,
            min_body_bytes_per_second: server.min_body_bytes_per_second,
        },
        accounts: RwLock::new(Arc::new(Accounts::new(accounts))),
        activity: ActivityTracker::default(),
        hub: Arc::new(Hub::default()),
        webhooks: Mutex::new(Webhooks {
            configs: config.webhooks.clone(),
            stop: Arc::new(AtomicBool::new(false)),
        }),
        webhook_stats: webhooks::Stats::default(),
        stopping: Arc::new(AtomicBool::new(false)),
        config_path: None,
        limits: Limits {
            auth_failures: WindowCounter::new(server.auth_failures_per_minute),
            requests: WindowCounter::new(server.requests_per_minute),
        },
        demo_accounts: RwLock::new(Arc::new(demo_accounts(config))),
    })
}
