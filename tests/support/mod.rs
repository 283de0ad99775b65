//! The real binary for whole-process tests: a server started on a config, its printed address,
//! its log, and raw HTTP/1.1 on a fresh connection.
#![allow(dead_code)]

pub mod postgres;
pub mod s3;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_protocol");

pub const ACCOUNTS: &str = r#"
[[accounts]]
username = "KevinMcCallister"
phone_number = "1-800-759-3000"
token = "token-kevin"

[[accounts]]
username = "KateMcCallister"
phone_number = "1-800-759-3001"
token = "token-kate"
"#;

/// Writes `protocol.toml` with `server` as its `[server]` section and the two accounts.
pub fn write_config(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("protocol.toml");
    std::fs::write(&path, format!("[server]\n{server}\n{ACCOUNTS}")).unwrap();
    path
}

/// Whether the test must fail instead of skipping when something it needs is missing.
pub fn in_ci() -> bool {
    std::env::var("PROTOCOL_CI").is_ok_and(|v| v == "1")
}

/// Skips loudly (or fails in CI) when `why` stops the test.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test} cannot run in CI: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `command` (the binary, or a wrapper that execs it) with stderr into `log`.
    pub fn start(mut command: Command, log: &Path) -> Server {
        command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .to_owned();
        Server {
            child,
            addr,
            log: log.to_owned(),
        }
    }

    /// The binary on `config`.
    pub fn on(config: &Path, log: &Path) -> Server {
        let mut command = Command::new(BIN);
        command.arg("--config").arg(config);
        Server::start(command, log)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request on a fresh connection: (status, headers and body as text).
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        http(&self.addr, method, path, token, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with a JSON body (if any) on a fresh connection; returns the status (0
/// when no answer came) and the whole response, head and body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    request(addr, method, path, token, "application/json", body)
}

/// One HTTP/1.1 request with a body of `content_type` (if any) on a fresh connection, waiting up
/// to 60 s for the answer; returns the status (0 when no answer came) and the whole response.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body_headers = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    // A server that refuses the connection (past its cap) may answer and close before the
    // request is all written: the write fails, the answer can still be read.
    let _ = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{body_headers}\r\n{body}"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// The body of a whole response.
pub fn body_of(response: &str) -> String {
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// An event stream on a raw connection, once it has its 200.
pub fn event_stream(addr: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
    stream
}

/// Waits for `condition` up to `limit` (generous: machines are shared and slow).
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request with a binary body and extra headers on a fresh connection: (status, head,
/// body bytes). The status is 0 when no answer came.
pub fn request_bytes(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before it has read all of a large body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, body)
}

/// `POST /v1/attachments` of `bytes` as `curl -F file=@NAME` sends it: (status, JSON body).
pub fn upload(addr: &str, token: &str, filename: &str, bytes: &[u8]) -> (u16, String) {
    let (content_type, body) = multipart_file(filename, bytes);
    let (status, _, body) = request_bytes(
        addr,
        "POST",
        "/v1/attachments",
        Some(token),
        &[("Content-Type", &content_type)],
        &body,
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A multipart body holding `bytes` as the part `file`, as curl sends it: (content type, body).
pub fn multipart_file(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----protocol-support-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A header's value in a response head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
