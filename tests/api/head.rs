//! `HEAD` on every `GET` route answers like `GET`, headers and all, without the body (what
//! `curl -I` shows).

use crate::helpers::*;
use std::io::{Read, Write};

/// The raw bytes of one request's response, on a connection the server closes after it.
async fn raw(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> Vec<u8> {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{}\r\n",
        token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default()
    );
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    })
    .await
    .unwrap()
}

/// (status, headers in lowercase, body).
fn split(response: &[u8]) -> (u16, String, Vec<u8>) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(response)));
    let head = String::from_utf8_lossy(&response[..end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, response[end + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
}

#[actix_web::test]
async fn head_answers_like_get_without_the_body() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    app.send(KEVIN.1, &conversation, "hello").await;
    let attachment = app
        .upload(KEVIN.1, "file", "a.bin", None, &[1u8; 5000], &[])
        .await
        .expect(201)
        .id();
    for (path, token) in [
        ("/health", None),
        ("/docs/", None),
        ("/docs/swagger-ui.css", None),
        ("/openapi.json", None),
        ("/v1/conversations", Some(KEVIN.1)),
        (
            &format!("/v1/messages?conversation_id={conversation}") as &str,
            Some(KEVIN.1),
        ),
        (
            &format!("/v1/attachments/{attachment}/content"),
            Some(KEVIN.1),
        ),
        ("/v1/conversations", None),
        ("/v1/nothing-here", Some(KEVIN.1)),
    ] {
        let (get_status, get_head, get_body) = split(&raw(&app, "GET", path, token).await);
        let (status, head, body) = split(&raw(&app, "HEAD", path, token).await);
        assert_eq!(status, get_status, "HEAD {path}");
        assert!(body.is_empty(), "HEAD {path} sent a body: {body:?}");
        assert_eq!(
            header(&head, "content-type"),
            header(&get_head, "content-type"),
            "HEAD {path}"
        );
        assert_eq!(
            header(&head, "content-length"),
            Some(get_body.len().to_string().as_str()),
            "HEAD {path}: {head}"
        );
    }
    // The redirect of /docs, too.
    let (status, head, _) = split(&raw(&app, "HEAD", "/docs", None).await);
    assert_eq!(status, 301);
    assert_eq!(header(&head, "location"), Some("/docs/"));
}

#[actix_web::test]
async fn head_on_the_event_stream_ends_at_once() {
    let app = spawn_app().await;
    let (status, head, body) = split(&raw(&app, "HEAD", "/v1/events", Some(KEVIN.1)).await);
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("text/event-stream"));
    assert!(body.is_empty());
}

#[actix_web::test]
async fn head_is_never_405_where_get_is_served() {
    let app = spawn_app().await;
    let path = "/v1/messages/AAAAAAAAAAAAAAAA";
    let (status, head, body) = split(&raw(&app, "HEAD", path, Some(KEVIN.1)).await);
    // The GET of an unknown id is a 404; so is its HEAD, not a 405.
    assert_eq!(status, 404, "{head}");
    assert!(body.is_empty());
    let (status, head, _) = split(&raw(&app, "PATCH", path, Some(KEVIN.1)).await);
    assert_eq!(status, 405);
    assert_eq!(header(&head, "allow"), Some("get, put, delete"));
}
