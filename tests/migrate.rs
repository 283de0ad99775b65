//! `protocol migrate`, through the real binary: a SQLite database with the demo data and a random
//! workload copied (while its server runs) into a fresh PostgreSQL database, then the server
//! started there. Every page of every list of every account reads the same as on SQLite, every
//! row of every table is the same, new rows continue the order, a target that is not empty is
//! refused, and a copy that lost rows is refused and undone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use protocol::db::sql::Sql;
use rusqlite::types::Value;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod support;
use support::{BIN, Server, body_of};

/// The accounts: three of the demo's people, and one who is not in the demo.
const ACCOUNTS: &[(&str, &str)] = &[
    ("KevinMcCallister", "token-kevin"),
    ("KateMcCallister", "token-kate"),
    ("PeterMcCallister", "token-peter"),
    ("HarryLime", "token-harry"),
];

/// Both servers print the same `file_url`s.
const PUBLIC_URL: &str = "http://chat.example.test";

fn write_config(dir: &Path, database: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{database}\"\ndemo_data = true\n\
         public_url = \"{PUBLIC_URL}\"\n"
    );
    for (i, (username, token)) in ACCOUNTS.iter().enumerate() {
        text.push_str(&format!(
            "[[accounts]]\nusername = \"{username}\"\nphone_number = \"1-800-555-010{i}\"\n\
             token = \"{token}\"\n"
        ));
    }
    let path = dir.join("protocol.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One request with any headers and body on a fresh connection: (status, body).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body_of(&response))
}

fn json(addr: &str, method: &str, path: &str, token: &str, body: &Json) -> (u16, Json) {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, answer) = call(
        addr,
        method,
        path,
        token,
        &[],
        "application/json",
        text.as_bytes(),
    );
    (status, serde_json::from_str(&answer).unwrap_or(Json::Null))
}

fn ok(addr: &str, method: &str, path: &str, token: &str, body: Json) -> Json {
    let (status, answer) = json(addr, method, path, token, &body);
    assert!(
        (200..300).contains(&status),
        "{method} {path} {body}: {status} {answer}"
    );
    answer
}

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn ids(list: &Json) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn username_of(token: &str) -> &'static str {
    ACCOUNTS.iter().find(|(_, t)| *t == token).unwrap().0
}

/// Sends, reactions, edits, opened conversations, deletes-for-me, deleted messages, groups with
/// members, an upload and an Idempotency-Key POST. Returns the idempotent request (path, key,
/// body) and its first answer, for replaying on PostgreSQL.
fn workload(addr: &str, seed: u64) -> (String, String, (u16, String)) {
    let mut random = Random(seed);
    let (kevin, kate, peter, harry) = ("token-kevin", "token-kate", "token-peter", "token-harry");
    // Address books: Kevin and Kate add Harry (an account); Kate and Peter add private contacts.
    ok(
        addr,
        "POST",
        "/v1/contacts",
        kevin,
        serde_json::json!({"username": "HarryLime", "phone_number": "1"}),
    );
    ok(
        addr,
        "POST",
        "/v1/contacts",
        kate,
        serde_json::json!({"username": "HarryLime", "phone_number": "1", "display_name": "Harry"}),
    );
    for (token, name) in [(kate, "Marv"), (peter, "Marv"), (peter, "OldManMarley")] {
        ok(
            addr,
            "POST",
            "/v1/contacts",
            token,
            serde_json::json!({"username": name, "phone_number": "555"}),
        );
    }
    // A group of Kevin's with Kate and Harry, and one of Harry's with Kevin.
    let contacts = ok(addr, "GET", "/v1/contacts?limit=100", kevin, Json::Null);
    let member = |list: &Json, name: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["username"] == name)
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (kate_id, harry_id) = (
        member(&contacts, "KateMcCallister"),
        member(&contacts, "HarryLime"),
    );
    ok(
        addr,
        "POST",
        "/v1/groups",
        kevin,
        serde_json::json!({"name": "Wet Bandits watch", "contacts": [kate_id, harry_id]}),
    );
    let harrys = ok(addr, "GET", "/v1/contacts?limit=100", harry, Json::Null);
    let kevin_id = member(&harrys, "KevinMcCallister");
    ok(
        addr,
        "POST",
        "/v1/groups",
        harry,
        serde_json::json!({"name": "Vienna", "description": "the third man", "contacts": [kevin_id]}),
    );

    // An upload, sent with a message.
    let boundary = "migrate-test-boundary";
    let upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nthe battle plan\r\n--{boundary}--\r\n"
    );
    let (status, attachment) = call(
        addr,
        "POST",
        "/v1/attachments",
        kevin,
        &[],
        &format!("multipart/form-data; boundary={boundary}"),
        upload.as_bytes(),
    );
    assert_eq!(status, 201, "{attachment}");
    let attachment: Json = serde_json::from_str(&attachment).unwrap();
    let conversations = ok(
        addr,
        "GET",
        "/v1/conversations?limit=100",
        kevin,
        Json::Null,
    );
    let first = ids(&conversations)[0].clone();
    ok(
        addr,
        "POST",
        "/v1/messages",
        kevin,
        serde_json::json!({"conversation_id": first, "message": "see the plan", "attachments": [attachment["id"]]}),
    );

    // The demo's attachment: its conversation must not be purged either (both of its
    // participants deleting it would take the file with it).
    let demo_message = ok(
        addr,
        "GET",
        &format!(
            "/v1/messages/{}",
            protocol::demo::dataset::ATTACHMENT_MESSAGE
        ),
        kate,
        Json::Null,
    );
    let demo_conversation = demo_message["conversation_id"].as_str().unwrap().to_owned();

    // The random part.
    let tokens = [kevin, kate, peter, harry];
    for round in 0..160 {
        let token = tokens[random.below(tokens.len())];
        let conversations = ids(&ok(
            addr,
            "GET",
            "/v1/conversations?limit=100",
            token,
            Json::Null,
        ));
        if conversations.is_empty() {
            continue;
        }
        let conversation = &conversations[random.below(conversations.len())];
        let messages = ok(
            addr,
            "GET",
            &format!("/v1/messages?conversation_id={conversation}&limit=20"),
            token,
            Json::Null,
        );
        let messages = messages["data"].as_array().unwrap().clone();
        match random.below(20) {
            0..=8 => {
                ok(
                    addr,
                    "POST",
                    "/v1/messages",
                    token,
                    serde_json::json!({"conversation_id": conversation, "message": format!("round {round}: a message \u{1F3E0} with 'quotes', \\ and\ttabs")}),
                );
            }
            9..=12 if !messages.is_empty() => {
                let message = &messages[random.below(messages.len())];
                let emoji = ["red_angry_face", "thumbs_up", "scream"][random.below(3)];
                ok(
                    addr,
                    "PUT",
                    &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
                    token,
                    serde_json::json!({"reactions": {emoji: [username_of(token)]}}),
                );
            }
            13..=14 => {
                let mine: Vec<&Json> = messages
                    .iter()
                    .filter(|m| m["contact"]["username"] == username_of(token))
                    .collect();
                if let Some(message) = mine.first() {
                    ok(
                        addr,
                        "PUT",
                        &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
                        token,
                        serde_json::json!({"message": format!("edited in round {round}")}),
                    );
                }
            }
            15..=16 => {
                // Opening: last_opened_at and read_at.
                ok(
                    addr,
                    "GET",
                    &format!("/v1/conversations/{conversation}"),
                    token,
                    Json::Null,
                );
            }
            // (Not a conversation with a file: deleted by both, it would be purged.)
            17 if *conversation != first && *conversation != demo_conversation => {
                ok(
                    addr,
                    "DELETE",
                    &format!("/v1/conversations/{conversation}"),
                    token,
                    Json::Null,
                );
            }
            18 => {
                // (The upload's message stays: its file is checked after the move.)
                let mine = messages.iter().find(|m| {
                    m["contact"]["username"] == username_of(token)
                        && m["attachments"].as_array().is_none_or(Vec::is_empty)
                });
                if let Some(message) = mine {
                    ok(
                        addr,
                        "DELETE",
                        &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
                        token,
                        Json::Null,
                    );
                }
            }
            _ => {
                ok(
                    addr,
                    "PUT",
                    &format!("/v1/conversations/{conversation}"),
                    token,
                    serde_json::json!({"is_pinned": random.below(2) == 1, "is_muted": random.below(2) == 1}),
                );
            }
        }
    }

    // An idempotent send: its saved answer must travel.
    let conversations = ids(&ok(
        addr,
        "GET",
        "/v1/conversations?limit=100",
        kate,
        Json::Null,
    ));
    let body = serde_json::json!({"conversation_id": conversations[0], "message": "once only"})
        .to_string();
    let key = "migrate-test-key-1";
    let first = call(
        addr,
        "POST",
        "/v1/messages",
        kate,
        &[("Idempotency-Key", key)],
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(first.0, 201, "{}", first.1);
    (body, key.to_owned(), first)
}

/// Every page of every list of every account, following cursors 3 items at a time (and one page
/// back from the end): (token and path, body).
fn every_page(addr: &str) -> Vec<(String, String)> {
    let mut pages = Vec::new();
    for (_, token) in ACCOUNTS {
        let mut lists: Vec<String> = [
            "/v1/contacts",
            "/v1/conversations",
            "/v1/messages",
            "/v1/groups",
            "/v1/attachments",
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        let conversations = ok(
            addr,
            "GET",
            "/v1/conversations?limit=100",
            token,
            Json::Null,
        );
        for id in ids(&conversations) {
            lists.push(format!("/v1/messages?conversation_id={id}"));
            lists.push(format!("/v1/attachments?conversation_id={id}"));
        }
        let groups = ok(addr, "GET", "/v1/groups?limit=100", token, Json::Null);
        for id in ids(&groups) {
            lists.push(format!("/v1/groups/{id}/contacts"));
        }
        for list in lists {
            let join = if list.contains('?') { '&' } else { '?' };
            let mut path = format!("{list}{join}limit=3");
            loop {
                let (status, body) = call(addr, "GET", &path, token, &[], "", b"");
                assert_eq!(status, 200, "{path}: {body}");
                pages.push((format!("{token} {path}"), body.clone()));
                let page: Json = serde_json::from_str(&body).unwrap();
                let Some(last) = ids(&page).pop() else { break };
                if !page["has_more"].as_bool().unwrap() {
                    let back = format!("{list}{join}limit=3&ending_before={last}");
                    let (status, body) = call(addr, "GET", &back, token, &[], "", b"");
                    assert_eq!(status, 200, "{back}: {body}");
                    pages.push((format!("{token} {back}"), body));
                    break;
                }
                path = format!("{list}{join}limit=3&starting_after={last}");
            }
        }
    }
    pages
}

/// The accounts' `last_active_at` is written by the requests that read the lists (the first of
/// each account in each process), so it is the one thing that may differ: it is set to 0 in
/// the contact objects of the accounts. (The table comparison checks the copied value.)
fn without_account_activity(body: &str, account_ids: &BTreeSet<String>) -> String {
    let mut out = body.to_owned();
    for id in account_ids {
        let mut from = 0;
        let needle = format!("\"id\":\"{id}\"");
        while let Some(at) = out[from..].find(&needle) {
            let start = from + at;
            let object_end = out[start..].find('}').map_or(out.len(), |e| start + e);
            if let Some(field) = out[start..object_end].find("\"last_active_at\":") {
                let value_start = start + field + "\"last_active_at\":".len();
                let value_end = out[value_start..]
                    .find([',', '}'])
                    .map_or(out.len(), |e| value_start + e);
                out.replace_range(value_start..value_end, "0");
            }
            from = start + needle.len();
        }
    }
    out
}

fn account_ids(addr: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, token) in ACCOUNTS {
        let contacts = ok(addr, "GET", "/v1/contacts?limit=100", token, Json::Null);
        for contact in contacts["data"].as_array().unwrap() {
            if ACCOUNTS.iter().any(|(u, _)| contact["username"] == *u) {
                found.insert(contact["id"].as_str().unwrap().to_owned());
            }
        }
    }
    found
}

fn migrate(config: &Path, url: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("migrate")
        .arg("--to")
        .arg(url)
        .output()
        .unwrap()
}

/// Every row of every table of both databases, as values (the schema version aside).
fn rows_of(conn: &Sql, tables: &[(String, usize)]) -> Vec<(String, Vec<Vec<Value>>)> {
    tables
        .iter()
        .map(|(table, width)| {
            let order: Vec<String> = (1..=*width).map(|i| i.to_string()).collect();
            let filter = if table == "server_meta" {
                "WHERE key <> 'schema_version'"
            } else {
                ""
            };
            let columns = source_columns(table);
            let sql = format!(
                "SELECT {} FROM {table} {filter} ORDER BY {}",
                columns.join(", "),
                order.join(", ")
            );
            let rows: Vec<Vec<Value>> = conn
                .prepare_cached(&sql)
                .unwrap()
                .query_map(rusqlite::params![], |row| {
                    (0..*width).map(|i| row.get::<Value>(i)).collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (table.clone(), rows)
        })
        .collect()
}

thread_local! {
    static COLUMNS: std::cell::RefCell<std::collections::HashMap<String, Vec<String>>> =
        Default::default();
}

fn source_columns(table: &str) -> Vec<String> {
    COLUMNS.with(|c| c.borrow().get(table).cloned().unwrap())
}

fn tables_of(sqlite: &rusqlite::Connection) -> Vec<(String, usize)> {
    let names: Vec<String> = sqlite
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|table| {
            let columns: Vec<String> = sqlite
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .unwrap()
                .query_map([&table], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let width = columns.len();
            COLUMNS.with(|c| c.borrow_mut().insert(table.clone(), columns));
            (table, width)
        })
        .collect()
}

fn postgres(url: &str) -> Sql {
    protocol::db::postgres::connect(&protocol::db::postgres::config(url).unwrap()).unwrap()
}

#[test]
fn a_sqlite_database_migrated_to_postgres_reads_the_same_and_continues() {
    let test = "a_sqlite_database_migrated_to_postgres_reads_the_same_and_continues";
    let Some(url) = support::postgres::database_or_skip(test) else {
        return;
    };
    // MIGRATE_TEST_SEED replays a printed seed.
    let seed = std::env::var("MIGRATE_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("workload seed {seed} (replay: MIGRATE_TEST_SEED={seed})");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "chat.db");

    // SQLite: the demo data and the workload; the lists as its server reads them.
    let sqlite_server = Server::on(&config, &dir.path().join("sqlite.log"));
    let addr = sqlite_server.addr.clone();
    let (idempotent_body, key, first_answer) = workload(&addr, seed);
    let accounts = account_ids(&addr);
    let before: Vec<(String, String)> = every_page(&addr)
        .into_iter()
        .map(|(path, body)| (path, without_account_activity(&body, &accounts)))
        .collect();
    assert!(before.len() > 100, "only {} pages", before.len());

    // The copy, while the SQLite server runs.
    let output = migrate(&config, &url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the same count in every table"), "{stdout}");
    // The demo's file and the upload.
    assert!(stdout.contains("attachment files: 2 copied"), "{stdout}");
    drop(sqlite_server);

    // Every row of every table came over as it was.
    let sqlite = Sql::Sqlite(rusqlite::Connection::open(dir.path().join("chat.db")).unwrap());
    let tables = tables_of(sqlite.sqlite().unwrap());
    assert!(tables.len() >= 14, "{tables:?}");
    let target = postgres(&url);
    let source_rows = rows_of(&sqlite, &tables);
    let target_rows = rows_of(&target, &tables);
    for ((table, ours), (_, theirs)) in source_rows.iter().zip(&target_rows) {
        assert_eq!(ours.len(), theirs.len(), "rows of {table}");
        for (a, b) in ours.iter().zip(theirs) {
            assert_eq!(a, b, "a row of {table}");
        }
    }
    let count = |table: &str| {
        source_rows
            .iter()
            .find(|(t, _)| t == table)
            .unwrap()
            .1
            .len()
    };
    for table in [
        "messages",
        "reactions",
        "attachments",
        "events",
        "idempotency_keys",
    ] {
        assert!(count(table) > 0, "the workload left no {table}");
    }
    drop(target);

    // Once more into the same database: refused, and nothing changes.
    let again = migrate(&config, &url);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");

    // The server on PostgreSQL reads every page the same.
    let config = write_config(dir.path(), &url);
    let pg_server = Server::on(&config, &dir.path().join("postgres.log"));
    let addr = pg_server.addr.clone();
    let after: Vec<(String, String)> = every_page(&addr)
        .into_iter()
        .map(|(path, body)| (path, without_account_activity(&body, &accounts)))
        .collect();
    assert_eq!(before.len(), after.len(), "pages");
    for ((path, ours), (their_path, theirs)) in before.iter().zip(&after) {
        assert_eq!(path, their_path);
        assert_eq!(ours, theirs, "{path}");
    }

    // The uploaded bytes are served from the PostgreSQL server's folder.
    let kevin = "token-kevin";
    let uploads = ok(&addr, "GET", "/v1/attachments?limit=100", kevin, Json::Null);
    let plan = uploads["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "plan.txt")
        .unwrap();
    let (status, bytes) = call(
        &addr,
        "GET",
        &format!("/v1/attachments/{}/content", plan["id"].as_str().unwrap()),
        kevin,
        &[],
        "",
        b"",
    );
    assert_eq!((status, bytes.as_str()), (200, "the battle plan"));

    // The idempotent send answers as before and sends nothing new.
    let replay = call(
        &addr,
        "POST",
        "/v1/messages",
        "token-kate",
        &[("Idempotency-Key", &key)],
        "application/json",
        idempotent_body.as_bytes(),
    );
    assert_eq!(replay, first_answer);

    // New rows continue the order: a new message is first in the lists, its conversation too,
    // and a new group is first among the groups.
    let conversations = ids(&ok(
        &addr,
        "GET",
        "/v1/conversations?limit=100",
        kevin,
        Json::Null,
    ));
    let oldest = conversations.last().unwrap();
    let sent = ok(
        &addr,
        "POST",
        "/v1/messages",
        kevin,
        serde_json::json!({"conversation_id": oldest, "message": "after the move"}),
    );
    let newest = ok(&addr, "GET", "/v1/messages?limit=1", kevin, Json::Null);
    assert_eq!(ids(&newest), [sent["id"].as_str().unwrap()]);
    let newest = ok(&addr, "GET", "/v1/conversations?limit=1", kevin, Json::Null);
    assert_eq!(&ids(&newest)[0], oldest);
    let group = ok(
        &addr,
        "POST",
        "/v1/groups",
        kevin,
        serde_json::json!({"name": "after the move"}),
    );
    let groups = ok(&addr, "GET", "/v1/groups?limit=1", kevin, Json::Null);
    assert_eq!(ids(&groups), [group["id"].as_str().unwrap()]);
    drop(pg_server);
    support::postgres::drop_database(&url);
}

#[test]
fn a_copy_that_loses_rows_is_refused_and_undone() {
    let test = "a_copy_that_loses_rows_is_refused_and_undone";
    let Some(url) = support::postgres::database_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "chat.db");
    let seeded = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("seed-demo")
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    // The target's schema, with a trigger that silently drops one kind of reaction.
    let target = postgres(&url);
    protocol::db::postgres::migrate(&target).unwrap();
    target
        .execute_batch(
            "CREATE FUNCTION lose_reactions() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RETURN NULL; END $$;
             CREATE TRIGGER lose_reactions BEFORE INSERT ON reactions
                 FOR EACH ROW EXECUTE FUNCTION lose_reactions();",
        )
        .unwrap();

    let output = migrate(&config, &url);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not match the source") && stderr.contains("reactions has 0 rows"),
        "{stderr}"
    );
    // Undone: no row stayed, no file was copied.
    let left: i64 = target
        .query_row(
            "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM messages)",
            rusqlite::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    let files = dir.path().join("protocol-files");
    let copied = std::fs::read_dir(&files)
        .map(|d| d.flatten().filter(|e| e.file_name() != ".tmp").count())
        .unwrap_or(0);
    assert_eq!(copied, 0);
    drop(target);
    support::postgres::drop_database(&url);
}

#[test]
fn a_copy_while_messages_arrive_is_one_snapshot() {
    let test = "a_copy_while_messages_arrive_is_one_snapshot";
    let Some(url) = support::postgres::database_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "chat.db");
    let server = Server::on(&config, &dir.path().join("sqlite.log"));
    let addr = server.addr.clone();
    let conversation = ids(&ok(
        &addr,
        "GET",
        "/v1/conversations?limit=1",
        "token-kate",
        Json::Null,
    ))[0]
        .clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, sent, addr) = (stop.clone(), sent.clone(), addr.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ok(
                    &addr,
                    "POST",
                    "/v1/messages",
                    "token-kate",
                    serde_json::json!({"conversation_id": conversation, "message": "meanwhile"}),
                );
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let wait_for_sends = |n: u64| {
        support::wait_for("sends", Duration::from_secs(120), || {
            sent.load(std::sync::atomic::Ordering::Relaxed) >= n
        })
    };
    wait_for_sends(10);
    let output = migrate(&config, &url);
    wait_for_sends(sent.load(std::sync::atomic::Ordering::Relaxed) + 5);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    // The counts of one moment matched the rows of the same moment.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("the same count in every table"), "{stdout}");
    let target = postgres(&url);
    let copied: i64 = target
        .query_row(
            "SELECT count(*) FROM messages WHERE body = 'meanwhile'",
            rusqlite::params![],
            |r| r.get(0),
        )
        .unwrap();
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed) as i64;
    assert!(copied >= 10 && copied < sent, "{copied} of {sent}");
    drop(target);
    drop(server);
    support::postgres::drop_database(&url);
}
