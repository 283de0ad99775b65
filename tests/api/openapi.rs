//! The OpenAPI document (`/openapi.json`) against the server itself: every route the server
//! registers is documented with its methods, and real responses of every endpoint, errors
//! included, validate against the documented schema for their status.

use crate::helpers::*;
use serde_json::{Value, json};

async fn document(app: &TestApp) -> Value {
    let response = app
        .request("GET", "/openapi.json", None, None, &[])
        .await
        .expect(200);
    assert_eq!(response.body["openapi"], "3.1.0");
    response.body.value()
}

/// Asserts that `response`, answered to `method template`, is documented and matches.
#[track_caller]
fn conforms(doc: &Value, method: &str, template: &str, response: &Response) {
    let operation = &doc["paths"][template][method];
    assert!(
        operation.is_object(),
        "{method} {template} is not documented"
    );
    let spec = &operation["responses"][response.status.to_string()];
    assert!(
        spec.is_object(),
        "{method} {template} answered {} which is not documented: {}",
        response.status,
        response.body
    );
    let content = &spec["content"];
    if response.raw.is_empty() {
        assert!(
            content.is_null(),
            "{method} {template} {}: documented with a body",
            response.status
        );
        return;
    }
    let media = response
        .header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let schema = match &content[media.as_str()]["schema"] {
        Value::Null => &content["*/*"]["schema"],
        found => found,
    };
    assert!(
        schema.is_object(),
        "{method} {template} {}: {media} not documented",
        response.status
    );
    if media != "application/json" {
        return;
    }
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&response.body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {}: {errors:?}\n{}",
        response.status,
        response.body
    );
}

/// The routes of the route table (`src/api/mod.rs`): (path, methods).
fn registered_routes() -> Vec<(String, Vec<String>)> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mod.rs")).unwrap();
    let mut routes: Vec<(String, Vec<String>)> = Vec::new();
    let mut allows: Vec<String> = Vec::new();
    let mut scope = String::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("web::scope(\"") {
            scope = rest.split('"').next().unwrap().to_owned();
        }
        if let Some(rest) = line.split("resource(\"").nth(1) {
            let mut quoted = rest.split('"');
            let path = quoted.next().unwrap();
            let allow = quoted.nth(1).unwrap();
            let full = if path == "/health" || path == "/docs" || web_app(path) {
                path.to_owned()
            } else {
                format!("{scope}{path}")
            };
            routes.push((full, Vec::new()));
            allows.push(allow.to_owned());
        }
        for method in ["get", "head", "post", "put", "delete", "patch"] {
            if line.contains(&format!("web::{method}()")) {
                routes.last_mut().unwrap().1.push(method.to_owned());
            }
        }
    }
    // Each resource's Allow list names exactly its routes' methods.
    for ((path, methods), allow) in routes.iter().zip(&allows) {
        let listed: Vec<String> = allow.split(", ").map(str::to_lowercase).collect();
        assert_eq!(&listed, methods, "{path}: Allow says {allow}");
    }
    routes
}

/// The web app's page, files and helper routes (tests/api/webapp.rs): not part of the API.
fn web_app(path: &str) -> bool {
    path == "/" || path.starts_with("/app/")
}

#[actix_web::test]
async fn every_registered_route_is_documented_and_nothing_else() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let routes = registered_routes();
    assert!(routes.len() >= 13, "{routes:?}");
    for (path, methods) in &routes {
        if path == "/docs" || web_app(path) {
            continue; // the page that shows the document, and the web app
        }
        let documented = &doc["paths"][path.as_str()];
        assert!(
            documented.is_object(),
            "{path} is registered but not documented"
        );
        for method in ["get", "post", "put", "delete", "patch"] {
            assert_eq!(
                methods.contains(&method.to_owned()),
                documented[method].is_object(),
                "{method} {path}: registered and documented disagree"
            );
        }
    }
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for path in documented {
        assert!(
            routes.iter().any(|(p, _)| p == path),
            "{path} is documented but not registered"
        );
    }
    // And the server agrees with the table: documented methods are served, others are 405.
    for (path, methods) in &routes {
        if path == "/docs" || path == "/v1/events" || web_app(path) {
            continue;
        }
        let concrete = path.replace("{id}", "AAAAAAAAAAAAAAAA");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let response = app
                .request(method, &concrete, Some(KEVIN.1), None, &[])
                .await;
            let allowed = methods.contains(&method.to_lowercase());
            assert_eq!(
                response.status == 405,
                !allowed,
                "{method} {concrete}: {}",
                response.status
            );
        }
    }
}

#[actix_web::test]
async fn real_responses_match_the_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    // The status the contract gives this request, then the body the document gives that status.
    let check = |method: &str, template: &str, status: u16, response: &Response| {
        assert_eq!(
            response.status, status,
            "{method} {template}: {}",
            response.body
        );
        conforms(&doc, method, template, response)
    };

    check(
        "get",
        "/health",
        200,
        &app.request("GET", "/health", None, None, &[]).await,
    );

    // Contacts.
    let created = app
        .post_form(
            "/v1/contacts",
            KEVIN.1,
            &format!("username={}&phone_number=1&display_name=Mom", KATE.0),
        )
        .await;
    check("post", "/v1/contacts", 201, &created);
    let kate = created.id();
    let conversation = created.body["conversation_id"].as_str().unwrap().to_owned();
    check(
        "post",
        "/v1/contacts",
        409,
        &app.post_form(
            "/v1/contacts",
            KEVIN.1,
            &format!("username={}&phone_number=1", KATE.0),
        )
        .await,
    );
    check(
        "post",
        "/v1/contacts",
        400,
        &app.post_form("/v1/contacts", KEVIN.1, "username=bad name&phone_number=1")
            .await,
    );
    check(
        "post",
        "/v1/contacts",
        415,
        &app.request(
            "POST",
            "/v1/contacts",
            Some(KEVIN.1),
            Some(("text/plain", b"x".to_vec())),
            &[],
        )
        .await,
    );
    check(
        "get",
        "/v1/contacts",
        200,
        &app.get("/v1/contacts", KEVIN.1).await,
    );
    check(
        "get",
        "/v1/contacts",
        400,
        &app.get("/v1/contacts?limit=0", KEVIN.1).await,
    );
    check(
        "get",
        "/v1/contacts",
        401,
        &app.request("GET", "/v1/contacts", None, None, &[]).await,
    );
    check(
        "get",
        "/v1/contacts/{id}",
        200,
        &app.get(&format!("/v1/contacts/{kate}"), KEVIN.1).await,
    );
    check(
        "get",
        "/v1/contacts/{id}",
        404,
        &app.get("/v1/contacts/AAAAAAAAAAAAAAAA", KEVIN.1).await,
    );
    check(
        "put",
        "/v1/contacts/{id}",
        200,
        &app.put_json(
            &format!("/v1/contacts/{kate}"),
            KEVIN.1,
            json!({"display_name": null}),
        )
        .await,
    );

    // Conversations.
    check(
        "get",
        "/v1/conversations",
        200,
        &app.get("/v1/conversations?muted=false", KEVIN.1).await,
    );
    check(
        "post",
        "/v1/conversations",
        200,
        &app.post_json("/v1/conversations", KEVIN.1, json!({"contact_id": kate}))
            .await,
    );
    check(
        "get",
        "/v1/conversations/{id}",
        200,
        &app.get(&format!("/v1/conversations/{conversation}"), KATE.1)
            .await,
    );
    check(
        "put",
        "/v1/conversations/{id}",
        200,
        &app.put_form(
            &format!("/v1/conversations/{conversation}"),
            KEVIN.1,
            "is_muted=true&archived_at=5",
        )
        .await,
    );

    // Attachments and messages.
    let upload = app
        .upload(KEVIN.1, "file", "a.txt", None, b"hello", &[])
        .await;
    check("post", "/v1/attachments", 201, &upload);
    let attachment = upload.id();
    check(
        "post",
        "/v1/attachments",
        400,
        &app.upload(KEVIN.1, "nofile", "a.txt", None, b"x", &[])
            .await,
    );
    let sent = app
        .post_json(
            "/v1/messages",
            KEVIN.1,
            json!({"conversation_id": conversation, "message": "hi", "attachments": [attachment]}),
        )
        .await;
    check("post", "/v1/messages", 201, &sent);
    let message = sent.id();
    check(
        "post",
        "/v1/messages",
        400,
        &app.post_json(
            "/v1/messages",
            KEVIN.1,
            json!({"conversation_id": conversation}),
        )
        .await,
    );
    check(
        "put",
        "/v1/messages/{id}",
        200,
        &app.put_form(
            &format!("/v1/messages/{message}"),
            KATE.1,
            "reactions[smile][]=KateMcCallister",
        )
        .await,
    );
    check(
        "put",
        "/v1/messages/{id}",
        403,
        &app.put_form(&format!("/v1/messages/{message}"), KATE.1, "message=mine")
            .await,
    );
    check(
        "get",
        "/v1/messages",
        200,
        &app.get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KEVIN.1,
        )
        .await,
    );
    check(
        "get",
        "/v1/messages",
        400,
        &app.get("/v1/messages?starting_after=nope", KEVIN.1).await,
    );
    check(
        "get",
        "/v1/messages/{id}",
        200,
        &app.get(&format!("/v1/messages/{message}"), KATE.1).await,
    );
    check(
        "get",
        "/v1/attachments",
        200,
        &app.get("/v1/attachments", KATE.1).await,
    );
    check(
        "get",
        "/v1/attachments/{id}",
        200,
        &app.get(&format!("/v1/attachments/{attachment}"), KATE.1)
            .await,
    );
    check(
        "get",
        "/v1/attachments/{id}/content",
        200,
        &app.get(&format!("/v1/attachments/{attachment}/content"), KATE.1)
            .await,
    );
    check(
        "get",
        "/v1/attachments/{id}/content",
        206,
        &app.request(
            "GET",
            &format!("/v1/attachments/{attachment}/content"),
            Some(KATE.1),
            None,
            &[("Range", "bytes=0-1")],
        )
        .await,
    );
    check(
        "put",
        "/v1/attachments/{id}",
        200,
        &app.put_form(
            &format!("/v1/attachments/{attachment}"),
            KEVIN.1,
            "filename=b.txt",
        )
        .await,
    );
    check(
        "put",
        "/v1/attachments/{id}",
        403,
        &app.put_form(
            &format!("/v1/attachments/{attachment}"),
            KATE.1,
            "filename=c.txt",
        )
        .await,
    );

    // Groups.
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Family", "contacts": [kate]}),
        )
        .await;
    check("post", "/v1/groups", 201, &group);
    let group_id = group.id();
    check(
        "get",
        "/v1/groups",
        200,
        &app.get("/v1/groups", KATE.1).await,
    );
    check(
        "get",
        "/v1/groups/{id}",
        200,
        &app.get(&format!("/v1/groups/{group_id}"), KATE.1).await,
    );
    check(
        "put",
        "/v1/groups/{id}",
        403,
        &app.put_form(&format!("/v1/groups/{group_id}"), KATE.1, "name=x")
            .await,
    );
    check(
        "put",
        "/v1/groups/{id}",
        200,
        &app.put_form(&format!("/v1/groups/{group_id}"), KEVIN.1, "description=d")
            .await,
    );

    // Deletes, last.
    check(
        "delete",
        "/v1/messages/{id}",
        403,
        &app.delete(&format!("/v1/messages/{message}"), KATE.1).await,
    );
    check(
        "delete",
        "/v1/messages/{id}",
        204,
        &app.delete(&format!("/v1/messages/{message}"), KEVIN.1)
            .await,
    );
    let loose = app
        .upload(KEVIN.1, "file", "l.txt", None, b"x", &[])
        .await
        .id();
    check(
        "delete",
        "/v1/attachments/{id}",
        204,
        &app.delete(&format!("/v1/attachments/{loose}"), KEVIN.1)
            .await,
    );
    check(
        "delete",
        "/v1/groups/{id}",
        403,
        &app.delete(&format!("/v1/groups/{group_id}"), KATE.1).await,
    );
    check(
        "delete",
        "/v1/groups/{id}",
        204,
        &app.delete(&format!("/v1/groups/{group_id}"), KEVIN.1).await,
    );
    check(
        "delete",
        "/v1/conversations/{id}",
        204,
        &app.delete(&format!("/v1/conversations/{conversation}"), KEVIN.1)
            .await,
    );
    check(
        "delete",
        "/v1/contacts/{id}",
        204,
        &app.delete(&format!("/v1/contacts/{kate}"), KEVIN.1).await,
    );
    check(
        "delete",
        "/v1/contacts/{id}",
        404,
        &app.delete(&format!("/v1/contacts/{kate}"), KEVIN.1).await,
    );

    // A method the path does not take: 405 with Allow, documented on the path's operations.
    let wrong = app
        .request("DELETE", "/v1/messages", Some(KEVIN.1), None, &[])
        .await;
    check("get", "/v1/messages", 405, &wrong);
    assert_eq!(wrong.header("allow"), Some("GET, POST"));
}

#[actix_web::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    // /docs redirects to /docs/ (the client follows it).
    let redirected = app
        .request("GET", "/docs", None, None, &[])
        .await
        .expect(200);
    assert!(String::from_utf8_lossy(&redirected.raw).contains("swagger-ui"));
    let page = app
        .request("GET", "/docs/", None, None, &[])
        .await
        .expect(200);
    let html = String::from_utf8(page.raw).unwrap();
    assert!(html.contains("swagger-ui"));
    // Every asset it loads is local: no URL with a scheme or a protocol-relative one.
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                !url.contains("://") && !url.starts_with("//"),
                "external asset {url}"
            );
        }
    }
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = app
            .request("GET", &format!("/docs/{asset}"), None, None, &[])
            .await
            .expect(200);
        let text = String::from_utf8_lossy(&response.raw);
        if asset == "swagger-initializer.js" {
            assert!(text.contains("/openapi.json"), "{text}");
            assert!(!text.contains("https://"), "{text}");
        }
    }
}

#[actix_web::test]
async fn the_document_follows_the_server_settings() {
    let app = spawn_app_with(|c| {
        c.server.max_message_chars = 100;
        c.server.public_url = Some("https://chat.example.org".into());
    })
    .await;
    let doc = document(&app).await;
    assert_eq!(doc["servers"][0]["url"], "https://chat.example.org");
    assert_eq!(doc["info"]["license"]["identifier"], "MIT");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "NewMessageRequest",
        "NewMessageRequestForm",
        "UpdateMessageRequest",
        "UpdateMessageRequestForm",
    ] {
        assert_eq!(
            schemas[name]["properties"]["message"]["maxLength"], 100,
            "{name}"
        );
    }
    // The documented limit is the enforced one.
    let conversation = app.kevin_and_kate().await;
    for (length, status) in [(100, 201), (101, 400)] {
        let response = app
            .post_json(
                "/v1/messages",
                KEVIN.1,
                json!({"conversation_id": conversation, "message": "m".repeat(length)}),
            )
            .await;
        assert_eq!(response.status, status, "{length}: {}", response.body);
    }
    // Another server, its own limit.
    let other = document(&spawn_app().await).await;
    assert_eq!(
        other["components"]["schemas"]["NewMessageRequest"]["properties"]["message"]["maxLength"],
        16384
    );
}

/// Every `pattern` is an ECMA-262 regular expression without Unicode property escapes, and no
/// `enum` is empty: what OpenAPI tools require (tests/tools.rs runs the tools themselves).
#[actix_web::test]
async fn patterns_and_enums_are_the_portable_kind() {
    let doc = document(&spawn_app().await).await;
    fn walk(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "pattern"
                        && let Some(pattern) = inner.as_str()
                    {
                        assert!(!pattern.contains("\\p{"), "{at}: {pattern}");
                    }
                    if key == "enum" {
                        assert!(
                            inner.as_array().is_some_and(|values| !values.is_empty()),
                            "{at}: empty enum"
                        );
                    }
                    walk(inner, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(&doc, "#");
}

/// Every link names an operation of the document, with that operation's path parameters and
/// body attributes.
#[actix_web::test]
async fn links_lead_to_operations_that_take_what_they_pass() {
    let doc = document(&spawn_app().await).await;
    let mut operations = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.insert(id.to_owned(), (path.clone(), method.clone(), operation));
            }
        }
    }
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                let Some(found) = response["links"].as_object() else {
                    continue;
                };
                for (name, link) in found {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    let (path, _, operation) = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("{name}: no operation {target}"));
                    for parameter in link["parameters"]
                        .as_object()
                        .into_iter()
                        .flat_map(|p| p.keys())
                    {
                        assert!(path.contains(&format!("{{{parameter}}}")), "{name}: {path}");
                    }
                    if let Some(body) = link["requestBody"].as_object() {
                        let schema = operation["requestBody"]["content"]["application/json"]
                            ["schema"]["$ref"]
                            .as_str()
                            .unwrap()
                            .rsplit('/')
                            .next()
                            .unwrap();
                        let text = doc["components"]["schemas"][schema].to_string();
                        for key in body.keys() {
                            assert!(text.contains(&format!("\"{key}\"")), "{name}: {key}");
                        }
                    }
                }
            }
        }
    }
    assert!(links >= 10, "{links}");
}
