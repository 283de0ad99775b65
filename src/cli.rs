//! The command line's subcommands. Each returns `Err(one line)` for the user; `main` prints it
//! and exits 1 (clap itself exits 2 on a usage error).

use crate::config::Config;
use crate::db::{Db, ids};
use crate::{RunOptions, build_state, run};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

type Outcome = Result<(), String>;

/// `protocol serve`: binds, prints `listening on http://ADDR`, serves until SIGTERM/Ctrl-C.
pub fn serve(config_path: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let metrics_listener = match config.metrics_addr()? {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .map_err(|e| format!("cannot listen on {addr} for the metrics: {e}"))?,
        ),
        None => None,
    };
    let metrics_local = match &metrics_listener {
        Some(listener) => Some(
            listener
                .local_addr()
                .map_err(|e| format!("cannot read the metrics address: {e}"))?,
        ),
        None => None,
    };
    let base = config.public_url(local);
    let mut state = build_state(&config, &base)?;
    state.config_path = Some(config_path.to_owned());
    let demo_data = config.server.demo_data;

    if !local.ip().is_loopback() {
        let exposed = config.accounts_with_example_tokens();
        if !exposed.is_empty() {
            log::warn!(
                "the accounts {} use the example tokens shipped in protocol.toml, on the \
                 non-loopback address {local}: anyone can read those tokens; replace them",
                exposed.join(", ")
            );
        }
    }

    actix_web::rt::System::new().block_on(async move {
        let options = RunOptions {
            metrics_listener,
            ..RunOptions::default()
        };
        let server =
            run(listener, state, options).map_err(|e| format!("cannot start the server: {e}"))?;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on http://{local}");
        if let Some(addr) = metrics_local {
            let _ = writeln!(stdout, "metrics on http://{addr}/metrics");
        }
        if demo_data {
            for line in crate::demo::start_up_hint(&config, &base) {
                let _ = writeln!(stdout, "{line}");
            }
        }
        let _ = stdout.flush();
        server.await.map_err(|e| format!("server error: {e}"))
    })
}

/// A strong token: 32 random characters of `[A-Za-z0-9]` (about 190 bits; not an id, which
/// starts with the time).
pub fn new_token() -> String {
    ids::random_chars(32)
}

/// `protocol token`
pub fn token() -> Outcome {
    println!("{}", new_token());
    Ok(())
}

/// `protocol init [DIR]`: a fresh `protocol.toml` with one account and a strong token.
pub fn init(dir: Option<&Path>) -> Outcome {
    let dir = dir.unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("protocol.toml");
    if path.exists() {
        return Err(format!(
            "{} already exists; not overwriting it",
            path.display()
        ));
    }
    let token = new_token();
    let text = format!(
        r#"# Protocol server configuration, written by `protocol init`.
# Every key but [[accounts]] has a default; see the README for all of them.

[server]
listen = "127.0.0.1:8080"      # address:port; port 0 picks a free port
database = "protocol.db"       # SQLite file, created if missing
synchronous = "normal"         # "full" also survives power loss, at some cost in write speed
demo_data = false              # true loads the Protocol docs' example data (McCallister family)
# public_url = "https://chat.example.com"   # when behind a reverse proxy

[[accounts]]                   # one per person who may call the API
username = "admin"
phone_number = "000-000-0000"
token = "{token}"

# [[webhooks]]
# url = "https://example.com/hook"
# secret = "a shared secret"
# events = ["*"]
"#
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    println!("the account admin has the token {token}");
    Ok(())
}

/// `protocol check-config`
pub fn check_config(config_path: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let addr = config.listen_addr()?;
    println!(
        "{} is valid: listen {addr}, database {}, {} account(s), {} webhook(s)",
        config_path.display(),
        config.server.database,
        config.accounts.len(),
        config.webhooks.len()
    );
    let exposed = config.accounts_with_example_tokens();
    if !exposed.is_empty() {
        println!(
            "note: {} use(s) the shipped example tokens; replace them before exposing the server",
            exposed.join(", ")
        );
    }
    Ok(())
}

/// `protocol backup FILE`: a consistent copy of the live database through SQLite's backup API
/// (one step, under one read transaction, so concurrent writes neither corrupt nor restart
/// it), then the attachment files it references into `FILE-files/`.
pub fn backup(config_path: &Path, target: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let source_path = &config.server.database;
    if source_path == ":memory:" {
        return Err("an in-memory database cannot be backed up".into());
    }
    if target.exists() {
        return Err(format!(
            "{} already exists; not overwriting it",
            target.display()
        ));
    }
    let source = rusqlite::Connection::open_with_flags(
        source_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| format!("cannot open {source_path}: {e}"))?;
    source
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut copy = rusqlite::Connection::open(target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)
            .map_err(|e| format!("cannot start the backup: {e}"))?;
        match backup.step(-1).map_err(|e| format!("backup failed: {e}"))? {
            rusqlite::backup::StepResult::Done => {}
            other => return Err(format!("backup did not finish: {other:?}")),
        }
    }
    let ids: Vec<String> = copy
        .prepare("SELECT id FROM attachments")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| format!("cannot list attachments in the copy: {e}"))?;
    let (from, to) = (
        PathBuf::from(format!("{source_path}-files")),
        PathBuf::from(format!("{}-files", target.display())),
    );
    if !ids.is_empty() {
        std::fs::create_dir_all(&to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    }
    let mut copied = 0;
    for id in &ids {
        if !ids::is_id(id) {
            continue;
        }
        match std::fs::copy(from.join(id), to.join(id)) {
            Ok(_) => copied += 1,
            Err(e) => eprintln!("protocol: attachment {id} was not copied: {e}"),
        }
    }
    println!(
        "backed up {source_path} to {} ({copied} attachment file(s))",
        target.display()
    );
    Ok(())
}

/// `protocol seed-demo`: loads whatever part of the demo dataset is missing into the configured
/// database (the server may be running), then brings the accounts in line.
pub fn seed_demo(config_path: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let server = &config.server;
    if server.database == ":memory:" {
        return Err("an in-memory database vanishes with this command; name a file".into());
    }
    let db = Db::open(&server.database, server.synchronous)?;
    let files = crate::files::FileStore::open(
        &server.database,
        server.synchronous == crate::config::Synchronous::Full,
    )?;
    let report = crate::demo::load(&db, &files)?;
    crate::sync_accounts(&db, &config)?;
    if report.added == 0 {
        println!("the demo data was already in {}", server.database);
    } else {
        println!(
            "loaded the demo data into {} ({} rows)",
            server.database, report.added
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    let base = config.public_url(config.listen_addr()?);
    for line in crate::demo::start_up_hint(&config, &base) {
        println!("{line}");
    }
    Ok(())
}
