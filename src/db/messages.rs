//! Messages and their reactions. A viewer sees a message when they see its conversation and the
//! message is newer than their `visible_after` mark.

use super::access::{VISIBLE_AFTER, require_participation, visible_conversations};
use super::attachments;
use super::conversations;
use super::error::{Result, StoreError};
use super::events::{self, Payload};
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use super::people::{PROFILE_COLUMNS, ensure_in_address_book, profile_from_row};
use super::profiles::Profiles;
use super::records::{Message, Profile, Reaction};
use super::sql::{self, OptionalExtension, Row, Sql};
use crate::account::Account;
use crate::pagination::{List, PageParams};
use rusqlite::params;
use rusqlite::types::{Value, ValueRef};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Distinct reactions one person may leave on one message.
pub const MAX_REACTIONS_PER_PERSON: usize = 32;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: String,
    pub message: String,
    /// Ids of attachments the sender uploaded that belong to no message yet.
    pub attachments: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageChanges {
    pub message: Option<String>,
    /// The full new list of attachment ids.
    pub attachments: Option<Vec<String>>,
    /// (emoji, usernames): a list naming the viewer adds their reaction, an empty one removes it.
    pub reactions: Option<Vec<(String, Vec<String>)>>,
}

/// The columns `MessageReader` reads, over messages `m`, for SQLite and for PostgreSQL, with
/// `conversation` as column 2: `m.conversation_id`, or NULL where every row is of one
/// conversation (the reader knows it, and SQLite need not fetch it). On SQLite the sender's
/// profile is not joined in: a page's senders are few, and `MessageReader` looks each up once.
/// On PostgreSQL each lookup is a round trip, which costs more than the join: there the profile
/// follows the message's columns (`c`, from column 9). Column 7 says what details the message
/// has: 1 reactions, 2 attachments, 3 both (one column read a row instead of two).
fn message_selects(conversation: &str) -> (String, String) {
    let columns = format!(
        "m.seq, m.id, {conversation}, m.body, m.read_at, m.created_at, m.updated_at,
         m.has_reactions + 2 * m.has_attachments, m.sender_id"
    );
    (
        format!("SELECT {columns} FROM messages m"),
        format!(
            "SELECT {columns}, {PROFILE_COLUMNS} FROM messages m
               JOIN contacts c ON c.id = m.sender_id"
        ),
    )
}

static MESSAGE_SELECT: LazyLock<(String, String)> =
    LazyLock::new(|| message_selects("m.conversation_id"));

fn message_select(conn: &Sql) -> &'static str {
    conn.pick(&MESSAGE_SELECT.0, &MESSAGE_SELECT.1)
}

/// A message as its row has it: reactions and attachments still to be filled in, where the
/// row says there are some.
struct MessageRow {
    message: Message,
    has_reactions: bool,
    has_attachments: bool,
}

/// Reads rows of `MESSAGE_SELECT`. The senders of one page are few, so each sender's profile
/// is looked up once.
struct MessageReader<'p> {
    senders: Vec<Arc<Profile>>,
    /// The accounts' profiles in memory (SQLite), looked in before the database.
    profiles: Option<&'p Profiles>,
    /// Set when every row is of this conversation: its id is not read from each row.
    conversation: Option<String>,
    /// The rows carry their sender's profile (`message_select`).
    with_sender: bool,
}

impl<'p> MessageReader<'p> {
    fn new(conn: &Sql, profiles: Option<&'p Profiles>) -> MessageReader<'p> {
        MessageReader {
            senders: Vec::new(),
            profiles,
            conversation: None,
            with_sender: conn.dialect() == sql::Dialect::Postgres,
        }
    }

    /// A reader for rows that all belong to `conversation`.
    fn in_conversation(
        conn: &Sql,
        conversation: &str,
        profiles: Option<&'p Profiles>,
    ) -> MessageReader<'p> {
        MessageReader {
            conversation: Some(conversation.to_owned()),
            ..MessageReader::new(conn, profiles)
        }
    }

    /// A row of `MESSAGE_SELECT` (its seq, column 0, is not read: only merged lists need it).
    fn read(&mut self, conn: &Sql, row: &Row) -> sql::Result<MessageRow> {
        let sender_id = row.get_ref(8)?;
        let known = self
            .senders
            .iter()
            .find(|profile| sender_id == ValueRef::Text(profile.id.as_bytes()));
        let contact = match known {
            Some(profile) => Arc::clone(profile),
            None => {
                let profile = if self.with_sender {
                    Arc::new(profile_from_row(row, 9)?)
                } else {
                    let id = sender_id.as_str()?;
                    match self.profiles.and_then(|profiles| profiles.get(id)) {
                        Some(profile) => profile,
                        None => Arc::new(profile(conn, id)?),
                    }
                };
                self.senders.push(Arc::clone(&profile));
                profile
            }
        };
        let details: i64 = row.get(7)?;
        Ok(MessageRow {
            message: Message {
                id: row.get(1)?,
                conversation_id: match &self.conversation {
                    Some(id) => id.clone(),
                    None => row.get(2)?,
                },
                message: row.get(3)?,
                read_at: row.get(4)?,
                created_at: row.get(5)?,
                updated_at: row.get(6)?,
                contact,
                reactions: Vec::new(),
                attachments: Vec::new(),
            },
            has_reactions: details & 1 != 0,
            has_attachments: details & 2 != 0,
        })
    }
}

/// Fills in reactions and attachments: at most two queries for the whole page, each only for
/// the messages that have some.
fn with_details(conn: &Sql, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    let ids_where = |has: fn(&MessageRow) -> bool| -> Vec<String> {
        rows.iter()
            .filter(|row| has(row))
            .map(|row| row.message.id.clone())
            .collect()
    };
    let with_reactions = ids_where(|row| row.has_reactions);
    let with_attachments = ids_where(|row| row.has_attachments);
    let mut reactions = if with_reactions.is_empty() {
        HashMap::new()
    } else {
        reactions(conn, &with_reactions)?
    };
    let mut attachments = if with_attachments.is_empty() {
        HashMap::new()
    } else {
        attachments::of_messages(conn, &with_attachments)?
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut message = row.message;
            if row.has_reactions {
                message.reactions = reactions.remove(&message.id).unwrap_or_default();
            }
            if row.has_attachments {
                message.attachments = attachments.remove(&message.id).unwrap_or_default();
            }
            message
        })
        .collect())
}

/// The reactions of each of `messages`: emojis in order of first use, people in order.
fn reactions(conn: &Sql, messages: &[String]) -> Result<HashMap<String, Vec<Reaction>>> {
    let mut statement = conn.prepare_cached(conn.pick(
        "SELECT r.message_id, r.emoji, c.username FROM reactions r
           JOIN contacts c ON c.id = r.contact_id
          WHERE r.message_id IN (SELECT value FROM json_each(?1))
          ORDER BY r.seq",
        "SELECT r.message_id, r.emoji, c.username FROM reactions r
           JOIN contacts c ON c.id = r.contact_id
          WHERE r.message_id IN (SELECT json_array_elements_text(?1::json))
          ORDER BY r.seq",
    ))?;
    let ids = serde_json::to_string(messages).map_err(StoreError::internal)?;
    let mut out: HashMap<String, Vec<Reaction>> = HashMap::new();
    let rows = statement.query_map([ids], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    for row in rows {
        let (message, emoji, username): (String, String, String) = row?;
        let list = out.entry(message).or_default();
        match list.iter_mut().find(|reaction| reaction.emoji == emoji) {
            Some(reaction) => reaction.usernames.push(username),
            None => list.push(Reaction {
                emoji,
                usernames: vec![username],
            }),
        }
    }
    Ok(out)
}

static PROFILE_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PROFILE_COLUMNS} FROM contacts c WHERE c.id = ?1"));

static SENDER_IN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT v.large, {PROFILE_COLUMNS} FROM participants p
           JOIN conversations v ON v.id = p.conversation_id
           JOIN contacts c ON c.id = p.contact_id
          WHERE p.conversation_id = ?1 AND p.contact_id = ?2 AND p.hidden = 0"
    )
});

/// `require_participation` for a send, which also needs to know whether the conversation is
/// large, and the sender's profile for the answer: one statement instead of three on the
/// hottest path.
fn sender_in(conn: &Sql, sender: &str, conversation: &str) -> Result<(bool, Profile)> {
    conn.prepare_cached(&SENDER_IN)?
        .query_row(params![conversation, sender], |r| {
            Ok((r.get(0)?, profile_from_row(r, 1)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::not_found("conversation", conversation))
}

/// A person's public profile.
fn profile(conn: &Sql, id: &str) -> sql::Result<Profile> {
    conn.prepare_cached(&PROFILE_BY_ID)?
        .query_row([id], |r| profile_from_row(r, 0))
}

/// The message if the viewer can see it.
fn find_visible(
    conn: &Sql,
    profiles: Option<&Profiles>,
    viewer: &str,
    id: &str,
) -> Result<Option<Message>> {
    let sql = format!(
        "{} JOIN participants p ON p.conversation_id = m.conversation_id
              AND p.contact_id = ?1 AND p.hidden = 0 AND m.seq > p.visible_after
          WHERE m.id = ?2",
        message_select(conn)
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], |row| {
            MessageReader::new(conn, profiles).read(conn, row)
        })
        .optional()?;
    let Some(row) = found else {
        return Ok(None);
    };
    Ok(with_details(conn, vec![row])?.pop())
}

pub fn get(conn: &Sql, profiles: Option<&Profiles>, viewer: &str, id: &str) -> Result<Message> {
    find_visible(conn, profiles, viewer, id)?.ok_or_else(|| StoreError::not_found("message", id))
}

/// `GET /v1/messages`: newest first by arrival, in one conversation or in all the viewer's.
pub fn list(
    conn: &Sql,
    profiles: Option<&Profiles>,
    viewer: &str,
    conversation: Option<&str>,
    page: &PageParams,
) -> Result<List<Message>> {
    let list = match conversation {
        Some(conversation) => list_in_conversation(conn, profiles, viewer, conversation, page)?,
        None => list_everywhere(conn, profiles, viewer, page)?,
    };
    Ok(List {
        has_more: list.has_more,
        data: with_details(conn, list.data)?,
    })
}

// The viewer's mark is a subquery of the page (one statement fewer per page): NULL, so no
// rows, when the viewer does not take part.
static IN_CONVERSATION: LazyLock<(String, String)> = LazyLock::new(|| {
    let condition = format!("WHERE m.conversation_id = ?1 AND m.seq > ({VISIBLE_AFTER})");
    let (sqlite, postgres) = message_selects("NULL");
    (
        format!("{sqlite} {condition}"),
        format!("{postgres} {condition}"),
    )
});
static CURSOR_IN_CONVERSATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT seq FROM messages WHERE conversation_id = ?1 AND id = ?3 AND seq > ({VISIBLE_AFTER})"
    )
});

/// One conversation's messages. The participation check is folded into the queries; only a
/// cursor that is not found or an empty page asks whether the viewer takes part at all, so a
/// stranger still gets the 404, before any complaint about the cursor.
fn list_in_conversation(
    conn: &Sql,
    profiles: Option<&Profiles>,
    viewer: &str,
    conversation: &str,
    page: &PageParams,
) -> Result<List<MessageRow>> {
    let take_part = || {
        require_participation(conn, viewer, conversation)
            .map_err(|e| e.with_param("conversation_id"))
    };
    let query = KeysetQuery {
        select: conn.pick(&IN_CONVERSATION.0, &IN_CONVERSATION.1),
        order: &["m.seq"],
        params: vec![
            Value::Text(conversation.to_owned()),
            Value::Text(viewer.to_owned()),
        ],
    };
    let mut reader = MessageReader::in_conversation(conn, conversation, profiles);
    let list = page::fetch(
        conn,
        query,
        page,
        |cursor| {
            let seq = conn
                .prepare_cached(&CURSOR_IN_CONVERSATION)?
                .query_row(params![conversation, viewer, cursor], |r| {
                    Ok(vec![r.get(0)?])
                })
                .optional()?;
            if seq.is_none() {
                take_part()?;
            }
            Ok(seq)
        },
        |row| reader.read(conn, row),
    )?;
    if list.data.is_empty() {
        take_part()?;
    }
    Ok(list)
}

/// Across conversations: one index range per conversation, merged (see `page::fetch_merged`).
fn list_everywhere(
    conn: &Sql,
    profiles: Option<&Profiles>,
    viewer: &str,
    page: &PageParams,
) -> Result<List<MessageRow>> {
    let select = format!(
        "{} WHERE m.conversation_id = ?1 AND m.seq > ?2",
        message_select(conn)
    );
    let queries = visible_conversations(conn, viewer)?
        .into_iter()
        .map(|(conversation, visible_after)| KeysetQuery {
            select: &select,
            order: &["m.seq"],
            params: vec![Value::Text(conversation), Value::Integer(visible_after)],
        })
        .collect();
    let mut reader = MessageReader::new(conn, profiles);
    page::fetch_merged(
        conn,
        queries,
        page,
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT m.seq FROM messages m
                       JOIN participants p ON p.conversation_id = m.conversation_id
                        AND p.contact_id = ?1 AND p.hidden = 0 AND m.seq > p.visible_after
                      WHERE m.id = ?2",
                )?
                .query_row(params![viewer, cursor], |r| Ok(vec![r.get(0)?]))
                .optional()?)
        },
        |row| Ok((row.get::<i64>(0)?, reader.read(conn, row)?)),
    )
}

/// Opening a conversation reads it: every message of others in the viewer's view that nobody
/// had read is read now (`message.updated` for each). Only messages after the viewer's
/// `read_through_seq` can be among them (their earlier opens read everything of others before
/// it), so this walks the conversation's newest messages, not its history; the mark then moves
/// to the newest message.
pub fn mark_read(conn: &Sql, viewer: &str, conversation: &str, now: i64) -> Result<()> {
    let read_from: i64 = conn
        .prepare_cached(
            "SELECT visible_after, read_through_seq FROM participants
              WHERE conversation_id = ?1 AND contact_id = ?2 AND hidden = 0",
        )?
        .query_row(params![conversation, viewer], |r| {
            Ok(r.get::<i64>(0)?.max(r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::not_found("conversation", conversation))?;
    let mut read: Vec<(i64, String)> = conn
        .prepare_cached(
            "UPDATE messages SET read_at = ?3
              WHERE conversation_id = ?1 AND seq > ?4 AND read_at IS NULL AND sender_id <> ?2
              RETURNING seq, id",
        )?
        .query_map(params![conversation, viewer, now, read_from], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<sql::Result<_>>()?;
    // (`activity_seq`: the conversation's newest message, or before any the point where the
    // viewer came in; a small conversation's is in the viewer's row, a large one's in its own.)
    conn.prepare_cached(
        "UPDATE participants
            SET read_through_seq = coalesce(activity_seq,
                    (SELECT activity_seq FROM conversations WHERE id = ?1))
          WHERE conversation_id = ?1 AND contact_id = ?2",
    )?
    .execute(params![conversation, viewer])?;
    // Their events in arrival order on both backends (RETURNING follows the rows' storage).
    read.sort_unstable();
    for (_, message) in read {
        emit(conn, "message.updated", viewer, &message)?;
    }
    Ok(())
}

/// Records `kind` for a message, as `account` sees it, for everyone who sees it.
pub(crate) fn emit(conn: &Sql, kind: &str, account: &str, id: &str) -> Result<()> {
    let header = visible_header(conn, account, id)?;
    // (On the writer: the profiles in memory are reloaded only after its commit.)
    let message = get(conn, None, account, id)?;
    let audience = events::conversation_audience(conn, &header.conversation, Some(header.seq))?;
    events::record_for(conn, kind, account, Payload::Message(&message), &audience)
}

/// `POST /v1/messages`.
pub fn create(conn: &Sql, sender: &Account, new: &NewMessage, now: i64) -> Result<Message> {
    let (large, profile) = sender_in(conn, &sender.id, &new.conversation_id)
        .map_err(|e| e.with_param("conversation_id"))?;
    let id = new_id();
    let seq = conn.insert_returning_seq(
        "INSERT INTO messages (id, conversation_id, sender_id, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, new.conversation_id, sender.id, new.message, now],
    )?;
    let touched = conversations::touch(conn, &new.conversation_id, large, seq, now)?;
    // The conversation is back for whoever had deleted it, so they must know the sender.
    for person in touched.returning.iter().filter(|p| **p != sender.id) {
        ensure_in_address_book(conn, person, &sender.id, now)?;
    }
    let mut attached = Vec::new();
    if !new.attachments.is_empty() {
        let target = attachments::LinkTarget {
            message: &id,
            conversation: &new.conversation_id,
            seq,
        };
        attachments::set_for_message(conn, &sender.id, &target, &new.attachments)?;
        attached = attachments::of_messages(conn, std::slice::from_ref(&id))?
            .into_values()
            .flatten()
            .collect();
    }
    // Everything about the new message is known: build it instead of reading it back.
    let message = Message {
        id,
        conversation_id: new.conversation_id.clone(),
        contact: Arc::new(profile),
        message: new.message.clone(),
        reactions: Vec::new(),
        attachments: attached,
        read_at: None,
        created_at: now,
        updated_at: None,
    };
    // Everyone in the conversation sees it now (`touch` brought it back for all).
    events::record_for(
        conn,
        "message.created",
        &sender.id,
        Payload::Message(&message),
        &touched.audience,
    )?;
    Ok(message)
}

/// The sender, conversation and seq of a message the viewer sees.
struct Header {
    sender: String,
    conversation: String,
    seq: i64,
}

fn visible_header(conn: &Sql, viewer: &str, id: &str) -> Result<Header> {
    conn.prepare_cached(
        "SELECT m.sender_id, m.conversation_id, m.seq FROM messages m
           JOIN participants p ON p.conversation_id = m.conversation_id
            AND p.contact_id = ?1 AND p.hidden = 0 AND m.seq > p.visible_after
          WHERE m.id = ?2",
    )?
    .query_row(params![viewer, id], |r| {
        Ok(Header {
            sender: r.get(0)?,
            conversation: r.get(1)?,
            seq: r.get(2)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("message", id))
}

/// `PUT /v1/messages/:id`: the text and attachments by its sender only; reactions by anyone who
/// sees it, as themself.
pub fn update(
    conn: &Sql,
    viewer: &Account,
    id: &str,
    changes: &MessageChanges,
    now: i64,
) -> Result<Message> {
    let header = visible_header(conn, &viewer.id, id)?;
    let edits = [
        ("message", changes.message.is_some()),
        ("attachments", changes.attachments.is_some()),
    ];
    for (param, present) in edits {
        if present && header.sender != viewer.id {
            return Err(
                StoreError::forbidden("Only the sender can edit a message.").with_param(param)
            );
        }
    }
    if let Some(text) = &changes.message {
        conn.prepare_cached("UPDATE messages SET body = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, text, now])?;
    }
    if let Some(wanted) = &changes.attachments {
        let target = attachments::LinkTarget {
            message: id,
            conversation: &header.conversation,
            seq: header.seq,
        };
        attachments::set_for_message(conn, &viewer.id, &target, wanted)?;
        conn.prepare_cached("UPDATE messages SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
    }
    if let Some(reactions) = &changes.reactions {
        set_reactions(conn, viewer, id, reactions, now)?;
    }
    emit(conn, "message.updated", &viewer.id, id)?;
    get(conn, None, &viewer.id, id)
}

fn set_reactions(
    conn: &Sql,
    viewer: &Account,
    id: &str,
    reactions: &[(String, Vec<String>)],
    now: i64,
) -> Result<()> {
    for (emoji, usernames) in reactions {
        if usernames.iter().any(|u| u != &viewer.username) {
            return Err(StoreError::forbidden(
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
        .prepare_cached("SELECT count(*) FROM reactions WHERE message_id = ?1 AND contact_id = ?2")?
        .query_row(params![id, viewer.id], |r| r.get(0))?;
    if mine as usize > MAX_REACTIONS_PER_PERSON {
        return Err(StoreError::invalid(
            "reactions",
            format!(
                "You can leave at most {MAX_REACTIONS_PER_PERSON} different reactions on a message."
            ),
        ));
    }
    Ok(())
}

/// `DELETE /v1/messages/:id`: by its sender, for everyone; its attachments go with it.
pub fn delete(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    let header = visible_header(conn, viewer, id)?;
    if header.sender != viewer {
        return Err(StoreError::forbidden(
            "Only the sender can delete a message.",
        ));
    }
    emit(conn, "message.deleted", viewer, id)?;
    conn.prepare_cached(
        "UPDATE conversations SET pinned_message_id = NULL
          WHERE id = ?1 AND pinned_message_id = ?2",
    )?
    .execute(params![header.conversation, id])?;
    conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}
