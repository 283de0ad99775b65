use crate::helpers::*;
use serde_json::{Value, json};

fn path(message: &Value) -> String {
    format!("/v1/messages/{}", message["id"].as_str().unwrap())
}

#[actix_web::test]
async fn send_returns_the_message_with_its_sender() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app
        .post_form(
            "/v1/messages",
            KEVIN.1,
            &format!("conversation_id={conversation}&message=Hello+Mom%21"),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(message["message"], "Hello Mom!");
    assert_eq!(message["conversation_id"], conversation.as_str());
    assert_eq!(message["contact"]["username"], KEVIN.0);
    assert_eq!(message["contact"]["phone_number"], "1-800-759-3000");
    let profile_keys: Vec<&str> = message["contact"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        profile_keys,
        [
            "avatar_url",
            "created_at",
            "id",
            "last_active_at",
            "phone_number",
            "username"
        ]
    );
    assert_eq!(message["reactions"], json!([]));
    assert_eq!(message["attachments"], json!([]));
    assert!(message["read_at"].is_null());
    assert!(message["updated_at"].is_null());
    assert!(message["created_at"].is_i64());
    assert_eq!(
        app.get(&path(&message), KATE.1).await.expect(200).body,
        message
    );

    let conversation = app
        .get(&format!("/v1/conversations/{conversation}"), KEVIN.1)
        .await
        .body;
    assert_eq!(conversation["last_active_at"], message["created_at"]);
}

/// A sender's profile in a page and in a single message is the one their contact shows, also
/// after it changed (SQLite readers take it from a copy in memory that the writer keeps).
#[actix_web::test]
async fn messages_show_their_sender_as_the_sender_is_now() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    // Kate's first request: her last_active_at is written beside it.
    let sent = app
        .post_form(
            "/v1/messages",
            KATE.1,
            &format!("conversation_id={conversation}&message=Kevin%3F"),
        )
        .await
        .expect(201)
        .body;
    let kate = format!("/v1/contacts/{}", sent["contact"]["id"].as_str().unwrap());
    let one = path(&sent);
    let page = format!("/v1/messages?conversation_id={conversation}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = app.get(&kate, KEVIN.1).await.expect(200).body["last_active_at"].clone();
        let listed = app.get(&page, KEVIN.1).await.expect(200).body["data"][0]["contact"].clone();
        let single = app.get(&one, KEVIN.1).await.expect(200).body["contact"].clone();
        if !now.is_null() && listed["last_active_at"] == now && single["last_active_at"] == now {
            assert_eq!(listed["username"], KATE.0);
            assert_eq!(listed, single);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Kate's contact says {now}, her message in a page {listed}, alone {single}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn send_validates_its_input() {
    let app = spawn_app_with(|c| c.server.max_message_chars = 20).await;
    let conversation = app.kevin_and_kate().await;
    let send = |body: Value| app.post_json("/v1/messages", KEVIN.1, body);
    send(json!({"message": "x"}))
        .await
        .expect_error(400, Some("conversation_id"));
    send(json!({"conversation_id": conversation}))
        .await
        .expect_error(400, Some("message"));
    send(json!({"conversation_id": conversation, "message": "  \n\t "}))
        .await
        .expect_error(400, Some("message"));
    send(json!({"conversation_id": conversation, "message": 42}))
        .await
        .expect_error(400, Some("message"));
    // 20 characters pass, 21 do not, counted as characters rather than bytes.
    let twenty = "é".repeat(20);
    send(json!({"conversation_id": conversation, "message": twenty}))
        .await
        .expect(201);
    send(json!({"conversation_id": conversation, "message": format!("{twenty}x")}))
        .await
        .expect_error(400, Some("message"));
    send(json!({"conversation_id": conversation, "message": "nul\u{0}byte"}))
        .await
        .expect_error(400, Some("message"));
    send(json!({"conversation_id": "XXXXXXXXXXXXXXXX", "message": "x"}))
        .await
        .expect_error(404, Some("conversation_id"));
    let kept = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KEVIN.1,
        )
        .await;
    assert_eq!(kept.ids().len(), 1);
}

#[actix_web::test]
async fn order_is_arrival_even_within_one_second() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut sent = Vec::new();
    for i in 0..30 {
        let who = if i % 2 == 0 { KEVIN.1 } else { KATE.1 };
        sent.push(
            app.send(who, &conversation, &format!("{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    sent.reverse();
    let listed = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}&limit=100"),
            KEVIN.1,
        )
        .await
        .expect(200);
    assert_eq!(listed.ids(), sent);
}

#[actix_web::test]
async fn without_conversation_id_the_list_spans_your_conversations() {
    let app = spawn_app().await;
    let with_kate = app.kevin_and_kate().await;
    let with_peter = app.add_contact(KEVIN.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kate_peter = app.add_contact(KATE.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = app.send(KATE.1, &with_kate, "a").await;
    let b = app.send(PETER.1, &with_peter, "b").await;
    let _not_mine = app.send(PETER.1, &kate_peter, "c").await;
    let d = app.send(KEVIN.1, &with_kate, "d").await;
    let all = app.get("/v1/messages", KEVIN.1).await.expect(200);
    let expected: Vec<String> = [&d, &b, &a]
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.ids(), expected);
}

#[actix_web::test]
async fn only_the_sender_edits_and_editing_sets_updated_at() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "typo").await;
    app.put_form(&path(&message), KATE.1, "message=hacked")
        .await
        .expect_error(403, Some("message"));
    let edited = app
        .put_form(&path(&message), KEVIN.1, "message=fixed")
        .await
        .expect(200)
        .body;
    assert_eq!(edited["message"], "fixed");
    assert!(edited["updated_at"].is_i64());
    app.put_form(&path(&message), KEVIN.1, "message=+")
        .await
        .expect_error(400, Some("message"));
    assert_eq!(
        app.get(&path(&message), KATE.1).await.body["message"],
        "fixed"
    );
}

#[actix_web::test]
async fn reactions_as_the_docs_send_them() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "react").await;
    let p = path(&message);

    // The docs' own form: brackets sent raw by curl -d.
    let first = app
        .put_form(&p, KATE.1, "reactions[red_angry_face][]=KateMcCallister")
        .await
        .expect(200)
        .body;
    assert_eq!(
        first["reactions"],
        json!([{"red_angry_face": ["KateMcCallister"]}])
    );
    assert!(
        first["updated_at"].is_null(),
        "reacting does not edit the message"
    );

    // Percent-encoded brackets, JSON, and a second emoji.
    app.put_form(
        &p,
        KEVIN.1,
        "reactions%5Bred_angry_face%5D%5B%5D=KevinMcCallister",
    )
    .await
    .expect(200);
    let both = app
        .put_json(
            &p,
            KEVIN.1,
            json!({"reactions": {"thumbs_up": ["KevinMcCallister"]}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        both["reactions"],
        json!([
            {"red_angry_face": ["KateMcCallister", "KevinMcCallister"]},
            {"thumbs_up": ["KevinMcCallister"]}
        ])
    );
    // Adding again changes nothing.
    let again = app
        .put_form(&p, KATE.1, "reactions[red_angry_face][]=KateMcCallister")
        .await
        .expect(200)
        .body;
    assert_eq!(again["reactions"], both["reactions"]);

    // Removal: an empty form value, and an empty JSON list.
    app.put_form(&p, KATE.1, "reactions[red_angry_face]=")
        .await
        .expect(200);
    let removed = app
        .put_json(&p, KEVIN.1, json!({"reactions": {"thumbs_up": []}}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        removed["reactions"],
        json!([{"red_angry_face": ["KevinMcCallister"]}])
    );
}

#[actix_web::test]
async fn reacting_as_someone_else_or_with_a_bad_name_is_refused() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "react").await;
    let p = path(&message);
    app.put_form(&p, KATE.1, "reactions[smile][]=KevinMcCallister")
        .await
        .expect_error(403, Some("reactions"));
    for name in [
        "Smile",
        "two%20words",
        "%27%3B+DROP+TABLE+messages%3B--",
        &"a".repeat(65),
    ] {
        app.put_form(&p, KATE.1, &format!("reactions[{name}][]=KateMcCallister"))
            .await
            .expect_error(400, Some("reactions"));
    }
    app.put_json(&p, KATE.1, json!({"reactions": ["smile"]}))
        .await
        .expect_error(400, Some("reactions"));
    assert_eq!(app.get(&p, KEVIN.1).await.body["reactions"], json!([]));
}

#[actix_web::test]
async fn delete_is_for_everyone_and_by_the_sender_only() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "oops").await;
    app.delete(&path(&message), KATE.1)
        .await
        .expect_error(403, None);
    app.delete(&path(&message), KEVIN.1).await.expect(204);
    app.get(&path(&message), KEVIN.1)
        .await
        .expect_error(404, None);
    app.get(&path(&message), KATE.1)
        .await
        .expect_error(404, None);
    app.delete(&path(&message), KEVIN.1)
        .await
        .expect_error(404, None);
}

#[actix_web::test]
async fn members_of_a_group_talk_in_its_conversation() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Family", "contacts": [kate["id"]]}),
        )
        .await
        .expect(201)
        .body;
    let conversation = group["conversation_id"].as_str().unwrap();
    let message = app.send(KATE.1, conversation, "hello family").await;
    app.get(&path(&message), KEVIN.1).await.expect(200);
    app.get(&path(&message), PETER.1)
        .await
        .expect_error(404, None);
    app.post_json(
        "/v1/messages",
        PETER.1,
        json!({"conversation_id": conversation, "message": "let me in"}),
    )
    .await
    .expect_error(404, Some("conversation_id"));
}

/// A message row remembers whether it has reactions and attachments, so a page skips those
/// lookups for messages without any: the page must still show them exactly as they are after
/// every kind of change.
#[actix_web::test]
async fn pages_show_reactions_and_attachments_as_they_change() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let plain = app.send(KEVIN.1, &conversation, "plain").await;
    let reacted = app.send(KEVIN.1, &conversation, "reacted").await;
    let file = app
        .upload(KEVIN.1, "file", "a.txt", None, b"a", &[])
        .await
        .expect(201)
        .id();
    let with_file = app
        .send_with_attachments(KEVIN.1, &conversation, "file", &[&file])
        .await;
    let list = format!("/v1/messages?conversation_id={conversation}");
    // (reactions, attachment ids) of each message on the page, by message.
    let details = |page: &Value, message: &Value| -> (Value, Vec<String>) {
        let found = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message["id"])
            .unwrap()
            .clone();
        let files = found["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        (found["reactions"].clone(), files)
    };
    let react = |who: (&'static str, &'static str), users: Vec<&str>| {
        let body = json!({"reactions": {"thumbs_up": users}});
        let path = path(&reacted);
        let app = &app;
        async move { app.put_json(&path, who.1, body).await.expect(200) }
    };

    react(KATE, vec![KATE.0]).await;
    let page = app.get(&list, KATE.1).await.expect(200).body;
    assert_eq!(details(&page, &reacted).0, json!([{"thumbs_up": [KATE.0]}]));
    react(KEVIN, vec![KEVIN.0]).await;
    react(KATE, vec![]).await;
    let page = app.get(&list, KATE.1).await.expect(200).body;
    assert_eq!(
        details(&page, &reacted).0,
        json!([{"thumbs_up": [KEVIN.0]}])
    );
    assert_eq!(details(&page, &plain), (json!([]), vec![]));
    assert_eq!(details(&page, &with_file), (json!([]), vec![file.clone()]));

    react(KEVIN, vec![]).await;
    // The file moves from one message to another, then is deleted.
    app.put_json(&path(&with_file), KEVIN.1, json!({"attachments": []}))
        .await
        .expect(200);
    app.put_json(&path(&plain), KEVIN.1, json!({"attachments": [file]}))
        .await
        .expect(200);
    let page = app.get(&list, KATE.1).await.expect(200).body;
    assert_eq!(details(&page, &reacted), (json!([]), vec![]));
    assert_eq!(details(&page, &with_file), (json!([]), vec![]));
    assert_eq!(details(&page, &plain), (json!([]), vec![file.clone()]));

    app.delete(&format!("/v1/attachments/{file}"), KEVIN.1)
        .await
        .expect(204);
    let page = app.get(&list, KATE.1).await.expect(200).body;
    assert_eq!(details(&page, &plain), (json!([]), vec![]));
    // A single message reads the same way.
    assert_eq!(
        app.get(&path(&plain), KATE.1).await.expect(200).body["attachments"],
        json!([])
    );
}
