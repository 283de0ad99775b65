//! Groups of thousands: sends that do not visit every member, lists that merge large groups
//! in by their own activity, members added and removed at both ends of the list, and group
//! events whose size follows the change.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// Kevin adds `n` private contacts; returns their ids in order.
async fn many_contacts(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let contact = app
            .post_json(
                "/v1/contacts",
                KEVIN.1,
                json!({"username": format!("member{i}"), "phone_number": "1"}),
            )
            .await
            .expect(201);
        ids.push(contact.id());
    }
    ids
}

/// Kevin adds an account: its contact id and their direct conversation.
async fn contact_of(app: &TestApp, who: (&str, &str)) -> (String, String) {
    let contact = app
        .post_json(
            "/v1/contacts",
            KEVIN.1,
            json!({"username": who.0, "phone_number": "1"}),
        )
        .await
        .expect(201)
        .body;
    (
        contact["id"].as_str().unwrap().to_owned(),
        contact["conversation_id"].as_str().unwrap().to_owned(),
    )
}

/// The conversation on top of Kate's list.
/// Kevin's group of 40 strangers and Kate (more than LARGE_ABOVE members): its conversation.
async fn large_group_with_kate(app: &TestApp) -> String {
    let mut contacts = many_contacts(app, 40).await;
    contacts.push(contact_of(app, KATE).await.0);
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Big", "contacts": contacts}),
        )
        .await
        .expect(201)
        .body;
    group["conversation_id"].as_str().unwrap().to_owned()
}

async fn kates_top(app: &TestApp) -> String {
    app.get("/v1/conversations?limit=1", KATE.1)
        .await
        .expect(200)
        .ids()[0]
        .clone()
}

/// An event stream read on a blocking thread: the next event of `kind`, as JSON.
struct Stream(BufReader<std::net::TcpStream>);

impl Stream {
    async fn open(app: &TestApp, token: &str) -> Stream {
        let addr = app.base.trim_start_matches("http://").to_owned();
        let token = token.to_owned();
        actix_web::web::block(move || {
            let mut socket = std::net::TcpStream::connect(&addr).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            write!(
                socket,
                "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .unwrap();
            let mut reader = BufReader::new(socket);
            let mut line = String::new();
            // Up to the greeting comment: the stream is registered by then.
            while !line.starts_with(": connected") {
                line.clear();
                reader.read_line(&mut line).unwrap();
            }
            Stream(reader)
        })
        .await
        .unwrap()
    }

    async fn next(self, kind: &'static str) -> (Stream, Value) {
        actix_web::web::block(move || {
            let mut reader = self.0;
            let mut current = String::new();
            loop {
                let mut line = String::new();
                assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
                if let Some(k) = line.strip_prefix("event: ") {
                    current = k.trim().to_owned();
                } else if let Some(data) = line.strip_prefix("data: ")
                    && current == kind
                {
                    return (Stream(reader), serde_json::from_str(data.trim()).unwrap());
                }
            }
        })
        .await
        .unwrap()
    }
}

fn conversation_ids(page: &Response) -> Vec<String> {
    page.ids()
}

#[actix_web::test]
async fn a_group_of_a_thousand_is_kept_in_order_and_changed_at_both_ends() {
    let app = spawn_app().await;
    let members = many_contacts(&app, 1_200).await;
    let (kate, direct) = contact_of(&app, KATE).await;
    let mut all = vec![kate.clone()];
    all.extend(members.iter().cloned());
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Everyone", "contacts": all}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(group["contacts"].as_array().unwrap().len(), 1_202);
    let group_id = group["id"].as_str().unwrap().to_owned();
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();

    // Kate's list: the group and the direct conversation, each on top after its message.
    let mut stream = Stream::open(&app, KATE.1).await;
    let sent = app.send(KEVIN.1, &conversation, "to everyone").await;
    let (next, event) = stream.next("message.created").await;
    stream = next;
    assert_eq!(event["payload"]["id"], sent["id"]);
    let list = app
        .get("/v1/conversations?limit=2", KATE.1)
        .await
        .expect(200);
    assert_eq!(
        conversation_ids(&list),
        [conversation.clone(), direct.clone()]
    );
    app.send(KEVIN.1, &direct, "just you").await;
    let list = app
        .get("/v1/conversations?limit=2", KATE.1)
        .await
        .expect(200);
    assert_eq!(
        conversation_ids(&list),
        [direct.clone(), conversation.clone()]
    );
    // A page at a time, across both, in order and without repeats.
    let first = app
        .get("/v1/conversations?limit=1", KATE.1)
        .await
        .expect(200);
    assert!(first.has_more());
    let second = app
        .get(
            &format!("/v1/conversations?limit=1&starting_after={direct}"),
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(conversation_ids(&second), [conversation.as_str()]);
    assert!(!second.has_more());
    let back = app
        .get(
            &format!("/v1/conversations?limit=1&ending_before={conversation}"),
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(conversation_ids(&back), [direct.as_str()]);

    // One member added: the event names them, and is small whatever the group's size.
    let (peter, _) = contact_of(&app, PETER).await;
    let added = app
        .post_json(
            &format!("/v1/groups/{group_id}/contacts"),
            KEVIN.1,
            json!({"contacts": [peter.clone(), kate.clone()]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        added["data"].as_array().unwrap().len(),
        1,
        "Kate was a member already"
    );
    assert_eq!(added["data"][0]["id"], peter.as_str());
    let (next, event) = stream.next("group.updated").await;
    stream = next;
    assert_eq!(event["payload"]["contacts_added"], json!([peter]));
    assert!(event["payload"].get("contacts").is_none());
    assert!(event.to_string().len() < 1_000, "{event}");
    // The new member sees the messages sent after they joined, not before.
    app.send(KEVIN.1, &conversation, "welcome, Peter").await;
    let peters = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            PETER.1,
        )
        .await
        .expect(200);
    assert_eq!(peters.body["data"].as_array().unwrap().len(), 1);

    // Removed at both ends: the first to join after the owner (Kate) and the last (Peter),
    // one through DELETE and one through the full list.
    app.delete(&format!("/v1/groups/{group_id}/contacts/{kate}"), KEVIN.1)
        .await
        .expect(204);
    let (_, gone) = stream.next("group.deleted").await;
    assert_eq!(gone["payload"]["contacts_removed"], json!([kate]));
    let mut rest = members.clone();
    let first_member = rest.remove(0);
    let updated = app
        .put_json(
            &format!("/v1/groups/{group_id}"),
            KEVIN.1,
            json!({"contacts": rest}),
        )
        .await
        .expect(200)
        .body;
    let now: Vec<&str> = updated["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(now.len(), 1 + rest.len());
    for gone in [&kate, &peter, &first_member] {
        assert!(!now.contains(&gone.as_str()), "{gone} still a member");
    }
    // Kate sees nothing new of it; the members' list pages through everyone left.
    app.send(KEVIN.1, &conversation, "after Kate left").await;
    app.get(
        &format!("/v1/messages?conversation_id={conversation}"),
        KATE.1,
    )
    .await
    .expect_error(404, Some("conversation_id"));
    let mut seen = Vec::new();
    let mut path = format!("/v1/groups/{group_id}/contacts?limit=100");
    loop {
        let page = app.get(&path, KEVIN.1).await.expect(200);
        let ids = page.ids();
        seen.extend(ids.iter().cloned());
        if !page.has_more() {
            break;
        }
        path = format!(
            "/v1/groups/{group_id}/contacts?limit=100&starting_after={}",
            ids.last().unwrap()
        );
    }
    assert_eq!(seen.len(), now.len());
    assert_eq!(
        seen.first().map(String::as_str),
        now.last().copied(),
        "newest first"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
}

#[actix_web::test]
async fn a_group_crossing_the_large_line_keeps_its_place_in_every_list() {
    let app = spawn_app().await;
    let members = many_contacts(&app, 40).await;
    let (kate, direct) = contact_of(&app, KATE).await;
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Growing", "contacts": [kate.clone()]}),
        )
        .await
        .expect(201)
        .body;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{conversation}");
    // The time of the last message goes with the group across the line (small groups keep it
    // in their members' rows, large ones in their own).
    let mut last_sent = Value::Null;
    for size in [10usize, 40, 10, 2, 40] {
        let contacts: Vec<&String> = std::iter::once(&kate)
            .chain(members.iter().take(size))
            .collect();
        app.put_json(
            &format!("/v1/groups/{group_id}"),
            KEVIN.1,
            json!({"contacts": contacts}),
        )
        .await
        .expect(200);
        let view = app.get(&path, KATE.1).await.expect(200).body;
        assert_eq!(
            view["last_active_at"], last_sent,
            "after the change to {size}"
        );
        let sent = app
            .send(KEVIN.1, &conversation, &format!("at {size}"))
            .await;
        last_sent = sent["created_at"].clone();
        let view = app.get(&path, KATE.1).await.expect(200).body;
        assert_eq!(
            view["last_active_at"], last_sent,
            "after a message at {size}"
        );
        assert_eq!(
            kates_top(&app).await,
            conversation,
            "group on top at {size}"
        );
        app.send(KEVIN.1, &direct, &format!("direct at {size}"))
            .await;
        assert_eq!(kates_top(&app).await, direct, "direct on top at {size}");
    }
}

/// Someone who joins a small group sees when it last had a message, as its members do.
#[actix_web::test]
async fn a_member_who_joins_a_small_group_sees_its_last_activity() {
    let app = spawn_app().await;
    let (kate, _) = contact_of(&app, KATE).await;
    let (peter, _) = contact_of(&app, PETER).await;
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Small", "contacts": [kate.clone()]}),
        )
        .await
        .expect(201)
        .body;
    let conversation = group["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{conversation}");
    assert!(app.get(&path, KATE.1).await.body["last_active_at"].is_null());
    let sent = app.send(KEVIN.1, &conversation, "before Peter").await;
    app.put_json(
        &format!("/v1/groups/{}", group["id"].as_str().unwrap()),
        KEVIN.1,
        json!({"contacts": [kate, peter]}),
    )
    .await
    .expect(200);
    for who in [KEVIN, KATE, PETER] {
        let view = app.get(&path, who.1).await.expect(200).body;
        assert_eq!(view["last_active_at"], sent["created_at"], "{}", who.0);
    }
}

#[actix_web::test]
async fn a_deleted_large_group_conversation_comes_back_with_only_new_messages() {
    let app = spawn_app().await;
    let conversation = large_group_with_kate(&app).await;
    app.send(KEVIN.1, &conversation, "before").await;
    app.delete(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect(204);
    assert!(
        !app.get("/v1/conversations", KATE.1)
            .await
            .ids()
            .contains(&conversation)
    );
    let after = app.send(KEVIN.1, &conversation, "after").await;
    let list = app
        .get("/v1/conversations?limit=1", KATE.1)
        .await
        .expect(200);
    assert_eq!(list.ids(), [conversation.as_str()]);
    let messages = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KATE.1,
        )
        .await
        .expect(200);
    assert_eq!(messages.ids(), [after["id"].as_str().unwrap()]);
}

#[actix_web::test]
async fn the_member_cap_is_a_setting() {
    let app = spawn_app_with(|c| c.server.max_group_members = 5).await;
    let members = many_contacts(&app, 5).await;
    app.post_json(
        "/v1/groups",
        KEVIN.1,
        json!({"name": "Too many", "contacts": members}),
    )
    .await
    .expect_error(400, Some("contacts"));
    let group = app
        .post_json(
            "/v1/groups",
            KEVIN.1,
            json!({"name": "Just right", "contacts": members[..4]}),
        )
        .await
        .expect(201)
        .id();
    app.post_json(
        &format!("/v1/groups/{group}/contacts"),
        KEVIN.1,
        json!({"contacts": [members[4]]}),
    )
    .await
    .expect_error(400, Some("contacts"));
    // Only the owner changes members; an unknown member is a 404.
    let (kate, _) = contact_of(&app, KATE).await;
    app.delete(&format!("/v1/groups/{group}/contacts/{kate}"), KEVIN.1)
        .await
        .expect_error(404, None);
    // The owner cannot be removed (409, as documented); he stays a member.
    let listed = app
        .get(&format!("/v1/groups/{group}"), KEVIN.1)
        .await
        .expect(200)
        .body;
    let owner = listed["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == KEVIN.0)
        .expect("the owner is a member")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/v1/groups/{group}/contacts/{owner}"), KEVIN.1)
        .await
        .expect_error(409, None);
    let after = app
        .get(&format!("/v1/groups/{group}"), KEVIN.1)
        .await
        .expect(200)
        .body;
    assert_eq!(after["contacts"], listed["contacts"]);
    let started = Instant::now();
    app.delete(
        &format!("/v1/groups/{group}/contacts/{}", members[0]),
        KATE.1,
    )
    .await
    .expect_error(404, None);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[actix_web::test]
async fn a_large_groups_messages_are_replayed_to_members_only() {
    let app = spawn_app().await;
    let conversation = large_group_with_kate(&app).await;
    let first = app.send(KEVIN.1, &conversation, "first").await;
    let later = app.send(KEVIN.1, &conversation, "later").await;
    // The outbox names the conversation, not 42 people.
    let (audience, named): (String, Option<String>) = app.sql(|conn| {
        conn.query_row(
            "SELECT audience, audience_conversation FROM events
              WHERE type = 'message.created' ORDER BY seq DESC LIMIT 1",
            rusqlite::params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    });
    assert_eq!(audience, "");
    assert_eq!(named.as_deref(), Some(conversation.as_str()));
    let event_of = |message: &Value| -> String {
        let pattern = format!("%{}%", message["id"].as_str().unwrap());
        app.sql(|conn| {
            conn.query_row(
                "SELECT CAST(seq AS TEXT) FROM events
                  WHERE type = 'message.created' AND body_tail LIKE ?1",
                [pattern],
                |r| r.get(0),
            )
            .unwrap()
        })
    };
    let replayed = |token: &'static str, after: String| {
        let addr = app.base.trim_start_matches("http://").to_owned();
        actix_web::web::block(move || {
            let mut socket = std::net::TcpStream::connect(&addr).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            write!(
                socket,
                "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Last-Event-ID: {after}\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut socket, &mut text);
            text
        })
    };
    let kates = replayed(KATE.1, event_of(&first)).await.unwrap();
    assert!(kates.contains(later["id"].as_str().unwrap()), "{kates}");
    assert!(!kates.contains("\"message\":\"first\""), "{kates}");
    let peters = replayed(PETER.1, event_of(&first)).await.unwrap();
    assert!(!peters.contains(later["id"].as_str().unwrap()), "{peters}");
}
