//! The command line's subcommands. Each returns `Err(one line)` for the user; `main` prints it
//! and exits 1 (clap itself exits 2 on a usage error).

use crate::config::Config;
use crate::db::{Db, ids};
use crate::progress::{Progress, took};
use crate::{RunOptions, build_state, run};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Outcome = Result<(), String>;

/// `protocol serve`: binds, prints `listening on http://ADDR`, serves until SIGTERM/Ctrl-C.
pub fn serve(config_path: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let addr = config.listen_addr()?;
    let listener =
        crate::connections::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
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

    let db = state.db.clone();
    let served = actix_web::rt::System::new().block_on(async move {
        let options = RunOptions {
            metrics_listener,
            ..RunOptions::default()
        };
        let server = run(listener, actix_web::web::Data::new(state), options)
            .map_err(|e| format!("cannot start the server: {e}"))?;
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
    });
    // The runtime is gone, and with it every task that held the database.
    db.close(std::time::Duration::from_secs(15));
    served
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
database = "protocol.db"       # SQLite file, created if missing; relative to this file's folder
synchronous = "normal"         # "full" also survives power loss, at some cost in write speed
demo_data = false              # true loads the Protocol docs' example data (McCallister family)
# public_url = "https://chat.example.com"   # when behind a reverse proxy
# metrics_listen = "127.0.0.1:9090"         # Prometheus metrics at /metrics, off when unset

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
    // It holds a token: readable by its owner only (the server's user, see the README).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
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
        "{} is valid: listen {addr}, {} account(s), {} webhook(s)",
        config_path.display(),
        config.accounts.len(),
        config.webhooks.len()
    );
    let database = &config.server.database;
    if database == ":memory:" {
        println!("database: in memory (gone when the server stops)");
    } else {
        println!("database: {}", crate::db::postgres::redacted(database));
        if config.attachments.store == crate::config::StoreKind::S3 {
            let s3 = &config.attachments.s3;
            println!("attachments: S3 bucket {} at {}", s3.bucket, s3.endpoint);
        } else if let Some(files) = config.server.files_dir() {
            println!("attachments: {}/", files.display());
        }
    }
    if let Some(metrics) = config.metrics_addr()? {
        println!("metrics: http://{metrics}/metrics");
    }
    let exposed = config.accounts_with_example_tokens();
    if !exposed.is_empty() {
        println!(
            "note: {} use(s) the shipped example tokens; replace them before exposing the server",
            exposed.join(", ")
        );
    }
    Ok(())
}

/// `protocol backup FILE`: a consistent copy of the live database (`db::backup`), then the
/// attachment files it references into `FILE-files/`.
pub fn backup(config_path: &Path, target: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let source_path = &config.server.database;
    if source_path == ":memory:" {
        return Err("an in-memory database cannot be backed up".into());
    }
    if crate::db::postgres::is_url(source_path) {
        return Err(
            "backup copies a SQLite database; back up PostgreSQL with pg_dump, and the \
             attachment folder (server.files) beside it"
                .into(),
        );
    }
    if target.exists() {
        return Err(format!(
            "{} already exists; not overwriting it",
            target.display()
        ));
    }
    let mut progress = Progress::start("backing up");
    let mut ids = crate::db::backup::copy(source_path, target, |done, total| {
        progress.update(done, total, "pages");
    })?;
    let in_bucket = config.attachments.store == crate::config::StoreKind::S3;
    if in_bucket {
        // The bytes are objects in the bucket, which the backup's records still name.
        ids.clear();
    }
    let (from, to) = (
        PathBuf::from(format!("{source_path}-files")),
        PathBuf::from(format!("{}-files", target.display())),
    );
    if !ids.is_empty() {
        std::fs::create_dir_all(&to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    }
    let mut copied = 0;
    let total = ids.len() as u64;
    for (done, id) in ids.iter().enumerate() {
        progress.update(done as u64, total, "attachment files");
        if !ids::is_id(id) {
            continue;
        }
        match std::fs::copy(from.join(id), to.join(id)) {
            Ok(_) => copied += 1,
            Err(e) => eprintln!("protocol: attachment {id} was not copied: {e}"),
        }
    }
    let elapsed = progress.finish();
    println!(
        "backed up {source_path} to {} ({copied} attachment file(s)) in {}",
        target.display(),
        took(elapsed)
    );
    if in_bucket {
        println!(
            "attachments stay in the S3 bucket {}: back it up (or version it) on its own",
            config.attachments.s3.bucket
        );
    }
    Ok(())
}

/// `protocol migrate --to URL [--files DIR]`: the configured SQLite database copied into an
/// empty PostgreSQL database (`db::copy`), and its attachment files into the folder the server
/// on PostgreSQL will use. The files are copied before the database copy commits, so a failure
/// of either leaves the target empty and the command can be run again.
pub fn migrate(config_path: &Path, to: &str, files: Option<&Path>) -> Outcome {
    let config = Config::load(config_path)?;
    let source = config.server.database.clone();
    if crate::db::postgres::is_url(&source) {
        return Err(format!(
            "the configured database is already PostgreSQL ({}); migrate copies a SQLite one",
            crate::db::postgres::redacted(&source)
        ));
    }
    if source == ":memory:" {
        return Err("an in-memory database has nothing to migrate".into());
    }
    if !Path::new(&source).is_file() {
        return Err(format!("there is no database at {source}"));
    }
    if !crate::db::postgres::is_url(to) {
        return Err(format!(
            "--to must be a postgres://USER:PASS@HOST:PORT/DBNAME URL, not {}",
            crate::db::postgres::redacted(to)
        ));
    }
    let target = crate::db::postgres::config(to)?;
    let from_files = config
        .server
        .files_dir()
        .ok_or("the database has no attachment folder")?;
    // Where the server finds the files once `database` names PostgreSQL: an explicit
    // `server.files` stays, else `protocol-files` beside the config.
    let to_files = match (files, &config.server.files) {
        (Some(dir), _) => absolute(dir)?,
        (None, Some(explicit)) => PathBuf::from(explicit),
        (None, None) => absolute(
            &config_path
                .parent()
                .unwrap_or(Path::new(""))
                .join("protocol-files"),
        )?,
    };
    // With S3 the bytes are in the bucket, which the server on PostgreSQL uses as it is.
    let in_bucket = config.attachments.store == crate::config::StoreKind::S3;
    let same_folder = in_bucket || absolute(&from_files)? == to_files;

    let progress = std::cell::RefCell::new(Progress::start("migrating"));
    let mut files_report = FilesCopied::default();
    let copied = crate::db::copy::to_postgres(
        &source,
        &target,
        |done, total| progress.borrow_mut().update(done, total, "rows"),
        |ids| {
            if !same_folder {
                files_report = copy_files(ids, &from_files, &to_files, |done, total| {
                    progress
                        .borrow_mut()
                        .update(done, total, "attachment files")
                })?;
            }
            Ok(())
        },
    )?;
    let elapsed = took(progress.into_inner().finish());
    let tables: Vec<String> = copied
        .tables
        .iter()
        .map(|(table, rows)| format!("{table} {rows}"))
        .collect();
    let url = crate::db::postgres::redacted(to);
    println!(
        "migrated {source} to {url} in {elapsed}: {} rows, the same count in every table ({})",
        copied.rows(),
        tables.join(", ")
    );
    if in_bucket {
        println!(
            "attachments: {} stay in the S3 bucket {}",
            copied.attachment_ids.len(),
            config.attachments.s3.bucket
        );
    } else if same_folder {
        println!(
            "attachment files: {} stay in {}",
            copied.attachment_ids.len(),
            to_files.display()
        );
    } else {
        let FilesCopied {
            copied,
            present,
            missing,
        } = files_report;
        println!(
            "attachment files: {copied} copied to {}, {present} were there already, {missing} missing",
            to_files.display()
        );
    }
    let files_line = if files.is_some() {
        format!(" and files = \"{}\"", to_files.display())
    } else {
        String::new()
    };
    println!(
        "next: stop the server, set database = \"{url}\"{files_line} in {}, start it again \
         (anything written since the copy began is not in the copy)",
        config_path.display()
    );
    Ok(())
}

#[derive(Default)]
struct FilesCopied {
    copied: u64,
    present: u64,
    missing: u64,
}

/// Copies the attachment files `ids` from `from` to `to`, skipping those already there. Each
/// goes through `to/.tmp` and is renamed in place, so an interrupted copy leaves no half file
/// under an attachment's name (the server clears `.tmp` at start-up).
fn copy_files(
    ids: &[String],
    from: &Path,
    to: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<FilesCopied, String> {
    let tmp = to.join(".tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut report = FilesCopied::default();
    let total = ids.len() as u64;
    for (done, id) in ids.iter().enumerate() {
        progress(done as u64, total);
        if !ids::is_id(id) {
            continue;
        }
        let target = to.join(id);
        if target.exists() {
            report.present += 1;
            continue;
        }
        let partial = tmp.join(id);
        match std::fs::copy(from.join(id), &partial) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // As the server would answer for it: the record stays, its content is gone.
                eprintln!(
                    "protocol: attachment {id} has no file in {}; its record is copied",
                    from.display()
                );
                report.missing += 1;
                continue;
            }
            Err(e) => return Err(format!("cannot copy the attachment file {id}: {e}")),
        }
        std::fs::rename(&partial, &target)
            .map_err(|e| format!("cannot move {} into place: {e}", partial.display()))?;
        report.copied += 1;
    }
    Ok(report)
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))
}

/// `protocol seed-demo`: loads whatever part of the demo dataset is missing into the configured
/// database (the server may be running), then brings the accounts in line.
pub fn seed_demo(config_path: &Path) -> Outcome {
    let config = Config::load(config_path)?;
    let server = &config.server;
    if server.database == ":memory:" {
        return Err("an in-memory database vanishes with this command; name a file".into());
    }
    // The data is only ever seen by the demo people themselves: without one of them among the
    // accounts it would sit in the database where no token reaches it.
    if !crate::demo::visible_to(&config) {
        return Err(format!(
            "no account of {} is one of the demo people ({}), so no token could see the demo \
             data; add one of them to [[accounts]] (the shipped protocol.toml has them) and \
             run seed-demo again",
            config_path.display(),
            crate::demo::DEMO_ACCOUNTS
                .iter()
                .map(|(username, _)| *username)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let progress = Progress::start("loading the demo data");
    let base = config.public_url(config.listen_addr()?);
    let db = Db::open(
        &server.database,
        server.synchronous,
        server.read_connections,
        Arc::new(crate::views::Views::new(&base)),
    )?;
    let files = crate::files::ByteStore::open(&config)?;
    let report = crate::demo::load(&db, &files)?;
    crate::sync_accounts(&db, &config)?;
    let elapsed = took(progress.finish());
    if report.added == 0 {
        println!(
            "the demo data was already in {} ({elapsed})",
            crate::db::postgres::redacted(&server.database)
        );
    } else {
        println!(
            "loaded the demo data into {} ({} rows) in {elapsed}",
            crate::db::postgres::redacted(&server.database),
            report.added
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    for line in crate::demo::start_up_hint(&config, &base) {
        println!("{line}");
    }
    db.close(std::time::Duration::from_secs(5));
    Ok(())
}
