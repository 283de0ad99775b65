//! What an outside probe found (issue "Hardening"): one account starving the others, address
//! books leaking between people, a failed-authentication limit that locked out good tokens,
//! ranges answered wrongly, look-alike names and direction tricks. Each test fails on the
//! server before the fix.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

// ---------- One account cannot starve the others ----------

async fn open_stream(app: &TestApp, token: &str) -> awc::ClientResponse<impl futures_util::Stream> {
    app.client()
        .get(format!("{}/v1/events", app.base))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap()
}

/// An event stream on a raw connection (closed for sure when dropped), once it has its 200.
async fn raw_stream(app: &TestApp, token: &str) -> std::net::TcpStream {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let token = token.to_owned();
    actix_web::web::block(move || crate::support::event_stream(&addr, &token))
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_account_holds_at_most_its_share_of_event_streams() {
    let app = spawn_app_with(|c| c.server.max_event_streams_per_account = 3).await;
    let mut kevins = Vec::new();
    for _ in 0..3 {
        kevins.push(raw_stream(&app, KEVIN.1).await);
    }
    let refused = open_stream(&app, KEVIN.1).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(wait >= 1);
    // Another account is still served, and quickly.
    let kate = open_stream(&app, KATE.1).await;
    assert_eq!(kate.status(), 200);
    let started = Instant::now();
    app.get("/v1/contacts", KATE.1).await.expect(200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A stream that closes frees its place (the server notices at its next keep-alive, 15 s).
    drop(kevins.pop());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let again = open_stream(&app, KEVIN.1).await;
        if again.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends a request head and then its body one byte every `every`, on a blocking thread;
/// returns the status line of the answer (waiting up to 10 s after the last byte) and how
/// long it took.
async fn trickle(
    app: &TestApp,
    head: String,
    body: &'static [u8],
    every: Duration,
) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    actix_web::web::block(move || {
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        for byte in body {
            if stream.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            let until = Instant::now() + every;
            let mut buf = [0u8; 4096];
            while Instant::now() < until {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
            }
            if !answer.is_empty() {
                break;
            }
        }
        // All of it sent without an answer yet: wait for one (a busy machine is slow).
        let until = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while answer.is_empty() && Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        (
            text.lines().next().unwrap_or_default().to_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap()
}

/// Kevin's `POST /v1/messages` of `text` as raw HTTP: the head, and the body (for `trickle`).
fn raw_send(conversation: &str, text: &str) -> (String, &'static [u8]) {
    let body: &'static [u8] = Box::leak(
        format!(r#"{{"conversation_id":"{conversation}","message":"{text}"}}"#)
            .into_bytes()
            .into_boxed_slice(),
    );
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        KEVIN.1,
        body.len()
    );
    (head, body)
}

/// How many messages Kevin sees in the conversation.
async fn messages_in(app: &TestApp, conversation: &str) -> usize {
    let path = format!("/v1/messages?conversation_id={conversation}");
    app.get(&path, KEVIN.1).await.expect(200).ids().len()
}

#[actix_web::test]
async fn a_body_trickled_a_byte_at_a_time_is_cut_off() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let (head, body) = raw_send(&conversation, "slow but steady");
    // A byte every 2 s never trips the 10 s idle limit; only the minimum rate ends it.
    let (status, took) = trickle(&app, head, body, Duration::from_secs(2)).await;
    assert!(status.contains(" 408 "), "{status:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(
        messages_in(&app, &conversation).await,
        0,
        "nothing was sent"
    );
}

/// The body's first poll leaves no waker (`body_clock::Counted::quiet_first_poll`): a body
/// that arrives after the head, in pieces, must still be read as it comes.
#[actix_web::test]
async fn a_body_sent_after_its_head_in_pieces_is_read() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let (head, body) = raw_send(&conversation, "late");
    let (status, took) = trickle(&app, head, body, Duration::from_millis(20)).await;
    assert!(status.contains(" 201 "), "{status:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(messages_in(&app, &conversation).await, 1);
}

#[actix_web::test]
async fn an_upload_trickled_a_byte_at_a_time_is_cut_off() {
    let app = spawn_app().await;
    let (content_type, body) = multipart_body(
        "file",
        "slow.bin",
        Some("application/octet-stream"),
        &[7u8; 64],
        &[],
    );
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let head = format!(
        "POST /v1/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        KEVIN.1,
        body.len()
    );
    let (status, took) = trickle(&app, head, body, Duration::from_secs(2)).await;
    assert!(status.contains(" 408 "), "{status:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let list = app.get("/v1/attachments", KEVIN.1).await.expect(200);
    assert!(list.ids().is_empty());
}

// ---------- A failed-authentication limit never locks out a good token ----------

#[actix_web::test]
async fn a_correct_token_is_accepted_from_an_address_that_failed_too_often() {
    let app = spawn_app_with(|c| c.server.auth_failures_per_minute = 3).await;
    for _ in 0..3 {
        app.get("/v1/contacts", "guess")
            .await
            .expect_error(401, None);
    }
    app.get("/v1/contacts", "guess")
        .await
        .expect_error(429, None);
    // Someone else behind the same address (a NAT, a proxy) with a good token is served.
    app.get("/v1/contacts", KEVIN.1).await.expect(200);
    app.get("/v1/contacts", KATE.1).await.expect(200);
    // Guesses stay throttled.
    app.get("/v1/contacts", "guess again")
        .await
        .expect_error(429, None);
}

async fn guess_from(app: &TestApp, forwarded_for: &str) -> Response {
    app.request(
        "GET",
        "/v1/contacts",
        Some("guess"),
        None,
        &[("X-Forwarded-For", forwarded_for)],
    )
    .await
}

#[actix_web::test]
async fn behind_a_trusted_proxy_failures_count_per_forwarded_client() {
    let app = spawn_app_with(|c| {
        c.server.auth_failures_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for _ in 0..2 {
        guess_from(&app, "203.0.113.7")
            .await
            .expect_error(401, None);
    }
    guess_from(&app, "203.0.113.7")
        .await
        .expect_error(429, None);
    // Another client behind the same proxy has its own count.
    guess_from(&app, "203.0.113.8")
        .await
        .expect_error(401, None);
    // A client cannot escape by writing its own X-Forwarded-For in front of the proxy's.
    guess_from(&app, "198.51.100.1, 203.0.113.7")
        .await
        .expect_error(429, None);
}

#[actix_web::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(|c| c.server.auth_failures_per_minute = 2).await;
    guess_from(&app, "203.0.113.1")
        .await
        .expect_error(401, None);
    guess_from(&app, "203.0.113.2")
        .await
        .expect_error(401, None);
    // Every guess came from 127.0.0.1, whatever the header claimed.
    guess_from(&app, "203.0.113.3")
        .await
        .expect_error(429, None);
}

// ---------- Address books are private ----------

#[actix_web::test]
async fn a_private_contact_belongs_to_the_address_book_that_added_it() {
    let app = spawn_app().await;
    let kates = app
        .post_json(
            "/v1/contacts",
            KATE.1,
            json!({"username": "FrankMcCallister", "phone_number": "1-555-0101",
                   "avatar_url": "https://example.com/kate-frank.jpg"}),
        )
        .await
        .expect(201)
        .body;
    // Kevin adds the same username: he gets his own entry with what he sent, and nothing in the
    // answer differs from adding a name nobody ever used.
    let kevins = app
        .post_json(
            "/v1/contacts",
            KEVIN.1,
            json!({"username": "FrankMcCallister", "phone_number": "1-555-0202"}),
        )
        .await
        .expect(201)
        .body;
    let fresh = app
        .post_json(
            "/v1/contacts",
            KEVIN.1,
            json!({"username": "NobodyEverAddedMe", "phone_number": "1-555-0303"}),
        )
        .await
        .expect(201)
        .body;
    assert_ne!(kevins["id"], kates["id"]);
    assert_eq!(kevins["phone_number"], "1-555-0202");
    assert!(kevins["avatar_url"].is_null());
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&kevins), keys(&fresh));
    assert!(kevins["created_at"].as_i64() >= kates["created_at"].as_i64());

    // Kate's entry is as she made it, and out of Kevin's reach by id.
    let kate_sees = app
        .get(
            &format!("/v1/contacts/{}", kates["id"].as_str().unwrap()),
            KATE.1,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(kate_sees["phone_number"], "1-555-0101");
    app.get(
        &format!("/v1/contacts/{}", kates["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect_error(404, None);
    app.post_json(
        "/v1/conversations",
        KEVIN.1,
        json!({"contact_id": kates["id"]}),
    )
    .await
    .expect_error(404, Some("contact_id"));
    app.post_json(
        "/v1/groups",
        KEVIN.1,
        json!({"name": "Mine", "contacts": [kates["id"]]}),
    )
    .await
    .expect_error(404, Some("contacts"));

    // Adding it again is a conflict in one's own book only, worded the same for both.
    let again_kate = app
        .post_json(
            "/v1/contacts",
            KATE.1,
            json!({"username": "frankmccallister", "phone_number": "1"}),
        )
        .await
        .expect_error(409, Some("username"))
        .body;
    let again_kevin = app
        .post_json(
            "/v1/contacts",
            KEVIN.1,
            json!({"username": "frankmccallister", "phone_number": "1"}),
        )
        .await
        .expect_error(409, Some("username"))
        .body;
    assert_eq!(again_kate["message"], again_kevin["message"]);
}

#[actix_web::test]
async fn a_private_contact_deleted_and_added_again_takes_the_new_details() {
    let app = spawn_app().await;
    let first = app
        .post_json(
            "/v1/contacts",
            KATE.1,
            json!({"username": "Cousin", "phone_number": "1-555-0001"}),
        )
        .await
        .expect(201)
        .body;
    let path = format!("/v1/contacts/{}", first["id"].as_str().unwrap());
    app.delete(&path, KATE.1).await.expect(204);
    let second = app
        .post_json(
            "/v1/contacts",
            KATE.1,
            json!({"username": "cousin", "phone_number": "1-555-0002"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["username"], "cousin");
    assert_eq!(second["phone_number"], "1-555-0002");
}

#[actix_web::test]
async fn accounts_are_shared_and_usernames_ignore_case() {
    let app = spawn_app().await;
    let kevin_id = app.get("/v1/contacts", KATE.1).await.expect(200);
    assert!(kevin_id.ids().is_empty());
    // Any spelling of an account's name adds the account, with its own profile.
    let added = app
        .post_json(
            "/v1/contacts",
            KATE.1,
            json!({"username": "kevinmccallister", "phone_number": "9-999-999-9999"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(added["username"], KEVIN.0);
    assert_eq!(added["phone_number"], "1-800-759-3000");
    let peters = app
        .post_json(
            "/v1/contacts",
            PETER.1,
            json!({"username": "KATEMCCALLISTER", "phone_number": "1"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(peters["username"], KATE.0);
    // Kevin has Kate already: she added him.
    app.post_json(
        "/v1/contacts",
        KEVIN.1,
        json!({"username": "katemccallister", "phone_number": "1"}),
    )
    .await
    .expect_error(409, Some("username"));
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "KEVINMCCALLISTER", "phone_number": "1"}),
    )
    .await
    .expect_error(409, Some("username"));
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "katemccallister", "phone_number": "1"}),
    )
    .await
    .expect_error(409, Some("username"));
}

// ---------- Look-alikes and direction tricks ----------

#[actix_web::test]
async fn look_alike_usernames_and_direction_tricks_are_refused() {
    let app = spawn_app().await;
    // A Cyrillic о in place of the Latin o.
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "b\u{043e}b", "phone_number": "1"}),
    )
    .await
    .expect_error(400, Some("username"));
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "Bob", "phone_number": "1"}),
    )
    .await
    .expect(201);
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "BOB", "phone_number": "1"}),
    )
    .await
    .expect_error(409, Some("username"));
    // A right-to-left override makes "\u{202e}gnp.exe" show as "exe.png".
    let spoof = "\u{202e}gnp.exe";
    app.post_json(
        "/v1/contacts",
        KATE.1,
        json!({"username": "Alice", "phone_number": "1", "display_name": spoof}),
    )
    .await
    .expect_error(400, Some("display_name"));
    app.post_json("/v1/groups", KATE.1, json!({"name": spoof}))
        .await
        .expect_error(400, Some("name"));
    app.post_json("/v1/groups", KATE.1, json!({"name": "zero\u{200b}width"}))
        .await
        .expect_error(400, Some("name"));
    let upload = app
        .upload(
            KATE.1,
            "file",
            spoof,
            Some("application/x-msdownload"),
            b"MZ",
            &[],
        )
        .await
        .expect(201)
        .body;
    assert_eq!(upload["filename"], "gnp.exe");
    app.put_json(
        &format!("/v1/attachments/{}", upload["id"].as_str().unwrap()),
        KATE.1,
        json!({"filename": spoof}),
    )
    .await
    .expect_error(400, Some("filename"));
    // Legitimate text in other scripts, and emoji joined by ZWJ, stay welcome.
    app.post_json(
        "/v1/groups",
        KATE.1,
        json!({"name": "\u{05de}\u{05e9}\u{05e4}\u{05d7}\u{05d4} \u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}"}),
    )
    .await
    .expect(201);
}

// ---------- Ranges ----------

async fn uploaded(app: &TestApp, bytes: &[u8]) -> String {
    let id = app
        .upload(KEVIN.1, "file", "r.bin", None, bytes, &[])
        .await
        .expect(201)
        .id();
    format!("/v1/attachments/{id}/content")
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    app.request("GET", path, Some(KEVIN.1), None, headers).await
}

#[actix_web::test]
async fn downloads_carry_validators_and_honour_if_range() {
    let app = spawn_app().await;
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let path = uploaded(&app, &bytes).await;
    let whole = get_with(&app, &path, &[]).await.expect(200);
    let etag = whole.header("etag").expect("ETag").to_owned();
    let modified = whole
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    assert!(whole.header("content-range").is_none());

    // If-Range with the current validator: the range; with another one: the whole file.
    let part = get_with(
        &app,
        &path,
        &[("Range", "bytes=10-19"), ("If-Range", &etag)],
    )
    .await
    .expect(206);
    assert_eq!(part.raw, bytes[10..20]);
    let part = get_with(
        &app,
        &path,
        &[("Range", "bytes=10-19"), ("If-Range", &modified)],
    )
    .await
    .expect(206);
    assert_eq!(part.raw, bytes[10..20]);
    for stale in ["\"not-the-tag\"", "Mon, 01 Jan 2001 00:00:00 GMT"] {
        let full = get_with(
            &app,
            &path,
            &[("Range", "bytes=10-19"), ("If-Range", stale)],
        )
        .await
        .expect(200);
        assert_eq!(full.raw, bytes, "{stale}");
        assert!(full.header("content-range").is_none(), "{stale}");
    }
    // A conditional GET of an unchanged file.
    let same = get_with(&app, &path, &[("If-None-Match", &etag)])
        .await
        .expect(304);
    assert!(same.raw.is_empty());
}

#[actix_web::test]
async fn several_ranges_get_the_whole_file_and_a_200_has_no_content_range() {
    let app = spawn_app().await;
    let bytes: Vec<u8> = (0..100u8).collect();
    let path = uploaded(&app, &bytes).await;
    let both = get_with(&app, &path, &[("Range", "bytes=0-1,5-9")])
        .await
        .expect(200);
    assert_eq!(both.raw, bytes);
    assert!(both.header("content-range").is_none());
    // From a point to the end, and past the end: one range each.
    let tail = get_with(&app, &path, &[("Range", "bytes=90-")])
        .await
        .expect(206);
    assert_eq!(tail.raw, bytes[90..]);
    assert_eq!(tail.header("content-range"), Some("bytes 90-99/100"));
    let past = get_with(&app, &path, &[("Range", "bytes=95-500")])
        .await
        .expect(206);
    assert_eq!(past.raw, bytes[95..]);
    assert_eq!(past.header("content-range"), Some("bytes 95-99/100"));
    let outside = get_with(&app, &path, &[("Range", "bytes=100-")])
        .await
        .expect_error(416, Some("Range"));
    assert_eq!(outside.header("content-range"), Some("bytes */100"));
}

/// A NUL in an id (which PostgreSQL text cannot hold) is a lookup that finds nothing, as any
/// other unknown id: the same 4xx on both backends, never a 500, and the writes of others in
/// the same batch are not disturbed.
#[actix_web::test]
async fn an_id_with_a_nul_is_unknown_not_an_error() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    app.get("/v1/messages/%00", KEVIN.1)
        .await
        .expect_error(404, None);
    app.get("/v1/conversations/ab%00cd", KEVIN.1)
        .await
        .expect_error(404, None);
    app.get("/v1/messages?starting_after=%00", KEVIN.1)
        .await
        .expect_error(400, Some("starting_after"));
    let sent = app
        .post_json(
            "/v1/messages",
            KEVIN.1,
            serde_json::json!({"conversation_id": "\u{0}", "message": "hi"}),
        )
        .await;
    assert!(
        sent.status == 404 || sent.status == 400,
        "{} {:?}",
        sent.status,
        sent.body
    );
    app.delete("/v1/messages/x%00y", KEVIN.1)
        .await
        .expect_error(404, None);
    // Writing still works.
    app.send(KATE.1, &conversation, "after").await;
}
