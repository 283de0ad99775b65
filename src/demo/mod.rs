//! The demo dataset: the McCallister family of the public Protocol docs, with the docs' own ids
//! (`xgQQXg3hrtjh7AvZ`, `SIuAFUNKdSYHZF2w`, `WAz8eIbvDR60rouK`, ...) so that the docs' curl
//! examples work against a local server.
//!
//! Loading is idempotent (`db::demo` inserts only what is missing). `demo_data = true` loads
//! it once per database, so what you delete while trying the API stays deleted across
//! restarts; `protocol seed-demo` loads whatever is missing again.
//!
//! Where the docs contradict themselves (README, "How this server differs from the docs"), one
//! reading was chosen: `WAz8eIbvDR60rouK` is Kevin (the message pages) rather than Frank (the
//! contact pages); the group is `L7cGNIBKZiNJ6wqF` as the curl examples spell it; the person
//! "you" are in the docs' conversation `xgQQXg3hrtjh7AvZ` is Kate, Kevin's mother.

use crate::config::Config;
use crate::db::Db;
use crate::files::ByteStore;

pub use crate::db::demo::Report;

pub mod dataset;

pub use dataset::DEMO_ACCOUNTS;
use dataset::{ATTACHMENT_ID, PEOPLE, invoice_pdf};

/// `demo_data = true`: loads the dataset unless this database already had it loaded once.
pub fn load_once(db: &Db, files: &ByteStore) -> std::result::Result<Option<Report>, String> {
    let loaded = db
        .demo_loaded_blocking()
        .map_err(|e| format!("cannot read the database: {e}"))?;
    if loaded {
        Ok(None)
    } else {
        load(db, files).map(Some)
    }
}

/// Inserts whatever part of the dataset is missing (`protocol seed-demo`).
pub fn load(db: &Db, files: &ByteStore) -> std::result::Result<Report, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot load the demo data: {e}");
    // The bytes go in place before their record is committed, as an upload's do.
    files
        .ensure_blocking(ATTACHMENT_ID, &invoice_pdf())
        .map_err(|e| cannot(&e))?;
    db.load_demo_blocking().map_err(|e| cannot(&e))
}

/// Whether an account of `config` is one of the demo people, who alone see the demo data.
pub fn visible_to(config: &Config) -> bool {
    config.accounts.iter().any(|account| {
        PEOPLE
            .iter()
            .any(|p| p.username.eq_ignore_ascii_case(&account.username))
    })
}

/// An account the sign-in page offers: its token is one of the shipped examples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub token: String,
}

/// The accounts whose token is a shipped example (public in the repository), and only while
/// `demo_data` is on. No other token is ever listed.
pub fn demo_accounts(config: &Config) -> Vec<DemoAccount> {
    if !config.server.demo_data {
        return Vec::new();
    }
    let examples = config.accounts_with_example_tokens();
    config
        .accounts
        .iter()
        .filter(|a| examples.contains(&a.username.as_str()))
        .map(|a| DemoAccount {
            username: a.username.clone(),
            token: a.token.clone(),
        })
        .collect()
}

/// The lines printed after `listening on ...` when the demo data is on: which token to use
/// for what, and a first request. Only the shipped example tokens are printed (anyone can read
/// those anyway); a real token stays in protocol.toml.
pub fn start_up_hint(config: &Config, base: &str) -> Vec<String> {
    let examples = config.accounts_with_example_tokens();
    let mut lines = vec![
        "demo data: the McCallister family of the Protocol docs (demo_data = true); tokens:"
            .to_owned(),
    ];
    let mut first_token = None;
    for (username, role) in DEMO_ACCOUNTS {
        let Some(account) = config.accounts.iter().find(|a| a.username == *username) else {
            continue;
        };
        let token = if examples.contains(username) {
            first_token.get_or_insert(account.token.clone());
            account.token.as_str()
        } else {
            "(its token in protocol.toml)"
        };
        lines.push(format!("  {username:<17} {token:<30} {role}"));
    }
    let token = first_token.unwrap_or_else(|| "TOKEN".into());
    lines.push(format!(
        "try: curl -G {base}/v1/messages -H \"Authorization: Bearer {token}\" \
         -d conversation_id=xgQQXg3hrtjh7AvZ -d limit=10"
    ));
    lines
}
