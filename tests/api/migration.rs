//! A database written by the release before private address books (schema version 2; made by
//! `tests/fixtures/make_v2_fixture.py`) is upgraded in place on start-up without loss: every
//! account sees the same lists as before, except that a person whom two address books shared
//! now has a copy of their own in the second one.

use crate::helpers::*;
use serde_json::Value;
use std::collections::HashMap;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v2.db");
const LISTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v2-lists.json");

/// Drops what requests themselves change (activity times) and maps ids through `renamed`.
fn normalized(value: &Value, renamed: &HashMap<String, String>) -> Value {
    let mut text = value.to_string();
    for (new, old) in renamed {
        text = text.replace(new.as_str(), old.as_str());
    }
    let mut value: Value = serde_json::from_str(&text).unwrap();
    strip_activity(&mut value);
    value
}

fn strip_activity(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("last_active_at");
            map.values_mut().for_each(strip_activity);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_activity),
        _ => {}
    }
}

fn frank(people: &Value) -> &Value {
    people
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == "FrankMcCallister")
        .unwrap()
}

fn forget_whose_frank(groups: &mut Value) {
    for group in groups.as_array_mut().unwrap() {
        for member in group["contacts"].as_array_mut().unwrap() {
            if member["username"] == "FrankMcCallister" {
                let member = member.as_object_mut().unwrap();
                for key in ["id", "conversation_id", "display_name"] {
                    member.remove(key);
                }
            }
        }
    }
}

#[actix_web::test]
async fn a_version_2_database_is_upgraded_without_loss() {
    let copy = tempfile::tempdir().unwrap();
    let database = copy.path().join("chat.db");
    std::fs::copy(FIXTURE, &database).unwrap();
    let app = spawn_app_with(|c| {
        c.server.database = database.display().to_string();
        // The fixture's accounts, as its config had them.
        for (i, account) in c.accounts.iter_mut().enumerate() {
            account.phone_number = format!("1-800-000-000{i}");
        }
    })
    .await;
    let before: Value = serde_json::from_str(&std::fs::read_to_string(LISTS).unwrap()).unwrap();
    let tokens = [KEVIN, KATE, PETER];

    // Who got a copy: a contact whose id changed under the same username.
    let mut renamed_for: HashMap<&str, HashMap<String, String>> = HashMap::new();
    for (name, token) in tokens {
        let now = app.get("/v1/contacts?limit=100", token).await.expect(200);
        let mut renamed = HashMap::new();
        for old in before[name]["contacts"].as_array().unwrap() {
            let new = now.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["username"] == old["username"])
                .unwrap_or_else(|| panic!("{name} lost {}", old["username"]));
            if new["id"] != old["id"] {
                renamed.insert(
                    new["id"].as_str().unwrap().to_owned(),
                    old["id"].as_str().unwrap().to_owned(),
                );
            }
        }
        renamed_for.insert(name, renamed);
    }
    // Only Kevin, the second to add Frank, got a copy; Kate kept the original.
    assert_eq!(renamed_for[KEVIN.0].len(), 1, "{renamed_for:?}");
    assert!(renamed_for[KATE.0].is_empty());
    assert!(renamed_for[PETER.0].is_empty());

    for (name, token) in tokens {
        for kind in ["contacts", "conversations", "messages", "groups"] {
            let now = app
                .get(&format!("/v1/{kind}?limit=100"), token)
                .await
                .expect(200);
            let mut expected = normalized(&before[name][kind], &HashMap::new());
            let mut got = normalized(&now.body["data"], &renamed_for[name]);
            if kind == "groups" {
                // Frank, in each group, is now the group owner's own contact: to the other
                // members a person outside their address book (checked below).
                for groups in [&mut expected, &mut got] {
                    forget_whose_frank(groups);
                }
            }
            assert_eq!(got, expected, "{name}'s {kind}");
        }
    }

    // In each group Frank is its owner's Frank.
    for (token, group) in [(KATE.1, "Kate's"), (KEVIN.1, "Kevin's")] {
        let contacts = app.get("/v1/contacts?limit=100", token).await.body;
        let own = frank(&contacts["data"]);
        let groups = app.get("/v1/groups?limit=100", token).await.body;
        let group = groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == group)
            .unwrap();
        assert_eq!(frank(&group["contacts"])["id"], own["id"]);
    }

    // Each now has an entry of their own: Kevin's stays his when Kate changes hers.
    let kate_frank = app.get("/v1/contacts?limit=100", KATE.1).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == "FrankMcCallister")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/v1/contacts/{kate_frank}"), KATE.1)
        .await
        .expect(204);
    app.post_json(
        "/v1/contacts",
        KATE.1,
        serde_json::json!({"username": "FrankMcCallister", "phone_number": "1-555-7777"}),
    )
    .await
    .expect(201);
    let kevins = app.get("/v1/contacts?limit=100", KEVIN.1).await.body;
    let kevin_frank = kevins["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == "FrankMcCallister")
        .unwrap();
    assert_eq!(kevin_frank["phone_number"], "1-555-0101");
    // And new sends continue the order.
    let conversation = before[KEVIN.0]["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.send(KEVIN.1, &conversation, "after the upgrade").await;
    let page = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}&limit=1"),
            KEVIN.1,
        )
        .await
        .expect(200);
    assert_eq!(page.ids(), [sent["id"].as_str().unwrap()]);
}
