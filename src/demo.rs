//! The demo dataset: the McCallister family of the public Protocol docs, with the docs' own ids
//! (`xgQQXg3hrtjh7AvZ`, `SIuAFUNKdSYHZF2w`, `WAz8eIbvDR60rouK`, ...) so that the docs' curl
//! examples work against a local server.
//!
//! Loading is idempotent: every row is inserted only if it is missing, so loading twice changes
//! nothing (not even AUTOINCREMENT counters: `INSERT OR IGNORE` would advance those, hence
//! `INSERT ... WHERE NOT EXISTS` on such tables). `demo_data = true` loads it once per database (a marker in `server_meta` remembers),
//! so what you delete while trying the API stays deleted across restarts; `protocol seed-demo`
//! loads whatever is missing again. Loading records no events: it is an import, not activity.
//!
//! Where the docs contradict themselves (README, "How this server differs from the docs"), one
//! reading was chosen: `WAz8eIbvDR60rouK` is Kevin (the message pages) rather than Frank (the
//! contact pages); the group is `L7cGNIBKZiNJ6wqF` as the curl examples spell it; the person
//! "you" are in the docs' conversation `xgQQXg3hrtjh7AvZ` is Kate, Kevin's mother.

use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::files::FileStore;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::io::Write;

/// When the docs' examples happen (Unix seconds in December 1991 and May 1992).
const CREATED: i64 = 692_233_200;
const LAST_ACTIVE: i64 = 705_103_200;
const AVATARS: &str = "https://assets.protocol.chat/avatars";

struct Person {
    id: &'static str,
    username: &'static str,
    phone_number: &'static str,
    avatar: &'static str,
    /// Only the family were active; the hotel staff never used the API.
    active: bool,
}

const PEOPLE: &[Person] = &[
    person(
        "WAz8eIbvDR60rouK",
        "KevinMcCallister",
        "1-800-759-3000",
        "buzzboy.jpg",
        true,
    ),
    person(
        "heb4q2y7OcIgculK",
        "KateMcCallister",
        "1-800-759-3001",
        "kate.jpg",
        true,
    ),
    person(
        "O5E0lIrSjuYpdWAb",
        "PeterMcCallister",
        "1-800-759-3002",
        "peter.jpg",
        true,
    ),
    person(
        "inEIRvzjC6YLMX3o",
        "LinnieMcCallister",
        "1-800-759-3000",
        "linnie.jpg",
        true,
    ),
    person(
        "BQwDRqzIUVqVuEMg",
        "FrankMcCallister",
        "1-800-759-3000",
        "frank.jpg",
        true,
    ),
    person(
        "ogllgH7VpNMuKLLW",
        "Hector",
        "1-212-759-3000",
        "hector.jpg",
        false,
    ),
    person(
        "19RUFkYcLQju72cQ",
        "Cedric",
        "1-212-759-3000",
        "cedric.jpg",
        false,
    ),
    person(
        "wKcW9ZpLCfEspDRc",
        "Hester",
        "1-212-759-3000",
        "hester.jpg",
        false,
    ),
    person(
        "5wuv8qDC5zI2QwyL",
        "Cliff",
        "1-212-759-3000",
        "cliff.jpg",
        false,
    ),
];

const fn person(
    id: &'static str,
    username: &'static str,
    phone_number: &'static str,
    avatar: &'static str,
    active: bool,
) -> Person {
    Person {
        id,
        username,
        phone_number,
        avatar,
        active,
    }
}

/// Address books: (owner, contact), oldest first (lists show the newest first, so Kate's
/// starts with Kevin, as in the docs). Frank is in nobody's but Peter's, so the docs' "create
/// a contact" example adds him to Kate's.
const ADDRESS_BOOKS: &[(&str, &str)] = &[
    ("KateMcCallister", "PeterMcCallister"),
    ("KateMcCallister", "LinnieMcCallister"),
    ("KateMcCallister", "Hector"),
    ("KateMcCallister", "Cedric"),
    ("KateMcCallister", "Hester"),
    ("KateMcCallister", "Cliff"),
    ("KateMcCallister", "KevinMcCallister"),
    ("KevinMcCallister", "PeterMcCallister"),
    ("KevinMcCallister", "KateMcCallister"),
    ("PeterMcCallister", "FrankMcCallister"),
    ("PeterMcCallister", "KevinMcCallister"),
    ("PeterMcCallister", "KateMcCallister"),
];

const GROUP_ID: &str = "L7cGNIBKZiNJ6wqF";
const GROUP_OWNER: &str = "KateMcCallister";
const GROUP_MEMBERS: &[&str] = &["Hector", "Cedric", "Hester", "Cliff", "KevinMcCallister"];

enum Between {
    Direct(&'static str, &'static str),
    Group,
}

/// Oldest first: the last one is the most recently active, first in every list.
const CONVERSATIONS: &[(&str, Between, i64)] = &[
    ("ZYjVAbCE9g5XRlra", Between::Group, CREATED - 10_800),
    (
        "4bYmCfeZVtL8rnGq",
        Between::Direct("KateMcCallister", "PeterMcCallister"),
        CREATED - 7_200,
    ),
    (
        "xgQQXg3hrtjh7AvZ",
        Between::Direct("KateMcCallister", "KevinMcCallister"),
        CREATED - 3_600,
    ),
];

/// (id, conversation, sender, text, created_at), in the order they were sent. The newest is
/// the docs' `SIuAFUNKdSYHZF2w`, at the top of the docs' list example.
const MESSAGES: &[(&str, &str, &str, &str, i64)] = &[
    (
        "L5qvSkdkTcDDbtlH",
        "ZYjVAbCE9g5XRlra",
        "Hector",
        "Welcome to the Plaza Hotel. How may we help you?",
        CREATED - 10_800,
    ),
    (
        "e3ywY6RFJUAUauy4",
        "ZYjVAbCE9g5XRlra",
        "KevinMcCallister",
        "One cheese pizza to room 411, please. And the biggest ice cream sundae you have.",
        CREATED - 10_200,
    ),
    (
        "hIo6zTz0hb4t6N4F",
        "ZYjVAbCE9g5XRlra",
        "Cedric",
        "Right away, sir.",
        CREATED - 9_600,
    ),
    (
        "t85kzuzYyjGSPu3N",
        "4bYmCfeZVtL8rnGq",
        "PeterMcCallister",
        "Any news from Kevin?",
        CREATED - 7_200,
    ),
    (
        "QGVl10AE2gtMJvIg",
        "4bYmCfeZVtL8rnGq",
        "KateMcCallister",
        "He is in New York. At the Plaza. On your credit card.",
        CREATED - 6_600,
    ),
    (
        "ZNsH22yp00ubODYZ",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "Kevin, where are you? We landed in Miami and you were not with us.",
        CREATED - 3_600,
    ),
    (
        "7s9R8sU1U5OjwzE2",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "I'm traveling with my dad. He's at a meeting. I hate meetings.",
        CREATED - 3_000,
    ),
    (
        "LoPsJaMcPBuFNjg1",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "The Plaza sent me this. Room service?!",
        CREATED - 1_800,
    ),
    (
        "8GCGOBCqZucpMzXW",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "I'm not apologizing. I'd rather kiss a toilet seat.",
        CREATED - 1_200,
    ),
    (
        "hSIhXBhNe8X1d8Et",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "Stay right where you are. I'm on the next flight to New York.",
        CREATED - 600,
    ),
    (
        "SIuAFUNKdSYHZF2w",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "It's a nice night for a neck injury.",
        CREATED,
    ),
];

/// (message, emoji, who). The docs' update example adds Kate's red_angry_face to
/// `SIuAFUNKdSYHZF2w`, so that one starts without reactions.
const REACTIONS: &[(&str, &str, &str)] = &[
    ("e3ywY6RFJUAUauy4", "money_with_wings", "KateMcCallister"),
    ("QGVl10AE2gtMJvIg", "scream", "PeterMcCallister"),
    (
        "8GCGOBCqZucpMzXW",
        "face_with_rolling_eyes",
        "KateMcCallister",
    ),
    ("hSIhXBhNe8X1d8Et", "+1", "KevinMcCallister"),
];

const ATTACHMENT_ID: &str = "Nc6yKKMpcxiiFxp6";
const ATTACHMENT_MESSAGE: &str = "LoPsJaMcPBuFNjg1";
const ATTACHMENT_UPLOADER: &str = "KateMcCallister";
const ATTACHMENT_NAME: &str = "Invoice_room_service__Plaza_Hotel.pdf";
/// The docs' size for it; the generated invoice is padded to exactly this.
const ATTACHMENT_SIZE: usize = 21_352;

/// The accounts the demo is meant to be used with, and what each is for.
pub const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    (
        "KateMcCallister",
        "the docs' \"you\": most examples (the conversation xgQQXg3hrtjh7AvZ is hers with Kevin)",
    ),
    (
        "KevinMcCallister",
        "WAz8eIbvDR60rouK: the sender of SIuAFUNKdSYHZF2w (editing or deleting it)",
    ),
    ("PeterMcCallister", "Kevin's dad"),
];

/// What a load did.
#[derive(Debug, Default)]
pub struct Report {
    /// Rows inserted (0 when everything was there already).
    pub added: usize,
    /// Where the docs' ids could not be used (the person or conversation already existed).
    pub notes: Vec<String>,
}

const MARKER: &str = "demo_data_loaded_at";

/// `demo_data = true`: loads the dataset unless this database already had it loaded once.
pub fn load_once(db: &Db, files: &FileStore) -> std::result::Result<Option<Report>, String> {
    let loaded = db
        .write_blocking(|tx| {
            Ok(tx
                .prepare_cached("SELECT 1 FROM server_meta WHERE key = ?1")?
                .query_row([MARKER], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .map_err(|e| format!("cannot read the database: {e}"))?;
    if loaded {
        Ok(None)
    } else {
        load(db, files).map(Some)
    }
}

/// Inserts whatever part of the dataset is missing (`protocol seed-demo`).
pub fn load(db: &Db, files: &FileStore) -> std::result::Result<Report, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot load the demo data: {e}");
    // The bytes go in place before their record is committed, as an upload's do.
    if let Some(path) = files.path(ATTACHMENT_ID)
        && !path.exists()
    {
        let tmp = files.dir().join(".tmp").join(ATTACHMENT_ID);
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&invoice_pdf()))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| cannot(&e))?;
    }
    db.write_blocking(|tx| {
        let report = insert_missing(tx)?;
        tx.prepare_cached("INSERT OR IGNORE INTO server_meta (key, value) VALUES (?1, ?2)")?
            .execute(params![MARKER, db::now().to_string()])?;
        Ok(report)
    })
    .map_err(|e| cannot(&e))
}

fn insert_missing(tx: &Connection) -> Result<Report> {
    let mut report = Report::default();
    let people = insert_people(tx, &mut report)?;
    let who = |username: &str| -> Result<&str> {
        people
            .get(username)
            .map(String::as_str)
            .ok_or_else(|| Error::internal(format!("demo data names unknown {username}")))
    };

    for (owner, contact) in ADDRESS_BOOKS {
        report.added += tx
            .prepare_cached(
                "INSERT INTO address_book (owner_id, contact_id, created_at)
                 SELECT ?1, ?2, ?3 WHERE NOT EXISTS
                     (SELECT 1 FROM address_book WHERE owner_id = ?1 AND contact_id = ?2)",
            )?
            .execute(params![who(owner)?, who(contact)?, CREATED])?;
    }

    let owner = who(GROUP_OWNER)?;
    report.added += tx
        .prepare_cached(
            "INSERT INTO chat_groups (id, owner_id, name, description, avatar_url, created_at)
             SELECT ?1, ?2, 'Plaza Hotel', 'World-renowned.', ?3, ?4
              WHERE NOT EXISTS (SELECT 1 FROM chat_groups WHERE id = ?1)",
        )?
        .execute(params![
            GROUP_ID,
            owner,
            format!("{AVATARS}/plazahotel.jpg"),
            CREATED - 10_800
        ])?;

    // The docs' conversation id -> the one in this database.
    let mut conversations: HashMap<&str, String> = HashMap::new();
    for (docs_id, between, created_at) in CONVERSATIONS {
        let (existing, members, group_seq) = match between {
            Between::Direct(a, b) => {
                let (a, b) = (who(a)?, who(b)?);
                let existing = db::conversations::find_direct(tx, a, b)?;
                (existing, vec![a, b], None)
            }
            Between::Group => {
                let existing = tx
                    .prepare_cached("SELECT id FROM conversations WHERE group_id = ?1")?
                    .query_row([GROUP_ID], |r| r.get::<_, String>(0))
                    .optional()?;
                let group_seq: i64 = tx
                    .prepare_cached("SELECT seq FROM chat_groups WHERE id = ?1")?
                    .query_row([GROUP_ID], |r| r.get(0))?;
                let mut members = vec![owner];
                for member in GROUP_MEMBERS {
                    members.push(who(member)?);
                }
                (existing, members, Some(group_seq))
            }
        };
        let id = match existing {
            Some(id) => {
                if id != *docs_id {
                    report.notes.push(format!(
                        "the docs' conversation {docs_id} is {id} here (it existed before)"
                    ));
                }
                id
            }
            None => {
                let direct = match between {
                    Between::Direct(..) => {
                        let (low, high) = if members[0] < members[1] {
                            (members[0], members[1])
                        } else {
                            (members[1], members[0])
                        };
                        Some((low, high))
                    }
                    Between::Group => None,
                };
                let group = group_seq.map(|_| GROUP_ID);
                let newest = db::conversations::newest_message_seq(tx)?;
                db::conversations::insert_conversation(
                    tx,
                    docs_id,
                    direct,
                    group,
                    newest,
                    false,
                    *created_at,
                )?;
                report.added += 1;
                (*docs_id).to_owned()
            }
        };
        let conversation_seq: i64 = tx
            .prepare_cached("SELECT seq FROM conversations WHERE id = ?1")?
            .query_row([&id], |r| r.get(0))?;
        // New participants see the messages inserted below (their seq is higher).
        let newest = db::conversations::newest_message_seq(tx)?;
        for member in members {
            report.added += tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO participants
                        (conversation_id, contact_id, conversation_seq, activity_seq, group_seq,
                         visible_after, last_opened_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6)",
                )?
                .execute(params![
                    id,
                    member,
                    conversation_seq,
                    newest,
                    group_seq,
                    LAST_ACTIVE
                ])?;
        }
        conversations.insert(docs_id, id);
    }

    for (id, conversation, sender, text, created_at) in MESSAGES {
        let conversation = conversations
            .get(conversation)
            .ok_or_else(|| Error::internal("demo message in an unknown conversation"))?;
        report.added += tx
            .prepare_cached(
                "INSERT INTO messages (id, conversation_id, sender_id, body, read_at, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                  WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1)",
            )?
            .execute(params![
                id,
                conversation,
                who(sender)?,
                text,
                LAST_ACTIVE,
                created_at
            ])?;
    }
    // Each conversation moves to its newest message, as sending would have moved it.
    for id in conversations.values() {
        tx.prepare_cached(
            "UPDATE conversations
                SET last_active_at = max(coalesce(last_active_at, 0),
                    (SELECT max(created_at) FROM messages WHERE conversation_id = ?1)),
                    activity_seq = max(activity_seq,
                    (SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = ?1))
              WHERE id = ?1",
        )?
        .execute([id])?;
        tx.prepare_cached(
            "UPDATE participants
                SET activity_seq = max(activity_seq,
                    (SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = ?1))
              WHERE conversation_id = ?1",
        )?
        .execute([id])?;
    }

    for (message, emoji, username) in REACTIONS {
        report.added += tx
            .prepare_cached(
                "INSERT OR IGNORE INTO reactions (message_id, emoji, contact_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![message, emoji, who(username)?, LAST_ACTIVE])?;
    }

    let (conversation, message_seq, message_created): (String, i64, i64) = tx
        .prepare_cached("SELECT conversation_id, seq, created_at FROM messages WHERE id = ?1")?
        .query_row([ATTACHMENT_MESSAGE], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO attachments
                (id, uploader_id, message_id, conversation_id, message_seq, filename, file_type,
                 file_size, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'application/pdf', ?7, ?8
              WHERE NOT EXISTS (SELECT 1 FROM attachments WHERE id = ?1)",
        )?
        .execute(params![
            ATTACHMENT_ID,
            who(ATTACHMENT_UPLOADER)?,
            ATTACHMENT_MESSAGE,
            conversation,
            message_seq,
            ATTACHMENT_NAME,
            ATTACHMENT_SIZE as i64,
            message_created
        ])?;
    if inserted > 0 {
        // A pending removal of an earlier copy must not take the new file.
        tx.prepare_cached("DELETE FROM file_trash WHERE attachment_id = ?1")?
            .execute([ATTACHMENT_ID])?;
        report.added += inserted;
    }
    Ok(report)
}

/// Creates the people who are missing; returns everyone's id by username. A person who already
/// exists (an account synced before the demo was loaded) keeps their id and profile. The demo
/// accounts are public profiles; everyone else is a private contact of the one address book
/// that holds them (the demo accounts come first in `PEOPLE`, so their ids are known by then).
fn insert_people(tx: &Connection, report: &mut Report) -> Result<HashMap<&'static str, String>> {
    let mut ids: HashMap<&'static str, String> = HashMap::new();
    for p in PEOPLE {
        let owner = if DEMO_ACCOUNTS.iter().any(|(name, _)| *name == p.username) {
            None
        } else {
            let book = ADDRESS_BOOKS
                .iter()
                .find(|(_, contact)| *contact == p.username)
                .map(|(owner, _)| *owner)
                .ok_or_else(|| Error::internal(format!("{} is in no address book", p.username)))?;
            Some(
                ids.get(book)
                    .cloned()
                    .ok_or_else(|| Error::internal(format!("{book} comes after {}", p.username)))?,
            )
        };
        let existing = match &owner {
            None => db::contacts::account_by_username(tx, p.username)?,
            Some(owner) => db::contacts::private_by_username(tx, owner, p.username)?,
        };
        let id = match existing {
            Some(id) => {
                if id != p.id {
                    report.notes.push(format!(
                        "{} existed before with the id {id}, not the docs' {}",
                        p.username, p.id
                    ));
                }
                id
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO contacts
                        (id, owner_id, username, phone_number, avatar_url, last_active_at,
                         created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    p.id,
                    owner,
                    p.username,
                    p.phone_number,
                    format!("{AVATARS}/{}", p.avatar),
                    p.active.then_some(LAST_ACTIVE),
                    CREATED
                ])?;
                report.added += 1;
                p.id.to_owned()
            }
        };
        ids.insert(p.username, id);
    }
    Ok(ids)
}

/// Whether an account of `config` is one of the demo people, who alone see the demo data.
pub fn visible_to(config: &Config) -> bool {
    config.accounts.iter().any(|account| {
        PEOPLE
            .iter()
            .any(|p| p.username.eq_ignore_ascii_case(&account.username))
    })
}

/// An account the sign-in page offers: its token is one of the shipped examples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub token: String,
}

/// The accounts whose token is a shipped example (public in the repository), and only while
/// `demo_data` is on. No other token is ever listed.
pub fn demo_accounts(config: &Config) -> Vec<DemoAccount> {
    if !config.server.demo_data {
        return Vec::new();
    }
    let examples = config.accounts_with_example_tokens();
    config
        .accounts
        .iter()
        .filter(|a| examples.contains(&a.username.as_str()))
        .map(|a| DemoAccount {
            username: a.username.clone(),
            token: a.token.clone(),
        })
        .collect()
}

/// The lines printed after `listening on ...` when the demo data is on: which token to use
/// for what, and a first request. Only the shipped example tokens are printed (anyone can read
/// those anyway); a real token stays in protocol.toml.
pub fn start_up_hint(config: &Config, base: &str) -> Vec<String> {
    let examples = config.accounts_with_example_tokens();
    let mut lines = vec![
        "demo data: the McCallister family of the Protocol docs (demo_data = true); tokens:"
            .to_owned(),
    ];
    let mut first_token = None;
    for (username, role) in DEMO_ACCOUNTS {
        let Some(account) = config.accounts.iter().find(|a| a.username == *username) else {
            continue;
        };
        let token = if examples.contains(username) {
            first_token.get_or_insert(account.token.clone());
            account.token.as_str()
        } else {
            "(its token in protocol.toml)"
        };
        lines.push(format!("  {username:<17} {token:<30} {role}"));
    }
    let token = first_token.unwrap_or_else(|| "TOKEN".into());
    lines.push(format!(
        "try: curl -G {base}/v1/messages -H \"Authorization: Bearer {token}\" \
         -d conversation_id=xgQQXg3hrtjh7AvZ -d limit=10"
    ));
    lines
}

/// A one-page PDF invoice, padded (inside its content stream) to exactly `ATTACHMENT_SIZE`
/// bytes so `file_size` matches the docs.
pub fn invoice_pdf() -> Vec<u8> {
    let text = "BT /F1 20 Tf 72 720 Td (The Plaza Hotel) Tj ET\n\
                BT /F1 12 Tf 72 690 Td (Room service, room 411: Kevin McCallister) Tj ET\n\
                BT /F1 12 Tf 72 670 Td (Total charged to Peter McCallister: $967.43) Tj ET\n";
    let mut padding = ATTACHMENT_SIZE.saturating_sub(build_pdf(text, 0).len());
    loop {
        let pdf = build_pdf(text, padding);
        match pdf.len().cmp(&ATTACHMENT_SIZE) {
            std::cmp::Ordering::Equal => return pdf,
            // The stream length gained a digit: take one byte of padding back.
            std::cmp::Ordering::Greater if padding > 0 => padding -= 1,
            _ => return pdf,
        }
    }
}

fn build_pdf(text: &str, padding: usize) -> Vec<u8> {
    let content = format!("{text}{}\n", " ".repeat(padding));
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invoice_has_the_docs_size_and_is_a_pdf() {
        let pdf = invoice_pdf();
        assert_eq!(pdf.len(), ATTACHMENT_SIZE);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn every_id_has_the_id_shape_and_is_used_once() {
        let mut all: Vec<&str> = PEOPLE.iter().map(|p| p.id).collect();
        all.extend(CONVERSATIONS.iter().map(|c| c.0));
        all.extend(MESSAGES.iter().map(|m| m.0));
        all.extend([GROUP_ID, ATTACHMENT_ID]);
        for id in &all {
            assert!(db::ids::is_id(id), "{id}");
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn emoji_names_follow_the_rules() {
        for (_, emoji, _) in REACTIONS {
            assert!(crate::rules::emoji(emoji).is_ok(), "{emoji}");
        }
    }
}
