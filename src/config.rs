//! `protocol.toml`: defaults, then the file, then the environment (`PROTOCOL_LISTEN`,
//! `PROTOCOL_DATABASE`). Unknown keys are refused so a typo never silently does nothing.

use crate::db::Synchronous;
use crate::rules;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The config shipped in the repository; its tokens are examples everybody can read.
const SHIPPED_CONFIG: &str = include_str!("../protocol.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub attachments: AttachmentsConfig,
}

/// Where attachment bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Files in `server.files`.
    #[default]
    Local,
    /// Objects in an S3-compatible bucket (`[attachments.s3]`).
    S3,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    pub store: StoreKind,
    pub s3: S3Config,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `http(s)://HOST[:PORT]`; requests are path-style (`ENDPOINT/BUCKET/KEY`).
    pub endpoint: String,
    pub bucket: String,
    /// Empty: `AWS_REGION`, else `us-east-1`.
    pub region: String,
    /// Empty: `PROTOCOL_S3_ACCESS_KEY_ID`, else `AWS_ACCESS_KEY_ID` (the environment's
    /// `PROTOCOL_S3_*` wins over the file).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// An object without a record is removed at start-up once it is this much older than the
    /// start: younger ones may be another server's upload whose record is about to commit.
    pub orphan_grace_seconds: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            orphan_grace_seconds: 15 * 60,
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("orphan_grace_seconds", &self.orphan_grace_seconds)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    pub fn settings(&self) -> crate::s3::Settings {
        crate::s3::Settings {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// A SQLite file, or a `postgres://USER:PASS@HOST:PORT/DBNAME` URL.
    pub database: String,
    /// The folder of attachment bytes; `None`: beside a SQLite file (`DATABASE-files`), or
    /// `protocol-files` beside the config for PostgreSQL.
    pub files: Option<String>,
    /// Database connections for reads (0: two per core). With PostgreSQL, each server holds
    /// these plus one for its writer.
    pub read_connections: u32,
    pub synchronous: Synchronous,
    /// Base of `file_url` and `documentation_url`; when unset, the address the server listens on.
    pub public_url: Option<String>,
    pub max_message_chars: usize,
    pub max_upload_bytes: u64,
    /// Largest request body outside uploads.
    pub max_body_bytes: usize,
    /// Events (for SSE replay) are kept this long once every webhook has them.
    pub event_retention_hours: u64,
    /// Failed authentications allowed per client address per minute before 429 (0: no limit).
    pub auth_failures_per_minute: u32,
    /// Requests allowed per account per minute before 429 (0: no limit).
    pub requests_per_minute: u32,
    /// Load the demo dataset of the public docs (once per database; see `demo.rs`).
    pub demo_data: bool,
    /// Where `/metrics` (Prometheus) is served, apart from the API; `None`: nowhere.
    pub metrics_listen: Option<String>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// Members a group may have, its owner included.
    pub max_group_members: usize,
    /// Open `/v1/events` streams one account may hold at once (429 past it).
    pub max_event_streams_per_account: usize,
    /// Open connections in all; the server lowers it to fit the file-descriptor limit. A
    /// connection past it is answered 503 and closed at once.
    pub max_connections: usize,
    /// A request body (uploads included) must arrive at least this fast, on average, once its
    /// first 10 seconds are over (408 otherwise).
    pub min_body_bytes_per_second: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            database: "protocol.db".into(),
            files: None,
            read_connections: 0,
            synchronous: Synchronous::Normal,
            public_url: None,
            max_message_chars: 16_384,
            max_upload_bytes: 25 * 1024 * 1024,
            max_body_bytes: 1024 * 1024,
            event_retention_hours: 24 * 7,
            auth_failures_per_minute: 20,
            requests_per_minute: 0,
            demo_data: false,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            max_group_members: 10_000,
            max_event_streams_per_account: 16,
            max_connections: 20_000,
            min_body_bytes_per_second: 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
    pub token: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
    /// Event types, `resource.*`, or `*`.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// Attempts per event before it is given up on (logged and recorded as failed).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How long one delivery may take.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// The first retry waits about this long; each next one twice as long (up to 10 minutes).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}
fn default_max_attempts() -> u32 {
    10
}
fn default_timeout_seconds() -> u64 {
    10
}
fn default_retry_base_ms() -> u64 {
    1000
}

impl WebhookConfig {
    /// Whether this endpoint subscribed to events of `kind` (`message.created`).
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|pattern| {
            pattern == "*"
                || pattern == kind
                || pattern
                    .strip_suffix(".*")
                    .is_some_and(|resource| kind.split('.').next() == Some(resource))
        })
    }
}

impl ServerConfig {
    /// Where attachment bytes live (`None`: a temporary folder, with an in-memory database).
    pub fn files_dir(&self) -> Option<PathBuf> {
        match &self.files {
            Some(files) => Some(PathBuf::from(files)),
            None if self.database == ":memory:" => None,
            None if crate::db::postgres::is_url(&self.database) => {
                Some(PathBuf::from("protocol-files"))
            }
            None => Some(PathBuf::from(format!("{}-files", self.database))),
        }
    }
}

impl Config {
    /// Reads, applies the environment overrides and validates. The error is one line.
    ///
    /// A relative `database` in the file is taken from the file's folder, so the server finds
    /// the same database whatever folder it is started from; one in `PROTOCOL_DATABASE` from
    /// the current folder, as paths on a command line are. Either way it is made absolute.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let mut config =
            Config::parse(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
        let folder = path.parent().unwrap_or(Path::new(""));
        config.server.database = resolve(folder, &config.server.database)?;
        if let Some(files) = &config.server.files {
            config.server.files = Some(resolve(folder, files)?);
        } else if crate::db::postgres::is_url(&config.server.database) {
            config.server.files = Some(resolve(folder, "protocol-files")?);
        }
        config.apply_env(|name| std::env::var(name).ok());
        config.server.database = resolve(Path::new(""), &config.server.database)?;
        if config.server.files.is_none() && crate::db::postgres::is_url(&config.server.database) {
            // PROTOCOL_DATABASE turned a SQLite config into a PostgreSQL one.
            config.server.files = Some(resolve(folder, "protocol-files")?);
        }
        config
            .validate()
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        Ok(config)
    }

    /// Parses TOML text without validating it.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| one_line(&e.to_string()))
    }

    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = var("PROTOCOL_LISTEN").filter(|v| !v.is_empty()) {
            self.server.listen = listen;
        }
        if let Some(database) = var("PROTOCOL_DATABASE").filter(|v| !v.is_empty()) {
            self.server.database = database;
        }
        // S3 credentials: PROTOCOL_S3_* over the file, the standard AWS_* where both are silent.
        let s3 = &mut self.attachments.s3;
        let fields = [
            (&mut s3.access_key_id, "ACCESS_KEY_ID"),
            (&mut s3.secret_access_key, "SECRET_ACCESS_KEY"),
        ];
        for (field, name) in fields {
            if let Some(value) = var(&format!("PROTOCOL_S3_{name}")).filter(|v| !v.is_empty()) {
                *field = value;
            } else if field.is_empty()
                && let Some(value) = var(&format!("AWS_{name}")).filter(|v| !v.is_empty())
            {
                *field = value;
            }
        }
        if s3.region.is_empty() {
            s3.region = var("AWS_REGION")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "us-east-1".into());
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        self.metrics_addr()?;
        let server = &self.server;
        if server.database.trim().is_empty() {
            return Err(
                "server.database must name a file (or \":memory:\", or a postgres:// URL).".into(),
            );
        }
        if crate::db::postgres::is_url(&server.database) {
            crate::db::postgres::config(&server.database)?;
        }
        if let Some(url) = &server.public_url {
            rules::url("server.public_url", url)?;
        }
        if server.max_message_chars == 0 {
            return Err("server.max_message_chars must be at least 1.".into());
        }
        if server.max_upload_bytes == 0 || server.max_body_bytes == 0 {
            return Err(
                "server.max_upload_bytes and server.max_body_bytes must be at least 1.".into(),
            );
        }
        if server.event_retention_hours == 0 {
            return Err("server.event_retention_hours must be at least 1.".into());
        }
        for proxy in &server.trusted_proxies {
            crate::connections::IpBlock::parse(proxy)
                .map_err(|e| format!("server.trusted_proxies: {e}"))?;
        }
        if server.max_group_members < 2 {
            return Err("server.max_group_members must be at least 2.".into());
        }
        if server.max_event_streams_per_account == 0 || server.max_connections == 0 {
            return Err(
                "server.max_event_streams_per_account and server.max_connections must be at least 1."
                    .into(),
            );
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            rules::url("url", &hook.url).map_err(|e| format!("{at}: {e}"))?;
            if hook.secret.is_empty() {
                return Err(format!("{at}: secret must not be empty."));
            }
            if hook.max_attempts == 0 || hook.timeout_seconds == 0 {
                return Err(format!(
                    "{at}: max_attempts and timeout_seconds must be at least 1."
                ));
            }
            for pattern in &hook.events {
                let known = pattern == "*"
                    || crate::db::events::RESOURCES.iter().any(|r| {
                        pattern
                            .strip_prefix(r)
                            .and_then(|rest| rest.strip_prefix('.'))
                            .is_some_and(|action| {
                                action == "*" || crate::db::events::ACTIONS.contains(&action)
                            })
                    });
                if !known {
                    return Err(format!(
                        "{at}: unknown event {pattern:?} (use e.g. \"message.created\", \"conversation.*\" or \"*\")."
                    ));
                }
            }
        }
        if self.attachments.store == StoreKind::S3 {
            let s3 = &self.attachments.s3;
            crate::s3::endpoint_host(&s3.endpoint)
                .map_err(|e| format!("attachments.s3.endpoint: {e}"))?;
            if s3.bucket.is_empty() {
                return Err("attachments.s3.bucket must name the bucket.".into());
            }
            if s3.access_key_id.is_empty() || s3.secret_access_key.is_empty() {
                return Err(
                    "store = \"s3\" needs attachments.s3.access_key_id and secret_access_key \
                     (or PROTOCOL_S3_ACCESS_KEY_ID and PROTOCOL_S3_SECRET_ACCESS_KEY, or \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment)."
                        .into(),
                );
            }
        }
        if self.accounts.is_empty() {
            return Err("at least one [[accounts]] entry is needed.".into());
        }
        let mut usernames = HashSet::new();
        let mut tokens = HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            let at = format!("accounts[{i}]");
            rules::username(&account.username).map_err(|e| format!("{at}: {e}"))?;
            rules::phone_number(&account.phone_number).map_err(|e| format!("{at}: {e}"))?;
            if let Some(url) = &account.avatar_url {
                rules::url("avatar_url", url).map_err(|e| format!("{at}: {e}"))?;
            }
            if account.token.trim().is_empty() {
                return Err(format!("{at}: token must not be empty."));
            }
            if account
                .token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!(
                    "{at}: token must not contain spaces or control characters."
                ));
            }
            if !usernames.insert(rules::username_key(&account.username)) {
                return Err(format!(
                    "{at}: username {:?} is used twice.",
                    account.username
                ));
            }
            if !tokens.insert(account.token.as_str()) {
                // Never print a token, not even a duplicate one.
                return Err(format!(
                    "{at}: its token is already used by another account."
                ));
            }
        }
        Ok(())
    }

    /// The metrics address, when they are on.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        let Some(listen) = &self.server.metrics_listen else {
            return Ok(None);
        };
        listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "server.metrics_listen {listen:?} is not an address:port (e.g. \"127.0.0.1:9090\")."
                )
            })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server
            .listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                format!(
                    "server.listen {:?} is not an address:port (e.g. \"127.0.0.1:8080\").",
                    self.server.listen
                )
            })
    }

    /// The base URL of links in responses: `public_url`, or the address actually listened on.
    pub fn public_url(&self, listening: SocketAddr) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listening}"))
    }

    /// Usernames whose token is one of the shipped examples.
    pub fn accounts_with_example_tokens(&self) -> Vec<&str> {
        let examples: HashSet<String> = Config::parse(SHIPPED_CONFIG)
            .map(|c| c.accounts.into_iter().map(|a| a.token).collect())
            .unwrap_or_default();
        self.accounts
            .iter()
            .filter(|a| examples.contains(&a.token))
            .map(|a| a.username.as_str())
            .collect()
    }
}

/// `database` against `folder` (empty: the current folder), made absolute; `:memory:` and a
/// PostgreSQL URL stay.
fn resolve(folder: &Path, database: &str) -> Result<String, String> {
    if database == ":memory:" || database.trim().is_empty() || crate::db::postgres::is_url(database)
    {
        return Ok(database.to_owned());
    }
    let path = std::path::absolute(folder.join(database))
        .map_err(|e| format!("cannot resolve the database path {database:?}: {e}"))?;
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the database path {} is not valid UTF-8", path.display()))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[accounts]]
        username = "kevin"
        phone_number = "1-800-759-3000"
        token = "secret-1"
    "#;

    #[test]
    fn shipped_config_is_valid() {
        let config = Config::parse(SHIPPED_CONFIG).unwrap_or_else(|e| panic!("{e}"));
        config.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.server.database, "protocol.db");
        assert!(!config.accounts_with_example_tokens().is_empty());
    }

    #[test]
    fn defaults_fill_everything_but_accounts() {
        let config = Config::parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.validate().is_ok());
        assert_eq!(config.server.max_message_chars, 16_384);
        assert_eq!(config.server.max_upload_bytes, 26_214_400);
        assert_eq!(config.server.synchronous, Synchronous::Normal);
        assert!(config.accounts_with_example_tokens().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse(&format!("[server]\nlisten_on = \"x\"\n{MINIMAL}")).unwrap_err();
        assert!(err.contains("listen_on"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn missing_accounts_are_refused() {
        assert!(Config::parse("[server]\n").is_err());
    }

    #[test]
    fn duplicates_and_empty_tokens_are_refused() {
        let twice = format!("{MINIMAL}{MINIMAL}");
        let err = Config::parse(&twice)
            .unwrap_or_else(|e| panic!("{e}"))
            .validate()
            .unwrap_err();
        assert!(err.contains("used twice"), "{err}");

        let same_token = format!("{MINIMAL}{}", MINIMAL.replace("kevin", "kate"));
        let err = Config::parse(&same_token)
            .unwrap_or_else(|e| panic!("{e}"))
            .validate()
            .unwrap_err();
        assert!(err.contains("token") && !err.contains("secret-1"), "{err}");

        let empty = MINIMAL.replace("secret-1", " ");
        assert!(
            Config::parse(&empty)
                .unwrap_or_else(|e| panic!("{e}"))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn environment_overrides_listen_and_database() {
        let mut config = Config::parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        config.apply_env(|name| match name {
            "PROTOCOL_LISTEN" => Some("127.0.0.1:0".into()),
            "PROTOCOL_DATABASE" => Some("/tmp/x.db".into()),
            _ => None,
        });
        assert_eq!(config.server.listen, "127.0.0.1:0");
        assert_eq!(config.server.database, "/tmp/x.db");
    }

    #[test]
    fn s3_credentials_come_from_the_environment_protocol_names_first() {
        let text = format!(
            "[attachments]\nstore = \"s3\"\n[attachments.s3]\nendpoint = \"http://127.0.0.1:9000\"\n\
             bucket = \"chat\"\naccess_key_id = \"from-file\"\n{MINIMAL}"
        );
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let mut config = Config::parse(&text).unwrap();
        let secret_missing = config.validate().unwrap_err();
        assert!(
            secret_missing.contains("PROTOCOL_S3_SECRET_ACCESS_KEY"),
            "{secret_missing}"
        );
        config.apply_env(env(&[
            ("AWS_ACCESS_KEY_ID", "aws-key"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("AWS_REGION", "eu-west-3"),
        ]));
        let s3 = &config.attachments.s3;
        // The file's key stays over AWS_*; the missing secret is taken from it.
        assert_eq!(
            (s3.access_key_id.as_str(), s3.secret_access_key.as_str()),
            ("from-file", "aws-secret")
        );
        assert_eq!(s3.region, "eu-west-3");
        config.validate().unwrap();
        config.apply_env(env(&[("PROTOCOL_S3_SECRET_ACCESS_KEY", "protocol-secret")]));
        assert_eq!(config.attachments.s3.secret_access_key, "protocol-secret");
        assert!(!format!("{config:?}").contains("protocol-secret"));

        let mut config = Config::parse(&text).unwrap();
        config.apply_env(env(&[("PROTOCOL_S3_SECRET_ACCESS_KEY", "s")]));
        assert_eq!(config.attachments.s3.region, "us-east-1");
        config.attachments.s3.endpoint = "http://127.0.0.1:9000/chat".into();
        assert!(config.validate().unwrap_err().contains("without a path"));
    }

    #[test]
    fn webhook_patterns() {
        let text = format!(
            "{MINIMAL}\n[[webhooks]]\nurl = \"http://127.0.0.1:9/h\"\nsecret = \"s\"\nevents = [\"message.created\", \"conversation.*\"]\n"
        );
        let config = Config::parse(&text).unwrap();
        config.validate().unwrap();
        let hook = &config.webhooks[0];
        assert!(hook.wants("message.created"));
        assert!(!hook.wants("message.updated"));
        assert!(hook.wants("conversation.deleted"));
        assert!(!hook.wants("contact.created"));
        assert_eq!(hook.max_attempts, 10);

        let bad = text.replace("conversation.*", "conversations.*");
        assert!(Config::parse(&bad).unwrap().validate().is_err());
    }

    #[test]
    fn a_relative_database_is_taken_from_the_config_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("protocol.toml");
        std::fs::write(
            &path,
            format!("[server]\ndatabase = \"data/chat.db\"\n{MINIMAL}"),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(
            Path::new(&config.server.database),
            dir.path().join("data/chat.db")
        );
        std::fs::write(
            &path,
            format!("[server]\ndatabase = \":memory:\"\n{MINIMAL}"),
        )
        .unwrap();
        assert_eq!(Config::load(&path).unwrap().server.database, ":memory:");
        assert_eq!(
            resolve(Path::new("/srv/chat"), "/var/lib/chat.db").unwrap(),
            "/var/lib/chat.db"
        );
    }

    #[test]
    fn bad_listen_address_is_refused() {
        let mut config = Config::parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        config.server.listen = "nowhere".into();
        assert!(config.validate().is_err());
    }
}
