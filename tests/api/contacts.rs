use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn adding_a_new_person_creates_them_and_the_direct_conversation() {
    let app = spawn_app().await;
    let contact = app
        .post_form(
            "/v1/contacts",
            KEVIN.1,
            "username=BuzzMcCallister&phone_number=1-800-759-3005&avatar_url=https%3A%2F%2Fexample.com%2Fb.jpg&display_name=Buzz",
        )
        .await
        .expect(201)
        .body;
    assert_eq!(contact["username"], "BuzzMcCallister");
    assert_eq!(contact["phone_number"], "1-800-759-3005");
    assert_eq!(contact["avatar_url"], "https://example.com/b.jpg");
    assert_eq!(contact["display_name"], "Buzz");
    assert!(contact["last_active_at"].is_null());
    assert!(contact["created_at"].as_i64().unwrap() > 1_700_000_000);
    let id = contact["id"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));

    let conversation_id = contact["conversation_id"].as_str().unwrap();
    let conversation = app
        .get(&format!("/v1/conversations/{conversation_id}"), KEVIN.1)
        .await
        .expect(200)
        .body;
    assert_eq!(conversation["contact_id"], id);
    assert!(conversation["group_id"].is_null());

    let fetched = app
        .get(&format!("/v1/contacts/{id}"), KEVIN.1)
        .await
        .expect(200);
    assert_eq!(fetched.body, contact);
}

#[actix_web::test]
async fn adding_an_existing_person_keeps_their_profile_and_adds_you_to_theirs() {
    let app = spawn_app().await;
    let kate = app
        .post_json(
            "/v1/contacts",
            KEVIN.1,
            json!({"username": KATE.0, "phone_number": "000", "avatar_url": "https://evil.example/x.png"}),
        )
        .await
        .expect(201)
        .body;
    // Kate's profile comes from her account, not from Kevin's request.
    assert_eq!(kate["phone_number"], "1-800-759-3001");
    assert!(kate["avatar_url"].is_null());
    assert!(kate["display_name"].is_null());

    // Kate now has Kevin in her address book, with the same conversation.
    let kates_book = app.get("/v1/contacts", KATE.1).await.expect(200);
    assert_eq!(kates_book.body["data"].as_array().unwrap().len(), 1);
    let kevin = &kates_book.body["data"][0];
    assert_eq!(kevin["username"], KEVIN.0);
    assert_eq!(kevin["conversation_id"], kate["conversation_id"]);
}

#[actix_web::test]
async fn adding_the_same_contact_twice_is_a_conflict() {
    let app = spawn_app().await;
    app.add_contact(KEVIN.1, "BuzzMcCallister").await;
    app.post_form(
        "/v1/contacts",
        KEVIN.1,
        "username=BuzzMcCallister&phone_number=1",
    )
    .await
    .expect_error(409, Some("username"));
}

#[actix_web::test]
async fn adding_yourself_is_refused() {
    let app = spawn_app().await;
    app.post_form(
        "/v1/contacts",
        KEVIN.1,
        &format!("username={}&phone_number=1", KEVIN.0),
    )
    .await
    .expect_error(409, Some("username"));
}

#[actix_web::test]
async fn create_validates_every_attribute() {
    let app = spawn_app().await;
    for (form, param) in [
        ("phone_number=1", "username"),
        ("username=Buzz", "phone_number"),
        ("username=Bu%20zz&phone_number=1", "username"),
        ("username=Buzz&phone_number=call-me", "phone_number"),
        (
            "username=Buzz&phone_number=1&avatar_url=javascript:alert(1)",
            "avatar_url",
        ),
    ] {
        app.post_form("/v1/contacts", KEVIN.1, form)
            .await
            .expect_error(400, Some(param));
    }
    app.post_json(
        "/v1/contacts",
        KEVIN.1,
        json!({"username": 5, "phone_number": "1"}),
    )
    .await
    .expect_error(400, Some("username"));
    let long_name = "x".repeat(129);
    app.post_json(
        "/v1/contacts",
        KEVIN.1,
        json!({"username": "Buzz", "phone_number": "1", "display_name": long_name}),
    )
    .await
    .expect_error(400, Some("display_name"));
    // Nothing was half-created.
    let book = app.get("/v1/contacts", KEVIN.1).await.expect(200);
    assert!(book.ids().is_empty());
}

#[actix_web::test]
async fn update_changes_only_your_display_name() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let id = kate["id"].as_str().unwrap();
    let path = format!("/v1/contacts/{id}");
    let updated = app
        .put_form(
            &path,
            KEVIN.1,
            "display_name=Mom&username=Hacked&phone_number=666",
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["display_name"], "Mom");
    assert_eq!(updated["username"], KATE.0);
    assert_eq!(updated["phone_number"], "1-800-759-3001");

    // Kate seen by Peter (once he adds her) has no display name from Kevin.
    let from_peter = app.add_contact(PETER.1, KATE.0).await;
    assert!(from_peter["display_name"].is_null());

    // An empty form value sets it back to null; JSON null too.
    let cleared = app
        .put_form(&path, KEVIN.1, "display_name=")
        .await
        .expect(200)
        .body;
    assert!(cleared["display_name"].is_null());
    app.put_json(&path, KEVIN.1, json!({"display_name": "Mother"}))
        .await
        .expect(200);
    let cleared = app
        .put_json(&path, KEVIN.1, json!({"display_name": null}))
        .await
        .expect(200)
        .body;
    assert!(cleared["display_name"].is_null());
}

#[actix_web::test]
async fn delete_removes_the_contact_and_your_direct_conversation() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let id = kate["id"].as_str().unwrap();
    let conversation = kate["conversation_id"].as_str().unwrap();
    app.send(KATE.1, conversation, "hi").await;

    let response = app
        .delete(&format!("/v1/contacts/{id}"), KEVIN.1)
        .await
        .expect(204);
    assert!(response.raw.is_empty());
    app.get(&format!("/v1/contacts/{id}"), KEVIN.1)
        .await
        .expect_error(404, None);
    app.get(&format!("/v1/conversations/{conversation}"), KEVIN.1)
        .await
        .expect_error(404, None);
    // Kate keeps hers.
    app.get(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect(200);
    app.delete(&format!("/v1/contacts/{id}"), KEVIN.1)
        .await
        .expect_error(404, None);
}

#[actix_web::test]
async fn list_is_newest_first() {
    let app = spawn_app().await;
    let mut added = Vec::new();
    for name in ["Buzz", "Megan", "Linnie", "Jeff"] {
        added.push(
            app.add_contact(KEVIN.1, name).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    added.reverse();
    let list = app.get("/v1/contacts", KEVIN.1).await.expect(200);
    assert_eq!(list.ids(), added);
    assert!(!list.has_more());
}

#[actix_web::test]
async fn last_active_at_records_authenticated_requests() {
    let app = spawn_app().await;
    let kate = app.add_contact(KEVIN.1, KATE.0).await;
    let id = kate["id"].as_str().unwrap();
    // Kate has not called the API yet.
    assert!(kate["last_active_at"].is_null());
    app.get("/v1/contacts", KATE.1).await.expect(200);
    // The write happens beside the request: wait for it (generously: the machine may be busy).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seen =
            app.get(&format!("/v1/contacts/{id}"), KEVIN.1).await.body["last_active_at"].clone();
        if !seen.is_null() {
            assert!(seen.as_i64().is_some(), "{seen}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_active_at stayed null"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
