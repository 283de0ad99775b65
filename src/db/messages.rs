//! Messages and their reactions. A viewer sees a message when they see its conversation and the
//! message is newer than their `visible_after` mark.

use super::contacts::{PROFILE_COLUMNS, Profile, ensure_in_address_book, profile_from_row};
use super::conversations::{self, require_participation};
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use crate::auth::Account;
use crate::error::{Error, Result};
use crate::pagination::{Cursor, List, PageParams};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Distinct reactions one person may leave on one message.
pub const MAX_REACTIONS_PER_PERSON: usize = 32;

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub contact: Profile,
    pub message: String,
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<serde_json::Value>,
    pub read_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

/// One emoji and who reacted with it, in order; serialized as `{"EMOJI": ["username", …]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub usernames: Vec<String>,
}

impl Serialize for Reaction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.emoji, &self.usernames)?;
        map.end()
    }
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct MessageChanges {
    pub message: Option<String>,
    /// (emoji, usernames): a list naming the viewer adds their reaction, an empty one removes it.
    pub reactions: Option<Vec<(String, Vec<String>)>>,
}

const MESSAGE_SELECT: &str = "
    SELECT m.seq, m.id, m.conversation_id, m.body, m.read_at, m.created_at, m.updated_at,";

/// Columns `MESSAGE_SELECT` + `PROFILE_COLUMNS`, over messages `m` joined to the sender `c`.
fn message_select() -> String {
    format!(
        "{MESSAGE_SELECT} {PROFILE_COLUMNS} FROM messages m JOIN contacts c ON c.id = m.sender_id"
    )
}

/// A row of `message_select()`, with its seq; reactions are filled in after.
fn message_from_row(row: &Row) -> rusqlite::Result<(i64, Message)> {
    Ok((
        row.get(0)?,
        Message {
            id: row.get(1)?,
            conversation_id: row.get(2)?,
            message: row.get(3)?,
            read_at: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
            contact: profile_from_row(row, 7)?,
            reactions: Vec::new(),
            attachments: Vec::new(),
        },
    ))
}

fn with_details(conn: &Connection, mut message: Message) -> Result<Message> {
    message.reactions = reactions(conn, &message.id)?;
    Ok(message)
}

fn reactions(conn: &Connection, message: &str) -> Result<Vec<Reaction>> {
    let mut statement = conn.prepare_cached(
        "SELECT r.emoji, c.username FROM reactions r JOIN contacts c ON c.id = r.contact_id
          WHERE r.message_id = ?1 ORDER BY r.seq",
    )?;
    let mut out: Vec<Reaction> = Vec::new();
    let rows = statement.query_map([message], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for row in rows {
        let (emoji, username): (String, String) = row?;
        match out.iter_mut().find(|reaction| reaction.emoji == emoji) {
            Some(reaction) => reaction.usernames.push(username),
            None => out.push(Reaction {
                emoji,
                usernames: vec![username],
            }),
        }
    }
    Ok(out)
}

/// The message if the viewer can see it.
fn find_visible(conn: &Connection, viewer: &str, id: &str) -> Result<Option<Message>> {
    let sql = format!(
        "{} JOIN participants p ON p.conversation_id = m.conversation_id
              AND p.contact_id = ?1 AND p.hidden = 0 AND m.seq > p.visible_after
          WHERE m.id = ?2",
        message_select()
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], message_from_row)
        .optional()?;
    found.map(|(_, m)| with_details(conn, m)).transpose()
}

pub fn get(conn: &Connection, viewer: &str, id: &str) -> Result<Message> {
    find_visible(conn, viewer, id)?.ok_or_else(|| Error::not_found("message", id))
}

/// `GET /v1/messages`: newest first by arrival, in one conversation or in all the viewer's.
pub fn list(
    conn: &Connection,
    viewer: &str,
    conversation: Option<&str>,
    page: &PageParams,
) -> Result<List<Message>> {
    let list = match conversation {
        Some(conversation) => {
            let participation = require_participation(conn, viewer, conversation)
                .map_err(|e| e.with_param("conversation_id"))?;
            list_in_conversation(conn, conversation, participation.visible_after, page)?
        }
        None => list_everywhere(conn, viewer, page)?,
    };
    let data = list
        .data
        .into_iter()
        .map(|m| with_details(conn, m))
        .collect::<Result<_>>()?;
    Ok(List {
        has_more: list.has_more,
        data,
    })
}

fn list_in_conversation(
    conn: &Connection,
    conversation: &str,
    visible_after: i64,
    page: &PageParams,
) -> Result<List<Message>> {
    let select = format!(
        "{} WHERE m.conversation_id = ?1 AND m.seq > ?2",
        message_select()
    );
    let query = KeysetQuery {
        select: &select,
        order: &["m.seq"],
        params: vec![
            Value::Text(conversation.to_owned()),
            Value::Integer(visible_after),
        ],
    };
    page::fetch(
        conn,
        query,
        page,
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT seq FROM messages WHERE id = ?1 AND conversation_id = ?2 AND seq > ?3",
                )?
                .query_row(params![cursor, conversation, visible_after], |r| {
                    Ok(vec![r.get(0)?])
                })
                .optional()?)
        },
        |row| message_from_row(row).map(|(_, m)| m),
    )
}

/// Across conversations, each conversation's page comes from its own index range and the
/// pages are merged: the cost grows with the number of conversations, never with depth.
fn list_everywhere(conn: &Connection, viewer: &str, page: &PageParams) -> Result<List<Message>> {
    let bound = match &page.cursor {
        None => None,
        Some(cursor) => {
            let seq: i64 = conn
                .prepare_cached(
                    "SELECT m.seq FROM messages m
                       JOIN participants p ON p.conversation_id = m.conversation_id
                        AND p.contact_id = ?1 AND p.hidden = 0 AND m.seq > p.visible_after
                      WHERE m.id = ?2",
                )?
                .query_row(params![viewer, cursor.id()], |r| r.get(0))
                .optional()?
                .ok_or_else(|| {
                    Error::invalid(
                        cursor.param(),
                        format!("{} must be the id of an item of this list.", cursor.param()),
                    )
                })?;
            Some(seq)
        }
    };
    let backward = matches!(page.cursor, Some(Cursor::Before(_)));
    let conversations: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT conversation_id, visible_after FROM participants
              WHERE contact_id = ?1 AND hidden = 0",
        )?
        .query_map([viewer], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;

    let (cmp, direction) = if backward {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    let bound_sql = if bound.is_some() {
        format!(" AND m.seq {cmp} ?3")
    } else {
        String::new()
    };
    let sql = format!(
        "{} WHERE m.conversation_id = ?1 AND m.seq > ?2{bound_sql} ORDER BY m.seq {direction} LIMIT {}",
        message_select(),
        page.limit + 1
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows: Vec<(i64, Message)> = Vec::new();
    for (conversation, visible_after) in conversations {
        let mut params: Vec<Value> = vec![Value::Text(conversation), Value::Integer(visible_after)];
        if let Some(seq) = bound {
            params.push(Value::Integer(seq));
        }
        for row in statement.query_map(rusqlite::params_from_iter(params), message_from_row)? {
            rows.push(row?);
        }
    }
    if backward {
        rows.sort_by_key(|(seq, _)| *seq);
    } else {
        rows.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    }
    let has_more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    if backward {
        rows.reverse();
    }
    Ok(List {
        has_more,
        data: rows.into_iter().map(|(_, m)| m).collect(),
    })
}

/// `POST /v1/messages`.
pub fn create(conn: &Connection, sender: &Account, new: &NewMessage, now: i64) -> Result<Message> {
    require_participation(conn, &sender.id, &new.conversation_id)
        .map_err(|e| e.with_param("conversation_id"))?;
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO messages (id, conversation_id, sender_id, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        new.conversation_id,
        sender.id,
        new.message,
        now
    ])?;
    let seq = conn.last_insert_rowid();
    conversations::touch(conn, &new.conversation_id, seq, now)?;
    // The conversation is back for whoever had deleted it, so they must know the sender.
    if let Some((low, high)) = conversations::direct_pair(conn, &new.conversation_id)? {
        let other = if low == sender.id { high } else { low };
        ensure_in_address_book(conn, &other, &sender.id, now)?;
    }
    get(conn, &sender.id, &id)
}

/// `PUT /v1/messages/:id`: the text by its sender only; reactions by anyone who sees it, as
/// themself.
pub fn update(
    conn: &Connection,
    viewer: &Account,
    id: &str,
    changes: &MessageChanges,
    now: i64,
) -> Result<Message> {
    let message = get(conn, &viewer.id, id)?;
    if let Some(text) = &changes.message {
        if message.contact.id != viewer.id {
            return Err(
                Error::forbidden("Only the sender can edit a message.").with_param("message")
            );
        }
        conn.prepare_cached("UPDATE messages SET body = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, text, now])?;
    }
    if let Some(reactions) = &changes.reactions {
        for (emoji, usernames) in reactions {
            if usernames.iter().any(|u| u != &viewer.username) {
                return Err(Error::forbidden(
                    "You can react only as yourself: list your own username, or none to remove.",
                )
                .with_param("reactions"));
            }
            if usernames.is_empty() {
                conn.prepare_cached(
                    "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND contact_id = ?3",
                )?
                .execute(params![id, emoji, viewer.id])?;
            } else {
                conn.prepare_cached(
                    "INSERT INTO reactions (message_id, emoji, contact_id, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?
                .execute(params![id, emoji, viewer.id, now])?;
            }
        }
        let mine: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM reactions WHERE message_id = ?1 AND contact_id = ?2",
            )?
            .query_row(params![id, viewer.id], |r| r.get(0))?;
        if mine as usize > MAX_REACTIONS_PER_PERSON {
            return Err(Error::invalid(
                "reactions",
                format!(
                    "You can leave at most {MAX_REACTIONS_PER_PERSON} different reactions on a message."
                ),
            ));
        }
    }
    get(conn, &viewer.id, id)
}

/// `DELETE /v1/messages/:id`: by its sender, for everyone.
pub fn delete(conn: &Connection, viewer: &str, id: &str) -> Result<()> {
    let message = get(conn, viewer, id)?;
    if message.contact.id != viewer {
        return Err(Error::forbidden("Only the sender can delete a message."));
    }
    conn.prepare_cached(
        "UPDATE conversations SET pinned_message_id = NULL
          WHERE id = ?1 AND pinned_message_id = ?2",
    )?
    .execute(params![message.conversation_id, id])?;
    conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}
