//! Who may see a conversation: a person takes part in it and has not deleted it, and sees its
//! messages after their `visible_after` mark. Every resource that shows or changes something
//! of a conversation (messages, attachments, the conversation itself) asks here first.

use super::error::{Result, StoreError};
use super::sql::{self, OptionalExtension, Sql};
use rusqlite::params;

/// The viewer's participation in a conversation they can see.
pub(crate) struct Participation {
    pub visible_after: i64,
}

/// The viewer's (`?2`) `visible_after` mark in a conversation (`?1`): no row when they do not
/// take part or have deleted it. Also a subquery of the message pages (`db/messages.rs`).
pub(crate) const VISIBLE_AFTER: &str = "SELECT visible_after FROM participants
      WHERE conversation_id = ?1 AND contact_id = ?2 AND hidden = 0";

/// `Some` when the viewer takes part in the conversation and has not deleted it.
pub(crate) fn participation(
    conn: &Sql,
    viewer: &str,
    conversation: &str,
) -> Result<Option<Participation>> {
    Ok(conn
        .prepare_cached(VISIBLE_AFTER)?
        .query_row(params![conversation, viewer], |r| {
            Ok(Participation {
                visible_after: r.get(0)?,
            })
        })
        .optional()?)
}

/// The conversations the viewer sees, with their `visible_after` marks.
pub(crate) fn visible_conversations(conn: &Sql, viewer: &str) -> Result<Vec<(String, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT conversation_id, visible_after FROM participants
              WHERE contact_id = ?1 AND hidden = 0",
        )?
        .query_map([viewer], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<sql::Result<_>>()?)
}

/// Whether `person` is a participant at all (deleted or not).
pub(crate) fn participation_row_exists(
    conn: &Sql,
    conversation: &str,
    person: &str,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM participants WHERE conversation_id = ?1 AND contact_id = ?2",
        )?
        .exists(params![conversation, person])?)
}

/// `participation`, or the contract's 404.
pub(crate) fn require_participation(
    conn: &Sql,
    viewer: &str,
    conversation: &str,
) -> Result<Participation> {
    participation(conn, viewer, conversation)?
        .ok_or_else(|| StoreError::not_found("conversation", conversation))
}
