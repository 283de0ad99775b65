//! A throwaway PostgreSQL for the tests that run on it: started once per test process (Debian's
//! `initdb` and `pg_ctl`, as the `postgres` user when the tests run as root, on a private port
//! and socket folder, `fsync=off`), stopped and removed by a watchdog once the process is gone.
//! `PROTOCOL_TEST_POSTGRES=postgres://USER:PASS@HOST:PORT` points the tests at an existing
//! server instead (they create databases named `protocol_test_*` there and drop them after).
//! Each test gets a database of its own.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server the tests use: a URL without a database name.
struct Cluster {
    base: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database: its URL, or why there is none (no PostgreSQL here).
pub fn fresh_database() -> Result<String, String> {
    let cluster = CLUSTER.get_or_init(start).as_ref().map_err(Clone::clone)?;
    let name = format!(
        "protocol_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin(&cluster.base, &format!("CREATE DATABASE {name}"))?;
    Ok(format!("{}/{name}", cluster.base))
}

/// Drops a database made by `fresh_database` (its servers must be stopped).
pub fn drop_database(url: &str) {
    if let Some((base, name)) = url.rsplit_once('/') {
        let _ = admin(
            base,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
}

/// A fresh database, or — without PostgreSQL — a loud skip (a failure in CI).
pub fn database_or_skip(test: &str) -> Option<String> {
    match fresh_database() {
        Ok(url) => Some(url),
        Err(why) => {
            super::skip(test, &format!("no PostgreSQL: {why}"));
            None
        }
    }
}

/// Runs one statement as the administrator of the server that holds `url`'s database.
pub fn admin_of(url: &str, sql: &str) -> Result<(), String> {
    let (base, _) = url.rsplit_once('/').ok_or("a URL without a database")?;
    admin(base, sql)
}

/// Runs one statement on the server's `postgres` database, off the async runtime.
fn admin(base: &str, sql: &str) -> Result<(), String> {
    let url = format!("{base}/postgres");
    let sql = sql.to_owned();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        client
            .batch_execute(&sql)
            .map_err(|e| format!("{sql}: {e}"))
    })
    .join()
    .map_err(|_| "the PostgreSQL admin thread panicked".to_owned())?
}

fn start() -> Result<Cluster, String> {
    if let Ok(base) = std::env::var("PROTOCOL_TEST_POSTGRES")
        && !base.is_empty()
    {
        return Ok(Cluster {
            base: base.trim_end_matches('/').to_owned(),
        });
    }
    let bin = binaries().ok_or(
        "neither PROTOCOL_TEST_POSTGRES nor Debian's postgresql binaries (initdb, pg_ctl) found",
    )?;
    let dir = std::env::temp_dir().join(format!("protocol-test-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let as_root = is_root();
    if as_root {
        let mut chown = Command::new("chown");
        chown.arg("postgres").arg(&dir);
        run(chown)?;
    }
    let port = free_port()?;
    let data = dir.join("data");
    let initdb = format!(
        "{} -D {} -A trust -U postgres --no-sync",
        bin.join("initdb").display(),
        data.display()
    );
    run(as_postgres(&initdb, as_root))?;
    let pg_ctl = bin.join("pg_ctl");
    let start = format!(
        "{} -D {} -o '-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=300' \
         -l {} -w start",
        pg_ctl.display(),
        data.display(),
        dir.display(),
        dir.join("pg.log").display()
    );
    run(as_postgres(&start, as_root))?;
    watch(&pg_ctl, &data, &dir, as_root);
    Ok(Cluster {
        base: format!("postgres://postgres@127.0.0.1:{port}"),
    })
}

/// Stops the server and removes its folder once this process has ended, however it ends.
fn watch(pg_ctl: &Path, data: &Path, dir: &Path, as_root: bool) {
    let stop = format!(
        "{} -D {} -m immediate stop",
        pg_ctl.display(),
        data.display()
    );
    let stop = if as_root {
        format!("runuser -u postgres -- sh -c \"{stop}\"")
    } else {
        stop
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn as_postgres(command: &str, as_root: bool) -> Command {
    let mut shell = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c");
        c
    };
    shell.arg(command);
    shell
}

fn run(mut command: Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The folder of `initdb` and `pg_ctl`: Debian's newest, or the PATH's.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
