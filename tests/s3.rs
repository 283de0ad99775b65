//! Attachments in an S3 bucket (`[attachments] store = "s3"`), through the real binary and a
//! real S3 server (moto, with signature checks on; `support::s3`): upload, whole and ranged
//! downloads, delete, a large upload in bounded memory, the start-up sweep, and a store that
//! stops answering. Without moto these tests are skipped, loudly (they fail in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::s3::{MotoS3, start_or_skip};
use support::{Server, header, request_bytes, upload, wait_for, write_config};

const KEVIN: &str = "token-kevin";

/// Every byte value, over and over, with an odd length.
fn binary(len: usize) -> Vec<u8> {
    (0..=255u8).cycle().take(len).collect()
}

/// A config on a SQLite file in `dir` whose attachments go to moto's bucket.
fn s3_config(dir: &Path, moto: &MotoS3, extra: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n{extra}\n{}",
            dir.join("chat.db").display(),
            moto.config_section(0)
        ),
    )
}

fn upload_ok(addr: &str, bytes: &[u8]) -> String {
    let (status, body) = upload(addr, KEVIN, "every byte.bin", bytes);
    assert_eq!(status, 201, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["file_size"], bytes.len());
    json["id"].as_str().unwrap().to_owned()
}

/// `GET /v1/attachments/:id/content`, with a Range header if given: (status, head, bytes).
fn download(addr: &str, id: &str, range: Option<&str>) -> (u16, String, Vec<u8>) {
    let headers: Vec<(&str, &str)> = range.map(|r| ("Range", r)).into_iter().collect();
    let path = format!("/v1/attachments/{id}/content");
    request_bytes(addr, "GET", &path, Some(KEVIN), &headers, &[])
}

#[test]
fn attachments_round_trip_through_an_s3_bucket_with_ranges_and_delete() {
    let test = "attachments_round_trip_through_an_s3_bucket_with_ranges_and_delete";
    let dir = tempfile::tempdir().unwrap();
    let Some(moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    let server = Server::on(
        &s3_config(dir.path(), &moto, ""),
        &dir.path().join("server.log"),
    );
    let bytes = binary(256 * 40 + 7);
    let id = upload_ok(&server.addr, &bytes);
    assert_eq!(
        moto.keys(),
        vec![id.clone()],
        "the object is named by the id"
    );
    // Nothing stays spooled once the object is stored.
    let spool = dir.path().join("chat.db-files/.tmp");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);

    let (status, head, body) = download(&server.addr, &id, None);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, bytes);
    assert_eq!(
        header(&head, "content-length"),
        Some(bytes.len().to_string().as_str())
    );

    let len = bytes.len();
    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-100", len - 100, len - 1),
        ("bytes=10000-", 10_000, len - 1),
    ] {
        let (status, head, body) = download(&server.addr, &id, Some(range));
        assert_eq!(status, 206, "{range}: {head}");
        assert_eq!(body, &bytes[start..=end], "{range}");
        assert_eq!(
            header(&head, "content-range"),
            Some(format!("bytes {start}-{end}/{len}").as_str()),
            "{range}"
        );
    }
    let (status, head, _) = download(&server.addr, &id, Some(&format!("bytes={len}-")));
    assert_eq!(status, 416, "{head}");

    // An empty file needs no ranged GET (there is no range of nothing).
    let empty = upload_ok(&server.addr, b"");
    let (status, _, body) = download(&server.addr, &empty, None);
    assert_eq!((status, body.len()), (200, 0));

    let (status, head, _) = request_bytes(
        &server.addr,
        "DELETE",
        &format!("/v1/attachments/{id}"),
        Some(KEVIN),
        &[],
        &[],
    );
    assert_eq!(status, 204, "{head}");
    assert!(!moto.client().exists(&id).unwrap(), "the object is gone");
    assert_eq!(moto.keys(), vec![empty]);
    let (status, ..) = download(&server.addr, &id, None);
    assert_eq!(status, 404);
    assert!(
        !server.log_text().contains("ERROR"),
        "{}",
        server.log_text()
    );
}

/// The server's peak resident memory (`VmHWM`), in KiB.
fn peak_memory_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_upload_and_download_stream_through_bounded_memory() {
    let test = "a_large_upload_and_download_stream_through_bounded_memory";
    let dir = tempfile::tempdir().unwrap();
    let Some(moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    let server = Server::on(
        &s3_config(dir.path(), &moto, ""),
        &dir.path().join("server.log"),
    );
    // A small one first, so the peak below measures the large one, not the first request's
    // allocations (TLS config, pools, buffers).
    let warm = upload_ok(&server.addr, &binary(300_000));
    assert_eq!(download(&server.addr, &warm, None).2.len(), 300_000);
    let before = peak_memory_kib(&server);

    let bytes = binary(20 * 1024 * 1024 + 13);
    let id = upload_ok(&server.addr, &bytes);
    let (status, _, body) = download(&server.addr, &id, None);
    assert_eq!(status, 200);
    assert!(body == bytes, "the 20 MiB came back changed");
    let (status, _, tail) = download(&server.addr, &id, Some("bytes=-70000"));
    assert_eq!(
        (status, tail.as_slice()),
        (206, &bytes[bytes.len() - 70_000..])
    );

    // Spooled to disk, PUT from the file, read back a block at a time: the peak grows by far
    // less than the file (which the test's own copies do not count toward: they are here).
    let grown = peak_memory_kib(&server).saturating_sub(before);
    eprintln!("peak memory grew by {grown} KiB for a 20 MiB upload and download");
    assert!(
        grown < 8 * 1024,
        "peak memory grew by {grown} KiB for a 20 MiB upload and download"
    );
}

#[test]
fn an_oversized_upload_is_refused_and_nothing_reaches_the_bucket() {
    let test = "an_oversized_upload_is_refused_and_nothing_reaches_the_bucket";
    let dir = tempfile::tempdir().unwrap();
    let Some(moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    let config = s3_config(dir.path(), &moto, "max_upload_bytes = 1000");
    let server = Server::on(&config, &dir.path().join("server.log"));
    let (status, body) = upload(&server.addr, KEVIN, "big.bin", &binary(5000));
    assert_eq!(status, 413, "{body}");
    assert!(moto.keys().is_empty());
}

#[test]
fn start_up_sweeps_orphan_objects_and_keeps_recorded_ones() {
    let test = "start_up_sweeps_orphan_objects_and_keeps_recorded_ones";
    let dir = tempfile::tempdir().unwrap();
    let Some(moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    let config = s3_config(dir.path(), &moto, "");
    let log = dir.path().join("server.log");
    let server = Server::on(&config, &log);
    let kept = upload_ok(&server.addr, b"recorded");
    drop(server);
    // What a crash between the PUT and the commit leaves: an object without a record. And an
    // object that is not an attachment (not an id), which is not the server's to remove.
    let client = moto.client();
    let orphan = "OrphanObject0001";
    let put = |key: &str, bytes: &[u8]| {
        use sha2::Digest;
        let sha = protocol::s3::sigv4::hex(&sha2::Sha256::digest(bytes));
        client
            .put_object(key, &mut &bytes[..], bytes.len() as u64, &sha)
            .unwrap();
    };
    put(orphan, b"left by a crash");
    put("notes/readme.txt", b"someone else's");
    // More than a listing page (1000 keys): the sweep follows the continuation token, which
    // carries characters that must be encoded alike in the URL and the signature.
    for n in 0..1000 {
        put(&format!("OrphanPage{n:06}"), b"x");
    }
    // S3 times are whole seconds: the orphan must be older than the next start.
    std::thread::sleep(Duration::from_millis(1100));

    let server = Server::on(&config, &log);
    wait_for("the start-up sweep", Duration::from_secs(120), || {
        server.log_text().contains("swept the S3 bucket")
    });
    assert!(
        server
            .log_text()
            .contains("swept the S3 bucket: 1003 object(s), 1001 orphan(s) removed"),
        "{}",
        server.log_text()
    );
    let mut want = vec![kept.clone(), "notes/readme.txt".to_owned()];
    want.sort();
    assert_eq!(moto.keys(), want, "{}", server.log_text());
    let (status, _, body) = download(&server.addr, &kept, None);
    assert_eq!((status, body.as_slice()), (200, &b"recorded"[..]));

    // A fresh orphan within the grace period (another server's upload about to commit, for
    // all this one knows) stays.
    drop(server);
    put(orphan, b"in flight elsewhere");
    std::thread::sleep(Duration::from_millis(1100));
    let graceful = write_config(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n{}",
            dir.path().join("chat.db").display(),
            moto.config_section(3600)
        ),
    );
    let server = Server::on(&graceful, &dir.path().join("server2.log"));
    wait_for("the start-up sweep", Duration::from_secs(60), || {
        server.log_text().contains("swept the S3 bucket")
    });
    assert!(client.exists(orphan).unwrap(), "{}", server.log_text());
}

#[test]
fn a_store_that_stops_answering_gives_503_and_the_server_goes_on() {
    let test = "a_store_that_stops_answering_gives_503_and_the_server_goes_on";
    let dir = tempfile::tempdir().unwrap();
    let Some(mut moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    let config = s3_config(dir.path(), &moto, "");
    let server = Server::on(&config, &dir.path().join("server.log"));
    let id = upload_ok(&server.addr, b"before the outage");
    moto.kill();

    let (status, head, body) = download(&server.addr, &id, None);
    assert_eq!(status, 503, "{head}");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["type"], "api_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("attachment storage did not answer"),
        "{error}"
    );
    assert!(header(&head, "retry-after").is_some(), "{head}");
    let (status, body) = upload(&server.addr, KEVIN, "during.bin", b"during the outage");
    assert_eq!(status, 503, "{body}");
    // No record was committed for it, and nothing else broke.
    let (status, _, body) = request_bytes(
        &server.addr,
        "GET",
        "/v1/attachments",
        Some(KEVIN),
        &[],
        &[],
    );
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("S3: read an attachment: no answer"), "{log}");
    drop(server);

    // A server that cannot reach its bucket does not start.
    let (status, stderr) = start_and_exit(&config);
    assert!(!status.success());
    assert!(
        stderr.contains("S3 bucket \"protocol-test\"") && stderr.contains("cannot be used"),
        "{stderr}"
    );
}

#[test]
fn wrong_credentials_stop_the_server_at_start_up() {
    let test = "wrong_credentials_stop_the_server_at_start_up";
    let dir = tempfile::tempdir().unwrap();
    let Some(moto) = start_or_skip(test, dir.path()) else {
        return;
    };
    // The right access key with the wrong secret: moto's signature check refuses it.
    let wrong = s3_config(dir.path(), &moto, "");
    let text = std::fs::read_to_string(&wrong).unwrap();
    std::fs::write(
        &wrong,
        text.replace(&moto.secret_access_key, "not-the-secret"),
    )
    .unwrap();
    let (status, stderr) = start_and_exit(&wrong);
    assert!(!status.success());
    assert!(
        stderr.contains("cannot be used") && stderr.contains("HTTP 403 (access denied"),
        "{stderr}"
    );
}

/// Runs the server on `config` expecting it to exit within a minute: (status, stderr).
fn start_and_exit(config: &Path) -> (std::process::ExitStatus, String) {
    let stderr = config.with_file_name("refused.log");
    let mut child = Command::new(support::BIN)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill(); // only if it is still running, past the deadline
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.code().is_some(), "the server started: {log}");
    (status, log)
}
