//! The demo data (`demo_data = true`) and the curl examples of the public Protocol docs, run as
//! written there by the real `curl` through `sh`: only the docs' host is swapped for this server
//! and `{token}` for a demo account's token, and `-sS -w` is appended to read the status.

use crate::helpers::{KATE, KEVIN, TestApp, spawn_app_with};
use serde_json::{Value, json};
use std::process::Command;

const DOCS_HOST: &str = "https://api.protocol.chat";

/// A server with the demo data, Kevin's account set up as in the shipped protocol.toml (an
/// account's profile comes from the config).
async fn demo_app() -> TestApp {
    spawn_app_with(|c| {
        c.server.demo_data = true;
        c.accounts[0].avatar_url = Some("https://assets.protocol.chat/avatars/buzzboy.jpg".into());
    })
    .await
}

/// Runs one docs example with `token`; returns the status and the JSON body (Null if empty).
async fn curl(app: &TestApp, token: &str, example: &str) -> (u16, Value) {
    let command = format!(
        "{} -sS -w '\\n%{{http_code}}'",
        example
            .trim()
            .replace(DOCS_HOST, &app.base)
            .replace("{token}", token)
    );
    let cwd = app.dir.path().join("curl");
    std::fs::create_dir_all(&cwd).unwrap();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(cwd)
            .output()
            .expect("curl (and sh) are installed")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status.parse().unwrap(), body)
}

#[actix_web::test]
async fn the_messages_examples_work() {
    let app = demo_app().await;

    let (status, list) = curl(
        &app,
        KATE.1,
        r#"
curl -G https://api.protocol.chat/v1/messages \
  -H "Authorization: Bearer {token}" \
  -d conversation_id=xgQQXg3hrtjh7AvZ \
  -d limit=10"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["has_more"], false);
    let first = &list["data"][0];
    assert_eq!(first["id"], "SIuAFUNKdSYHZF2w");
    assert_eq!(first["conversation_id"], "xgQQXg3hrtjh7AvZ");
    assert_eq!(first["contact"]["id"], "WAz8eIbvDR60rouK");
    assert_eq!(first["contact"]["username"], "KevinMcCallister");
    assert_eq!(first["contact"]["phone_number"], "1-800-759-3000");
    assert_eq!(
        first["contact"]["avatar_url"],
        "https://assets.protocol.chat/avatars/buzzboy.jpg"
    );
    assert_eq!(first["contact"]["created_at"], 692233200);
    assert_eq!(first["read_at"], 705103200);
    assert_eq!(first["created_at"], 692233200);
    assert_eq!(first["reactions"], json!([]));
    assert_eq!(list["data"][1]["id"], "hSIhXBhNe8X1d8Et");

    let (status, sent) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/messages \
  -H "Authorization: Bearer {token}" \
  -d conversation_id="xgQQXg3hrtjh7AvZ" \
  -d message="You're what the French call 'les incompetents.'""#,
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["conversation_id"], "xgQQXg3hrtjh7AvZ");
    assert_eq!(
        sent["message"],
        "You're what the French call 'les incompetents.'"
    );
    assert_eq!(sent["contact"]["username"], KATE.0);
    assert_eq!(sent["read_at"], Value::Null);

    let (status, message) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/messages/SIuAFUNKdSYHZF2w \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["id"], "SIuAFUNKdSYHZF2w");
    assert_eq!(message["contact"]["id"], "WAz8eIbvDR60rouK");

    let (status, updated) = curl(
        &app,
        KATE.1,
        r#"
curl -X PUT https://api.protocol.chat/v1/messages/SIuAFUNKdSYHZF2w \
  -H "Authorization: Bearer {token}" \
  -d reactions[red_angry_face][]="KateMcCallister""#,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["reactions"],
        json!([{"red_angry_face": ["KateMcCallister"]}])
    );

    let delete = r#"
curl -X DELETE https://api.protocol.chat/v1/messages/SIuAFUNKdSYHZF2w \
  -H "Authorization: Bearer {token}""#;
    // Only the sender deletes: Kate may not, Kevin (who sent it) may.
    let (status, refused) = curl(&app, KATE.1, delete).await;
    assert_eq!(status, 403, "{refused}");
    let (status, body) = curl(&app, KEVIN.1, delete).await;
    assert_eq!((status, body), (204, Value::Null));
    app.get("/v1/messages/SIuAFUNKdSYHZF2w", KATE.1)
        .await
        .expect(404);
}

#[actix_web::test]
async fn the_conversations_examples_work() {
    let app = demo_app().await;

    let (status, list) = curl(
        &app,
        KATE.1,
        r#"
curl -G https://api.protocol.chat/v1/conversations \
  -H "Authorization: Bearer {token}" \
  -d limit=10"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let first = &list["data"][0];
    assert_eq!(first["id"], "xgQQXg3hrtjh7AvZ");
    assert_eq!(first["contact_id"], "WAz8eIbvDR60rouK");
    assert_eq!(first["group_id"], Value::Null);
    assert_eq!(first["last_opened_at"], 705103200);
    assert_eq!(first["last_active_at"], 692233200);
    assert_eq!(list["data"].as_array().unwrap().len(), 3);

    // The conversation exists already: the same one comes back, with 200.
    let (status, created) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/conversations \
  -H "Authorization: Bearer {token}" \
  -d 'contact_id'="WAz8eIbvDR60rouK""#,
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], "xgQQXg3hrtjh7AvZ");

    let (status, opened) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/conversations/xgQQXg3hrtjh7AvZ \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["contact_id"], "WAz8eIbvDR60rouK");
    assert!(opened["last_opened_at"].as_i64().unwrap() > 705103200);

    let (status, muted) = curl(
        &app,
        KATE.1,
        r#"
curl -X PUT https://api.protocol.chat/v1/conversations/xgQQXg3hrtjh7AvZ \
  -H "Authorization: Bearer {token}" \
  -d 'is_muted'=true"#,
    )
    .await;
    assert_eq!(status, 200, "{muted}");
    assert_eq!(muted["is_muted"], true);

    let (status, body) = curl(
        &app,
        KATE.1,
        r#"
curl -X DELETE https://api.protocol.chat/v1/conversations/xgQQXg3hrtjh7AvZ \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    app.get("/v1/conversations/xgQQXg3hrtjh7AvZ", KATE.1)
        .await
        .expect(404);
    // Kevin keeps his side of it.
    app.get("/v1/conversations/xgQQXg3hrtjh7AvZ", KEVIN.1)
        .await
        .expect(200);
}

#[actix_web::test]
async fn the_contacts_examples_work() {
    let app = demo_app().await;

    let (status, list) = curl(
        &app,
        KATE.1,
        r#"
curl -G https://api.protocol.chat/v1/contacts \
  -H "Authorization: Bearer {token}" \
  -d active=true \
  -d limit=10"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["id"], "WAz8eIbvDR60rouK");
    assert_eq!(list["data"][0]["conversation_id"], "xgQQXg3hrtjh7AvZ");

    let (status, frank) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/contacts \
  -H "Authorization: Bearer {token}" \
  -d username="FrankMcCallister" \
  -d phone_number="1-800-759-3000" \
  -d avatar_url="https://assets.protocol.chat/avatars/frank.jpg""#,
    )
    .await;
    assert_eq!(status, 201, "{frank}");
    assert_eq!(frank["username"], "FrankMcCallister");
    assert_eq!(
        frank["avatar_url"],
        "https://assets.protocol.chat/avatars/frank.jpg"
    );
    assert!(frank["conversation_id"].is_string());

    let (status, kevin) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/contacts/WAz8eIbvDR60rouK \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!(status, 200, "{kevin}");
    assert_eq!(kevin["username"], "KevinMcCallister");
    assert_eq!(kevin["display_name"], Value::Null);

    let (status, renamed) = curl(
        &app,
        KATE.1,
        r#"
curl -X PUT https://api.protocol.chat/v1/contacts/WAz8eIbvDR60rouK \
  -H "Authorization: Bearer {token}" \
  -d display_name="UncleFrank""#,
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_name"], "UncleFrank");

    let (status, body) = curl(
        &app,
        KATE.1,
        r#"
curl -X DELETE https://api.protocol.chat/v1/contacts/WAz8eIbvDR60rouK \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    app.get("/v1/contacts/WAz8eIbvDR60rouK", KATE.1)
        .await
        .expect(404);
}

#[actix_web::test]
async fn the_groups_examples_work() {
    let app = demo_app().await;

    let (status, list) = curl(
        &app,
        KATE.1,
        r#"
curl -G https://api.protocol.chat/v1/groups \
  -H "Authorization: Bearer {token}" \
  -d limit=10"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let plaza = &list["data"][0];
    assert_eq!(plaza["id"], "L7cGNIBKZiNJ6wqF");
    assert_eq!(plaza["name"], "Plaza Hotel");
    assert_eq!(plaza["description"], "World-renowned.");
    assert_eq!(plaza["conversation_id"], "ZYjVAbCE9g5XRlra");
    let members: Vec<&str> = plaza["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    for staff in ["Hector", "Cedric", "Hester", "Cliff"] {
        assert!(members.contains(&staff), "{members:?}");
    }

    let (status, created) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/groups \
  -H "Authorization: Bearer {token}" \
  -d name="Plaza Hotel""#,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Plaza Hotel");
    assert_eq!(created["description"], Value::Null);

    let (status, group) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/groups/L7cGNIBKZiNJ6wqF \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["avatar_url"], plaza["avatar_url"]);

    let (status, updated) = curl(
        &app,
        KATE.1,
        r#"
curl -X PUT https://api.protocol.chat/v1/groups/L7cGNIBKZiNJ6wqF \
  -H "Authorization: Bearer {token}" \
  -d description="The finest in New York.""#,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["description"], "The finest in New York.");

    let (status, body) = curl(
        &app,
        KATE.1,
        r#"
curl -X DELETE https://api.protocol.chat/v1/groups/L7cGNIBKZiNJ6wqF \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    app.get("/v1/groups/L7cGNIBKZiNJ6wqF", KATE.1)
        .await
        .expect(404);
}

#[actix_web::test]
async fn the_attachments_examples_work() {
    let app = demo_app().await;

    let (status, list) = curl(
        &app,
        KATE.1,
        r#"
curl -G https://api.protocol.chat/v1/attachments \
  -H "Authorization: Bearer {token}" \
  -d conversation_id="xgQQXg3hrtjh7AvZ" \
  -d limit=10"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let invoice = &list["data"][0];
    assert_eq!(invoice["id"], "Nc6yKKMpcxiiFxp6");
    assert_eq!(invoice["message_id"], "LoPsJaMcPBuFNjg1");
    assert_eq!(invoice["filename"], "Invoice_room_service__Plaza_Hotel.pdf");
    assert_eq!(invoice["file_type"], "application/pdf");
    assert_eq!(invoice["file_size"], 21352);
    let content = app
        .get("/v1/attachments/Nc6yKKMpcxiiFxp6/content", KATE.1)
        .await
        .expect(200);
    assert_eq!(content.raw.len(), 21352);
    assert!(content.raw.starts_with(b"%PDF-"));

    // As written, the example sends the path as text (no @): a clear 400 says what to do.
    let (status, refused) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/attachments \
  -H "Authorization: Bearer {token}" \
  -F file="../Invoice_room_service__Plaza_Hotel.pdf""#,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["param"], "file");
    assert!(refused["message"].as_str().unwrap().contains("file=@"));
    // With the @ curl reads the file (which the test puts where the example looks for it).
    std::fs::write(
        app.dir.path().join("Invoice_room_service__Plaza_Hotel.pdf"),
        &content.raw,
    )
    .unwrap();
    let (status, uploaded) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/attachments \
  -H "Authorization: Bearer {token}" \
  -F file=@"../Invoice_room_service__Plaza_Hotel.pdf""#,
    )
    .await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["file_size"], 21352);
    assert_eq!(uploaded["file_type"], "application/pdf");

    let (status, got) = curl(
        &app,
        KATE.1,
        r#"
curl https://api.protocol.chat/v1/attachments/Nc6yKKMpcxiiFxp6 \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, *invoice);

    let (status, renamed) = curl(
        &app,
        KATE.1,
        r#"
curl -X PUT https://api.protocol.chat/v1/attachments/Nc6yKKMpcxiiFxp6 \
  -H "Authorization: Bearer {token}" \
  -d filename="Invoice_room_service__Plaza_Hotel_updated.pdf""#,
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        renamed["filename"],
        "Invoice_room_service__Plaza_Hotel_updated.pdf"
    );

    let (status, body) = curl(
        &app,
        KATE.1,
        r#"
curl -X DELETE https://api.protocol.chat/v1/attachments/Nc6yKKMpcxiiFxp6 \
  -H "Authorization: Bearer {token}""#,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    app.get("/v1/attachments/Nc6yKKMpcxiiFxp6", KATE.1)
        .await
        .expect(404);
}

/// Kate, Kevin and Peter each see their own part of the dataset, and nobody else's.
#[actix_web::test]
async fn the_demo_respects_who_sees_what() {
    let app = demo_app().await;
    let peter = crate::helpers::PETER.1;
    // Peter is not in Kate and Kevin's conversation, nor in the hotel group.
    app.get("/v1/conversations/xgQQXg3hrtjh7AvZ", peter)
        .await
        .expect(404);
    app.get("/v1/messages/SIuAFUNKdSYHZF2w", peter)
        .await
        .expect(404);
    app.get("/v1/groups/L7cGNIBKZiNJ6wqF", peter)
        .await
        .expect(404);
    app.get("/v1/attachments/Nc6yKKMpcxiiFxp6", peter)
        .await
        .expect(404);
    // Kevin sees the conversation from his side: its contact is Kate.
    let seen = app
        .get("/v1/conversations/xgQQXg3hrtjh7AvZ", KEVIN.1)
        .await
        .expect(200);
    let kate = app.get("/v1/contacts?limit=100", KEVIN.1).await.expect(200);
    let kate_id = kate.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == KATE.0)
        .unwrap()["id"]
        .clone();
    assert_eq!(seen.body["contact_id"], kate_id);
    // Peter's own conversation with Kate is there, newest message first.
    let messages = app
        .get("/v1/messages?conversation_id=4bYmCfeZVtL8rnGq", peter)
        .await
        .expect(200);
    assert_eq!(messages.ids(), ["QGVl10AE2gtMJvIg", "t85kzuzYyjGSPu3N"]);
}

/// Loaded once per database: what a user deletes stays deleted across restarts.
#[actix_web::test]
async fn demo_data_is_loaded_once_per_database() {
    let first = demo_app().await;
    first
        .delete("/v1/messages/SIuAFUNKdSYHZF2w", KEVIN.1)
        .await
        .expect(204);
    let before = first
        .get(
            "/v1/messages?conversation_id=xgQQXg3hrtjh7AvZ&limit=100",
            KATE.1,
        )
        .await
        .expect(200);
    first.stop().await;

    let database = first.database();
    let second = spawn_app_with(|c| {
        c.server.demo_data = true;
        c.server.database = database;
    })
    .await;
    let after = second
        .get(
            "/v1/messages?conversation_id=xgQQXg3hrtjh7AvZ&limit=100",
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(after.ids(), before.ids());
    second
        .get("/v1/messages/SIuAFUNKdSYHZF2w", KATE.1)
        .await
        .expect(404);
}
