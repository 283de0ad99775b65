use crate::helpers::*;

#[actix_web::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    for path in [
        "/app",
        "/v1",
        "/v1/nothing",
        "/v2/messages",
        "/v1/messages/a/b/c",
    ] {
        let response = app.get(path, KEVIN.1).await.expect_error(404, None);
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
    // Even without a token: unknown is unknown.
    app.request("GET", "/nothing", None, None, &[])
        .await
        .expect_error(404, None);
}

#[actix_web::test]
async fn wrong_methods_are_json_405() {
    let app = spawn_app().await;
    for (method, path) in [
        ("PATCH", "/v1/messages"),
        ("DELETE", "/v1/messages"),
        ("PUT", "/v1/contacts"),
        ("POST", "/v1/messages/AAAAAAAAAAAAAAAA"),
        ("PATCH", "/v1/groups/AAAAAAAAAAAAAAAA"),
        ("POST", "/health"),
        ("DELETE", "/v1/attachments/AAAAAAAAAAAAAAAA/content"),
    ] {
        let response = app
            .request(method, path, Some(KEVIN.1), None, &[])
            .await
            .expect_error(405, None);
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
    }
}

#[actix_web::test]
async fn unknown_ids_are_404_on_every_resource() {
    let app = spawn_app().await;
    for resource in [
        "contacts",
        "conversations",
        "messages",
        "groups",
        "attachments",
    ] {
        let path = format!("/v1/{resource}/AAAAAAAAAAAAAAAA");
        app.get(&path, KEVIN.1).await.expect_error(404, None);
        app.put_json(&path, KEVIN.1, serde_json::json!({}))
            .await
            .expect_error(404, None);
        app.delete(&path, KEVIN.1).await.expect_error(404, None);
        // Ids of the wrong shape too.
        let odd = format!("/v1/{resource}/%27%20OR%20%271%27%3D%271");
        app.get(&odd, KEVIN.1).await.expect_error(404, None);
    }
    app.get("/v1/attachments/AAAAAAAAAAAAAAAA/content", KEVIN.1)
        .await
        .expect_error(404, None);
}

#[actix_web::test]
async fn health_needs_no_token() {
    let app = spawn_app().await;
    let health = app
        .request("GET", "/health", None, None, &[])
        .await
        .expect(200);
    assert_eq!(health.body["status"], "ok");
}

#[actix_web::test]
async fn error_bodies_name_the_documentation_on_the_public_url() {
    let app =
        spawn_app_with(|c| c.server.public_url = Some("https://chat.example.com".into())).await;
    let error = app
        .get("/v1/messages?limit=0", KEVIN.1)
        .await
        .expect_error(400, Some("limit"));
    assert_eq!(
        error.body["documentation_url"],
        "https://chat.example.com/docs#errors"
    );
    assert!(error.body["message"].as_str().unwrap().ends_with('.'));
}
