//! The real `protocol` binary: start-up line, config refusal, environment overrides, graceful
//! shutdown on SIGTERM, and durability across `kill -9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_protocol");

const ACCOUNTS: &str = r#"
[[accounts]]
username = "KevinMcCallister"
phone_number = "1-800-759-3000"
token = "token-kevin"

[[accounts]]
username = "KateMcCallister"
phone_number = "1-800-759-3001"
token = "token-kate"
"#;

fn write_config(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("protocol.toml");
    std::fs::write(&path, format!("[server]\n{server}\n{ACCOUNTS}")).unwrap();
    path
}

/// A running server and the address it printed.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
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

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, form: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body_headers = if form.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        )
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{body_headers}\r\n{form}"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
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
    let status = server.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
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
