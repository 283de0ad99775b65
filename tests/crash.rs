//! Crash safety and hostile connections against the real binary.
//!
//! `CRASH_ROUNDS` (default 5; the full run is 20) rounds of: 16 clients send messages as
//! fast as they can, the server is killed with SIGKILL at a random moment, restarted, and every
//! message acknowledged with a 2xx must be there, unchanged, in a file that passes
//! `PRAGMA integrity_check`. Every send carries an `Idempotency-Key`; after the restart each
//! send the kill cut off is retried with its key, and no message may then be there twice (the
//! key's answer is stored in the transaction of the message, so a send that committed before the
//! kill, unacknowledged, is answered, not made again).
//!
//! The same rounds run on PostgreSQL (half of `CRASH_ROUNDS`, at least 3: each round restarts a
//! server that migrates and reconnects). There only the server dies, not PostgreSQL, so what they
//! prove is that a 2xx means committed and that a killed server's session (its advisory locks,
//! an open transaction) never blocks the next one; instead of `integrity_check` they check that
//! the rows agree: every message has its `message.created` event, the conversation's activity
//! key is its newest message's seq.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_protocol");

fn start(config: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    (child, addr)
}

/// One request on a fresh connection: (status, body); None if the connection broke.
fn request(addr: &str, method: &str, path: &str, form: &str) -> Option<(u16, String)> {
    request_with_key(addr, method, path, form, None)
}

/// `request` with an `Idempotency-Key`.
fn request_with_key(
    addr: &str,
    method: &str,
    path: &str,
    form: &str,
    key: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut body_headers = if form.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        )
    };
    if let Some(key) = key {
        body_headers.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer token-kevin\r\n{body_headers}\r\n{form}"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Where a crash test keeps its data.
enum Store {
    /// The SQLite file `crash.db` in the test's folder.
    Sqlite,
    /// A PostgreSQL database of the test's own.
    Postgres(String),
}

fn config(dir: &Path) -> std::path::PathBuf {
    config_on(dir, &Store::Sqlite)
}

fn config_on(dir: &Path, store: &Store) -> std::path::PathBuf {
    let database = match store {
        Store::Sqlite => dir.join("crash.db").display().to_string(),
        Store::Postgres(url) => url.clone(),
    };
    let path = dir.join("protocol.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{}\"\n\
             [[accounts]]\nusername = \"KevinMcCallister\"\nphone_number = \"1\"\ntoken = \"token-kevin\"\n\
             [[accounts]]\nusername = \"KateMcCallister\"\nphone_number = \"2\"\ntoken = \"token-kate\"\n",
            database
        ),
    )
    .unwrap();
    path
}

fn crash_rounds() -> usize {
    std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    sigkill_rounds(dir.path(), &Store::Sqlite, crash_rounds());
}

#[test]
fn acknowledged_messages_survive_sigkill_on_postgres() {
    let Some(url) =
        support::postgres::database_or_skip("acknowledged_messages_survive_sigkill_on_postgres")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    sigkill_rounds(
        dir.path(),
        &Store::Postgres(url.clone()),
        (crash_rounds() / 2).max(3),
    );
    support::postgres::drop_database(&url);
}

/// The database is whole after a kill: SQLite's own check, or on PostgreSQL rows that one
/// transaction writes together all there (a message, its event, the conversation's activity).
fn check_consistent(dir: &Path, store: &Store, round: usize) {
    match store {
        Store::Sqlite => {
            let db = rusqlite::Connection::open(dir.join("crash.db")).unwrap();
            let check: String = db
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok", "round {round}");
        }
        Store::Postgres(url) => {
            let url = url.clone();
            // The postgres crate runs its own runtime: keep it off any other.
            let (messages, created, stale): (i64, i64, i64) = std::thread::spawn(move || {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let row = db
                    .query_one(
                        "SELECT (SELECT count(*) FROM messages),
                                (SELECT count(*) FROM events WHERE type = 'message.created'),
                                (SELECT count(*) FROM conversations c
                                  WHERE (SELECT max(seq) FROM messages m
                                          WHERE m.conversation_id = c.id) <>
                                        -- A small conversation's activity is in its
                                        -- participants' rows, a large one's in its own.
                                        CASE WHEN c.large = 0
                                             THEN (SELECT min(p.activity_seq) FROM participants p
                                                    WHERE p.conversation_id = c.id)
                                             ELSE c.activity_seq END)",
                        &[],
                    )
                    .unwrap();
                (row.get(0), row.get(1), row.get(2))
            })
            .join()
            .unwrap();
            assert!(messages > 0, "round {round}: no messages in the database");
            assert_eq!(
                messages, created,
                "round {round}: a message without its event, or the other way round"
            );
            assert_eq!(
                stale, 0,
                "round {round}: a conversation's activity is not its newest message"
            );
        }
    }
}

/// Message texts stored more than once.
fn messages_sent_twice(dir: &Path, store: &Store) -> Vec<String> {
    let query = "SELECT body FROM messages GROUP BY body HAVING count(*) > 1";
    match store {
        Store::Sqlite => {
            let db = rusqlite::Connection::open(dir.join("crash.db")).unwrap();
            let mut statement = db.prepare(query).unwrap();
            statement
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        Store::Postgres(url) => {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                db.query(query, &[])
                    .unwrap()
                    .iter()
                    .map(|row| row.get(0))
                    .collect()
            })
            .join()
            .unwrap()
        }
    }
}

fn sigkill_rounds(dir: &Path, store: &Store, rounds: usize) {
    let config = config_on(dir, store);
    let (mut child, addr) = start(&config);
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/contacts",
        "username=KateMcCallister&phone_number=2",
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let conversation = serde_json::from_str::<serde_json::Value>(&body).unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    // Sends the kill cut off (their text is their key).
    let cut_off: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut addr = addr;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let acked_before = acknowledged.lock().unwrap().len();
        let clients: Vec<_> = (0..16)
            .map(|client| {
                let (addr, stop, acked, cut_off, conversation) = (
                    addr.clone(),
                    stop.clone(),
                    acknowledged.clone(),
                    cut_off.clone(),
                    conversation.clone(),
                );
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let text = format!("round{round}-client{client}-n{n}");
                        let form = format!("conversation_id={conversation}&message={text}");
                        match request_with_key(&addr, "POST", "/v1/messages", &form, Some(&text)) {
                            Some((201, body)) => {
                                let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()
                                    ["id"]
                                    .as_str()
                                    .unwrap()
                                    .to_owned();
                                acked.lock().unwrap().push((id, text));
                            }
                            Some((status, body)) => panic!("unexpected {status}: {body}"),
                            // Killed mid-request: not acknowledged, perhaps committed.
                            None => {
                                cut_off.lock().unwrap().push(form);
                                break;
                            }
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        // Once this round has acknowledged a write (a round that acknowledged nothing would
        // prove nothing), kill at a random moment within the next 400 ms.
        let deadline = Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().unwrap().len() == acked_before {
            assert!(
                Instant::now() < deadline,
                "round {round}: no write acknowledged within 60 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(u64::from(nanos % 400)));
        child.kill().unwrap();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }

        check_consistent(dir, store, round);

        let (next, next_addr) = start(&config);
        child = next;
        addr = next_addr;
        let acked = acknowledged.lock().unwrap().clone();
        for (id, text) in &acked {
            let (status, body) = request(&addr, "GET", &format!("/v1/messages/{id}"), "").unwrap();
            assert_eq!(
                status, 200,
                "round {round}: acknowledged message {id} is lost"
            );
            let message: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(message["message"], text.as_str());
        }
        let this_round = acked.len() - acked_before;
        assert!(this_round > 0, "round {round} acknowledged nothing");
        // Retried with their keys, the cut-off sends are made once; a few acknowledged ones
        // retried give their first answer.
        let retries = std::mem::take(&mut *cut_off.lock().unwrap());
        for form in &retries {
            let key = form.rsplit_once("message=").unwrap().1;
            let (status, body) =
                request_with_key(&addr, "POST", "/v1/messages", form, Some(key)).unwrap();
            assert_eq!(status, 201, "round {round}: retry of {key}: {body}");
        }
        for (id, text) in &acked[acked_before..acked.len().min(acked_before + 5)] {
            let form = format!("conversation_id={conversation}&message={text}");
            let (status, body) =
                request_with_key(&addr, "POST", "/v1/messages", &form, Some(text)).unwrap();
            assert_eq!(status, 201, "round {round}: retry of {text}: {body}");
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                answer["id"],
                id.as_str(),
                "round {round}: {text} made twice"
            );
        }
        let twice = messages_sent_twice(dir, store);
        assert!(twice.is_empty(), "round {round}: sent twice: {twice:?}");
        eprintln!(
            "round {round}: {this_round} acknowledged in this round, {} so far, all found; \
             {} cut off, retried with their keys, none made twice",
            acked.len(),
            retries.len()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn slow_clients_are_cut_off() {
    // The server gives a request head, and each stretch of a body, 10 s. The limits below are
    // generous (a busy machine may be slow to answer); a server without the timeouts would
    // hold both connections until the 60 s read timeouts.
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(&config(dir.path()));
    // A head that trickles in: the server closes within its 10 s head timeout.
    let mut head = TcpStream::connect(&addr).unwrap();
    head.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    head.write_all(b"GET /v1/contacts HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A body that stops after one byte: 408 within the body idle timeout.
    let mut body = TcpStream::connect(&addr).unwrap();
    body.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    body.write_all(
        b"POST /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-kevin\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let mut buffer = [0u8; 4096];
    while !answer.ends_with('}') {
        match body.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"type\":\"invalid_request\""), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let mut first = [0u8; 12];
    let _ = head.read_exact(&mut first);
    assert_eq!(&first, b"HTTP/1.1 408");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    // Meanwhile and after, the server answers others.
    assert_eq!(request(&addr, "GET", "/health", "").unwrap().0, 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_huge_header_is_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(&config(dir.path()));
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server answers once the head passes its limit and stops reading, so the rest of this
    // write may fail: it runs beside the read, which must see the answer.
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let big = "x".repeat(1024 * 1024);
        let _ = write!(
            writer,
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
        );
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Until the server closes (or resets) the connection; what it sent before stays readable.
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    sender.join().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    // 431 Request Header Fields Too Large (RFC 6585), from the HTTP layer itself.
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "not a 431: {:?}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(request(&addr, "GET", "/health", "").unwrap().0, 200);
    let _ = child.kill();
    let _ = child.wait();
}
