//! The demo dataset (`crate::demo::dataset`) written into SQLite: every row inserted only if it is
//! missing, so loading twice changes nothing (not even AUTOINCREMENT counters: `INSERT OR
//! IGNORE` would advance those, hence `INSERT ... WHERE NOT EXISTS` on such tables). Loading
//! records no events: it is an import, not activity.

use super::error::{Result, StoreError};
use super::sql::{OptionalExtension, Sql};
use crate::demo::dataset::{
    ADDRESS_BOOKS, ATTACHMENT_ID, ATTACHMENT_MESSAGE, ATTACHMENT_NAME, ATTACHMENT_SIZE,
    ATTACHMENT_UPLOADER, AVATARS, Between, CONVERSATIONS, CREATED, DEMO_ACCOUNTS, GROUP_ID,
    GROUP_MEMBERS, GROUP_OWNER, LAST_ACTIVE, MESSAGES, PEOPLE, REACTIONS,
};
use rusqlite::params;
use std::collections::HashMap;

/// What a load did.
#[derive(Debug, Default)]
pub struct Report {
    /// Rows inserted (0 when everything was there already).
    pub added: usize,
    /// Where the docs' ids could not be used (the person or conversation already existed).
    pub notes: Vec<String>,
}

/// In `server_meta` once the dataset was loaded: `demo_data = true` loads it once per database,
/// so what you delete while trying the API stays deleted across restarts.
const MARKER: &str = "demo_data_loaded_at";

/// Whether the dataset was loaded into this database before.
pub fn is_loaded(conn: &Sql) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM server_meta WHERE key = ?1")?
        .query_row([MARKER], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Inserts whatever part of the dataset is missing, and marks the database as loaded.
pub fn insert_missing(tx: &Sql) -> Result<Report> {
    let mut report = Report::default();
    let people = insert_people(tx, &mut report)?;
    let who = |username: &str| -> Result<&str> {
        people
            .get(username)
            .map(String::as_str)
            .ok_or_else(|| StoreError::internal(format!("demo data names unknown {username}")))
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
                let existing = super::conversations::find_direct(tx, a, b)?;
                (existing, vec![a, b], None)
            }
            Between::Group => {
                let existing = tx
                    .prepare_cached("SELECT id FROM conversations WHERE group_id = ?1")?
                    .query_row([GROUP_ID], |r| r.get::<String>(0))
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
                let newest = super::conversations::newest_message_seq(tx)?;
                super::conversations::insert_conversation(
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
        let newest = super::conversations::newest_message_seq(tx)?;
        for member in members {
            report.added += tx
                .prepare_cached(
                    "INSERT INTO participants
                        (conversation_id, contact_id, conversation_seq, activity_seq, group_seq,
                         visible_after, last_opened_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6) ON CONFLICT DO NOTHING",
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
            .ok_or_else(|| StoreError::internal("demo message in an unknown conversation"))?;
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
    let greatest = tx.pick("max", "greatest");
    for id in conversations.values() {
        tx.prepare_cached(&format!(
            "UPDATE conversations
                SET last_active_at = {greatest}(coalesce(last_active_at, 0),
                    (SELECT max(created_at) FROM messages WHERE conversation_id = ?1)),
                    activity_seq = {greatest}(activity_seq,
                    (SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = ?1))
              WHERE id = ?1"
        ))?
        .execute([id])?;
        // (A small conversation's participants carry its activity; a large one's do not.)
        tx.prepare_cached(&format!(
            "UPDATE participants
                SET activity_seq = {greatest}(activity_seq,
                    (SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = ?1)),
                    last_active_at = (SELECT last_active_at FROM conversations WHERE id = ?1)
              WHERE conversation_id = ?1 AND activity_seq IS NOT NULL"
        ))?
        .execute([id])?;
    }

    for (message, emoji, username) in REACTIONS {
        report.added += tx
            .prepare_cached(
                "INSERT INTO reactions (message_id, emoji, contact_id, created_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
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
             SELECT ?1, ?2, ?3, ?4, CAST(?5 AS BIGINT), ?6, 'application/pdf', CAST(?7 AS BIGINT),
                    CAST(?8 AS BIGINT)
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
    tx.prepare_cached(
        "INSERT INTO server_meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![MARKER, super::now().to_string()])?;
    Ok(report)
}

/// Creates the people who are missing; returns everyone's id by username. A person who already
/// exists (an account synced before the demo was loaded) keeps their id and profile. The demo
/// accounts are public profiles; everyone else is a private contact of the one address book
/// that holds them (the demo accounts come first in `PEOPLE`, so their ids are known by then).
fn insert_people(tx: &Sql, report: &mut Report) -> Result<HashMap<&'static str, String>> {
    let mut ids: HashMap<&'static str, String> = HashMap::new();
    for p in PEOPLE {
        let owner = if DEMO_ACCOUNTS.iter().any(|(name, _)| *name == p.username) {
            None
        } else {
            let book = ADDRESS_BOOKS
                .iter()
                .find(|(_, contact)| *contact == p.username)
                .map(|(owner, _)| *owner)
                .ok_or_else(|| {
                    StoreError::internal(format!("{} is in no address book", p.username))
                })?;
            Some(ids.get(book).cloned().ok_or_else(|| {
                StoreError::internal(format!("{book} comes after {}", p.username))
            })?)
        };
        let existing = match &owner {
            None => super::contacts::account_by_username(tx, p.username)?,
            Some(owner) => super::contacts::private_by_username(tx, owner, p.username)?,
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
