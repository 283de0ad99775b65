use crate::helpers::*;
use serde_json::{Value, json};

fn usernames(group: &Value) -> Vec<String> {
    group["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn create_makes_the_owner_a_member_and_opens_the_conversation() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let peter = app.add_contact(KEVIN.1, PETER.0).await;
    let group = app
        .post_form(
            "/v1/groups",
            KEVIN.1,
            &format!(
                "name=McCallisters&description=The+family&avatar_url=https%3A%2F%2Fexample.com%2Fg.png&contacts[]={}&contacts[]={}",
                kate["id"].as_str().unwrap(),
                peter["id"].as_str().unwrap()
            ),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(group["name"], "McCallisters");
    assert_eq!(group["description"], "The family");
    assert_eq!(group["avatar_url"], "https://example.com/g.png");
    assert!(group["archived_at"].is_null());
    assert_eq!(usernames(&group), [KEVIN.0, KATE.0, PETER.0]);
    // Members are contact objects seen by the viewer: Kevin's own name for Kate shows.
    assert_eq!(group["contacts"][1]["id"], kate["id"]);

    let conversation = group["conversation_id"].as_str().unwrap();
    for who in [KEVIN.1, KATE.1, PETER.1] {
        let seen = app
            .get(&format!("/v1/conversations/{conversation}"), who)
            .await
            .expect(200)
            .body;
        assert_eq!(seen["group_id"], group["id"]);
        assert!(seen["contact_id"].is_null());
        app.get(
            &format!("/v1/groups/{}", group["id"].as_str().unwrap()),
            who,
        )
        .await
        .expect(200);
    }
}

#[actix_web::test]
async fn create_validates_name_and_members() {
    let app = spawn_app().await;
    app.post_form("/v1/groups", KEVIN.1, "description=x")
        .await
        .expect_error(400, Some("name"));
    app.post_form("/v1/groups", KEVIN.1, "name=+++")
        .await
        .expect_error(400, Some("name"));
    app.post_json("/v1/groups", KEVIN.1, json!({"name": "x".repeat(129)}))
        .await
        .expect_error(400, Some("name"));
    app.post_json("/v1/groups", KEVIN.1, json!({"name": "x".repeat(128)}))
        .await
        .expect(201);
    // Someone not in Kevin's address book.
    let stranger = app.add_contact(KATE.1, "Stranger").await;
    app.post_json(
        "/v1/groups",
        KEVIN.1,
        json!({"name": "G", "contacts": [stranger["id"]]}),
    )
    .await
    .expect_error(404, Some("contacts"));
    app.post_json(
        "/v1/groups",
        KEVIN.1,
        json!({"name": "G", "contacts": "not a list"}),
    )
    .await
    .expect_error(400, Some("contacts"));
    assert_eq!(app.get("/v1/groups", KEVIN.1).await.ids().len(), 1);
}

#[actix_web::test]
async fn only_members_see_a_group() {
    let app = spawn_app().await;
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=Secret")
        .await
        .expect(201)
        .body;
    let id = group["id"].as_str().unwrap();
    app.get(&format!("/v1/groups/{id}"), KATE.1)
        .await
        .expect_error(404, None);
    assert!(app.get("/v1/groups", KATE.1).await.ids().is_empty());
    app.put_form(&format!("/v1/groups/{id}"), KATE.1, "name=Mine")
        .await
        .expect_error(404, None);
    app.delete(&format!("/v1/groups/{id}"), KATE.1)
        .await
        .expect_error(404, None);
}

#[actix_web::test]
async fn the_owner_updates_and_members_follow_the_new_list() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let peter = app.add_contact(KEVIN.1, PETER.0).await;
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "G", "contacts": [kate["id"]]}),
        )
        .await
        .expect(201)
        .body;
    let id = group["id"].as_str().unwrap();
    let conversation = group["conversation_id"].as_str().unwrap();
    let path = format!("/v1/groups/{id}");

    // A member who is not the owner: 403.
    app.put_form(&path, KATE.1, "name=Kate's")
        .await
        .expect_error(403, None);
    app.delete(&path, KATE.1).await.expect_error(403, None);

    let updated = app
        .put_json(
            &path,
            KEVIN.1,
            json!({"name": "Renamed", "description": "d", "archived_at": 1_700_000_000, "contacts": [peter["id"]]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["archived_at"], 1_700_000_000);
    assert_eq!(
        usernames(&updated),
        [KEVIN.0, PETER.0],
        "the owner stays, Kate is out"
    );
    app.get(&path, KATE.1).await.expect_error(404, None);
    app.get(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect_error(404, None);
    app.get(&path, PETER.1).await.expect(200);

    let cleared = app
        .put_form(&path, KEVIN.1, "archived_at=&description=")
        .await
        .expect(200)
        .body;
    assert!(cleared["archived_at"].is_null());
    assert!(cleared["description"].is_null());
    assert_eq!(cleared["name"], "Renamed");
}

#[actix_web::test]
async fn list_is_newest_first_and_filters_archived() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(
            app.post_form("/v1/groups", KEVIN.1, &format!("name={name}"))
                .await
                .expect(201)
                .id(),
        );
    }
    app.put_form(&format!("/v1/groups/{}", ids[1]), KEVIN.1, "archived_at=1")
        .await
        .expect(200);
    ids.reverse();
    assert_eq!(app.get("/v1/groups", KEVIN.1).await.ids(), ids);
    assert_eq!(
        app.get("/v1/groups?archived=true", KEVIN.1).await.ids(),
        vec![ids[1].clone()]
    );
    assert_eq!(
        app.get("/v1/groups?archived=false", KEVIN.1).await.ids(),
        vec![ids[0].clone(), ids[2].clone()]
    );
}

#[actix_web::test]
async fn delete_removes_the_group_its_conversation_and_messages_for_everyone() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "G", "contacts": [kate["id"]]}),
        )
        .await
        .expect(201)
        .body;
    let conversation = group["conversation_id"].as_str().unwrap();
    let message = app.send(KATE.1, conversation, "bye").await;
    app.delete(
        &format!("/v1/groups/{}", group["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect(204);
    for who in [KEVIN.1, KATE.1] {
        app.get(
            &format!("/v1/groups/{}", group["id"].as_str().unwrap()),
            who,
        )
        .await
        .expect_error(404, None);
        app.get(&format!("/v1/conversations/{conversation}"), who)
            .await
            .expect_error(404, None);
        app.get(
            &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
            who,
        )
        .await
        .expect_error(404, None);
    }
}

#[actix_web::test]
async fn a_removed_member_reaches_nothing_new() {
    removed_member_reaches_nothing_new(0).await;
}

#[actix_web::test]
async fn a_removed_member_of_a_large_group_reaches_nothing_new() {
    // Large groups keep their activity and their stream audience apart (src/db/conversations.rs).
    removed_member_reaches_nothing_new(protocol::db::conversations::LARGE_ABOVE).await;
}

/// Kevin's group with Kate, Peter and `others` private contacts; Kate is taken out.
async fn removed_member_reaches_nothing_new(others: usize) {
    use crate::events::Sse;
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let peter = app.add_contact(KEVIN.1, PETER.0).await;
    let direct = kate["conversation_id"].as_str().unwrap().to_owned();
    let mut members = vec![kate["id"].clone(), peter["id"].clone()];
    let mut staying = vec![peter["id"].clone()];
    for i in 0..others {
        let other = app.add_contact(KEVIN.1, &format!("member{i}")).await["id"].clone();
        members.push(other.clone());
        staying.push(other);
    }
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "G", "contacts": members}),
        )
        .await
        .expect(201)
        .body
        .value();
    let id = group["id"].as_str().unwrap();
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let upload = app
        .upload(KEVIN.1, "file", "old.txt", None, b"old", &[])
        .await
        .expect(201)
        .id();
    let old = app
        .send_with_attachments(KEVIN.1, &conversation, "before", &[&upload])
        .await;
    let her_own = app.send(KATE.1, &conversation, "mine").await;
    let mut stream = Sse::connect(&app, KATE.1, None).await;

    // Kevin takes Kate out.
    app.put_json(
        &format!("/v1/groups/{id}"),
        KEVIN.1,
        json!({"contacts": staying}),
    )
    .await
    .expect(200);
    let new_upload = app
        .upload(KEVIN.1, "file", "new.txt", None, b"new", &[])
        .await
        .expect(201)
        .id();
    let new = app
        .send_with_attachments(KEVIN.1, &conversation, "after", &[&new_upload])
        .await;
    app.put_form(
        &format!("/v1/messages/{}", old["id"].as_str().unwrap()),
        PETER.1,
        "reactions[smile][]=PeterMcCallister",
    )
    .await
    .expect(200);
    // A marker she does see, sent after all of that.
    let marker = app.send(KEVIN.1, &direct, "marker").await;

    // The group, its conversation and every message in it, old or new, are gone for her.
    app.get(&format!("/v1/groups/{id}"), KATE.1)
        .await
        .expect_error(404, None);
    app.get(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect_error(404, None);
    for message in [&old, &her_own, &new] {
        let path = format!("/v1/messages/{}", message["id"].as_str().unwrap());
        app.get(&path, KATE.1).await.expect_error(404, None);
        app.put_form(&path, KATE.1, "reactions[smile][]=KateMcCallister")
            .await
            .expect_error(404, None);
    }
    for attachment in [&upload, &new_upload] {
        app.get(&format!("/v1/attachments/{attachment}"), KATE.1)
            .await
            .expect_error(404, None);
        app.get(&format!("/v1/attachments/{attachment}/content"), KATE.1)
            .await
            .expect_error(404, None);
    }
    app.post_json(
        "/v1/messages",
        KATE.1,
        json!({"conversation_id": conversation, "message": "let me in"}),
    )
    .await
    .expect_error(404, Some("conversation_id"));
    // Her lists hold nothing of the group.
    let everything = app.get("/v1/messages?limit=100", KATE.1).await.expect(200);
    assert_eq!(everything.ids(), vec![marker["id"].as_str().unwrap()]);
    assert!(
        app.get("/v1/groups", KATE.1)
            .await
            .expect(200)
            .ids()
            .is_empty()
    );
    let conversations = app.get("/v1/conversations", KATE.1).await.expect(200);
    assert_eq!(conversations.ids(), vec![direct.clone()]);
    let attachments = app.get("/v1/attachments", KATE.1).await.expect(200);
    assert!(attachments.ids().is_empty(), "{}", attachments.body);

    // Her stream: told she is out, then nothing of the group until the marker.
    let marker_id = marker["id"].as_str().unwrap().to_owned();
    let events = stream
        .until_event(|e| e.data["payload"]["id"] == marker_id.as_str(), 1)
        .await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["group.deleted", "conversation.deleted", "message.created"],
        "{events:?}"
    );
    for event in &events[..2] {
        assert!(!event.data.to_string().contains(new["id"].as_str().unwrap()));
    }
    // Peter, who stayed, sees the new message.
    app.get(
        &format!("/v1/messages/{}", new["id"].as_str().unwrap()),
        PETER.1,
    )
    .await
    .expect(200);
}
