//! Contacts: people known to the server (`contacts`) and each person's address book
//! (`address_book`). A contact object is seen from one person, the viewer: `display_name` and
//! `conversation_id` are the viewer's own.

use super::conversations;
use super::error::{Result, StoreError};
use super::events::{self, Payload};
use super::ids::new_id;
use super::page::{self, KeysetQuery};
use super::people::{CONTACT_COLUMNS, contact_from_row, get, in_address_book};
use super::records::Contact;
use super::sql::{OptionalExtension, Sql};
use crate::pagination::{List, PageParams};
use rusqlite::params;
use rusqlite::types::Value;

#[derive(Debug, Clone)]
pub struct NewContact {
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
    pub display_name: Option<String>,
}

/// `GET /v1/contacts`: the viewer's address book, most recently added first.
pub fn list(conn: &Sql, viewer: &str, page: &PageParams) -> Result<List<Contact>> {
    let select = format!(
        "SELECT {CONTACT_COLUMNS} FROM address_book ab JOIN contacts c ON c.id = ab.contact_id
          WHERE ab.owner_id = ?1"
    );
    let query = KeysetQuery {
        select: &select,
        order: &["ab.seq"],
        params: vec![Value::Text(viewer.to_owned())],
    };
    page::fetch(
        conn,
        query,
        page,
        |cursor| {
            Ok(conn
                .prepare_cached(
                    "SELECT seq FROM address_book WHERE owner_id = ?1 AND contact_id = ?2",
                )?
                .query_row(params![viewer, cursor], |r| Ok(vec![r.get(0)?]))
                .optional()?)
        },
        contact_from_row,
    )
}

/// `POST /v1/contacts`: adds the account with that username to the viewer's address book, or
/// else a private contact of the viewer's own, and opens the direct conversation. Nothing here
/// looks at anyone else's address book, so neither the answer nor its timing can tell what
/// another person has stored.
pub fn create(conn: &Sql, viewer: &str, new: &NewContact, now: i64) -> Result<Contact> {
    let person =
        match account_by_username(conn, &new.username)? {
            Some(id) => id,
            None => {
                match private_by_username(conn, viewer, &new.username)? {
                    Some(id) => {
                        if !in_address_book(conn, viewer, &id)? {
                            // Deleted from the book once and added again: what they send now counts.
                            conn.prepare_cached(
                        "UPDATE contacts SET username = ?2, phone_number = ?3, avatar_url = ?4
                          WHERE id = ?1",
                    )?
                    .execute(params![id, new.username, new.phone_number, new.avatar_url])?;
                        }
                        id
                    }
                    None => insert_person(
                        conn,
                        Some(viewer),
                        &new.username,
                        &new.phone_number,
                        new.avatar_url.as_deref(),
                        now,
                    )?,
                }
            }
        };
    if person == viewer {
        // A conflict with who you are, like adding someone twice (not a malformed request).
        return Err(
            StoreError::conflict("You cannot add yourself to your own address book.")
                .with_param("username"),
        );
    }
    if in_address_book(conn, viewer, &person)? {
        return Err(StoreError::conflict(format!(
            "{} is already in your address book.",
            new.username
        ))
        .with_param("username"));
    }
    conn.prepare_cached(
        "INSERT INTO address_book (owner_id, contact_id, display_name, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![viewer, person, new.display_name, now])?;
    conversations::open_direct(conn, viewer, &person, now)?;
    let contact = get(conn, viewer, &person)?;
    events::record(
        conn,
        "contact.created",
        viewer,
        Payload::Contact(&contact),
        &[viewer.to_owned()],
    )?;
    Ok(contact)
}

/// `PUT /v1/contacts/:id`: the viewer's name for them.
pub fn update(
    conn: &Sql,
    viewer: &str,
    id: &str,
    display_name: Option<Option<&str>>,
) -> Result<Contact> {
    if !in_address_book(conn, viewer, id)? {
        return Err(StoreError::not_found("contact", id));
    }
    if let Some(display_name) = display_name {
        conn.prepare_cached(
            "UPDATE address_book SET display_name = ?3 WHERE owner_id = ?1 AND contact_id = ?2",
        )?
        .execute(params![viewer, id, display_name])?;
    }
    let contact = get(conn, viewer, id)?;
    events::record(
        conn,
        "contact.updated",
        viewer,
        Payload::Contact(&contact),
        &[viewer.to_owned()],
    )?;
    Ok(contact)
}

/// `DELETE /v1/contacts/:id`: out of the address book, and the direct conversation out of
/// the viewer's view (as `DELETE /v1/conversations/:id`).
pub fn delete(conn: &Sql, viewer: &str, id: &str) -> Result<()> {
    if !in_address_book(conn, viewer, id)? {
        return Err(StoreError::not_found("contact", id));
    }
    let contact = get(conn, viewer, id)?;
    events::record(
        conn,
        "contact.deleted",
        viewer,
        Payload::Contact(&contact),
        &[viewer.to_owned()],
    )?;
    conn.prepare_cached("DELETE FROM address_book WHERE owner_id = ?1 AND contact_id = ?2")?
        .execute(params![viewer, id])?;
    if let Some(conversation) = conversations::find_direct(conn, viewer, id)? {
        conversations::hide_for(conn, &conversation, viewer)?;
    }
    Ok(())
}

pub fn set_last_active(conn: &Sql, id: &str, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE contacts SET last_active_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// An account from the config: its contact is matched by username (without regard to case)
/// among the accounts and created or updated. Returns the contact id.
pub fn upsert_account(
    conn: &Sql,
    username: &str,
    phone_number: &str,
    avatar_url: Option<&str>,
    now: i64,
) -> Result<String> {
    match account_by_username(conn, username)? {
        Some(id) => {
            conn.prepare_cached(
                "UPDATE contacts SET username = ?2, phone_number = ?3, avatar_url = ?4
                  WHERE id = ?1",
            )?
            .execute(params![id, username, phone_number, avatar_url])?;
            Ok(id)
        }
        None => insert_person(conn, None, username, phone_number, avatar_url, now),
    }
}

/// The account (or a person known to all, as every person was before address books became
/// private) with this username.
pub(crate) fn account_by_username(conn: &Sql, username: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(conn.pick(
            "SELECT id FROM contacts WHERE owner_id IS NULL AND username = ?1 COLLATE NOCASE
              ORDER BY seq LIMIT 1",
            "SELECT id FROM contacts WHERE owner_id IS NULL AND lower(username) = lower(?1)
              ORDER BY seq LIMIT 1",
        ))?
        .query_row([username], |r| r.get(0))
        .optional()?)
}

/// The viewer's own private contact with this username.
pub(crate) fn private_by_username(
    conn: &Sql,
    owner: &str,
    username: &str,
) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(conn.pick(
            "SELECT id FROM contacts WHERE owner_id = ?1 AND username = ?2 COLLATE NOCASE
              ORDER BY seq LIMIT 1",
            "SELECT id FROM contacts WHERE owner_id = ?1 AND lower(username) = lower(?2)
              ORDER BY seq LIMIT 1",
        ))?
        .query_row(params![owner, username], |r| r.get(0))
        .optional()?)
}

/// A new person: an account (`owner` None) or a private contact of `owner`'s.
pub(crate) fn insert_person(
    conn: &Sql,
    owner: Option<&str>,
    username: &str,
    phone_number: &str,
    avatar_url: Option<&str>,
    now: i64,
) -> Result<String> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO contacts (id, owner_id, username, phone_number, avatar_url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, owner, username, phone_number, avatar_url, now])?;
    Ok(id)
}
