//! Attachment records. A viewer sees an attachment they uploaded, or one whose message they see.

use super::access::{require_participation, visible_conversations};
use super::error::{Result, StoreError};
use super::events::{self, Payload};
use super::page::{self, KeysetQuery};
use super::records::Attachment;
use super::sql::{self, OptionalExtension, Row, Sql};
use crate::pagination::{List, PageParams};
use rusqlite::params;
use rusqlite::types::Value;
use std::collections::HashMap;

/// Attachments one message may carry.
pub const MAX_PER_MESSAGE: usize = 32;

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub id: String,
    pub filename: String,
    pub file_type: String,
    pub file_size: u64,
    pub message_id: Option<String>,
}

/// What the content endpoint needs.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub file_type: String,
    pub file_size: u64,
    pub created_at: i64,
}

const ATTACHMENT_COLUMNS: &str =
    "a.id, a.message_id, a.filename, a.file_type, a.file_size, a.created_at";

/// Reads `ATTACHMENT_COLUMNS` from column `at` on.
fn attachment_from_row(at: usize) -> impl Fn(&Row) -> sql::Result<Attachment> {
    move |row| {
        Ok(Attachment {
            id: row.get(at)?,
            message_id: row.get(at + 1)?,
            filename: row.get(at + 2)?,
            file_type: row.get(at + 3)?,
            file_size: row.get(at + 4)?,
            created_at: row.get(at + 5)?,
        })
    }
}

/// The condition "viewer `?1` sees attachment `a`".
const VISIBLE: &str = "(a.uploader_id = ?1 OR EXISTS (
        SELECT 1 FROM participants p
         WHERE p.conversation_id = a.conversation_id AND p.contact_id = ?1
           AND p.hidden = 0 AND a.message_seq > p.visible_after))";

pub fn get(conn: &Sql, viewer: &str, id: &str) -> Result<Attachment> {
    let sql =
        format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id = ?2 AND {VISIBLE}");
    conn.prepare_cached(&sql)?
        .query_row(params![viewer, id], attachment_from_row(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("attachment", id))
}

/// The stored file's name and type, if the viewer sees it.
pub fn stored_file(conn: &Sql, viewer: &str, id: &str) -> Result<StoredFile> {
    let sql = format!(
        "SELECT a.filename, a.file_type, a.file_size, a.created_at FROM attachments a WHERE a.id = ?2 AND {VISIBLE}"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![viewer, id], |r| {
            Ok(StoredFile {
                filename: r.get(0)?,
                file_type: r.get(1)?,
                file_size: u64::try_from(r.get::<i64>(2)?).unwrap_or(0),
                created_at: r.get(3)?,
            })
        })
        .optional()?
        .ok_or_else(|| StoreError::not_found("attachment", id))
}

/// The attachments of each of `messages`, in upload order.
pub(crate) fn of_messages(
    conn: &Sql,
    messages: &[String],
) -> Result<HashMap<String, Vec<Attachment>>> {
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments a
          WHERE a.message_id IN ({}) ORDER BY a.seq",
        conn.pick(
            "SELECT value FROM json_each(?1)",
            "SELECT json_array_elements_text(?1::json)"
        )
    );
    let ids = serde_json::to_string(messages).map_err(StoreError::internal)?;
    let mut out: HashMap<String, Vec<Attachment>> = HashMap::new();
    let mut statement = conn.prepare_cached(&sql)?;
    for row in statement.query_map([ids], attachment_from_row(0))? {
        let attachment = row?;
        if let Some(message) = attachment.message_id.clone() {
            out.entry(message).or_default().push(attachment);
        }
    }
    Ok(out)
}

/// `GET /v1/attachments`: newest first; in one conversation, or everything the viewer sees.
pub fn list(
    conn: &Sql,
    viewer: &str,
    conversation: Option<&str>,
    page: &PageParams,
) -> Result<List<Attachment>> {
    let select = format!(
        "SELECT a.seq, {ATTACHMENT_COLUMNS} FROM attachments a
          WHERE a.conversation_id = ?1 AND a.message_seq > ?2"
    );
    let map = |row: &Row| Ok((row.get::<i64>(0)?, attachment_from_row(1)(row)?));
    if let Some(conversation) = conversation {
        let participation = require_participation(conn, viewer, conversation)
            .map_err(|e| e.with_param("conversation_id"))?;
        let query = KeysetQuery {
            select: &select,
            order: &["a.seq"],
            params: vec![
                Value::Text(conversation.to_owned()),
                Value::Integer(participation.visible_after),
            ],
        };
        let resolve = |cursor: &str| {
            Ok(conn
                .prepare_cached(
                    "SELECT seq FROM attachments WHERE id = ?1 AND conversation_id = ?2 AND message_seq > ?3",
                )?
                .query_row(params![cursor, conversation, participation.visible_after], |r| {
                    Ok(vec![r.get(0)?])
                })
                .optional()?)
        };
        return page::fetch_merged(conn, vec![query], page, resolve, map);
    }
    // Everything the viewer sees: their uploads, and each visible conversation's attachments.
    let uploads =
        format!("SELECT a.seq, {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.uploader_id = ?1");
    let mut queries = vec![KeysetQuery {
        select: &uploads,
        order: &["a.seq"],
        params: vec![Value::Text(viewer.to_owned())],
    }];
    for (conversation, visible_after) in visible_conversations(conn, viewer)? {
        queries.push(KeysetQuery {
            select: &select,
            order: &["a.seq"],
            params: vec![Value::Text(conversation), Value::Integer(visible_after)],
        });
    }
    let resolve = |cursor: &str| {
        Ok(conn
            .prepare_cached(&format!(
                "SELECT a.seq FROM attachments a WHERE a.id = ?2 AND {VISIBLE}"
            ))?
            .query_row(params![viewer, cursor], |r| Ok(vec![r.get(0)?]))
            .optional()?)
    };
    page::fetch_merged(conn, queries, page, resolve, map)
}

/// `POST /v1/attachments`: the record of an upload whose bytes are already stored.
pub fn create(conn: &Sql, uploader: &str, new: &NewAttachment, now: i64) -> Result<Attachment> {
    let size = i64::try_from(new.file_size)
        .map_err(|_| StoreError::bad_request("The file is too large."))?;
    conn.prepare_cached(
        "INSERT INTO attachments (id, uploader_id, filename, file_type, file_size, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        new.id,
        uploader,
        new.filename,
        new.file_type,
        size,
        now
    ])?;
    if let Some(message) = &new.message_id {
        let (conversation, seq) =
            sent_message(conn, uploader, message).map_err(|e| e.with_param("message_id"))?;
        conn.prepare_cached(
            "UPDATE attachments SET message_id = ?2, conversation_id = ?3, message_seq = ?4
              WHERE id = ?1",
        )?
        .execute(params![new.id, message, conversation, seq])?;
    }
    emit(conn, "attachment.created", uploader, &new.id)?;
    get(conn, uploader, &new.id)
}

/// `PUT /v1/attachments/:id`: the filename, by its uploader.
pub fn rename(conn: &Sql, viewer: &str, id: &str, filename: &str) -> Result<Attachment> {
    require_uploader(conn, viewer, id)?;
    conn.prepare_cached("UPDATE attachments SET filename = ?2 WHERE id = ?1")?
        .execute(params![id, filename])?;
    emit(conn, "attachment.updated", viewer, id)?;
    get(conn, viewer, id)
}

/// `DELETE /v1/attachments/:id`: by its uploader; the trigger queues the bytes for removal.
pub fn delete(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    require_uploader(conn, viewer, id)?;
    emit(conn, "attachment.deleted", viewer, id)?;
    conn.prepare_cached("DELETE FROM attachments WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

fn require_uploader(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    let uploader: String = conn
        .prepare_cached(&format!(
            "SELECT a.uploader_id FROM attachments a WHERE a.id = ?2 AND {VISIBLE}"
        ))?
        .query_row(params![viewer, id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("attachment", id))?;
    if uploader != viewer {
        return Err(StoreError::forbidden(
            "Only the uploader can change or delete an attachment.",
        ));
    }
    Ok(())
}

/// The conversation and seq of a message the viewer sent and still sees.
fn sent_message(conn: &Sql, viewer: &str, message: &str) -> Result<(String, i64)> {
    let (conversation, seq, sender): (String, i64, String) = conn
        .prepare_cached("SELECT conversation_id, seq, sender_id FROM messages WHERE id = ?1")?
        .query_row([message], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| StoreError::not_found("message", message))?;
    let participation = require_participation(conn, viewer, &conversation)
        .map_err(|_| StoreError::not_found("message", message))?;
    if seq <= participation.visible_after {
        return Err(StoreError::not_found("message", message));
    }
    if sender != viewer {
        return Err(StoreError::forbidden(
            "Attachments can be added only to your own messages.",
        ));
    }
    Ok((conversation, seq))
}

/// The message attachments are linked to.
pub(crate) struct LinkTarget<'a> {
    pub message: &'a str,
    pub conversation: &'a str,
    pub seq: i64,
}

/// Makes `wanted` exactly the attachments of the target message (sent by `sender`). Each must
/// be one the sender uploaded that belongs to no message yet (or already to this one);
/// attachments left out go back to being unlinked uploads.
pub(crate) fn set_for_message(
    conn: &Sql,
    sender: &str,
    target: &LinkTarget,
    wanted: &[String],
) -> Result<()> {
    let mut linked: Vec<&String> = Vec::new();
    for id in wanted {
        if linked.contains(&id) {
            continue;
        }
        let row: Option<(String, Option<String>)> = conn
            .prepare_cached("SELECT uploader_id, message_id FROM attachments WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((uploader, current)) if uploader == sender => {
                if current.as_deref().is_some_and(|m| m != target.message) {
                    return Err(StoreError::conflict(format!(
                        "The attachment {} already belongs to another message.",
                        super::error::printable(id)
                    ))
                    .with_param("attachments"));
                }
            }
            // Someone else's upload is as good as absent: only the uploader attaches it.
            _ => return Err(StoreError::not_found_param("attachments", "attachment", id)),
        }
        linked.push(id);
    }
    let before: Vec<String> = conn
        .prepare_cached("SELECT id FROM attachments WHERE message_id = ?1")?
        .query_map([target.message], |r| r.get(0))?
        .collect::<sql::Result<_>>()?;
    for id in before.iter().filter(|id| !linked.contains(id)) {
        conn.prepare_cached(
            "UPDATE attachments SET message_id = NULL, conversation_id = NULL, message_seq = NULL
              WHERE id = ?1",
        )?
        .execute([id])?;
        emit(conn, "attachment.updated", sender, id)?;
    }
    for id in linked.into_iter().filter(|id| !before.contains(id)) {
        conn.prepare_cached(
            "UPDATE attachments SET message_id = ?2, conversation_id = ?3, message_seq = ?4
              WHERE id = ?1",
        )?
        .execute(params![id, target.message, target.conversation, target.seq])?;
        emit(conn, "attachment.updated", sender, id)?;
    }
    Ok(())
}

/// Records `kind` for an attachment, as `account` sees it, for its uploader and everyone who
/// sees its message.
fn emit(conn: &Sql, kind: &str, account: &str, id: &str) -> Result<()> {
    let attachment = get(conn, account, id)?;
    let (uploader, conversation, seq): (String, Option<String>, Option<i64>) = conn
        .prepare_cached(
            "SELECT uploader_id, conversation_id, message_seq FROM attachments WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let mut audience = match conversation {
        Some(conversation) => events::conversation_audience(conn, &conversation, seq)?,
        None => events::Audience::default(),
    };
    audience.add(&uploader);
    events::record_for(
        conn,
        kind,
        account,
        Payload::Attachment(&attachment),
        &audience,
    )
}

/// (attachments stored, their bytes), for the metrics.
pub fn totals(conn: &Sql) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*), CAST(coalesce(sum(file_size), 0) AS BIGINT) FROM attachments",
        )?
        .query_row(params![], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Ids of attachments whose records are gone and whose files await removal (`file_trash`), at
/// most `limit` of them.
pub fn trashed(conn: &Sql, limit: u32) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT attachment_id FROM file_trash LIMIT ?1")?
        .query_map([limit], |r| r.get(0))?
        .collect::<sql::Result<_>>()?)
}

/// Forgets trashed ids once their files are removed.
pub fn forget_trashed(conn: &Sql, ids: &[String]) -> Result<()> {
    let mut delete = conn.prepare_cached("DELETE FROM file_trash WHERE attachment_id = ?1")?;
    for id in ids {
        delete.execute([id])?;
    }
    Ok(())
}

/// Of `candidates`, those that name no attachment record.
pub fn unknown(conn: &Sql, candidates: &[String]) -> Result<Vec<String>> {
    let mut known = conn.prepare_cached("SELECT 1 FROM attachments WHERE id = ?1")?;
    let mut unknown = Vec::new();
    for id in candidates {
        if !known.exists([id])? {
            unknown.push(id.clone());
        }
    }
    Ok(unknown)
}
