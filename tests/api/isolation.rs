//! A third account tries every endpoint on the first two accounts' objects: it always gets
//! 404 (400 for a cursor), never 403, and nothing changes.

use crate::helpers::*;
use serde_json::{Value, json};

/// Everything Kevin and Kate can list, without `last_active_at` (their own reads move it).
async fn snapshot(app: &TestApp) -> Value {
    let mut all = Vec::new();
    for who in [KEVIN.1, KATE.1] {
        for list in [
            "contacts",
            "conversations",
            "messages",
            "groups",
            "attachments",
        ] {
            all.push(
                app.get(&format!("/v1/{list}?limit=100"), who)
                    .await
                    .expect(200)
                    .body
                    .value(),
            );
        }
    }
    let mut value = Value::Array(all);
    strip(&mut value);
    value
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("last_active_at");
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

#[actix_web::test]
async fn a_stranger_gets_404_everywhere_and_changes_nothing() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let conversation = kate["conversation_id"].as_str().unwrap().to_owned();
    let attachment = app
        .upload(KEVIN.1, "file", "f.txt", None, b"f", &[])
        .await
        .expect(201)
        .id();
    let message = app
        .send_with_attachments(KEVIN.1, &conversation, "private", &[&attachment])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put_form(
        &format!("/v1/messages/{message}"),
        KATE.1,
        "reactions[heart][]=KateMcCallister",
    )
    .await
    .expect(200);
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Family", "contacts": [kate["id"]]}),
        )
        .await
        .expect(201)
        .body;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let group_conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let kate_id = kate["id"].as_str().unwrap().to_owned();
    let before = snapshot(&app).await;

    let objects = [
        ("contacts", kate_id.clone()),
        ("conversations", conversation.clone()),
        ("conversations", group_conversation.clone()),
        ("messages", message.clone()),
        ("groups", group_id.clone()),
        ("attachments", attachment.clone()),
    ];
    for (resource, id) in &objects {
        let path = format!("/v1/{resource}/{id}");
        app.get(&path, PETER.1).await.expect_error(404, None);
        for body in [
            json!({"display_name": "x", "is_muted": true, "message": "x", "name": "x", "filename": "x"}),
            json!({"reactions": {"heart": ["PeterMcCallister"]}}),
            json!({"pinned_message_id": message, "contacts": []}),
        ] {
            app.put_json(&path, PETER.1, body)
                .await
                .expect_error(404, None);
        }
        app.delete(&path, PETER.1).await.expect_error(404, None);
    }
    app.get(&format!("/v1/attachments/{attachment}/content"), PETER.1)
        .await
        .expect_error(404, None);

    // Using their ids in his own requests.
    app.post_json("/v1/conversations", PETER.1, json!({"contact_id": kate_id}))
        .await
        .expect_error(404, Some("contact_id"));
    app.post_json("/v1/conversations", PETER.1, json!({"group_id": group_id}))
        .await
        .expect_error(404, Some("group_id"));
    app.post_json(
        "/v1/messages",
        PETER.1,
        json!({"conversation_id": conversation, "message": "hi"}),
    )
    .await
    .expect_error(404, Some("conversation_id"));
    app.post_json(
        "/v1/messages",
        PETER.1,
        json!({"conversation_id": group_conversation, "message": "hi"}),
    )
    .await
    .expect_error(404, Some("conversation_id"));
    app.post_json(
        "/v1/groups",
        PETER.1,
        json!({"name": "g", "contacts": [kate_id]}),
    )
    .await
    .expect_error(404, Some("contacts"));
    let peters = app.add_contact(PETER.1, "Buzz").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_json(
        "/v1/messages",
        PETER.1,
        json!({"conversation_id": peters, "message": "steal", "attachments": [attachment]}),
    )
    .await
    .expect_error(404, Some("attachments"));
    app.upload(
        PETER.1,
        "file",
        "x",
        None,
        b"x",
        &[("message_id", &message)],
    )
    .await
    .expect_error(404, Some("message_id"));

    // Lists filtered or paged by their ids.
    for cursor in ["", "&starting_after=nope", "&ending_before=nope"] {
        app.get(
            &format!("/v1/messages?conversation_id={conversation}{cursor}"),
            PETER.1,
        )
        .await
        .expect_error(404, Some("conversation_id"));
    }
    // Not even with a cursor that exists there: that it exists is not Peter's to learn.
    app.get(
        &format!("/v1/messages?conversation_id={conversation}&starting_after={message}"),
        PETER.1,
    )
    .await
    .expect_error(404, Some("conversation_id"));
    app.get(
        &format!("/v1/attachments?conversation_id={conversation}"),
        PETER.1,
    )
    .await
    .expect_error(404, Some("conversation_id"));
    let by_group = app
        .get(&format!("/v1/conversations?group_id={group_id}"), PETER.1)
        .await;
    assert!(by_group.expect(200).ids().is_empty());
    for (list, id) in [
        ("contacts", &kate_id),
        ("conversations", &conversation),
        ("messages", &message),
        ("groups", &group_id),
        ("attachments", &attachment),
    ] {
        for cursor in ["starting_after", "ending_before"] {
            app.get(&format!("/v1/{list}?{cursor}={id}"), PETER.1)
                .await
                .expect_error(400, Some(cursor));
        }
    }
    // His own lists show nothing of theirs.
    for list in [
        "contacts",
        "conversations",
        "messages",
        "groups",
        "attachments",
    ] {
        let body = app
            .get(&format!("/v1/{list}?limit=100"), PETER.1)
            .await
            .expect(200)
            .body;
        let text = body.to_string();
        for (_, id) in &objects {
            assert!(!text.contains(id.as_str()), "{list} shows {id}");
        }
    }

    assert_eq!(
        snapshot(&app).await,
        before,
        "the stranger changed something"
    );
}

#[actix_web::test]
async fn a_member_who_may_see_still_may_not_act_for_others() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "mine").await;
    let id = message["id"].as_str().unwrap();
    // Visible to Kate, so these are 403s rather than 404s.
    app.put_form(&format!("/v1/messages/{id}"), KATE.1, "message=edited")
        .await
        .expect_error(403, Some("message"));
    app.delete(&format!("/v1/messages/{id}"), KATE.1)
        .await
        .expect_error(403, None);
    app.put_form(
        &format!("/v1/messages/{id}"),
        KATE.1,
        "reactions[x][]=KevinMcCallister",
    )
    .await
    .expect_error(403, Some("reactions"));
    let after = app.get(&format!("/v1/messages/{id}"), KEVIN.1).await.body;
    assert_eq!(after["message"], "mine");
    assert_eq!(after["reactions"], json!([]));
}
