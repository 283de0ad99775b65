//! Groups. Members are the participants of the group's one conversation; the creator owns it.

use super::contacts::{CONTACT_COLUMNS, Contact, contact_from_row, in_address_book};
use super::conversations::{self, add_participant, insert_conversation, newest_message_seq};
use super::events;
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use crate::error::{Error, Result};
use crate::pagination::{List, PageParams};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use utoipa::ToSchema;

/// Members a group may have, the owner included.
pub const MAX_MEMBERS: usize = 256;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub conversation_id: String,
    pub contacts: Vec<Contact>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub contacts: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub contacts: Option<Vec<String>>,
    pub archived_at: Option<Option<i64>>,
}

/// Groups the viewer `?1` is a member of (participant row `p`).
const GROUP_SELECT: &str = "
    SELECT g.id, g.name, g.description, g.avatar_url, v.id, g.created_at, g.archived_at
      FROM participants p
      JOIN conversations v ON v.id = p.conversation_id
      JOIN chat_groups g ON g.id = v.group_id
     WHERE p.contact_id = ?1 AND p.group_seq IS NOT NULL";

fn group_from_row(row: &Row) -> rusqlite::Result<Group> {
    Ok(Group {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        avatar_url: row.get(3)?,
        conversation_id: row.get(4)?,
        created_at: row.get(5)?,
        archived_at: row.get(6)?,
        contacts: Vec::new(),
    })
}

/// The members, as contact objects seen by the viewer, in the order they joined.
fn members(conn: &Connection, viewer: &str, conversation: &str) -> Result<Vec<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM participants m
           JOIN contacts c ON c.id = m.contact_id
           LEFT JOIN address_book ab ON ab.owner_id = ?1 AND ab.contact_id = c.id
          WHERE m.conversation_id = ?2 ORDER BY m.seq"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![viewer, conversation], contact_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

fn with_members(conn: &Connection, viewer: &str, mut group: Group) -> Result<Group> {
    group.contacts = members(conn, viewer, &group.conversation_id)?;
    Ok(group)
}

pub fn get(conn: &Connection, viewer: &str, id: &str) -> Result<Group> {
    let sql = format!("{GROUP_SELECT} AND g.id = ?2");
    let group = conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], group_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found("group", id))?;
    with_members(conn, viewer, group)
}

/// `GET /v1/groups`: newest first.
pub fn list(
    conn: &Connection,
    viewer: &str,
    archived: Option<bool>,
    page: &PageParams,
) -> Result<List<Group>> {
    let mut select = String::from(GROUP_SELECT);
    match archived {
        Some(true) => select.push_str(" AND g.archived_at IS NOT NULL"),
        Some(false) => select.push_str(" AND g.archived_at IS NULL"),
        None => {}
    }
    let query = KeysetQuery {
        select: &select,
        order: &["p.group_seq"],
        params: vec![Value::Text(viewer.to_owned())],
    };
    let list = page::fetch(
        conn,
        query,
        page,
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT p.group_seq FROM participants p
                       JOIN conversations v ON v.id = p.conversation_id
                      WHERE v.group_id = ?1 AND p.contact_id = ?2",
                )?
                .query_row(params![cursor, viewer], |r| Ok(vec![r.get(0)?]))
                .optional()?)
        },
        group_from_row,
    )?;
    Ok(List {
        has_more: list.has_more,
        data: list
            .data
            .into_iter()
            .map(|g| with_members(conn, viewer, g))
            .collect::<Result<_>>()?,
    })
}

/// `POST /v1/groups`: the creator owns it and is its first member.
pub fn create(conn: &Connection, owner: &str, new: &NewGroup, now: i64) -> Result<Group> {
    let members = checked_members(conn, owner, &new.contacts)?;
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO chat_groups (id, owner_id, name, description, avatar_url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        owner,
        new.name,
        new.description,
        new.avatar_url,
        now
    ])?;
    let group_seq = conn.last_insert_rowid();
    let conversation = new_id();
    let conversation_seq = insert_conversation(conn, &conversation, None, Some(&id), now)?;
    let activity = newest_message_seq(conn)?;
    let everyone: Vec<String> = std::iter::once(owner.to_owned()).chain(members).collect();
    for person in &everyone {
        add_participant(
            conn,
            &conversation,
            conversation_seq,
            person,
            activity,
            Some(group_seq),
        )?;
    }
    emit(conn, "group.created", &id, &everyone)?;
    conversations::emit(conn, "conversation.created", &conversation, &everyone)?;
    get(conn, owner, &id)
}

/// Records `kind` for each of `people`, each with their own view of the group.
fn emit(conn: &Connection, kind: &str, id: &str, people: &[String]) -> Result<()> {
    for person in people {
        let view = get(conn, person, id)?;
        events::record(conn, kind, person, &view, std::slice::from_ref(person))?;
    }
    Ok(())
}

/// The member ids of a group conversation.
fn member_ids(conn: &Connection, conversation: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT contact_id FROM participants WHERE conversation_id = ?1 ORDER BY seq",
        )?
        .query_map([conversation], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// `PUT /v1/groups/:id`: owner only.
pub fn update(conn: &Connection, viewer: &str, id: &str, changes: &GroupChanges) -> Result<Group> {
    let group = get(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    conn.prepare_cached(
        "UPDATE chat_groups
            SET name = coalesce(?2, name),
                description = CASE WHEN ?3 THEN ?4 ELSE description END,
                avatar_url = CASE WHEN ?5 THEN ?6 ELSE avatar_url END,
                archived_at = CASE WHEN ?7 THEN ?8 ELSE archived_at END
          WHERE id = ?1",
    )?
    .execute(params![
        id,
        changes.name,
        changes.description.is_some(),
        changes.description.clone().flatten(),
        changes.avatar_url.is_some(),
        changes.avatar_url.clone().flatten(),
        changes.archived_at.is_some(),
        changes.archived_at.flatten(),
    ])?;
    let before = member_ids(conn, &group.conversation_id)?;
    if let Some(contacts) = &changes.contacts {
        let wanted = checked_members(conn, viewer, contacts)?;
        let removed: Vec<String> = before
            .iter()
            .filter(|m| *m != viewer && !wanted.contains(m))
            .cloned()
            .collect();
        // They lose the group: tell them while they can still see it.
        emit(conn, "group.deleted", id, &removed)?;
        conversations::emit(
            conn,
            "conversation.deleted",
            &group.conversation_id,
            &removed,
        )?;
        replace_members(conn, viewer, &group.conversation_id, &wanted)?;
    }
    let after = member_ids(conn, &group.conversation_id)?;
    let (stayed, added): (Vec<String>, Vec<String>) =
        after.into_iter().partition(|m| before.contains(m));
    emit(conn, "group.updated", id, &stayed)?;
    emit(conn, "group.created", id, &added)?;
    conversations::emit(conn, "conversation.created", &group.conversation_id, &added)?;
    get(conn, viewer, id)
}

/// `DELETE /v1/groups/:id`: owner only; its conversation and messages go with it.
pub fn delete(conn: &Connection, viewer: &str, id: &str) -> Result<()> {
    let group = get(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    let members = member_ids(conn, &group.conversation_id)?;
    emit(conn, "group.deleted", id, &members)?;
    let keeping: Vec<String> = members
        .into_iter()
        .filter(|m| {
            conversations::participation(conn, m, &group.conversation_id).is_ok_and(|p| p.is_some())
        })
        .collect();
    conversations::emit(
        conn,
        "conversation.deleted",
        &group.conversation_id,
        &keeping,
    )?;
    conn.prepare_cached("DELETE FROM chat_groups WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

fn require_owner(conn: &Connection, viewer: &str, id: &str) -> Result<()> {
    let owner: String = conn
        .prepare_cached("SELECT owner_id FROM chat_groups WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if owner != viewer {
        return Err(Error::forbidden(
            "Only the group's owner can change or delete it.",
        ));
    }
    Ok(())
}

/// The requested members without duplicates or the owner; each must be in the owner's
/// address book.
fn checked_members(conn: &Connection, owner: &str, requested: &[String]) -> Result<Vec<String>> {
    let mut members: Vec<String> = Vec::new();
    for contact in requested {
        if contact == owner || members.contains(contact) {
            continue;
        }
        if !in_address_book(conn, owner, contact)? {
            return Err(Error::not_found_param("contacts", "contact", contact));
        }
        members.push(contact.clone());
    }
    if members.len() + 1 > MAX_MEMBERS {
        return Err(Error::invalid(
            "contacts",
            format!("A group can have at most {MAX_MEMBERS} members, its owner included."),
        ));
    }
    Ok(members)
}

/// Makes the members exactly `owner` + `wanted`. New members see only messages sent after they
/// join.
fn replace_members(
    conn: &Connection,
    owner: &str,
    conversation: &str,
    wanted: &[String],
) -> Result<()> {
    let current: Vec<String> = conn
        .prepare_cached("SELECT contact_id FROM participants WHERE conversation_id = ?1")?
        .query_map([conversation], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for person in &current {
        if person != owner && !wanted.contains(person) {
            conn.prepare_cached(
                "DELETE FROM participants WHERE conversation_id = ?1 AND contact_id = ?2",
            )?
            .execute(params![conversation, person])?;
        }
    }
    // A new member's list shows the group on top: being added is news to them.
    let (conversation_seq, group_seq): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT conversation_seq, group_seq FROM participants
              WHERE conversation_id = ?1 AND contact_id = ?2",
        )?
        .query_row(params![conversation, owner], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let newest = newest_message_seq(conn)?;
    for person in wanted {
        if !current.contains(person) {
            add_participant(
                conn,
                conversation,
                conversation_seq,
                person,
                newest,
                group_seq,
            )?;
        }
    }
    Ok(())
}
