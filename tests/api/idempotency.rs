use crate::helpers::*;
use serde_json::{Value, json};

async fn send_with_key(app: &TestApp, token: &str, key: &str, body: &str) -> Response {
    app.request(
        "POST",
        "/v1/messages",
        Some(token),
        Some((
            "application/x-www-form-urlencoded",
            body.as_bytes().to_vec(),
        )),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn message_count(app: &TestApp, conversation: &str) -> usize {
    app.get(
        &format!("/v1/messages?conversation_id={conversation}&limit=100"),
        KEVIN.1,
    )
    .await
    .expect(200)
    .ids()
    .len()
}

#[actix_web::test]
async fn a_retry_returns_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let body = format!("conversation_id={conversation}&message=once");
    let first = send_with_key(&app, KEVIN.1, "key-1", &body)
        .await
        .expect(201);
    let retry = send_with_key(&app, KEVIN.1, "key-1", &body)
        .await
        .expect(201);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(message_count(&app, &conversation).await, 1);

    // Another key is another message.
    send_with_key(&app, KEVIN.1, "key-2", &body)
        .await
        .expect(201);
    assert_eq!(message_count(&app, &conversation).await, 2);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    send_with_key(
        &app,
        KEVIN.1,
        "k",
        &format!("conversation_id={conversation}&message=a"),
    )
    .await
    .expect(201);
    send_with_key(
        &app,
        KEVIN.1,
        "k",
        &format!("conversation_id={conversation}&message=b"),
    )
    .await
    .expect_error(409, Some("Idempotency-Key"));
    // Same key on another path is another request too.
    app.request(
        "POST",
        "/v1/groups",
        Some(KEVIN.1),
        Some((
            "application/json",
            json!({"name": "x"}).to_string().into_bytes(),
        )),
        &[("Idempotency-Key", "k")],
    )
    .await
    .expect_error(409, Some("Idempotency-Key"));
    assert_eq!(message_count(&app, &conversation).await, 1);
}

#[actix_web::test]
async fn keys_belong_to_one_account() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let body = format!("conversation_id={conversation}&message=hi");
    let kevins = send_with_key(&app, KEVIN.1, "shared", &body)
        .await
        .expect(201);
    let kates = send_with_key(&app, KATE.1, "shared", &body)
        .await
        .expect(201);
    assert_ne!(kevins.id(), kates.id());
    assert_eq!(kates.body["contact"]["username"], KATE.0);
}

#[actix_web::test]
async fn twenty_concurrent_identical_requests_create_one_message() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let body = format!("conversation_id={conversation}&message=concurrent");
    let requests = (0..20).map(|_| send_with_key(&app, KEVIN.1, "burst", &body));
    let responses = futures_util::future::join_all(requests).await;
    let ids: Vec<String> = responses.into_iter().map(|r| r.expect(201).id()).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(message_count(&app, &conversation).await, 1);
}

#[actix_web::test]
async fn failed_requests_are_not_remembered() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    send_with_key(
        &app,
        KEVIN.1,
        "k",
        "conversation_id=nope0000nope0000&message=x",
    )
    .await
    .expect_error(404, Some("conversation_id"));
    // Only successes are kept: a corrected retry with the same key goes through.
    let body = format!("conversation_id={conversation}&message=x");
    send_with_key(&app, KEVIN.1, "k", &body).await.expect(201);
    assert_eq!(message_count(&app, &conversation).await, 1);
}

#[actix_web::test]
async fn uploads_are_idempotent_too() {
    let app = spawn_app().await;
    let (content_type, body) = multipart_body("file", "a.txt", None, b"hello", &[]);
    let upload = || {
        app.request(
            "POST",
            "/v1/attachments",
            Some(KEVIN.1),
            Some((&content_type, body.clone())),
            &[("Idempotency-Key", "upload-1")],
        )
    };
    let first = upload().await.expect(201);
    let again = upload().await.expect(201);
    assert_eq!(first.body, again.body);
    let list = app.get("/v1/attachments", KEVIN.1).await.expect(200);
    assert_eq!(list.ids(), vec![first.id()]);
}

#[actix_web::test]
async fn bad_keys_are_refused() {
    let app = spawn_app().await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "has space"] {
        app.request(
            "POST",
            "/v1/groups",
            Some(KEVIN.1),
            Some((
                "application/json",
                json!({"name": "x"}).to_string().into_bytes(),
            )),
            &[("Idempotency-Key", key)],
        )
        .await
        .expect_error(400, Some("Idempotency-Key"));
    }
}

#[actix_web::test]
async fn a_key_expires_after_24_hours() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let body = format!("conversation_id={conversation}&message=daily");
    let first = send_with_key(&app, KEVIN.1, "daily", &body)
        .await
        .expect(201);
    let age = |seconds: i64| {
        app.sql(|conn| {
            conn.execute(
                "UPDATE idempotency_keys SET created_at = created_at - ?1 WHERE key = 'daily'",
                [seconds],
            )
            .unwrap()
        })
    };
    // Nearly a day old: still the first response.
    assert_eq!(age(24 * 3600 - 120), 1);
    let retry = send_with_key(&app, KEVIN.1, "daily", &body)
        .await
        .expect(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.id(), first.id());
    // Past the day: the key is free, and the retry is a new request.
    assert_eq!(age(240), 1);
    let later = send_with_key(&app, KEVIN.1, "daily", &body)
        .await
        .expect(201);
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_ne!(later.id(), first.id());
    assert_eq!(message_count(&app, &conversation).await, 2);
    // And that new response is what the key now replays.
    let again = send_with_key(&app, KEVIN.1, "daily", &body)
        .await
        .expect(201);
    assert_eq!(again.id(), later.id());
}

#[actix_web::test]
async fn a_retry_after_a_restart_still_returns_the_first_response() {
    let first = spawn_app().await;
    let conversation = first.kevin_and_kate().await;
    let body = format!("conversation_id={conversation}&message=across");
    let original = send_with_key(&first, KEVIN.1, "restart", &body)
        .await
        .expect(201);
    let app = first.restarted().await;
    let retry = send_with_key(&app, KEVIN.1, "restart", &body)
        .await
        .expect(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, original.body);
    assert_eq!(message_count(&app, &conversation).await, 1);
    // The stored fingerprint survives too: another body with the key is still a conflict.
    send_with_key(&app, KEVIN.1, "restart", &format!("{body}+changed"))
        .await
        .expect_error(409, Some("Idempotency-Key"));
}

/// A request body: (content type, bytes).
type Body = (String, Vec<u8>);

/// Each kind of POST, sent ten times at once with one key: one object, one answer. (The
/// requests race to commit; the key's row lets one win and the others answer with its answer.)
#[actix_web::test]
async fn every_kind_of_post_sent_at_once_with_one_key_makes_one_object() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let json = |value: Value| {
        (
            "application/json".to_owned(),
            value.to_string().into_bytes(),
        )
    };
    let group = app
        .post_json("/v1/groups", KEVIN.1, json!({"name": "home"}))
        .await
        .expect(201)
        .id();
    let peter = app.add_contact(KEVIN.1, PETER.0).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (upload_type, upload) = multipart_body("file", "a.txt", None, b"hello", &[]);
    let add_members = format!("/v1/groups/{group}/contacts");
    // (path, (content type, body), status)
    let posts: Vec<(&str, Body, u16)> = vec![
        ("/v1/groups", json(json!({"name": "once"})), 201),
        (
            "/v1/contacts",
            json(json!({"username": "BuzzMcCallister", "phone_number": "5"})),
            201,
        ),
        (
            "/v1/messages",
            json(json!({"conversation_id": conversation, "message": "once"})),
            201,
        ),
        ("/v1/attachments", (upload_type, upload), 201),
        // (It exists: adding Peter made it.)
        ("/v1/conversations", json(json!({"contact_id": peter})), 200),
        (&add_members, json(json!({"contacts": [peter]})), 200),
    ];
    for (n, (path, (content_type, body), status)) in posts.iter().enumerate() {
        let key = format!("burst-{n}");
        let headers = [("Idempotency-Key", key.as_str())];
        let requests = (0..10).map(|_| {
            app.request(
                "POST",
                path,
                Some(KEVIN.1),
                Some((content_type, body.clone())),
                &headers,
            )
        });
        let answers: Vec<Response> = futures_util::future::join_all(requests).await;
        let first = answers[0].body.clone();
        for answer in answers {
            assert_eq!(answer.body, first, "{path}");
            answer.expect(*status);
        }
    }
    for (path, objects) in [("/v1/groups", 2), ("/v1/attachments", 1)] {
        let listed = app.get(&format!("{path}?limit=100"), KEVIN.1).await;
        assert_eq!(listed.expect(200).ids().len(), objects, "{path}");
    }
    assert_eq!(message_count(&app, &conversation).await, 1);
    let buzz = app.get("/v1/contacts?limit=100", KEVIN.1).await.expect(200);
    let usernames = buzz.body["data"].as_array().unwrap();
    let buzzes = usernames
        .iter()
        .filter(|c| c["username"] == "BuzzMcCallister")
        .count();
    assert_eq!(buzzes, 1);
    let members = app
        .get(&format!("/v1/groups/{group}/contacts"), KEVIN.1)
        .await
        .expect(200)
        .ids();
    assert_eq!(members.len(), 2, "{members:?}");
}
