//! The real `protocol` binary: start-up line, config refusal, environment overrides, graceful
//! shutdown on SIGTERM, and durability across `kill -9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{ACCOUNTS, BIN, write_config};

/// A running server and the address it printed.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_logging(config, env, None)
    }

    /// Starts with `RUST_LOG=info` and stderr into `log` when given.
    fn start_logging(config: &Path, env: &[(&str, &str)], log: Option<&Path>) -> Server {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None => Stdio::null(),
            });
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with a form body (if any) on a fresh connection; returns (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, form: &str) -> (u16, String) {
    let (status, response) = support::request(
        addr,
        method,
        path,
        token,
        "application/x-www-form-urlencoded",
        form,
    );
    assert!(status != 0, "{method} {path}: no answer: {response:?}");
    (status, support::body_of(&response))
}

/// Waits until the log file holds `text` `times` times; panics (showing the log) after `within`.
fn wait_for_log(log: &Path, text: &str, times: usize, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.matches(text).count() >= times {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{text:?} not logged {times} time(s) within {within:?}:\n{content}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An open `GET /v1/events` on a connection of its own, read as raw text.
struct EventStream {
    stream: TcpStream,
    seen: String,
}

enum Outcome {
    Found,
    Ended,
}

impl EventStream {
    fn open(addr: &str, token: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).unwrap();
        // `Connection: close`, so that the end of the stream closes the connection.
        write!(
            stream,
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        let mut events = EventStream {
            stream,
            seen: String::new(),
        };
        assert!(
            matches!(
                events.read_until(": connected", Duration::from_secs(30)),
                Outcome::Found
            ),
            "no greeting: {}",
            events.seen
        );
        assert!(events.seen.starts_with("HTTP/1.1 200"), "{}", events.seen);
        events
    }

    /// Reads until `text` has arrived or the server ended the stream; panics after `within`.
    fn read_until(&mut self, text: &str, within: Duration) -> Outcome {
        let deadline = Instant::now() + within;
        let mut buffer = [0u8; 4096];
        loop {
            if self.seen.contains(text) {
                return Outcome::Found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "neither {text:?} nor the end within {within:?}: {}",
                self.seen
            );
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buffer) {
                Ok(0) => return Outcome::Ended,
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return Outcome::Ended,
            }
        }
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// The stderr of a run that must refuse to start.
fn refused(config: &Path) -> String {
    let output = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env_remove("PROTOCOL_LISTEN")
        .env_remove("PROTOCOL_DATABASE")
        .output()
        .unwrap();
    assert!(!output.status.success(), "started on a bad config");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    stderr
}

#[test]
fn prints_the_real_port_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let server = Server::start(&config, &[]);
    assert!(!server.addr.ends_with(":0"));
    let (status, body) = http(&server.addr, "GET", "/health", None, "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some("token-kevin"), "");
    assert_eq!(status, 200);
    assert!(db.exists());
}

#[test]
fn environment_overrides_config_listen_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "listen = \"127.0.0.1:1\"\ndatabase = \"/nonexistent/x.db\"",
    );
    let db = dir.path().join("from-env.db");
    let server = Server::start(
        &config,
        &[
            ("PROTOCOL_LISTEN", "127.0.0.1:0"),
            ("PROTOCOL_DATABASE", db.to_str().unwrap()),
        ],
    );
    let (status, _) = http(&server.addr, "GET", "/health", None, "");
    assert_eq!(status, 200);
    assert!(db.exists());
}

#[test]
fn protocol_config_variable_picks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PROTOCOL_CONFIG", &config)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
}

#[test]
fn refuses_bad_configs_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    assert!(refused(&missing).contains("missing.toml"));

    let cases = [
        (
            "unknown key",
            "[server]\nlisten_port = 1\n".to_string() + ACCOUNTS,
            "listen_port",
        ),
        ("no accounts", "[server]\n".to_string(), "accounts"),
        (
            "duplicate username",
            ACCOUNTS.to_string() + &ACCOUNTS.replace("token-", "other-"),
            "twice",
        ),
        (
            "duplicate token",
            ACCOUNTS.to_string() + &ACCOUNTS.replace("McCallister", "Smith"),
            "token",
        ),
        ("empty token", ACCOUNTS.replace("token-kate", ""), "token"),
        (
            "empty username",
            ACCOUNTS.replace("KateMcCallister", ""),
            "username",
        ),
        ("not TOML", "[[accounts\n".to_string(), "config"),
    ];
    for (what, text, mentions) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let stderr = refused(&path);
        assert!(stderr.contains(mentions), "{what}: {stderr}");
        assert!(
            !stderr.contains("token-kate"),
            "{what} printed a token: {stderr}"
        );
    }
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("p.db").display()
        ),
    );
    let server = Server::start(&config, &[]);
    let (status, _) = http(&server.addr, "GET", "/health", None, "");
    assert_eq!(status, 200);
    server.signal("TERM");
    let status = server.wait(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_does_not_wait_for_open_event_streams() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("p.db").display()
        ),
    );
    let server = Server::start(&config, &[]);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-kevin\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = Instant::now();
    server.signal("TERM");
    // Finishing requests may take up to 30 s; an open stream must not hold the exit that long.
    let status = server.wait(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("p.db").display()
        ),
    );
    let server = Server::start(&config, &[]);
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        "username=KateMcCallister&phone_number=1",
    );
    assert_eq!(status, 201, "{body}");
    let conversation = json(&body)["conversation_id"].as_str().unwrap().to_owned();
    let mut sent = Vec::new();
    for i in 0..20 {
        let (status, body) = http(
            &server.addr,
            "POST",
            "/v1/messages",
            Some("token-kevin"),
            &format!("conversation_id={conversation}&message=number+{i}"),
        );
        assert_eq!(status, 201, "{body}");
        sent.push(json(&body)["id"].as_str().unwrap().to_owned());
    }
    server.signal("KILL");
    let status = server.wait(Duration::from_secs(10));
    assert!(!status.success());

    let server = Server::start(&config, &[]);
    let (status, body) = http(
        &server.addr,
        "GET",
        &format!("/v1/messages?conversation_id={conversation}&limit=100"),
        Some("token-kate"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let mut found: Vec<String> = json(&body)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    found.reverse();
    assert_eq!(found, sent);
}

fn run_cli(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("PROTOCOL_CONFIG")
        .env_remove("PROTOCOL_LISTEN")
        .env_remove("PROTOCOL_DATABASE")
        .output()
        .unwrap()
}

#[test]
fn token_prints_a_strong_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_cli(&["token"], dir.path());
    let b = run_cli(&["token"], dir.path());
    assert!(a.status.success());
    let (a, b) = (
        String::from_utf8(a.stdout).unwrap(),
        String::from_utf8(b.stdout).unwrap(),
    );
    assert_eq!(a.trim().len(), 32);
    assert!(a.trim().chars().all(|c| c.is_ascii_alphanumeric()));
    // All random: no shared start, as ids made close together have (their time).
    assert_ne!(a[..7], b[..7]);
}

#[test]
fn init_writes_a_config_that_checks_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(&["init", "site"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let config = dir.path().join("site/protocol.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[[accounts]]"));
    assert!(text.contains("\ndemo_data = false"), "{text}");
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    assert_eq!(token.len(), 32);
    assert!(String::from_utf8(out.stdout).unwrap().contains(&token));
    // Not twice.
    let again = run_cli(&["init", "site"], dir.path());
    assert_eq!(again.status.code(), Some(1));

    let check = run_cli(
        &["--config", config.to_str().unwrap(), "check-config"],
        dir.path(),
    );
    assert!(check.status.success(), "{check:?}");
    assert!(
        String::from_utf8(check.stdout)
            .unwrap()
            .contains("1 account")
    );

    // It serves (on another port and database, through the environment).
    let server = Server::start(
        &config,
        &[
            ("PROTOCOL_LISTEN", "127.0.0.1:0"),
            (
                "PROTOCOL_DATABASE",
                dir.path().join("site.db").to_str().unwrap(),
            ),
        ],
    );
    let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some(&token), "");
    assert_eq!(status, 200);
}

#[test]
fn check_config_and_usage_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[server]\nlisten = 5\n").unwrap();
    let bad = run_cli(&["--config", "bad.toml", "check-config"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .trim()
            .lines()
            .count(),
        1
    );
    let usage = run_cli(&["no-such-command"], dir.path());
    assert_eq!(usage.status.code(), Some(2));
    for command in [
        "serve",
        "init",
        "token",
        "check-config",
        "backup",
        "seed-demo",
        "migrate",
    ] {
        let help = run_cli(&[command, "--help"], dir.path());
        assert!(help.status.success(), "{command}");
        assert!(!help.stdout.is_empty());
    }
}

#[test]
fn backup_while_writes_run_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let server = Server::start(&config, &[]);
    let (_, body) = http(
        &server.addr,
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        "username=KateMcCallister&phone_number=1",
    );
    let conversation = json(&body)["conversation_id"].as_str().unwrap().to_owned();
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let writer = {
        let (addr, stop, sent, conversation) = (
            server.addr.clone(),
            stop.clone(),
            sent.clone(),
            conversation.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = http(
                    &addr,
                    "POST",
                    "/v1/messages",
                    Some("token-kevin"),
                    &format!("conversation_id={conversation}&message=during+backup"),
                );
                assert_eq!(status, 201);
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let wait_for_sends = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while sent.load(Ordering::Relaxed) < count {
            assert!(Instant::now() < deadline, "writes stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // Writes are under way before the backup starts, and go on after it.
    wait_for_sends(10);
    let copy = dir.path().join("copy.db");
    let out = run_cli(
        &[
            "--config",
            config.to_str().unwrap(),
            "backup",
            copy.to_str().unwrap(),
        ],
        dir.path(),
    );
    wait_for_sends(sent.load(Ordering::Relaxed) + 5);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let sent = sent.load(Ordering::Relaxed) as i64;
    assert!(out.status.success(), "{out:?}");
    let copy = rusqlite::Connection::open(&copy).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let messages: i64 = copy
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(messages > 0 && messages <= sent, "{messages} of {sent}");
    // A second backup to the same file is refused.
    let again = run_cli(
        &[
            "--config",
            config.to_str().unwrap(),
            "backup",
            dir.path().join("copy.db").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(1));
}

/// Every row of every table, in a stable order, for comparing two states of a database.
fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = statement.column_count();
        let mut table_rows: Vec<String> = statement
            .query_map([], |r| {
                let values: Vec<String> = (0..columns)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(format!("{table}: {}", values.join(" | ")))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        table_rows.sort();
        rows.extend(table_rows);
    }
    rows
}

#[test]
fn seed_demo_loads_the_docs_data_once_and_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let config = config.to_str().unwrap();
    let first = run_cli(&["--config", config, "seed-demo"], dir.path());
    assert!(first.status.success(), "{first:?}");
    let said = String::from_utf8(first.stdout).unwrap();
    assert!(said.contains("loaded the demo data"), "{said}");
    let loaded = dump(&db);
    assert!(loaded.iter().any(|r| r.contains("SIuAFUNKdSYHZF2w")));

    let second = run_cli(&["--config", config, "seed-demo"], dir.path());
    assert!(second.status.success(), "{second:?}");
    let said = String::from_utf8(second.stdout).unwrap();
    assert!(said.contains("already"), "{said}");
    assert_eq!(dump(&db), loaded);

    // The server (demo_data off) serves it to the configured accounts.
    let server = Server::start(config.as_ref(), &[]);
    let (status, body) = http(
        &server.addr,
        "GET",
        "/v1/messages/SIuAFUNKdSYHZF2w",
        Some("token-kate"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["contact"]["id"], "WAz8eIbvDR60rouK");
}

#[test]
fn the_shipped_config_loads_the_demo_and_prints_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("protocol.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/protocol.toml"),
        &config,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .env("PROTOCOL_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("PROTOCOL_DATABASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("try: ");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(
        printed[0].starts_with("listening on http://127.0.0.1:"),
        "{text}"
    );
    for token in [
        "kate-example-token-change-me",
        "kevin-example-token-change-me",
        "peter-example-token-change-me",
    ] {
        assert!(text.contains(token), "{text}");
    }
    // The suggested first request, run as printed.
    let command = printed.last().unwrap().strip_prefix("try: ").unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} -sS"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let body = json(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(body["data"][0]["id"], "SIuAFUNKdSYHZF2w", "{body}");
    assert!(dir.path().join("protocol.db").exists());
}

#[test]
fn sighup_reloads_accounts_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let server_part = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
        dir.path().join("p.db").display()
    );
    let config = write_config(dir.path(), &server_part);
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&config, &[], Some(&log));
    let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some("token-peter"), "");
    assert_eq!(status, 401);

    // A good file: once the reload is logged, the new account works.
    let added = format!(
        "[server]\n{server_part}\n{ACCOUNTS}\n[[accounts]]\nusername = \"PeterMcCallister\"\nphone_number = \"1\"\ntoken = \"token-peter\"\n"
    );
    std::fs::write(&config, added).unwrap();
    server.signal("HUP");
    wait_for_log(&log, "config reloaded", 1, Duration::from_secs(30));
    let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some("token-peter"), "");
    assert_eq!(status, 200);

    // A broken file: the signal is handled (its refusal is logged) and the running accounts
    // stay, all three of them.
    std::fs::write(&config, "[server]\nnonsense = true\n").unwrap();
    server.signal("HUP");
    let text = wait_for_log(&log, "config not reloaded", 1, Duration::from_secs(30));
    assert!(text.contains("nonsense"), "the refusal says why: {text}");
    for token in ["token-peter", "token-kevin", "token-kate"] {
        let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some(token), "");
        assert_eq!(status, 200, "{token}");
    }
    // Exactly one reload took.
    assert_eq!(
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("config reloaded")
            .count(),
        1
    );
}

#[test]
fn an_account_removed_by_a_reload_is_refused_at_once_and_its_streams_end() {
    let dir = tempfile::tempdir().unwrap();
    let server_part = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
        dir.path().join("p.db").display()
    );
    let config = write_config(dir.path(), &server_part);
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&config, &[], Some(&log));
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        "username=KateMcCallister&phone_number=1",
    );
    assert_eq!(status, 201, "{body}");
    let conversation = json(&body)["conversation_id"].as_str().unwrap().to_owned();
    let mut kates = EventStream::open(&server.addr, "token-kate");
    let mut kevins = EventStream::open(&server.addr, "token-kevin");

    // Kate leaves the config.
    std::fs::write(
        &config,
        format!(
            "[server]\n{server_part}\n[[accounts]]\nusername = \"KevinMcCallister\"\n\
             phone_number = \"1-800-759-3000\"\ntoken = \"token-kevin\"\n"
        ),
    )
    .unwrap();
    server.signal("HUP");
    wait_for_log(&log, "config reloaded", 1, Duration::from_secs(30));
    let (status, _) = http(&server.addr, "GET", "/v1/contacts", Some("token-kate"), "");
    assert_eq!(status, 401, "her token works on after the reload");
    assert!(
        matches!(
            kates.read_until("\u{0}never sent", Duration::from_secs(30)),
            Outcome::Ended
        ),
        "her open stream goes on"
    );
    let (status, _) = http(&server.addr, "GET", "/v1/events", Some("token-kate"), "");
    assert_eq!(status, 401);

    // Kevin's stream is untouched: it still gets his events.
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/messages",
        Some("token-kevin"),
        &format!("conversation_id={conversation}&message=still+here"),
    );
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    assert!(
        matches!(
            kevins.read_until(&id, Duration::from_secs(30)),
            Outcome::Found
        ),
        "Kevin's stream ended: {}",
        kevins.seen
    );
}

#[test]
fn one_log_line_per_request_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("p.db").display()
        ),
    );
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&config, &[], Some(&log));
    http(
        &server.addr,
        "GET",
        "/v1/contacts?limit=5",
        Some("token-kevin"),
        "",
    );
    http(
        &server.addr,
        "GET",
        "/v1/contacts",
        Some("wrong-secret-token"),
        "",
    );
    let text = wait_for_log(&log, "GET /v1/contacts", 2, Duration::from_secs(30));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("GET /v1/contacts"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains(" 200 ") && lines[0].contains("KevinMcCallister"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(" 401 "), "{}", lines[1]);
    assert!(!text.contains("token-kevin") && !text.contains("wrong-secret-token"));
    assert!(
        !text.contains("limit=5"),
        "the query string stays out of the log"
    );
}

#[test]
fn a_clean_stop_removes_the_wal_and_shm_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let wal = dir.path().join("p.db-wal");
    let shm = dir.path().join("p.db-shm");
    let server = Server::start(&config, &[]);
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        "username=FrankMcCallister&phone_number=1",
    );
    assert_eq!(status, 201, "{body}");
    assert!(wal.exists() && shm.exists(), "WAL mode while running");
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(35)).code(), Some(0));
    assert!(!wal.exists(), "the -wal file stayed after a clean stop");
    assert!(!shm.exists(), "the -shm file stayed after a clean stop");
    // Everything is in the database file itself.
    assert!(dump(&db).iter().any(|row| row.contains("FrankMcCallister")));
}

#[test]
fn a_relative_database_is_found_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let config = write_config(&site, "listen = \"127.0.0.1:0\"\ndatabase = \"chat.db\"");

    // check-config says where it is, from anywhere.
    let check = run_cli(
        &["--config", config.to_str().unwrap(), "check-config"],
        &elsewhere,
    );
    assert!(check.status.success(), "{check:?}");
    let said = String::from_utf8(check.stdout).unwrap();
    let expected = site
        .join("chat.db")
        .canonicalize()
        .unwrap_or(site.join("chat.db"));
    assert!(
        said.contains(&format!("database: {}", site.join("chat.db").display()))
            || said.contains(&format!("database: {}", expected.display())),
        "{said}"
    );
    assert!(said.contains("attachments: "), "{said}");

    // The server, started from elsewhere, uses the file beside its config.
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(&config)
        .current_dir(&elsewhere)
        .env_remove("PROTOCOL_DATABASE")
        .env_remove("PROTOCOL_LISTEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server {
        child,
        addr: line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap()
            .to_owned(),
    };
    let (status, _) = http(
        &server.addr,
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        "username=FrankMcCallister&phone_number=1",
    );
    assert_eq!(status, 201);
    assert!(site.join("chat.db").exists());
    assert!(!elsewhere.join("chat.db").exists());

    // And so does a backup run from there (the copy lands where it is told, here relatively).
    let backup = run_cli(
        &["--config", config.to_str().unwrap(), "backup", "copy.db"],
        &elsewhere,
    );
    assert!(backup.status.success(), "{backup:?}");
    assert!(
        dump(&elsewhere.join("copy.db"))
            .iter()
            .any(|row| row.contains("FrankMcCallister"))
    );
    server.signal("TERM");
    server.wait(Duration::from_secs(35));
}

#[test]
fn init_writes_a_config_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(&["init", "site"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let mode = std::fs::metadata(dir.path().join("site/protocol.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn seed_demo_refuses_a_config_whose_accounts_cannot_see_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("real.db");
    let config = dir.path().join("protocol.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndatabase = \"{}\"\n[[accounts]]\nusername = \"admin\"\n\
             phone_number = \"1\"\ntoken = \"token-admin\"\n",
            db.display()
        ),
    )
    .unwrap();
    let out = run_cli(
        &["--config", config.to_str().unwrap(), "seed-demo"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no token could see the demo data"),
        "{stderr}"
    );
    assert!(stderr.contains("KateMcCallister"), "{stderr}");
    // Nothing was loaded (the database was not even made).
    assert!(!db.exists() || !dump(&db).iter().any(|r| r.contains("SIuAFUNKdSYHZF2w")));
}

#[test]
fn long_commands_say_how_long_they_took_and_stay_quiet_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let config = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\ndatabase = \"{}\"", db.display()),
    );
    let config = config.to_str().unwrap();
    let seeded = run_cli(&["--config", config, "seed-demo"], dir.path());
    assert!(seeded.status.success(), "{seeded:?}");
    assert!(seeded.stderr.is_empty(), "{seeded:?}");
    let said = String::from_utf8(seeded.stdout).unwrap();
    assert!(said.lines().next().unwrap().contains(" in "), "{said}");
    let backup = run_cli(&["--config", config, "backup", "copy.db"], dir.path());
    assert!(backup.status.success(), "{backup:?}");
    assert!(backup.stderr.is_empty(), "{backup:?}");
    let said = String::from_utf8(backup.stdout).unwrap();
    assert!(said.contains("(1 attachment file(s)) in "), "{said}");

    // On a terminal (script(1) gives the command one), a progress line shows and is erased.
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("SKIPPED: the terminal half of this test, because script(1) is missing");
        assert!(
            std::env::var("PROTOCOL_CI").is_err(),
            "script(1) is needed in CI"
        );
        return;
    };
    let command = format!("{BIN} --config {config} backup copy2.db");
    let out = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("PROTOCOL_DATABASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("backing up"), "{shown:?}");
    assert!(shown.contains("\r\u{1b}[K"), "{shown:?}");
    assert!(shown.contains(" in "), "{shown:?}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let subcommands = [
        "serve",
        "init",
        "token",
        "check-config",
        "backup",
        "seed-demo",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = run_cli(&["completions", shell], dir.path());
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in subcommands {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        let file = dir.path().join(format!("protocol.{shell}"));
        std::fs::write(&file, &script).unwrap();
        // Each shell, where installed, checks the syntax without running anything.
        if let Ok(status) = Command::new(shell).arg("-n").arg(&file).status() {
            assert!(status.success(), "{shell} -n rejects the completion script");
        } else if shell == "bash" {
            panic!("bash is missing");
        }
    }
    let bad = run_cli(&["completions", "tcsh"], dir.path());
    assert_eq!(bad.status.code(), Some(2));

    let out = run_cli(&["man"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains(".TH protocol 1"), "{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH COMMANDS",
        ".SH EXIT STATUS",
    ] {
        assert!(page.contains(section), "{section}");
    }
    for sub in subcommands {
        assert!(
            page.contains(&format!("\\fBprotocol {}\\fR", sub.replace('-', "\\-"))),
            "{sub}"
        );
    }
    let file = dir.path().join("protocol.1");
    std::fs::write(&file, &page).unwrap();
    // groff, where installed, renders it with every warning on and must have nothing to say.
    match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "{out:?}");
            assert!(
                out.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => eprintln!("SKIPPED: rendering the man page, because groff is missing"),
    }
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it, made with the openssl
/// command; `None` (said loudly) when it is missing.
fn test_certificates(dir: &Path) -> Option<()> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|out| assert!(out.status.success(), "openssl {args:?}: {out:?}"))
    };
    let made = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=protocol test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    if made.is_err() {
        eprintln!("SKIPPED: the HTTPS webhook test, because the openssl command is missing");
        assert!(
            std::env::var("PROTOCOL_CI").is_err(),
            "openssl is needed in CI"
        );
        return None;
    }
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])
    .unwrap();
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])
    .unwrap();
    Some(())
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTPS receiver (Python's http.server behind its ssl module) that writes each POST's
/// body and signature into FOLDER/hook-N; (process, port).
fn https_receiver(dir: &Path) -> (Killed, u16) {
    let script = r#"
import http.server, ssl, sys, itertools
folder = sys.argv[1]
count = itertools.count()
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(f"{folder}/hook-{next(count)}", "w") as f:
            f.write(self.headers.get("x-protocol-signature", "") + "\n" + body.decode())
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{folder}/server.pem", f"{folder}/server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the HTTPS receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), line.trim().parse().unwrap())
}

#[test]
fn webhooks_are_delivered_over_https_to_a_certificate_the_system_trusts() {
    let dir = tempfile::tempdir().unwrap();
    if test_certificates(dir.path()).is_none() {
        return;
    }
    let (_receiver, port) = https_receiver(dir.path());
    let hooks = |name: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n\n[[webhooks]]\n\
             url = \"https://127.0.0.1:{port}/hook\"\nsecret = \"s\"\nmax_attempts = 1\n",
            dir.path().join(name).display()
        )
    };
    let add_frank = |server: &Server| {
        let (status, _) = http(
            &server.addr,
            "POST",
            "/v1/contacts",
            Some("token-kevin"),
            "username=FrankMcCallister&phone_number=1",
        );
        assert_eq!(status, 201);
    };
    let delivered = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("hook-")
            })
            .count()
    };

    // Not trusted: the delivery fails certificate verification and is given up.
    let log = dir.path().join("untrusted.log");
    let config = write_config(dir.path(), &hooks("untrusted.db"));
    let server = Server::start_logging(&config, &[("SSL_CERT_FILE", "/nonexistent")], Some(&log));
    add_frank(&server);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap().contains("giving up") {
        assert!(Instant::now() < deadline, "no failed delivery logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(delivered(), 0);
    drop(server);

    // Trusted through SSL_CERT_FILE (as an internal CA in the system store would be).
    let config = write_config(dir.path(), &hooks("trusted.db"));
    let ca = dir.path().join("ca.pem");
    let server = Server::start(&config, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    add_frank(&server);
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered() == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing was delivered over HTTPS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = std::fs::read_to_string(dir.path().join("hook-0")).unwrap();
    let (signature, body) = first.split_once('\n').unwrap();
    assert_eq!(signature.len(), 64, "{first}");
    let event = json(body);
    assert!(
        event["type"].as_str().is_some() && event["payload"].is_object(),
        "{body}"
    );
}
