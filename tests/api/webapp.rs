//! The web app's routes: the page and its files with their security headers and caching, the
//! demo accounts it may offer, `/app/me`; and how `/content` keeps uploads from running.

use crate::helpers::{KATE, KEVIN, spawn_app, spawn_app_with};
use protocol::api::webapp;

/// The tokens of the shipped protocol.toml (public, in the repository).
const EXAMPLE_TOKENS: [&str; 3] = [
    "kevin-example-token-change-me",
    "kate-example-token-change-me",
    "peter-example-token-change-me",
];

#[track_caller]
fn assert_secured(response: &crate::helpers::Response) {
    let csp = response.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
}

#[actix_web::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.request("GET", "/", None, None, &[]).await.expect(200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_secured(&page);
    let html = String::from_utf8(page.raw.clone()).unwrap();
    let prefix = format!("/app/{}", webapp::version());
    assert!(html.contains(&format!("src=\"{prefix}/app.js\"")), "{html}");
    // No inline script: every <script> names a file.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script type=\"module\" src=").count()
    );

    let script = app
        .request("GET", &format!("{prefix}/app.js"), None, None, &[])
        .await
        .expect(200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(
        script
            .header("cache-control")
            .unwrap()
            .contains("immutable")
    );
    assert_secured(&script);
    let style = app
        .request("GET", &format!("{prefix}/app.css"), None, None, &[])
        .await
        .expect(200);
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );

    // Revalidation: the ETag answers 304 with no body.
    let etag = page.header("etag").unwrap().to_owned();
    let again = app
        .request("GET", "/", None, None, &[("If-None-Match", &etag)])
        .await
        .expect(304);
    assert!(again.raw.is_empty());
    // A page of an older binary still gets files, but they are not cached for good.
    let stale = app
        .request("GET", "/app/000000000000/app.js", None, None, &[])
        .await
        .expect(200);
    assert_eq!(stale.header("cache-control"), Some("no-cache"));
    app.request("GET", &format!("{prefix}/nope.js"), None, None, &[])
        .await
        .expect_error(404, None);
    app.request("GET", &format!("{prefix}/../Cargo.toml"), None, None, &[])
        .await
        .expect_error(404, None);
    app.request("POST", "/", None, None, &[])
        .await
        .expect_error(405, None);
}

#[actix_web::test]
async fn head_gives_the_headers_without_the_body() {
    let app = spawn_app().await;
    let get = app.request("GET", "/", None, None, &[]).await.expect(200);
    let head = app.request("HEAD", "/", None, None, &[]).await.expect(200);
    assert!(head.raw.is_empty());
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(
        head.header("content-length").map(str::to_owned),
        Some(get.raw.len().to_string())
    );
    let path = format!("/app/{}/app.css", webapp::version());
    let head = app
        .request("HEAD", &path, None, None, &[])
        .await
        .expect(200);
    assert!(head.raw.is_empty());
    assert_eq!(head.header("content-type"), Some("text/css; charset=utf-8"));
}

#[actix_web::test]
async fn demo_accounts_are_offered_only_with_demo_data_and_example_tokens() {
    let with_examples = |demo: bool| {
        move |c: &mut protocol::config::Config| {
            c.server.demo_data = demo;
            for (account, token) in c.accounts.iter_mut().zip(EXAMPLE_TOKENS) {
                account.token = token.into();
            }
        }
    };
    // Demo data on, example tokens: listed, with those tokens and no other.
    let app = spawn_app_with(with_examples(true)).await;
    let listed = app
        .request("GET", "/app/demo-accounts", None, None, &[])
        .await
        .expect(200);
    assert_secured(&listed);
    let accounts = listed.body.as_array().unwrap();
    assert_eq!(accounts.len(), 3, "{}", listed.body);
    for account in accounts {
        assert!(EXAMPLE_TOKENS.contains(&account["token"].as_str().unwrap()));
    }
    assert_eq!(accounts[1]["username"], KATE.0);

    // Demo data off: nothing, even with the example tokens.
    let app = spawn_app_with(with_examples(false)).await;
    let listed = app
        .request("GET", "/app/demo-accounts", None, None, &[])
        .await;
    assert_eq!(listed.expect(200).body, serde_json::json!([]));

    // Demo data on, real tokens: nothing; one example token among real ones: only that one.
    let app = spawn_app_with(|c| {
        c.server.demo_data = true;
        c.accounts[1].token = EXAMPLE_TOKENS[1].into();
    })
    .await;
    let listed = app
        .request("GET", "/app/demo-accounts", None, None, &[])
        .await
        .expect(200);
    assert_eq!(
        listed.body,
        serde_json::json!([{"username": KATE.0, "token": EXAMPLE_TOKENS[1]}])
    );
    assert!(!String::from_utf8_lossy(&listed.raw).contains(KEVIN.1));
    let app = spawn_app_with(|c| c.server.demo_data = true).await;
    let listed = app
        .request("GET", "/app/demo-accounts", None, None, &[])
        .await;
    assert_eq!(listed.expect(200).body, serde_json::json!([]));
}

#[actix_web::test]
async fn me_names_the_account_of_the_token() {
    let app = spawn_app().await;
    let me = app.get("/app/me", KATE.1).await.expect(200);
    assert_eq!(me.body["username"], KATE.0);
    let contact = app
        .get(
            &format!("/v1/contacts/{}", me.body["id"].as_str().unwrap()),
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(contact.body["username"], KATE.0);
    app.request("GET", "/app/me", None, None, &[])
        .await
        .expect_error(401, None);
}

/// Only png, jpeg, gif and webp are shown inline; HTML, SVG and the rest are downloads, and
/// every one is sandboxed and never sniffed.
#[actix_web::test]
async fn attachment_content_never_runs_at_the_servers_origin() {
    let app = spawn_app().await;
    let cases = [
        ("photo.png", "image/png", "inline"),
        ("photo.jpg", "image/jpeg", "inline"),
        ("anim.gif", "image/gif", "inline"),
        ("pic.webp", "image/webp", "inline"),
        ("evil.html", "text/html", "attachment"),
        ("evil.svg", "image/svg+xml", "attachment"),
        ("evil.xml", "application/xml", "attachment"),
        ("evil.js", "text/javascript", "attachment"),
        ("notes.txt", "text/plain", "attachment"),
        ("data.bin", "application/octet-stream", "attachment"),
    ];
    for (filename, file_type, disposition) in cases {
        let id = app
            .upload(
                KATE.1,
                "file",
                filename,
                Some(file_type),
                b"<script>alert(1)</script>",
                &[],
            )
            .await
            .expect(201)
            .id();
        let content = app
            .get(&format!("/v1/attachments/{id}/content"), KATE.1)
            .await
            .expect(200);
        let header = content.header("content-disposition").unwrap();
        assert!(
            header.starts_with(&format!("{disposition};")),
            "{filename}: {header}"
        );
        assert_eq!(content.header("x-content-type-options"), Some("nosniff"));
        let csp = content.header("content-security-policy").unwrap();
        assert!(
            csp.contains("sandbox") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        // A range keeps the same protection.
        let part = app
            .request(
                "GET",
                &format!("/v1/attachments/{id}/content"),
                Some(KATE.1),
                None,
                &[("Range", "bytes=0-3")],
            )
            .await
            .expect(206);
        assert!(
            part.header("content-security-policy")
                .unwrap()
                .contains("sandbox")
        );
    }
}
