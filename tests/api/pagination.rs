use crate::helpers::*;

/// Walks `path` (a list, maybe with filters) forward and backward with `limit=7`, checking
/// every page against `expected` (the whole list, in order) and `has_more` in both directions.
async fn walk(app: &TestApp, token: &str, path: &str, expected: &[String]) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let page = |query: String| {
        let url = format!("{path}{sep}{query}");
        async move { app.get(&url, token).await.expect(200) }
    };
    // Default limit: 10.
    let first = page(String::new()).await;
    assert_eq!(first.ids(), expected[..expected.len().min(10)], "{path}");
    assert_eq!(first.has_more(), expected.len() > 10);
    // A page exactly as long as the list ends it; one item shorter leaves one more.
    let whole = page(format!("limit={}", expected.len())).await;
    assert_eq!(whole.ids(), expected, "{path}");
    assert!(!whole.has_more(), "{path}");
    let all_but_one = page(format!("limit={}", expected.len() - 1)).await;
    assert_eq!(all_but_one.ids(), expected[..expected.len() - 1], "{path}");
    assert!(all_but_one.has_more(), "{path}");

    // Forward.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            None => "limit=7".to_owned(),
            Some(id) => format!("limit=7&starting_after={id}"),
        };
        let response = page(query).await;
        let ids = response.ids();
        let start = seen.len();
        assert_eq!(
            ids,
            expected[start..(start + 7).min(expected.len())],
            "{path}"
        );
        seen.extend(ids.iter().cloned());
        assert_eq!(
            response.has_more(),
            seen.len() < expected.len(),
            "{path} at {start}"
        );
        if !response.has_more() {
            break;
        }
        cursor = ids.last().cloned();
    }
    assert_eq!(seen, expected);

    // Backward from the end.
    let mut end = expected.len() - 1;
    let mut before = expected[end].clone();
    loop {
        let response = page(format!("limit=7&ending_before={before}")).await;
        let ids = response.ids();
        let start = end.saturating_sub(7);
        assert_eq!(ids, expected[start..end], "{path} before {end}");
        assert_eq!(response.has_more(), start > 0, "{path} before {end}");
        if start == 0 {
            break;
        }
        end = start;
        before = expected[start].clone();
    }
    // Before the first item: nothing, and nothing more.
    let empty = page(format!("ending_before={}", expected[0])).await;
    assert!(empty.ids().is_empty());
    assert!(!empty.has_more());
    // After the last item: nothing.
    let empty = page(format!("starting_after={}", expected[expected.len() - 1])).await;
    assert!(empty.ids().is_empty());
    assert!(!empty.has_more());
}

/// Every refusal a list must give.
async fn refusals(app: &TestApp, token: &str, path: &str, foreign_id: &str) {
    let sep = if path.contains('?') { '&' } else { '?' };
    for limit in ["0", "101", "-1", "abc", "99999999999999999999", "1.5"] {
        app.get(&format!("{path}{sep}limit={limit}"), token)
            .await
            .expect_error(400, Some("limit"));
    }
    app.get(&format!("{path}{sep}limit=1"), token)
        .await
        .expect(200);
    app.get(&format!("{path}{sep}limit=100"), token)
        .await
        .expect(200);
    app.get(
        &format!("{path}{sep}starting_after={foreign_id}&ending_before={foreign_id}"),
        token,
    )
    .await
    .expect_error(400, Some("ending_before"));
    for param in ["starting_after", "ending_before"] {
        for bad in [foreign_id, "%27%20OR%201%3D1%20--", "nope"] {
            app.get(&format!("{path}{sep}{param}={bad}"), token)
                .await
                .expect_error(400, Some(param));
        }
    }
}

#[actix_web::test]
async fn contacts() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..25 {
        expected.push(
            app.add_contact(KEVIN.1, &format!("person{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    expected.reverse();
    walk(&app, KEVIN.1, "/v1/contacts", &expected).await;
    // Kate's contact id is not in Kevin's list.
    let kates = app.add_contact(KATE.1, "someone_else").await;
    refusals(&app, KEVIN.1, "/v1/contacts", kates["id"].as_str().unwrap()).await;
}

#[actix_web::test]
async fn conversations_with_and_without_a_filter() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..23 {
        let contact = app.add_contact(KEVIN.1, &format!("person{i}")).await;
        let id = contact["conversation_id"].as_str().unwrap().to_owned();
        if i % 2 == 0 {
            app.put_form(&format!("/v1/conversations/{id}"), KEVIN.1, "is_muted=true")
                .await
                .expect(200);
        }
        expected.push(id);
    }
    expected.reverse();
    walk(&app, KEVIN.1, "/v1/conversations", &expected).await;
    // Muted ones only (every other one, created with even i: the list's odd positions after the
    // reversal of 23 items start at index 0).
    let muted: Vec<String> = expected.iter().step_by(2).cloned().collect();
    walk(&app, KEVIN.1, "/v1/conversations?muted=true", &muted).await;
    let message = app.send(KEVIN.1, &expected[0], "x").await;
    refusals(
        &app,
        KEVIN.1,
        "/v1/conversations",
        message["id"].as_str().unwrap(),
    )
    .await;
}

#[actix_web::test]
async fn messages_in_a_conversation_and_everywhere() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let other = app.add_contact(KEVIN.1, PETER.0).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut in_conversation = Vec::new();
    let mut everywhere = Vec::new();
    for i in 0..26 {
        let target = if i % 3 == 0 { &other } else { &conversation };
        let id = app.send(KEVIN.1, target, &format!("m{i}")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if target == &conversation {
            in_conversation.push(id.clone());
        }
        everywhere.push(id);
    }
    in_conversation.reverse();
    everywhere.reverse();
    // The query string exactly as `curl -G -d conversation_id=…` sends it.
    walk(
        &app,
        KEVIN.1,
        &format!("/v1/messages?conversation_id={conversation}"),
        &in_conversation,
    )
    .await;
    walk(&app, KEVIN.1, "/v1/messages", &everywhere).await;
    // A message of another conversation is not an item of this list.
    let foreign = everywhere
        .iter()
        .find(|id| !in_conversation.contains(id))
        .unwrap();
    refusals(
        &app,
        KEVIN.1,
        &format!("/v1/messages?conversation_id={conversation}"),
        foreign,
    )
    .await;
    // A conversation id given as a message cursor.
    refusals(&app, KEVIN.1, "/v1/messages", &conversation).await;
}

#[actix_web::test]
async fn groups() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..21 {
        expected.push(
            app.post_form("/v1/groups", KEVIN.1, &format!("name=g{i}"))
                .await
                .expect(201)
                .id(),
        );
    }
    expected.reverse();
    walk(&app, KEVIN.1, "/v1/groups", &expected).await;
    let kates = app
        .post_form("/v1/groups", KATE.1, "name=hers")
        .await
        .expect(201)
        .id();
    refusals(&app, KEVIN.1, "/v1/groups", &kates).await;
}

#[actix_web::test]
async fn attachments() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..18 {
        expected.push(
            app.upload(KEVIN.1, "file", &format!("{i}.txt"), None, b"x", &[])
                .await
                .expect(201)
                .id(),
        );
    }
    expected.reverse();
    walk(&app, KEVIN.1, "/v1/attachments", &expected).await;
    let kates = app
        .upload(KATE.1, "file", "k.txt", None, b"k", &[])
        .await
        .expect(201)
        .id();
    refusals(&app, KEVIN.1, "/v1/attachments", &kates).await;
}

#[actix_web::test]
async fn a_cursor_at_an_item_that_is_gone_is_a_400_naming_it() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut messages = Vec::new();
    for i in 0..6 {
        messages.push(
            app.send(KEVIN.1, &conversation, &format!("m{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=gone")
        .await
        .expect(201)
        .id();
    app.post_form("/v1/groups", KEVIN.1, "name=stays")
        .await
        .expect(201);
    let upload = app
        .upload(KEVIN.1, "file", "gone.txt", None, b"x", &[])
        .await
        .expect(201)
        .id();
    app.upload(KEVIN.1, "file", "stays.txt", None, b"x", &[])
        .await
        .expect(201);
    let contact = app.add_contact(KEVIN.1, "Gone").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let peter = app.add_contact(KEVIN.1, PETER.0).await;
    let peter_conversation = peter["conversation_id"].as_str().unwrap().to_owned();

    // A page, then its last item goes away before the next page is asked for.
    let page = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}&limit=3"),
            KEVIN.1,
        )
        .await
        .expect(200);
    let last = page.ids().pop().unwrap();
    app.delete(&format!("/v1/messages/{last}"), KEVIN.1)
        .await
        .expect(204);
    app.delete(&format!("/v1/groups/{group}"), KEVIN.1)
        .await
        .expect(204);
    app.delete(&format!("/v1/attachments/{upload}"), KEVIN.1)
        .await
        .expect(204);
    app.delete(&format!("/v1/contacts/{contact}"), KEVIN.1)
        .await
        .expect(204);
    app.delete(&format!("/v1/conversations/{peter_conversation}"), KEVIN.1)
        .await
        .expect(204);
    for (list, gone) in [
        (
            format!("/v1/messages?conversation_id={conversation}&"),
            &last,
        ),
        ("/v1/messages?".to_owned(), &last),
        ("/v1/groups?".to_owned(), &group),
        ("/v1/attachments?".to_owned(), &upload),
        ("/v1/contacts?".to_owned(), &contact),
        ("/v1/conversations?".to_owned(), &peter_conversation),
    ] {
        for param in ["starting_after", "ending_before"] {
            app.get(&format!("{list}{param}={gone}"), KEVIN.1)
                .await
                .expect_error(400, Some(param));
        }
    }
    // The rest of the list is still there to walk, from an item that exists.
    let rest = app
        .get(
            &format!(
                "/v1/messages?conversation_id={conversation}&starting_after={}",
                page.ids()[1]
            ),
            KEVIN.1,
        )
        .await
        .expect(200);
    let mut expected: Vec<String> = messages[..3].to_vec();
    expected.reverse();
    assert_eq!(rest.ids(), expected);
}

#[actix_web::test]
async fn conversations_that_move_between_two_pages_are_neither_repeated_nor_shuffled() {
    let app = spawn_app().await;
    // c[0] oldest … c[9] newest: the list shows c9 … c0.
    let mut c = Vec::new();
    for i in 0..10 {
        c.push(
            app.add_contact(KEVIN.1, &format!("person{i}")).await["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let page = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/v1/conversations?limit=4&{query}"), KEVIN.1)
                .await
                .expect(200)
        }
    };
    let first = page(String::new()).await;
    assert_eq!(
        first.ids(),
        [c[9].as_str(), c[8].as_str(), c[7].as_str(), c[6].as_str()]
    );
    // Between two pages, one already seen (c8) and one not yet seen (c2) become the most
    // recently active.
    app.send(KEVIN.1, c[8].as_str(), "seen already").await;
    app.send(KEVIN.1, c[2].as_str(), "not seen yet").await;
    let second = page(format!("starting_after={}", c[6])).await;
    assert_eq!(
        second.ids(),
        [c[5].as_str(), c[4].as_str(), c[3].as_str(), c[1].as_str()]
    );
    assert!(second.has_more());
    let third = page(format!("starting_after={}", c[1])).await;
    assert_eq!(third.ids(), [c[0].as_str()]);
    assert!(!third.has_more());
    // The moved ones now lead the list, newest activity first.
    assert_eq!(
        page(String::new()).await.ids()[..2],
        [c[2].as_str(), c[8].as_str()]
    );
    // Backwards from c5, the list's order as it is now: c6, c7, c9 are before it (c8 moved
    // to the top, ahead of c2).
    let before = page(format!("ending_before={}", c[5])).await;
    assert_eq!(
        before.ids(),
        [c[8].as_str(), c[9].as_str(), c[7].as_str(), c[6].as_str()]
    );
    assert!(before.has_more());

    // A cursor that itself moved counts where it is now: after c2 (now first) comes c8.
    let after_moved = page(format!("starting_after={}", c[2])).await;
    assert_eq!(
        after_moved.ids(),
        [c[8].as_str(), c[9].as_str(), c[7].as_str(), c[6].as_str()]
    );

    // A flag filter: the cursor keeps its place even once it no longer matches the filter
    // (the person unmuted it between two pages), so the walk goes on.
    for i in [0, 1, 3, 4, 5] {
        app.put_form(
            &format!("/v1/conversations/{}", c[i]),
            KEVIN.1,
            "is_muted=true",
        )
        .await
        .expect(200);
    }
    let muted = page("muted=true&limit=2".to_owned()).await;
    assert_eq!(muted.ids(), [c[5].as_str(), c[4].as_str()]);
    app.put_form(
        &format!("/v1/conversations/{}", c[4]),
        KEVIN.1,
        "is_muted=false",
    )
    .await
    .expect(200);
    let next = page(format!("muted=true&limit=2&starting_after={}", c[4])).await;
    assert_eq!(next.ids(), [c[3].as_str(), c[1].as_str()]);
}

#[actix_web::test]
async fn the_group_id_filter_pages_like_any_list() {
    let app = spawn_app().await;
    let direct = app.kevin_and_kate().await;
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=G")
        .await
        .expect(201)
        .body
        .value();
    let group_id = group["id"].as_str().unwrap();
    let conversation = group["conversation_id"].as_str().unwrap();
    app.post_form("/v1/groups", KEVIN.1, "name=Other")
        .await
        .expect(201);
    let list = format!("/v1/conversations?group_id={group_id}");
    let whole = app
        .get(&format!("{list}&limit=1"), KEVIN.1)
        .await
        .expect(200);
    assert_eq!(whole.ids(), [conversation]);
    assert!(!whole.has_more());
    for param in ["starting_after", "ending_before"] {
        let empty = app
            .get(&format!("{list}&{param}={conversation}"), KEVIN.1)
            .await
            .expect(200);
        assert!(empty.ids().is_empty());
        assert!(!empty.has_more());
        // A conversation of Kevin's that the filter leaves out is no cursor for this list.
        app.get(&format!("{list}&{param}={direct}"), KEVIN.1)
            .await
            .expect_error(400, Some(param));
    }
    // With other filters: still one item, or none.
    assert_eq!(
        app.get(&format!("{list}&muted=false&limit=5"), KEVIN.1)
            .await
            .expect(200)
            .ids(),
        [conversation]
    );
    assert!(
        app.get(&format!("{list}&muted=true"), KEVIN.1)
            .await
            .expect(200)
            .ids()
            .is_empty()
    );
    // Someone outside the group filtering by it sees an empty list, not the group.
    assert!(app.get(&list, KATE.1).await.expect(200).ids().is_empty());
}
