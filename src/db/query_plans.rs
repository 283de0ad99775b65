//! Every list query uses an index: this test runs each list (first pages and pages after a
//! cursor, with every filter) on a populated database while tracing the SQL that runs, then asks
//! SQLite for the plan of each statement and fails on any full table scan.

use super::*;
use crate::account::Account;
use crate::pagination::{Cursor, PageParams};
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use std::sync::Mutex;

static TRACED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(statement, _) = event
        && let Ok(mut traced) = TRACED.lock()
    {
        // The statement's own text: its parameters unbound read as NULL, which plans the same.
        traced.push(statement.sql().into_owned());
    }
}

fn account(conn: &Sql, name: &str) -> Account {
    let id = contacts::upsert_account(conn, name, "1", None, 1).unwrap();
    Account {
        id,
        username: name.into(),
    }
}

fn pages(first_ids: &[&str]) -> Vec<PageParams> {
    let mut all = vec![PageParams {
        limit: 2,
        cursor: None,
    }];
    for id in first_ids {
        all.push(PageParams {
            limit: 2,
            cursor: Some(Cursor::After((*id).to_owned())),
        });
        all.push(PageParams {
            limit: 2,
            cursor: Some(Cursor::Before((*id).to_owned())),
        });
    }
    all
}

#[test]
fn no_list_query_scans_a_table() {
    let mut raw = rusqlite::Connection::open_in_memory().unwrap();
    super::tune(&raw).unwrap();
    schema::migrate(&mut raw).unwrap();
    let conn = Sql::Sqlite(raw);
    let raw = conn.sqlite().unwrap();
    let (kevin, kate) = (account(&conn, "kevin"), account(&conn, "kate"));
    events::install_renderer(std::sync::Arc::new(events::Plain));
    let new = contacts::NewContact {
        username: "kate".into(),
        phone_number: "1".into(),
        avatar_url: None,
        display_name: None,
    };
    let contact = contacts::create(&conn, &kevin.id, &new, 1).unwrap();
    let conversation = contact.conversation_id.clone().unwrap();
    let mut message_ids = Vec::new();
    for i in 0..5 {
        let message = messages::NewMessage {
            conversation_id: conversation.clone(),
            message: format!("m{i}"),
            attachments: vec![],
        };
        message_ids.push(messages::create(&conn, &kevin, &message, 1).unwrap().id);
    }
    let group = groups::create(
        &conn,
        &kevin.id,
        &groups::NewGroup {
            name: "g".into(),
            description: None,
            avatar_url: None,
            contacts: vec![kate.id.clone()],
        },
        10,
        1,
    )
    .unwrap();
    let attachment = attachments::NewAttachment {
        id: ids::new_id(),
        filename: "f".into(),
        file_type: "text/plain".into(),
        file_size: 1,
        message_id: Some(message_ids[0].clone()),
    };
    let attachment = attachments::create(&conn, &kevin.id, &attachment, 1)
        .unwrap()
        .id;

    raw.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(remember));
    let viewer = &kevin.id;
    for page in pages(&[&kate.id]) {
        contacts::list(&conn, viewer, &page).unwrap();
    }
    // With `group_id`, a cursor must be that group's conversation.
    for (filter, cursor) in [
        (conversations::ConversationFilter::default(), &conversation),
        (
            conversations::ConversationFilter {
                muted: Some(true),
                archived: Some(false),
                pinned: Some(true),
                group_id: Some(group.id.clone()),
            },
            &group.conversation_id,
        ),
    ] {
        for page in pages(&[cursor]) {
            conversations::list(&conn, viewer, &filter, &page).unwrap();
        }
    }
    for page in pages(&[&message_ids[2]]) {
        messages::list(&conn, None, viewer, Some(&conversation), &page).unwrap();
        messages::list(&conn, None, viewer, None, &page).unwrap();
    }
    for page in pages(&[&group.id]) {
        for archived in [None, Some(true)] {
            groups::list(&conn, viewer, archived, &page).unwrap();
        }
    }
    for page in pages(&[&attachment]) {
        attachments::list(&conn, viewer, Some(&conversation), &page).unwrap();
        attachments::list(&conn, viewer, None, &page).unwrap();
    }
    raw.trace_v2(TraceEventCodes::empty(), None);

    let traced = std::mem::take(&mut *TRACED.lock().unwrap());
    assert!(traced.len() > 20, "{traced:?}");
    let mut scans = Vec::new();
    for sql in &traced {
        let mut explain = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Parameters stay unbound (NULL): the plan does not depend on their values.
        let mut rows = explain.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get::<_, String>(3).unwrap());
        }
        for step in plan {
            // `SCAN json_each` walks the ids handed in, not a table.
            let is_scan = step.starts_with("SCAN ") && !step.contains("json_each");
            if is_scan && !step.contains("USING INDEX") && !step.contains("USING COVERING INDEX") {
                scans.push(format!("{step}  <-  {sql}"));
            }
        }
    }
    assert!(scans.is_empty(), "table scans:\n{}", scans.join("\n"));
}
