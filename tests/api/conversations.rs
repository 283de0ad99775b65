use crate::helpers::*;
use serde_json::{Value, json};

#[actix_web::test]
async fn create_with_a_contact_returns_the_existing_conversation_with_200() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let existing = kate["conversation_id"].as_str().unwrap();
    let again = app
        .post_form(
            "/v1/conversations",
            KEVIN.1,
            &format!("contact_id={}", kate["id"].as_str().unwrap()),
        )
        .await
        .expect(200);
    assert_eq!(again.id(), existing);
    assert_eq!(again.body["contact_id"], kate["id"]);
    assert!(again.body["group_id"].is_null());
    // Kate sees the same conversation, with Kevin as its contact.
    let kates = app.get("/v1/conversations", KATE.1).await.expect(200);
    assert_eq!(kates.ids(), vec![existing.to_owned()]);
    assert_ne!(kates.body["data"][0]["contact_id"], kate["id"]);
}

#[actix_web::test]
async fn create_after_everyone_deleted_it_makes_a_new_one_with_201() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let old = kate["conversation_id"].as_str().unwrap();
    app.send(KEVIN.1, old, "gone soon").await;
    app.delete(&format!("/v1/conversations/{old}"), KEVIN.1)
        .await
        .expect(204);
    app.delete(&format!("/v1/conversations/{old}"), KATE.1)
        .await
        .expect(204);
    let fresh = app
        .post_json(
            "/v1/conversations",
            KEVIN.1,
            json!({"contact_id": kate["id"]}),
        )
        .await
        .expect(201);
    assert_ne!(fresh.id(), old);
    let messages = app
        .get(
            &format!("/v1/messages?conversation_id={}", fresh.id()),
            KEVIN.1,
        )
        .await
        .expect(200);
    assert!(messages.ids().is_empty());
}

#[actix_web::test]
async fn create_needs_exactly_one_known_target() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    app.post_form("/v1/conversations", KEVIN.1, "")
        .await
        .expect_error(400, Some("contact_id"));
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=G")
        .await
        .expect(201)
        .body;
    app.post_json(
        "/v1/conversations",
        KEVIN.1,
        json!({"contact_id": kate["id"], "group_id": group["id"]}),
    )
    .await
    .expect_error(400, Some("contact_id"));
    // Someone not in your address book: 404 naming contact_id.
    let peter_in_kates = app.add_contact(KATE.1, PETER.0).await;
    app.post_json(
        "/v1/conversations",
        KEVIN.1,
        json!({"contact_id": peter_in_kates["id"]}),
    )
    .await
    .expect_error(404, Some("contact_id"));
    app.post_json("/v1/conversations", KEVIN.1, json!({"contact_id": 12}))
        .await
        .expect_error(400, Some("contact_id"));
}

#[actix_web::test]
async fn create_with_a_group_returns_its_conversation() {
    let app = spawn_app().await;
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=G")
        .await
        .expect(201)
        .body;
    let conversation = app
        .post_json(
            "/v1/conversations",
            KEVIN.1,
            json!({"group_id": group["id"]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(conversation["id"], group["conversation_id"]);
    assert_eq!(conversation["group_id"], group["id"]);
    assert!(conversation["contact_id"].is_null());
    // Not a member: 404.
    app.post_json(
        "/v1/conversations",
        KATE.1,
        json!({"group_id": group["id"]}),
    )
    .await
    .expect_error(404, Some("group_id"));
}

#[actix_web::test]
async fn opening_marks_it_and_others_messages_read() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let other = app.add_contact(KATE.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from_kevin = app.send(KEVIN.1, &conversation, "read me").await;
    let from_kate = app.send(KATE.1, &conversation, "mine").await;
    let elsewhere = app.send(PETER.1, &other, "other conversation").await;
    assert!(from_kevin["read_at"].is_null());

    let opened = app
        .get(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect(200);
    assert!(opened.body["last_opened_at"].is_i64());
    let read = |id: &serde_json::Value| format!("/v1/messages/{}", id.as_str().unwrap());
    let kevins = app.get(&read(&from_kevin["id"]), KATE.1).await.expect(200);
    assert!(
        kevins.body["read_at"].is_i64(),
        "Kate opened it: Kevin's message is read"
    );
    let kates = app.get(&read(&from_kate["id"]), KATE.1).await.expect(200);
    assert!(
        kates.body["read_at"].is_null(),
        "her own message is not read by her opening"
    );
    let other_message = app.get(&read(&elsewhere["id"]), KATE.1).await.expect(200);
    assert!(other_message.body["read_at"].is_null());
    // Kevin's view of the conversation did not change.
    let kevins_view = app.get("/v1/conversations", KEVIN.1).await.body;
    assert!(kevins_view["data"][0]["last_opened_at"].is_null());
}

/// Each open reads what came since the last: a message that came after Kate opened is read at
/// her next open, her own messages wait for Kevin's, and earlier reads keep their time.
#[actix_web::test]
async fn every_open_reads_what_came_since_and_no_more() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let path = format!("/v1/conversations/{conversation}");
    let read_at = |id: &Value| {
        let path = format!("/v1/messages/{}", id.as_str().unwrap());
        let app = &app;
        async move { app.get(&path, KEVIN.1).await.expect(200).body["read_at"].clone() }
    };
    let first = app.send(KEVIN.1, &conversation, "first").await;
    app.get(&path, KATE.1).await.expect(200);
    let first_read = read_at(&first["id"]).await;
    assert!(first_read.is_i64());
    let kates = app.send(KATE.1, &conversation, "hers").await;
    let second = app.send(KEVIN.1, &conversation, "second").await;
    assert!(read_at(&second["id"]).await.is_null());
    std::thread::sleep(std::time::Duration::from_millis(5));
    app.get(&path, KATE.1).await.expect(200);
    assert!(
        read_at(&second["id"]).await.is_i64(),
        "came after her first open"
    );
    assert_eq!(read_at(&first["id"]).await, first_read, "read once");
    assert!(
        read_at(&kates["id"]).await.is_null(),
        "her own, until Kevin opens"
    );
    app.get(&path, KEVIN.1).await.expect(200);
    assert!(read_at(&kates["id"]).await.is_i64());
    // Opening again with nothing new reads nothing and emits no message.updated.
    let events_before: i64 = app.sql(|conn| {
        conn.query_row(
            "SELECT count(*) FROM events WHERE type = 'message.updated'",
            rusqlite::params![],
            |r| r.get::<i64>(0),
        )
        .unwrap()
    });
    app.get(&path, KATE.1).await.expect(200);
    app.get(&path, KEVIN.1).await.expect(200);
    let events_after: i64 = app.sql(|conn| {
        conn.query_row(
            "SELECT count(*) FROM events WHERE type = 'message.updated'",
            rusqlite::params![],
            |r| r.get::<i64>(0),
        )
        .unwrap()
    });
    assert_eq!(events_before, events_after);
}

#[actix_web::test]
async fn settings_are_per_participant() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let path = format!("/v1/conversations/{conversation}");
    let updated = app
        .put_form(
            &path,
            KEVIN.1,
            "is_muted=true&is_pinned=1&archived_at=1700000000",
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["is_muted"], true);
    assert_eq!(updated["is_pinned"], true);
    assert_eq!(updated["archived_at"], 1_700_000_000);
    let kates = app.get("/v1/conversations", KATE.1).await.body;
    assert_eq!(kates["data"][0]["is_muted"], false);
    assert_eq!(kates["data"][0]["is_pinned"], false);
    assert!(kates["data"][0]["archived_at"].is_null());

    let cleared = app
        .put_form(&path, KEVIN.1, "archived_at=&is_muted=false")
        .await
        .expect(200)
        .body;
    assert!(cleared["archived_at"].is_null());
    assert_eq!(cleared["is_muted"], false);
    assert_eq!(
        cleared["is_pinned"], true,
        "absent attributes keep their value"
    );
    let json_null = app
        .put_json(
            &path,
            KEVIN.1,
            json!({"archived_at": 5, "is_pinned": false}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(json_null["archived_at"], 5);
    let json_null = app
        .put_json(&path, KEVIN.1, json!({"archived_at": null}))
        .await
        .expect(200)
        .body;
    assert!(json_null["archived_at"].is_null());
}

#[actix_web::test]
async fn bad_settings_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let path = format!("/v1/conversations/{conversation}");
    let before = app.get("/v1/conversations", KEVIN.1).await.body;
    for (form, param) in [
        ("is_muted=maybe", "is_muted"),
        ("is_pinned=2", "is_pinned"),
        ("archived_at=yesterday", "archived_at"),
        ("archived_at=-5", "archived_at"),
        ("archived_at=99999999999999999999", "archived_at"),
        ("is_muted=true&archived_at=x", "archived_at"),
    ] {
        app.put_form(&path, KEVIN.1, form)
            .await
            .expect_error(400, Some(param));
    }
    app.put_json(&path, KEVIN.1, json!({"is_muted": "true"}))
        .await
        .expect_error(400, Some("is_muted"));
    assert_eq!(app.get("/v1/conversations", KEVIN.1).await.body, before);
}

#[actix_web::test]
async fn the_pinned_message_is_shared_and_must_belong_to_the_conversation() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let other = app.add_contact(KEVIN.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app.send(KEVIN.1, &conversation, "pin me").await;
    let elsewhere = app.send(KEVIN.1, &other, "not here").await;
    let path = format!("/v1/conversations/{conversation}");

    app.put_json(
        &path,
        KEVIN.1,
        json!({"pinned_message_id": elsewhere["id"]}),
    )
    .await
    .expect_error(400, Some("pinned_message_id"));
    app.put_json(&path, KEVIN.1, json!({"pinned_message_id": "nope"}))
        .await
        .expect_error(400, Some("pinned_message_id"));
    app.put_json(&path, KEVIN.1, json!({"pinned_message_id": message["id"]}))
        .await
        .expect(200);
    let kates = app.get("/v1/conversations", KATE.1).await.body;
    assert_eq!(kates["data"][0]["pinned_message_id"], message["id"]);

    // Unpin with an empty form value; pin again; deleting the message unpins.
    let unpinned = app
        .put_form(&path, KATE.1, "pinned_message_id=")
        .await
        .expect(200);
    assert!(unpinned.body["pinned_message_id"].is_null());
    app.put_json(&path, KATE.1, json!({"pinned_message_id": message["id"]}))
        .await
        .expect(200);
    app.delete(
        &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect(204);
    let after = app.get("/v1/conversations", KEVIN.1).await.body;
    let this = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conversation.as_str())
        .unwrap();
    assert!(this["pinned_message_id"].is_null());
}

#[actix_web::test]
async fn delete_is_for_you_only_and_a_new_message_brings_it_back_with_only_newer_messages() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let old = app.send(KATE.1, &conversation, "old").await;
    let path = format!("/v1/conversations/{conversation}");
    app.put_form(&path, KEVIN.1, "is_muted=true")
        .await
        .expect(200);

    app.delete(&path, KEVIN.1).await.expect(204);
    app.get(&path, KEVIN.1).await.expect_error(404, None);
    // Its messages are not listed for him either, not even from a cursor he knew.
    let messages = format!("/v1/messages?conversation_id={conversation}");
    app.get(&messages, KEVIN.1)
        .await
        .expect_error(404, Some("conversation_id"));
    app.get(
        &format!("{messages}&starting_after={}", old["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect_error(404, Some("conversation_id"));
    assert!(app.get("/v1/conversations", KEVIN.1).await.ids().is_empty());
    app.get(
        &format!("/v1/messages/{}", old["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect_error(404, None);
    // Kate keeps it all.
    app.get(&path, KATE.1).await.expect(200);
    let kates = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KATE.1,
        )
        .await;
    assert_eq!(kates.ids().len(), 1);

    let new = app.send(KATE.1, &conversation, "new").await;
    let back = app.get("/v1/conversations", KEVIN.1).await.expect(200);
    assert_eq!(back.ids(), vec![conversation.clone()]);
    assert_eq!(
        back.body["data"][0]["is_muted"], false,
        "settings start afresh"
    );
    let kevins = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KEVIN.1,
        )
        .await
        .expect(200);
    assert_eq!(kevins.ids(), vec![new["id"].as_str().unwrap().to_owned()]);
}

#[actix_web::test]
async fn filters_select_what_they_name() {
    let app = spawn_app().await;
    let with_kate = app.kevin_and_kate().await;
    let with_peter = app.add_contact(KEVIN.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_buzz = app.add_contact(KEVIN.1, "Buzz").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=G")
        .await
        .expect(201)
        .body;
    let group_conversation = group["conversation_id"].as_str().unwrap().to_owned();
    app.put_form(
        &format!("/v1/conversations/{with_kate}"),
        KEVIN.1,
        "is_muted=true",
    )
    .await
    .expect(200);
    app.put_form(
        &format!("/v1/conversations/{with_peter}"),
        KEVIN.1,
        "is_pinned=true",
    )
    .await
    .expect(200);
    app.put_form(
        &format!("/v1/conversations/{with_buzz}"),
        KEVIN.1,
        "archived_at=100",
    )
    .await
    .expect(200);

    let ids = |query: &'static str| {
        let app = &app;
        async move {
            let mut ids = app
                .get(&format!("/v1/conversations?limit=100&{query}"), KEVIN.1)
                .await
                .expect(200)
                .ids();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    assert_eq!(ids("muted=true").await, vec![with_kate.clone()]);
    assert_eq!(
        ids("muted=false").await,
        sorted(vec![&with_peter, &with_buzz, &group_conversation])
    );
    assert_eq!(ids("pinned=true").await, vec![with_peter.clone()]);
    assert_eq!(ids("archived=true").await, vec![with_buzz.clone()]);
    assert_eq!(
        ids("archived=false").await,
        sorted(vec![&with_kate, &with_peter, &group_conversation])
    );
    assert_eq!(ids("").await.len(), 4);
    let by_group = app
        .get(
            &format!(
                "/v1/conversations?group_id={}",
                group["id"].as_str().unwrap()
            ),
            KEVIN.1,
        )
        .await
        .expect(200);
    assert_eq!(by_group.ids(), vec![group_conversation.clone()]);
    app.get("/v1/conversations?muted=perhaps", KEVIN.1)
        .await
        .expect_error(400, Some("muted"));
}

#[actix_web::test]
async fn the_list_is_ordered_by_activity() {
    let app = spawn_app().await;
    let first = app.kevin_and_kate().await;
    let second = app.add_contact(KEVIN.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = app.add_contact(KEVIN.1, "Buzz").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Newest created first while nobody has written.
    assert_eq!(
        app.get("/v1/conversations", KEVIN.1).await.ids(),
        vec![third.clone(), second.clone(), first.clone()]
    );
    // A message moves its conversation to the top.
    app.send(KATE.1, &first, "hi").await;
    assert_eq!(
        app.get("/v1/conversations", KEVIN.1).await.ids(),
        vec![first.clone(), third.clone(), second.clone()]
    );
    let list = app.get("/v1/conversations", KEVIN.1).await.body;
    assert!(list["data"][0]["last_active_at"].is_i64());
    assert!(list["data"][1]["last_active_at"].is_null());
    app.send(KEVIN.1, &second, "hi").await;
    assert_eq!(
        app.get("/v1/conversations", KEVIN.1).await.ids(),
        vec![second, first, third]
    );
}

/// How many rows of `table` match `condition` (with `?1` = `value`), in the database.
fn count(app: &TestApp, table: &str, condition: &str, value: &str) -> i64 {
    app.sql(|conn| {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE {condition}"),
            [value],
            |r| r.get(0),
        )
        .unwrap()
    })
}

#[actix_web::test]
async fn a_group_conversation_deleted_by_everyone_is_purged_from_the_database() {
    group_conversation_deleted_by_everyone_is_purged(0).await;
}

#[actix_web::test]
async fn a_large_group_conversation_deleted_by_everyone_is_purged_from_the_database() {
    // Large groups keep their activity apart (src/db/conversations.rs); every member here is an
    // account, so that everyone can delete it.
    group_conversation_deleted_by_everyone_is_purged(protocol::db::conversations::LARGE_ABOVE)
        .await;
}

/// Kevin's group with Kate, Peter and `others` more accounts.
async fn group_conversation_deleted_by_everyone_is_purged(others: usize) {
    let extra: Vec<(String, String)> = (0..others)
        .map(|i| (format!("Member{i}"), format!("token-member-{i}")))
        .collect();
    let accounts = extra.clone();
    let app = spawn_app_with(move |c| {
        for (username, token) in accounts {
            c.accounts.push(protocol::config::AccountConfig {
                username,
                phone_number: "1".into(),
                avatar_url: None,
                token,
            });
        }
    })
    .await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let peter = app.add_contact(KEVIN.1, PETER.0).await;
    let mut members = vec![kate["id"].clone(), peter["id"].clone()];
    for (username, _) in &extra {
        members.push(app.add_contact(KEVIN.1, username).await["id"].clone());
    }
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Family", "contacts": members}),
        )
        .await
        .expect(201)
        .body
        .value();
    let group_id = group["id"].as_str().unwrap().to_owned();
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{conversation}");
    let upload = app
        .upload(KEVIN.1, "file", "photo.jpg", None, b"jpeg bytes", &[])
        .await
        .expect(201)
        .id();
    let first = app
        .send_with_attachments(KEVIN.1, &conversation, "look", &[&upload])
        .await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let second = app.send(KATE.1, &conversation, "nice").await;
    app.put_form(
        &format!("/v1/messages/{first_id}"),
        PETER.1,
        "reactions[heart][]=PeterMcCallister",
    )
    .await
    .expect(200);
    let file = app.files().join(&upload);
    assert!(file.exists());

    // Kate deletes it for herself: gone from her view, kept for the others and in the file.
    app.delete(&path, KATE.1).await.expect(204);
    app.get(&path, KATE.1).await.expect_error(404, None);
    app.get(&format!("/v1/messages/{first_id}"), KATE.1)
        .await
        .expect_error(404, None);
    assert!(
        !app.get("/v1/conversations", KATE.1)
            .await
            .expect(200)
            .ids()
            .contains(&conversation)
    );
    // She is still a member of the group.
    app.get(&format!("/v1/groups/{group_id}"), KATE.1)
        .await
        .expect(200);
    for who in [KEVIN.1, PETER.1] {
        let messages = app
            .get(&format!("/v1/messages?conversation_id={conversation}"), who)
            .await
            .expect(200);
        assert_eq!(messages.ids().len(), 2);
    }
    assert_eq!(
        count(&app, "messages", "conversation_id = ?1", &conversation),
        2
    );

    // A new message brings it back for her, holding only what came after her delete.
    let third = app.send(PETER.1, &conversation, "again").await;
    let hers = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(hers.ids(), vec![third["id"].as_str().unwrap().to_owned()]);

    // Everyone deletes it: the messages, their reactions and attachments leave the database,
    // the attachment's file leaves the disk; the group keeps its (now empty) conversation.
    for (_, token) in &extra {
        app.delete(&path, token).await.expect(204);
        assert_eq!(
            count(&app, "messages", "conversation_id = ?1", &conversation),
            3
        );
    }
    for who in [KATE.1, KEVIN.1, PETER.1] {
        app.delete(&path, who).await.expect(204);
    }
    let message_ids = [
        first_id.as_str(),
        second["id"].as_str().unwrap(),
        third["id"].as_str().unwrap(),
    ];
    assert_eq!(
        count(&app, "messages", "conversation_id = ?1", &conversation),
        0
    );
    for id in message_ids {
        assert_eq!(count(&app, "messages", "id = ?1", id), 0);
        assert_eq!(count(&app, "reactions", "message_id = ?1", id), 0);
        assert_eq!(count(&app, "attachments", "message_id = ?1", id), 0);
    }
    assert_eq!(count(&app, "attachments", "id = ?1", &upload), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while file.exists() || count(&app, "file_trash", "attachment_id = ?1", &upload) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the attachment's file is still there"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count(&app, "conversations", "id = ?1", &conversation), 1);
    for who in [KEVIN.1, KATE.1, PETER.1] {
        app.get(&path, who).await.expect_error(404, None);
        app.get(&format!("/v1/groups/{group_id}"), who)
            .await
            .expect(200);
    }

    // A member takes it up again (as with a direct conversation, through POST), and the next
    // message brings it back for everyone, with nothing of before.
    let reopened = app
        .post_json("/v1/conversations", KATE.1, json!({"group_id": group_id}))
        .await
        .expect(200);
    assert_eq!(reopened.id(), conversation);
    let fresh = app.send(KATE.1, &conversation, "fresh start").await;
    for who in [KEVIN.1, KATE.1, PETER.1] {
        let messages = app
            .get(&format!("/v1/messages?conversation_id={conversation}"), who)
            .await
            .expect(200);
        assert_eq!(
            messages.ids(),
            vec![fresh["id"].as_str().unwrap().to_owned()]
        );
    }
}
