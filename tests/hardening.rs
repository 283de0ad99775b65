//! Hardening that shows only on the real process: the connection cap, the accept queue, the
//! descriptor limit, a full disk, and log lines a client can cause. (The HTTP-level hardening
//! tests are in tests/api/hardening.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn past_the_connection_cap_new_clients_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\nmax_connections = 20\n\
             max_event_streams_per_account = 50",
            dir.path().join("c.db").display()
        ),
    );
    let server = Server::on(&config, &dir.path().join("log"));
    let mut streams: Vec<TcpStream> = (0..20)
        .map(|i| {
            event_stream(
                &server.addr,
                if i % 2 == 0 {
                    "token-kevin"
                } else {
                    "token-kate"
                },
            )
        })
        .collect();

    let burst = Instant::now();
    for _ in 0..60 {
        let asked = Instant::now();
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
        assert!(answer.contains("Retry-After: 1"), "{answer:?}");
        assert!(answer.contains("\"api_error\""), "{answer:?}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "the refusal took {:?}",
            asked.elapsed()
        );
    }
    let seconds = burst.elapsed().as_secs();

    // Room again once some close.
    streams.truncate(10);
    wait_for(
        "a connection under the cap",
        Duration::from_secs(30),
        || server.http("GET", "/health", None, "").0 == 200,
    );
    let log = server.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("connection refused"))
        .count();
    assert!(lines >= 1, "{log}");
    assert!(
        lines as u64 <= seconds + 2,
        "{lines} log lines for 60 refusals in {seconds} s:\n{log}"
    );
    drop(streams);
}

#[test]
fn the_accept_queue_is_deep_and_the_descriptor_limit_raised() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("q.db").display()
        ),
    );
    let server = Server::on(&config, &dir.path().join("log"));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        open_files[3], open_files[4],
        "soft limit not raised: {limits}"
    );

    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let listing = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output();
    let Some(listing) = listing.ok().filter(|o| o.status.success()) else {
        return skip("the accept-queue check", "`ss` (iproute2) is not installed");
    };
    let text = String::from_utf8_lossy(&listing.stdout);
    let backlog: u32 = text.split_whitespace().nth(2).unwrap().parse().unwrap();
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .map_or(4096, |s| s.trim().parse().unwrap_or(4096));
    assert_eq!(backlog, somaxconn.min(4096), "{text}");
    assert!(backlog > 128);
}

#[test]
fn malformed_requests_are_not_errors_and_do_not_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            dir.path().join("m.db").display()
        ),
    );
    let server = Server::on(&config, &dir.path().join("log"));
    let started = Instant::now();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream
            .write_all(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    }
    let seconds = started.elapsed().as_secs();
    // The last line may still be on its way to the file.
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log_text();
    assert!(!log.contains(" ERROR "), "{log}");
    let lines = log.lines().filter(|l| l.contains("parse error")).count();
    assert!(lines >= 1, "{log}");
    assert!(
        lines as u64 <= seconds + 2,
        "{lines} lines in {seconds} s:\n{log}"
    );
}

/// The server inside its own mount namespace with its database on a small tmpfs that also holds
/// a ballast file, which the test removes (through /proc/PID/root) to make room again.
#[test]
fn a_full_disk_answers_507_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = format!(
        "mount -t tmpfs -o size=4m tmpfs {0} && dd if=/dev/zero of={0}/ballast bs=1024 count=1024 2>/dev/null",
        mnt.display()
    );
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", &mount])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return skip(
            "the full-disk test",
            "a private tmpfs needs `unshare -rm` (user namespaces) and mount",
        );
    }
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"",
            mnt.join("chat.db").display()
        ),
    );
    let mut command = Command::new("unshare");
    command.args([
        "-rm",
        "sh",
        "-c",
        &format!("{mount} && exec {BIN} --config {}", config.display()),
    ]);
    let server = Server::start(command, &dir.path().join("log"));

    let (status, contact) = server.http(
        "POST",
        "/v1/contacts",
        Some("token-kevin"),
        r#"{"username": "KateMcCallister", "phone_number": "1"}"#,
    );
    assert_eq!(status, 201, "{contact}");
    let conversation = contact
        .split("\"conversation_id\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Uploads until the disk is full: 201s, then a 507, never a 500.
    let chunk = vec![b'x'; 256 * 1024];
    let mut full = None;
    for _ in 0..40 {
        let (status, answer) = upload(&server.addr, &chunk);
        match status {
            201 => continue,
            507 => {
                full = Some(answer);
                break;
            }
            other => panic!("upload answered {other}: {answer}"),
        }
    }
    let answer = full.expect("the disk never filled");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    assert!(answer.contains("\"api_error\""), "{answer}");
    assert!(answer.contains("disk is full"), "{answer}");

    // Messages too, as soon as the database cannot grow; a burst of them logs little.
    let text = "m".repeat(16_000);
    let body = format!(r#"{{"conversation_id": "{conversation}", "message": "{text}"}}"#);
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..60 {
        let (status, answer) = server.http("POST", "/v1/messages", Some("token-kevin"), &body);
        match status {
            201 => {}
            507 => refused += 1,
            other => panic!("send answered {other}: {answer}"),
        }
    }
    assert!(refused > 10, "only {refused} sends were refused");
    let seconds = started.elapsed().as_secs();
    let log = server.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("the disk is full"))
        .count();
    assert!(
        lines as u64 <= seconds + 4,
        "{lines} lines in {seconds} s:\n{log}"
    );

    // Room again: the server writes again without a restart.
    std::fs::remove_file(format!(
        "/proc/{}/root{}/ballast",
        server.child.id(),
        mnt.display()
    ))
    .unwrap();
    wait_for(
        "a send after the disk has room",
        Duration::from_secs(30),
        || {
            server
                .http("POST", "/v1/messages", Some("token-kevin"), &body)
                .0
                == 201
        },
    );
}

fn upload(addr: &str, bytes: &[u8]) -> (u16, String) {
    let boundary = "b0undary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/attachments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Bearer token-kevin\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = stream.write_all(&body);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}
