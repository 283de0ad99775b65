//! Conversations and their participants. A conversation object is seen from one participant:
//! `contact_id` is the other person of a direct conversation, and `is_pinned`, `is_muted`,
//! `archived_at`, `last_opened_at` are that participant's own (their `participants` row).

use super::access::{participation, require_participation};
use super::error::{Result, StoreError};
use super::events::{self, Audience, Payload};
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use super::people;
use super::records::Conversation;
use super::sql::{self, OptionalExtension, Row, Sql};
use crate::pagination::{List, PageParams};
use rusqlite::params;
use rusqlite::types::Value;

/// What `POST /v1/conversations` names: exactly one of them.
#[derive(Debug, Clone)]
pub enum Target {
    Contact(String),
    Group(String),
}

#[derive(Debug, Clone, Default)]
pub struct ConversationChanges {
    pub pinned_message_id: Option<Option<String>>,
    pub is_pinned: Option<bool>,
    pub is_muted: Option<bool>,
    pub archived_at: Option<Option<i64>>,
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub muted: Option<bool>,
    pub archived: Option<bool>,
    pub pinned: Option<bool>,
    pub group_id: Option<String>,
}

/// The viewer's (`?1`, participant row `p`) view of conversation `v`. A pinned message the
/// viewer cannot see (sent before they deleted the conversation or joined) shows as null.
const CONVERSATION_SELECT: &str = "
    SELECT v.id,
           CASE WHEN v.direct_low = ?1 THEN v.direct_high ELSE v.direct_low END,
           v.group_id,
           (SELECT m.id FROM messages m WHERE m.id = v.pinned_message_id AND m.seq > p.visible_after),
           p.is_pinned, p.is_muted, coalesce(p.last_active_at, v.last_active_at), p.last_opened_at, v.created_at, p.archived_at,
           coalesce(p.activity_seq, v.activity_seq), v.seq
      FROM participants p JOIN conversations v ON v.id = p.conversation_id
     WHERE p.contact_id = ?1 AND p.hidden = 0";

fn conversation_from_row(row: &Row) -> sql::Result<Conversation> {
    Ok(Conversation {
        id: row.get(0)?,
        contact_id: row.get(1)?,
        group_id: row.get(2)?,
        pinned_message_id: row.get(3)?,
        is_pinned: row.get(4)?,
        is_muted: row.get(5)?,
        last_active_at: row.get(6)?,
        last_opened_at: row.get(7)?,
        created_at: row.get(8)?,
        archived_at: row.get(9)?,
    })
}

/// Records `kind` for each of `people` who see the conversation, each with their own view.
pub(crate) fn emit(conn: &Sql, kind: &str, id: &str, people: &[String]) -> Result<()> {
    for person in people {
        if let Some(view) = find(conn, person, id)? {
            events::record(
                conn,
                kind,
                person,
                Payload::Conversation(&view),
                std::slice::from_ref(person),
            )?;
        }
    }
    Ok(())
}

pub fn get(conn: &Sql, viewer: &str, id: &str) -> Result<Conversation> {
    find(conn, viewer, id)?.ok_or_else(|| StoreError::not_found("conversation", id))
}

fn find(conn: &Sql, viewer: &str, id: &str) -> Result<Option<Conversation>> {
    let sql = format!("{CONVERSATION_SELECT} AND v.id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], conversation_from_row)
        .optional()?)
}

/// `GET /v1/conversations/:id` opens the conversation: the viewer's `last_opened_at` becomes
/// now (`messages::mark_read` reads its messages first, in the same transaction).
pub fn open(conn: &Sql, viewer: &str, id: &str, now: i64) -> Result<Conversation> {
    require_participation(conn, viewer, id)?;
    conn.prepare_cached(
        "UPDATE participants SET last_opened_at = ?3 WHERE conversation_id = ?1 AND contact_id = ?2",
    )?
    .execute(params![id, viewer, now])?;
    emit(conn, "conversation.updated", id, &[viewer.to_owned()])?;
    get(conn, viewer, id)
}

pub fn list(
    conn: &Sql,
    viewer: &str,
    filter: &ConversationFilter,
    page: &PageParams,
) -> Result<List<Conversation>> {
    let mut select = String::from(CONVERSATION_SELECT);
    let mut params = vec![Value::Text(viewer.to_owned())];
    if let Some(muted) = filter.muted {
        select.push_str(if muted {
            " AND p.is_muted = 1"
        } else {
            " AND p.is_muted = 0"
        });
    }
    if let Some(pinned) = filter.pinned {
        select.push_str(if pinned {
            " AND p.is_pinned = 1"
        } else {
            " AND p.is_pinned = 0"
        });
    }
    if let Some(archived) = filter.archived {
        select.push_str(if archived {
            " AND p.archived_at IS NOT NULL"
        } else {
            " AND p.archived_at IS NULL"
        });
    }
    if let Some(group) = &filter.group_id {
        select.push_str(" AND v.group_id = ?");
        params.push(Value::Text(group.clone()));
    }
    // Two ranges, merged: conversations whose place is kept in the viewer's own row (one
    // index range), and large groups, whose place is their conversation's (one lookup each).
    let own = format!("{select} AND p.activity_seq IS NOT NULL");
    let large = format!("{select} AND p.activity_seq IS NULL");
    let queries = vec![
        KeysetQuery {
            select: &own,
            order: &["p.activity_seq", "p.conversation_seq"],
            params: params.clone(),
        },
        KeysetQuery {
            select: &large,
            order: &["v.activity_seq", "v.seq"],
            params,
        },
    ];
    page::fetch_merged(
        conn,
        queries,
        page,
        // A cursor is one of your conversations; with `group_id`, that group's (another
        // conversation is from another list, as a message of another conversation is for
        // messages). The other filters are your own flags, which may change between two
        // pages: the cursor keeps its place in the list even if it no longer matches them.
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT coalesce(p.activity_seq, v.activity_seq), v.seq
                       FROM participants p JOIN conversations v ON v.id = p.conversation_id
                      WHERE p.conversation_id = ?1 AND p.contact_id = ?2 AND p.hidden = 0
                        AND (CAST(?3 AS TEXT) IS NULL OR v.group_id = ?3)",
                )?
                .query_row(params![cursor, viewer, filter.group_id], |r| {
                    Ok(vec![r.get(0)?, r.get(1)?])
                })
                .optional()?)
        },
        |row| {
            let key: (i64, i64) = (row.get(10)?, row.get(11)?);
            Ok((key, conversation_from_row(row)?))
        },
    )
}

/// `POST /v1/conversations`. Returns the conversation and whether it was created (201) rather
/// than found (200).
pub fn create(conn: &Sql, viewer: &str, target: &Target, now: i64) -> Result<(Conversation, bool)> {
    let (id, created) = match target {
        Target::Contact(contact) => {
            if !people::in_address_book(conn, viewer, contact)? {
                return Err(StoreError::not_found_param(
                    "contact_id",
                    "contact",
                    contact,
                ));
            }
            open_direct(conn, viewer, contact, now)?
        }
        Target::Group(group) => {
            let id: String = conn
                .prepare_cached(
                    "SELECT v.id FROM conversations v
                       JOIN participants p ON p.conversation_id = v.id AND p.contact_id = ?2
                      WHERE v.group_id = ?1",
                )?
                .query_row(params![group, viewer], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::not_found_param("group_id", "group", group))?;
            unhide(conn, &id, viewer)?;
            (id, false)
        }
    };
    Ok((get(conn, viewer, &id)?, created))
}

/// `PUT /v1/conversations/:id`.
pub fn update(
    conn: &Sql,
    viewer: &str,
    id: &str,
    changes: &ConversationChanges,
) -> Result<Conversation> {
    let participation = require_participation(conn, viewer, id)?;
    if let Some(pinned) = &changes.pinned_message_id {
        if let Some(message) = pinned {
            let in_view = conn
                .prepare_cached(
                    "SELECT 1 FROM messages WHERE id = ?1 AND conversation_id = ?2 AND seq > ?3",
                )?
                .exists(params![message, id, participation.visible_after])?;
            if !in_view {
                return Err(StoreError::invalid(
                    "pinned_message_id",
                    "pinned_message_id must be the id of a message of this conversation.",
                ));
            }
        }
        conn.prepare_cached("UPDATE conversations SET pinned_message_id = ?2 WHERE id = ?1")?
            .execute(params![id, pinned])?;
    }
    let pinned_changed = changes.pinned_message_id.is_some();
    conn.prepare_cached(
        "UPDATE participants
            SET is_pinned = coalesce(?3, is_pinned),
                is_muted = coalesce(?4, is_muted),
                archived_at = CASE WHEN ?5 = 1 THEN ?6 ELSE archived_at END
          WHERE conversation_id = ?1 AND contact_id = ?2",
    )?
    .execute(params![
        id,
        viewer,
        changes.is_pinned,
        changes.is_muted,
        changes.archived_at.is_some(),
        changes.archived_at.flatten(),
    ])?;
    // The pinned message is everyone's; the rest is the viewer's own.
    let concerned = if pinned_changed {
        events::members_seeing(conn, id, i64::MAX)?
    } else {
        vec![viewer.to_owned()]
    };
    emit(conn, "conversation.updated", id, &concerned)?;
    get(conn, viewer, id)
}

/// `DELETE /v1/conversations/:id`.
pub fn delete(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    require_participation(conn, viewer, id)?;
    hide_for(conn, id, viewer)
}

/// Removes the conversation and its messages so far from `person`'s view, resetting their own
/// settings; it comes back, holding only newer messages, when a message arrives. When nobody
/// keeps it any more its messages are purged, and a direct conversation with them.
pub(crate) fn hide_for(conn: &Sql, id: &str, person: &str) -> Result<()> {
    if participation(conn, person, id)?.is_none() {
        return Ok(()); // already out of their view
    }
    emit(conn, "conversation.deleted", id, &[person.to_owned()])?;
    conn.prepare_cached(
        "UPDATE participants
            SET hidden = 1, visible_after = ?3, is_pinned = 0, is_muted = 0,
                archived_at = NULL, last_opened_at = NULL
          WHERE conversation_id = ?1 AND contact_id = ?2",
    )?
    .execute(params![id, person, newest_message_seq(conn)?])?;
    let kept = conn
        .prepare_cached(
            "SELECT 1 FROM participants WHERE conversation_id = ?1 AND hidden = 0 LIMIT 1",
        )?
        .exists([id])?;
    if !kept {
        purge(conn, id)?;
    }
    Ok(())
}

fn purge(conn: &Sql, id: &str) -> Result<()> {
    let is_group: bool = conn
        .prepare_cached("SELECT group_id IS NOT NULL FROM conversations WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if is_group {
        // The group keeps its one conversation; only the messages nobody can see go.
        conn.prepare_cached("DELETE FROM messages WHERE conversation_id = ?1")?
            .execute([id])?;
    } else {
        // Messages, reactions and participants go with it (ON DELETE CASCADE).
        conn.prepare_cached("DELETE FROM conversations WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// The direct conversation of two people, if any.
pub(crate) fn find_direct(conn: &Sql, a: &str, b: &str) -> Result<Option<String>> {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_low = ?1 AND direct_high = ?2")?
        .query_row(params![low, high], |r| r.get(0))
        .optional()?)
}

/// Makes sure the direct conversation of `viewer` and `other` exists and is in the viewer's
/// view, and that each has the other in their address book. Returns its id and whether it was
/// created now.
pub(crate) fn open_direct(
    conn: &Sql,
    viewer: &str,
    other: &str,
    now: i64,
) -> Result<(String, bool)> {
    let found = find_direct(conn, viewer, other)?;
    let created = found.is_none();
    let id = match found {
        Some(id) => {
            unhide(conn, &id, viewer)?;
            id
        }
        None => {
            let (low, high) = if viewer < other {
                (viewer, other)
            } else {
                (other, viewer)
            };
            let id = new_id();
            let activity = newest_message_seq(conn)?;
            let seq =
                insert_conversation(conn, &id, Some((low, high)), None, activity, false, now)?;
            for person in [viewer, other] {
                add_participant(conn, &id, seq, person, activity, None, false)?;
            }
            emit(
                conn,
                "conversation.created",
                &id,
                &[viewer.to_owned(), other.to_owned()],
            )?;
            id
        }
    };
    // A private contact signs in nowhere and has no address book.
    if !people::is_private(conn, other)? {
        people::ensure_in_address_book(conn, other, viewer, now)?;
    }
    Ok((id, created))
}

/// Inserts a conversation row; returns its seq.
/// Inserts a conversation row whose activity starts at `activity` (the newest message seq of
/// the server: a new conversation is the newest); returns its seq.
pub(crate) fn insert_conversation(
    conn: &Sql,
    id: &str,
    direct: Option<(&str, &str)>,
    group_id: Option<&str>,
    activity: i64,
    large: bool,
    now: i64,
) -> Result<i64> {
    Ok(conn.insert_returning_seq(
        "INSERT INTO conversations
            (id, direct_low, direct_high, group_id, activity_seq, large, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            direct.map(|d| d.0),
            direct.map(|d| d.1),
            group_id,
            activity,
            large,
            now
        ],
    )?)
}

/// Adds `person` to a conversation. They see messages newer than `newest` (the current newest
/// message seq) only, and the conversation is at `newest` in their list (in a large one, its
/// own activity orders it); `group_seq` is set for group conversations. The time of the last
/// message comes from another participant's row: in a small conversation every row has the
/// same, in a large one none has it (one row, not all: a group of 10,000 is added one by one).
pub(crate) fn add_participant(
    conn: &Sql,
    conversation: &str,
    conversation_seq: i64,
    person: &str,
    newest: i64,
    group_seq: Option<i64>,
    large: bool,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO participants
            (conversation_id, contact_id, conversation_seq, activity_seq, group_seq, visible_after,
             last_active_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                 (SELECT last_active_at FROM participants WHERE conversation_id = ?1 LIMIT 1))",
    )?
    .execute(params![
        conversation,
        person,
        conversation_seq,
        (!large).then_some(newest),
        group_seq,
        newest
    ])?;
    Ok(())
}

/// Brings a conversation the person had deleted back into their view (an event tells their
/// other clients it is there again).
fn unhide(conn: &Sql, id: &str, person: &str) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE participants SET hidden = 0
              WHERE conversation_id = ?1 AND contact_id = ?2 AND hidden = 1",
        )?
        .execute(params![id, person])?;
    if changed > 0 {
        emit(conn, "conversation.created", id, &[person.to_owned()])?;
    }
    Ok(())
}

/// The highest message seq ever handed out. Conversations order by it: a new conversation
/// starts at the current value, and a message moves its conversation to the message's seq.
/// (AUTOINCREMENT keeps it in sqlite_sequence, PostgreSQL in the identity's sequence, and
/// neither hands a value out twice.)
pub(crate) fn newest_message_seq(conn: &Sql) -> Result<i64> {
    Ok(conn
        .prepare_cached(conn.pick(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_seq_seq",
        ))?
        .query_row(params![], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Who is in a conversation that just got a message.
pub(crate) struct Touched {
    /// Everyone who sees the new message.
    pub audience: Audience,
    /// Those who had deleted the conversation and get it back.
    pub returning: Vec<String>,
}

/// A message arrived: the conversation moves to the top of every participant's list and comes
/// back for those who had deleted it. Sending is the hottest write path, so this writes in a
/// small conversation each participant's row (their copy of the activity, and of its time) and
/// nothing else; in a large group the conversation's row and the rows of those who had deleted
/// it (an index of them), its other members' not at all.
pub(crate) fn touch(
    conn: &Sql,
    id: &str,
    large: bool,
    message_seq: i64,
    now: i64,
) -> Result<Touched> {
    // Plain statements, no RETURNING: SQLite collects RETURNING rows in a temporary table,
    // which cost a send ~20k instructions per statement.
    if large {
        conn.prepare_cached(
            "UPDATE conversations SET last_active_at = ?2, activity_seq = ?3 WHERE id = ?1",
        )?
        .execute(params![id, now, message_seq])?;
        let returning: Vec<String> = conn
            .prepare_cached(
                "SELECT contact_id FROM participants WHERE conversation_id = ?1 AND hidden = 1",
            )?
            .query_map([id], |r| r.get(0))?
            .collect::<sql::Result<_>>()?;
        if !returning.is_empty() {
            conn.prepare_cached(
                "UPDATE participants SET hidden = 0 WHERE conversation_id = ?1 AND hidden = 1",
            )?
            .execute([id])?;
        }
        return Ok(Touched {
            audience: Audience {
                people: Vec::new(),
                conversation: Some((id.to_owned(), message_seq)),
            },
            returning,
        });
    }
    // A small conversation: one read of its participants and one update of them.
    let mut everyone = Vec::new();
    let mut returning = Vec::new();
    let mut participants = conn
        .prepare_cached("SELECT contact_id, hidden FROM participants WHERE conversation_id = ?1")?;
    participants.for_each([id], |row| -> sql::Result<bool> {
        let contact: String = row.get(0)?;
        if row.get::<bool>(1)? {
            returning.push(contact.clone());
        }
        everyone.push(contact);
        Ok(true)
    })?;
    // `hidden` only when someone had deleted it: assigning a column, even its own value, makes
    // SQLite rewrite the index entries that hold it.
    conn.prepare_cached(
        "UPDATE participants SET activity_seq = ?2, last_active_at = ?3 WHERE conversation_id = ?1",
    )?
    .execute(params![id, message_seq, now])?;
    if !returning.is_empty() {
        conn.prepare_cached(
            "UPDATE participants SET hidden = 0 WHERE conversation_id = ?1 AND hidden = 1",
        )?
        .execute([id])?;
    }
    Ok(Touched {
        audience: Audience::people(everyone),
        returning,
    })
}

/// Groups with more members than this are large: their members' lists follow the
/// conversation's own activity instead of a copy in each member's row.
pub const LARGE_ABOVE: usize = 32;
/// A large group becomes small again at this many members (not just under `LARGE_ABOVE`, so
/// that a group at the boundary does not switch back and forth).
const SMALL_AT: usize = 16;

/// Whether a conversation is large.
pub(crate) fn is_large(conn: &Sql, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT large FROM conversations WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?)
}

/// Moves a group across the large/small line after its members changed. Counting stops past
/// the line and a switch writes at most `LARGE_ABOVE`-odd rows more than the change itself...
/// except when a small group grows past the line in one change, where every member's row is
/// written once (the change named them all anyway).
pub(crate) fn rebalance(conn: &Sql, id: &str) -> Result<()> {
    let large = is_large(conn, id)?;
    let counted: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM participants WHERE conversation_id = ?1 LIMIT ?2) AS capped",
        )?
        .query_row(params![id, LARGE_ABOVE as i64 + 1], |r| r.get(0))?;
    let counted = usize::try_from(counted).unwrap_or(0);
    if !large && counted > LARGE_ABOVE {
        // The conversation's own row takes the activity over from its participants': the
        // last message's seq is the lowest of theirs (those who joined since have their own
        // start), its time the same in every row.
        conn.prepare_cached(
            "UPDATE conversations
                SET large = 1,
                    activity_seq = coalesce(
                        (SELECT min(activity_seq) FROM participants WHERE conversation_id = ?1),
                        activity_seq),
                    last_active_at = coalesce(
                        (SELECT max(last_active_at) FROM participants WHERE conversation_id = ?1),
                        last_active_at)
              WHERE id = ?1",
        )?
        .execute([id])?;
        conn.prepare_cached(
            "UPDATE participants SET activity_seq = NULL, last_active_at = NULL
              WHERE conversation_id = ?1",
        )?
        .execute([id])?;
    } else if large && counted <= SMALL_AT {
        conn.prepare_cached("UPDATE conversations SET large = 0 WHERE id = ?1")?
            .execute([id])?;
        conn.prepare_cached(
            "UPDATE participants
                SET activity_seq = (SELECT activity_seq FROM conversations WHERE id = ?1),
                    last_active_at = (SELECT last_active_at FROM conversations WHERE id = ?1)
              WHERE conversation_id = ?1",
        )?
        .execute([id])?;
    }
    Ok(())
}
