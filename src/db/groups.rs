//! Groups. Members are the participants of the group's one conversation; the creator owns it.
//!
//! A group may have thousands of members, so a change of members costs work in proportion to
//! the change: sets instead of list scans, and events that name who joined and who left
//! instead of copying the member list (see `GroupEvent`).

use super::access::participation_row_exists;
use super::conversations::{
    self, LARGE_ABOVE, add_participant, insert_conversation, newest_message_seq,
};
use super::error::{Result, StoreError};
use super::events::{self, Payload};
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use super::people::{self, CONTACT_COLUMNS, contact_from_row, in_address_book};
use super::records::{Contact, Group, GroupEvent};
use super::sql::{self, OptionalExtension, Row, Sql};
use crate::pagination::{List, PageParams};
use rusqlite::params;
use rusqlite::types::Value;

use std::collections::HashSet;

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

fn group_from_row(row: &Row) -> sql::Result<Group> {
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
fn members(conn: &Sql, viewer: &str, conversation: &str) -> Result<Vec<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM participants m
           JOIN contacts c ON c.id = m.contact_id
           LEFT JOIN address_book ab ON ab.owner_id = ?1 AND ab.contact_id = c.id
          WHERE m.conversation_id = ?2 ORDER BY m.seq"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![viewer, conversation], contact_from_row)?
        .collect::<sql::Result<_>>()?)
}

fn with_members(conn: &Sql, viewer: &str, mut group: Group) -> Result<Group> {
    group.contacts = members(conn, viewer, &group.conversation_id)?;
    Ok(group)
}

pub fn get(conn: &Sql, viewer: &str, id: &str) -> Result<Group> {
    let sql = format!("{GROUP_SELECT} AND g.id = ?2");
    let group = conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], group_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("group", id))?;
    with_members(conn, viewer, group)
}

/// `GET /v1/groups`: newest first.
pub fn list(
    conn: &Sql,
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

/// `POST /v1/groups`: the creator owns it and is its first member. `max_members` counts the
/// owner.
pub fn create(
    conn: &Sql,
    owner: &str,
    new: &NewGroup,
    max_members: usize,
    now: i64,
) -> Result<Group> {
    let members = checked_members(conn, owner, &new.contacts)?;
    check_size(members.len() + 1, max_members)?;
    let id = new_id();
    let group_seq = conn.insert_returning_seq(
        "INSERT INTO chat_groups (id, owner_id, name, description, avatar_url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, owner, new.name, new.description, new.avatar_url, now],
    )?;
    let conversation = new_id();
    let everyone: Vec<String> = std::iter::once(owner.to_owned()).chain(members).collect();
    let large = everyone.len() > LARGE_ABOVE;
    let newest = newest_message_seq(conn)?;
    let conversation_seq =
        insert_conversation(conn, &conversation, None, Some(&id), newest, large, now)?;
    for person in &everyone {
        add_participant(
            conn,
            &conversation,
            conversation_seq,
            person,
            newest,
            Some(group_seq),
            large,
        )?;
    }
    emit(conn, "group.created", owner, &id, &everyone, &[], None)?;
    conversations::emit(conn, "conversation.created", &conversation, &everyone)?;
    get(conn, owner, &id)
}

/// Records `kind` for the group, as one event. `to` is who hears of it: the given people, or
/// (None) everyone in the group now.
fn emit(
    conn: &Sql,
    kind: &str,
    account: &str,
    id: &str,
    added: &[String],
    removed: &[String],
    to: Option<&[String]>,
) -> Result<()> {
    let event = conn
        .prepare_cached(
            "SELECT g.name, g.description, g.avatar_url, v.id, g.created_at, g.archived_at
               FROM chat_groups g JOIN conversations v ON v.group_id = g.id WHERE g.id = ?1",
        )?
        .query_row([id], |r| {
            Ok(GroupEvent {
                id: id.to_owned(),
                name: r.get(0)?,
                description: r.get(1)?,
                avatar_url: r.get(2)?,
                conversation_id: r.get(3)?,
                created_at: r.get(4)?,
                archived_at: r.get(5)?,
                contacts_added: added,
                contacts_removed: removed,
            })
        })?;
    let audience = match to {
        Some(people) => events::Audience::people(people.to_vec()),
        None => events::conversation_audience(conn, &event.conversation_id, None)?,
    };
    events::record_for(conn, kind, account, Payload::Group(&event), &audience)
}

/// The member ids of a group conversation, in order of joining.
fn member_ids(conn: &Sql, conversation: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT contact_id FROM participants WHERE conversation_id = ?1 ORDER BY seq",
        )?
        .query_map([conversation], |r| r.get(0))?
        .collect::<sql::Result<_>>()?)
}

/// The group's conversation, if the viewer is a member.
fn conversation_of(conn: &Sql, viewer: &str, id: &str) -> Result<String> {
    conn.prepare_cached(
        "SELECT v.id FROM conversations v
           JOIN participants p ON p.conversation_id = v.id AND p.contact_id = ?2
          WHERE v.group_id = ?1",
    )?
    .query_row(params![id, viewer], |r| r.get(0))
    .optional()?
    .ok_or_else(|| StoreError::not_found("group", id))
}

/// `PUT /v1/groups/:id`: owner only. `contacts` is the whole new member list.
pub fn update(
    conn: &Sql,
    viewer: &str,
    id: &str,
    changes: &GroupChanges,
    max_members: usize,
) -> Result<Group> {
    let conversation = conversation_of(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    conn.prepare_cached(
        "UPDATE chat_groups
            SET name = coalesce(?2, name),
                description = CASE WHEN ?3 = 1 THEN ?4 ELSE description END,
                avatar_url = CASE WHEN ?5 = 1 THEN ?6 ELSE avatar_url END,
                archived_at = CASE WHEN ?7 = 1 THEN ?8 ELSE archived_at END
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
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    if let Some(contacts) = &changes.contacts {
        let wanted = checked_members(conn, viewer, contacts)?;
        check_size(wanted.len() + 1, max_members)?;
        let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
        let current = member_ids(conn, &conversation)?;
        let current_set: HashSet<&str> = current.iter().map(String::as_str).collect();
        removed = current
            .iter()
            .filter(|m| *m != viewer && !wanted_set.contains(m.as_str()))
            .cloned()
            .collect();
        added = wanted
            .iter()
            .filter(|m| !current_set.contains(m.as_str()))
            .cloned()
            .collect();
    }
    change_members(conn, viewer, id, &conversation, &added, &removed)?;
    get(conn, viewer, id)
}

/// `POST /v1/groups/:id/contacts`: adds these contacts (from the owner's address book) to the
/// group; those already in it are skipped. Returns the ones added.
pub fn add_members(
    conn: &Sql,
    viewer: &str,
    id: &str,
    contacts: &[String],
    max_members: usize,
) -> Result<Vec<Contact>> {
    let conversation = conversation_of(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    let mut added = Vec::new();
    for person in checked_members(conn, viewer, contacts)? {
        if participation_row_exists(conn, &conversation, &person)? {
            continue;
        }
        added.push(person);
    }
    let counted: usize = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM participants WHERE conversation_id = ?1 LIMIT ?2) AS capped",
        )?
        .query_row(params![conversation, max_members as i64], |r| {
            r.get::<i64>(0)
        })
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))?;
    check_size(counted + added.len(), max_members)?;
    change_members(conn, viewer, id, &conversation, &added, &[])?;
    added
        .iter()
        .map(|person| people::get(conn, viewer, person))
        .collect()
}

/// `DELETE /v1/groups/:id/contacts/:contact_id`: the owner removes a member (not themself: the
/// owner leaves by deleting the group).
pub fn remove_member(conn: &Sql, viewer: &str, id: &str, member: &str) -> Result<()> {
    let conversation = conversation_of(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    if member == viewer {
        return Err(StoreError::conflict(
            "The owner stays in the group; delete the group to end it.",
        ));
    }
    if !participation_row_exists(conn, &conversation, member)? {
        return Err(StoreError::not_found("group member", member));
    }
    change_members(conn, viewer, id, &conversation, &[], &[member.to_owned()])
}

/// Applies a change of members, with its events: the removed lose the group (told while they
/// can still see it), the added get it, and everyone in it now hears of the change. New
/// members see only messages sent after they join.
fn change_members(
    conn: &Sql,
    owner: &str,
    id: &str,
    conversation: &str,
    added: &[String],
    removed: &[String],
) -> Result<()> {
    if !removed.is_empty() {
        emit(
            conn,
            "group.deleted",
            owner,
            id,
            &[],
            removed,
            Some(removed),
        )?;
        conversations::emit(conn, "conversation.deleted", conversation, removed)?;
        for person in removed {
            conn.prepare_cached(
                "DELETE FROM participants WHERE conversation_id = ?1 AND contact_id = ?2",
            )?
            .execute(params![conversation, person])?;
        }
    }
    if !added.is_empty() {
        let (conversation_seq, group_seq): (i64, Option<i64>) = conn
            .prepare_cached(
                "SELECT conversation_seq, group_seq FROM participants
                  WHERE conversation_id = ?1 AND contact_id = ?2",
            )?
            .query_row(params![conversation, owner], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let newest = newest_message_seq(conn)?;
        let large = conversations::is_large(conn, conversation)?;
        for person in added {
            add_participant(
                conn,
                conversation,
                conversation_seq,
                person,
                newest,
                group_seq,
                large,
            )?;
        }
    }
    conversations::rebalance(conn, conversation)?;
    emit(conn, "group.updated", owner, id, added, removed, None)?;
    if !added.is_empty() {
        emit(conn, "group.created", owner, id, added, &[], Some(added))?;
        conversations::emit(conn, "conversation.created", conversation, added)?;
    }
    Ok(())
}

/// `GET /v1/groups/:id/contacts`: the members a page at a time, the newest member first (as
/// every list is ordered).
pub fn list_members(
    conn: &Sql,
    viewer: &str,
    id: &str,
    page: &PageParams,
) -> Result<List<Contact>> {
    let conversation = conversation_of(conn, viewer, id)?;
    let select = format!(
        "SELECT {CONTACT_COLUMNS} FROM participants m
           JOIN contacts c ON c.id = m.contact_id
           LEFT JOIN address_book ab ON ab.owner_id = ?1 AND ab.contact_id = c.id
          WHERE m.conversation_id = ?2"
    );
    let query = KeysetQuery {
        select: &select,
        order: &["m.seq"],
        params: vec![
            Value::Text(viewer.to_owned()),
            Value::Text(conversation.clone()),
        ],
    };
    page::fetch(
        conn,
        query,
        page,
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT seq FROM participants WHERE conversation_id = ?1 AND contact_id = ?2",
                )?
                .query_row(params![conversation, cursor], |r| Ok(vec![r.get(0)?]))
                .optional()?)
        },
        contact_from_row,
    )
}

/// `DELETE /v1/groups/:id`: owner only; its conversation and messages go with it.
pub fn delete(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    let conversation = conversation_of(conn, viewer, id)?;
    require_owner(conn, viewer, id)?;
    let members = member_ids(conn, &conversation)?;
    // Named one by one: after the commit there is no conversation left to name them by.
    emit(
        conn,
        "group.deleted",
        viewer,
        id,
        &[],
        &members,
        Some(&members),
    )?;
    let keeping = events::members_seeing(conn, &conversation, i64::MAX)?;
    conversations::emit(conn, "conversation.deleted", &conversation, &keeping)?;
    conn.prepare_cached("DELETE FROM chat_groups WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

fn require_owner(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    let owner: String = conn
        .prepare_cached("SELECT owner_id FROM chat_groups WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if owner != viewer {
        return Err(StoreError::forbidden(
            "Only the group's owner can change or delete it.",
        ));
    }
    Ok(())
}

/// The requested members without duplicates or the owner, in the order given; each must be in
/// the owner's address book.
fn checked_members(conn: &Sql, owner: &str, requested: &[String]) -> Result<Vec<String>> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(requested.len());
    let mut members = Vec::with_capacity(requested.len());
    for contact in requested {
        if contact == owner || !seen.insert(contact.as_str()) {
            continue;
        }
        if !in_address_book(conn, owner, contact)? {
            return Err(StoreError::not_found_param("contacts", "contact", contact));
        }
        members.push(contact.clone());
    }
    Ok(members)
}

fn check_size(members: usize, max_members: usize) -> Result<()> {
    if members > max_members {
        return Err(StoreError::invalid(
            "contacts",
            format!("A group can have at most {max_members} members, its owner included."),
        ));
    }
    Ok(())
}
