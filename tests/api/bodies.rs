use crate::helpers::*;
use serde_json::json;

async fn group_count(app: &TestApp) -> usize {
    app.get("/v1/groups?limit=100", KEVIN.1)
        .await
        .expect(200)
        .ids()
        .len()
}

async fn post(app: &TestApp, content_type: &str, body: &[u8]) -> Response {
    app.request(
        "POST",
        "/v1/groups",
        Some(KEVIN.1),
        Some((content_type, body.to_vec())),
        &[],
    )
    .await
}

#[actix_web::test]
async fn form_and_json_are_both_accepted() {
    let app = spawn_app().await;
    post(&app, "application/x-www-form-urlencoded", b"name=Form")
        .await
        .expect(201);
    post(&app, "application/json", br#"{"name": "Json"}"#)
        .await
        .expect(201);
    post(
        &app,
        "application/json; charset=utf-8",
        br#"{"name": "Charset"}"#,
    )
    .await
    .expect(201);
    assert_eq!(group_count(&app).await, 3);
}

#[actix_web::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    post(&app, "text/plain", b"name=x")
        .await
        .expect_error(415, None);
    post(&app, "application/xml", b"<name>x</name>")
        .await
        .expect_error(415, None);
    let (content_type, body) = multipart_body("name", "x", None, b"x", &[]);
    post(&app, &content_type, &body)
        .await
        .expect_error(415, None);
    assert_eq!(group_count(&app).await, 0);
}

#[actix_web::test]
async fn bodies_that_do_not_parse_are_400() {
    let app = spawn_app().await;
    for (content_type, body) in [
        ("application/json", &b"{\"name\": "[..]),
        ("application/json", b"[1, 2]"),
        ("application/json", b"\"name\""),
        ("application/json", b"{\"name\": \"\xff\xfe\"}"),
        ("application/x-www-form-urlencoded", b"name=%FF%FE"),
        ("application/x-www-form-urlencoded", b"name=a&name[x]=b"),
        ("application/x-www-form-urlencoded", b"na[me=x"),
    ] {
        let response = post(&app, content_type, body).await;
        assert_eq!(
            response.status, 400,
            "{content_type} {body:?}: {}",
            response.body
        );
    }
    assert_eq!(group_count(&app).await, 0);
}

#[actix_web::test]
async fn wrong_types_name_the_attribute_and_unknown_ones_are_ignored() {
    let app = spawn_app().await;
    post(&app, "application/json", br#"{"name": 5}"#)
        .await
        .expect_error(400, Some("name"));
    post(&app, "application/json", br#"{"name": ["a"]}"#)
        .await
        .expect_error(400, Some("name"));
    post(&app, "application/x-www-form-urlencoded", b"name=a&name=b")
        .await
        .expect_error(400, Some("name"));
    let group = post(
        &app,
        "application/json",
        br#"{"name": "ok", "colour": "blue", "x": {"y": 1}}"#,
    )
    .await
    .expect(201);
    assert!(group.body.get("colour").is_none());
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|c| c.server.max_body_bytes = 1000).await;
    let big = format!("name=x&description={}", "d".repeat(2000));
    post(&app, "application/x-www-form-urlencoded", big.as_bytes())
        .await
        .expect_error(413, None);
    assert_eq!(group_count(&app).await, 0);

    let app = spawn_app().await;
    let two_mib = format!(
        r#"{{"name": "x", "description": "{}"}}"#,
        "d".repeat(2 * 1024 * 1024)
    );
    post(&app, "application/json", two_mib.as_bytes())
        .await
        .expect_error(413, None);
    assert_eq!(group_count(&app).await, 0);
}

#[actix_web::test]
async fn hostile_forms_get_a_4xx() {
    let app = spawn_app().await;
    // A key nested 10,000 deep: no attribute is, so it is refused (naming it), not flattened.
    let deep = format!("name=x&a{}=1", "[a]".repeat(10_000));
    post(&app, "application/x-www-form-urlencoded", deep.as_bytes())
        .await
        .expect_error(400, Some("a"));
    let many = "f=1&".repeat(100_000);
    post(&app, "application/x-www-form-urlencoded", many.as_bytes())
        .await
        .expect_error(400, None);
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    post(&app, "application/json", deep_json.as_bytes())
        .await
        .expect_error(400, None);
    assert_eq!(group_count(&app).await, 0);
    app.get("/health", KEVIN.1).await.expect(200);
}

/// An object as `GET` shows it, without the members' `last_active_at` (their activity, not
/// the object's: written in the background at most once a minute).
async fn shown(app: &TestApp, path: &str) -> serde_json::Value {
    let mut object = app.get(path, KEVIN.1).await.expect(200).body.value();
    if let Some(members) = object["contacts"].as_array_mut() {
        for member in members {
            member.as_object_mut().unwrap().remove("last_active_at");
        }
    }
    object
}

#[actix_web::test]
async fn an_empty_put_changes_nothing() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let kate = app
        .get("/v1/contacts?limit=1", KEVIN.1)
        .await
        .expect(200)
        .ids()[0]
        .clone();
    let group = post(
        &app,
        "application/json",
        json!({"name": "same", "description": "d", "avatar_url": "https://example.com/a.png",
               "contacts": [kate]})
        .to_string()
        .as_bytes(),
    )
    .await
    .expect(201)
    .id();
    app.put_form(&format!("/v1/groups/{group}"), KEVIN.1, "archived_at=5")
        .await
        .expect(200);
    let message = app.send(KEVIN.1, &conversation, "as it was").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put_form(
        &format!("/v1/conversations/{conversation}"),
        KEVIN.1,
        "is_pinned=true&is_muted=true&archived_at=7",
    )
    .await
    .expect(200);
    let upload = app
        .upload(KEVIN.1, "file", "a.txt", None, b"a", &[])
        .await
        .expect(201)
        .id();
    for path in [
        format!("/v1/groups/{group}"),
        format!("/v1/conversations/{conversation}"),
        format!("/v1/messages/{message}"),
        format!("/v1/contacts/{kate}"),
        format!("/v1/attachments/{upload}"),
    ] {
        let before = shown(&app, &path).await;
        // No body at all (`curl -X PUT`), an empty JSON object, an empty form.
        app.request("PUT", &path, Some(KEVIN.1), None, &[])
            .await
            .expect(200);
        app.put_json(&path, KEVIN.1, json!({})).await.expect(200);
        app.put_form(&path, KEVIN.1, "").await.expect(200);
        let after = shown(&app, &path).await;
        // Opening a conversation (GET) sets last_opened_at: compare the rest.
        let strip = |mut v: serde_json::Value| {
            v.as_object_mut().unwrap().remove("last_opened_at");
            v
        };
        assert_eq!(strip(after), strip(before), "{path}");
    }
    let message = shown(&app, &format!("/v1/messages/{message}")).await;
    assert!(message["updated_at"].is_null(), "{message}");
}

#[actix_web::test]
async fn form_keys_that_name_no_attribute_are_ignored() {
    let app = spawn_app().await;
    let group = post(
        &app,
        "application/x-www-form-urlencoded",
        b"name=Plaza&%5B%C2%A0=x&=y&a%5Db=z&[x=1",
    )
    .await
    .expect(201);
    assert_eq!(group.body["name"], "Plaza");
}

#[actix_web::test]
async fn a_json_timestamp_may_be_written_as_a_whole_float() {
    let app = spawn_app().await;
    let group = post(&app, "application/json", br#"{"name": "G"}"#)
        .await
        .expect(201)
        .id();
    let archived = app
        .put_json(
            &format!("/v1/groups/{group}"),
            KEVIN.1,
            json!({"archived_at": 553.0}),
        )
        .await
        .expect(200);
    assert_eq!(archived.body["archived_at"], 553);
    app.put_json(
        &format!("/v1/groups/{group}"),
        KEVIN.1,
        json!({"archived_at": 553.5}),
    )
    .await
    .expect_error(400, Some("archived_at"));
}

#[actix_web::test]
async fn id_filters_must_look_like_ids() {
    let app = spawn_app().await;
    for path in [
        "/v1/messages?conversation_id=%C2%84",
        "/v1/attachments?conversation_id=short",
        "/v1/conversations?group_id=x%27%20OR%201=1",
    ] {
        let param = path.split(['?', '=']).nth(1).unwrap();
        app.get(path, KEVIN.1).await.expect_error(400, Some(param));
    }
    // Empty is no filter.
    app.get("/v1/conversations?group_id=", KEVIN.1)
        .await
        .expect(200);
}

/// In a form, a key without `=` is null: it clears a nullable attribute.
#[actix_web::test]
async fn a_bare_form_key_is_null() {
    let app = spawn_app().await;
    let group = post(
        &app,
        "application/json",
        json!({"name": "described", "description": "d"})
            .to_string()
            .as_bytes(),
    )
    .await
    .expect(201)
    .id();
    let path = format!("/v1/groups/{group}");
    let cleared = app
        .put_form(&path, KEVIN.1, "description")
        .await
        .expect(200);
    assert!(cleared.body["description"].is_null(), "{}", cleared.body);
    assert_eq!(cleared.body["name"], "described");
}
