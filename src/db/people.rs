//! A person as one viewer sees them: the contact object (what their address book says of the
//! person, and their direct conversation), a person's public profile, and the address-book
//! primitives the other resources share (a message or a new conversation puts its sender in
//! the other person's book). Separate from `contacts.rs`, which manages the book and reaches
//! into conversations, so that conversations and messages can use these without a circle.

use super::error::{Result, StoreError};
use super::events::{self, Payload};
use super::records::{Contact, Profile};
use super::sql::{self, OptionalExtension, Row, Sql};
use rusqlite::params;

/// The columns of a viewer's contact object; `?1` is the viewer, `c` the person and `ab` the
/// viewer's address-book row (may be NULL through a LEFT JOIN).
pub(crate) const CONTACT_COLUMNS: &str = "
    c.id, c.username, c.phone_number, c.avatar_url, ab.display_name,
    (SELECT v.id FROM conversations v
       JOIN participants p ON p.conversation_id = v.id AND p.contact_id = ?1 AND p.hidden = 0
      WHERE v.direct_low = CASE WHEN ?1 < c.id THEN ?1 ELSE c.id END
        AND v.direct_high = CASE WHEN ?1 < c.id THEN c.id ELSE ?1 END),
    c.last_active_at, coalesce(ab.created_at, c.created_at)";

pub(crate) fn contact_from_row(row: &Row) -> sql::Result<Contact> {
    Ok(Contact {
        id: row.get(0)?,
        username: row.get(1)?,
        phone_number: row.get(2)?,
        avatar_url: row.get(3)?,
        display_name: row.get(4)?,
        conversation_id: row.get(5)?,
        last_active_at: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// The columns of a `Profile` from the contacts row `c`.
pub(crate) const PROFILE_COLUMNS: &str =
    "c.id, c.username, c.phone_number, c.avatar_url, c.last_active_at, c.created_at";

/// Reads a `Profile` from `PROFILE_COLUMNS` starting at column `at`.
pub(crate) fn profile_from_row(row: &Row, at: usize) -> sql::Result<Profile> {
    Ok(Profile {
        id: row.get(at)?,
        username: row.get(at + 1)?,
        phone_number: row.get(at + 2)?,
        avatar_url: row.get(at + 3)?,
        last_active_at: row.get(at + 4)?,
        created_at: row.get(at + 5)?,
    })
}

/// `GET /v1/contacts/:id`: someone in the viewer's address book, or the viewer themself.
pub fn get(conn: &Sql, viewer: &str, id: &str) -> Result<Contact> {
    find(conn, viewer, id)?.ok_or_else(|| StoreError::not_found("contact", id))
}

fn find(conn: &Sql, viewer: &str, id: &str) -> Result<Option<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts c
           LEFT JOIN address_book ab ON ab.owner_id = ?1 AND ab.contact_id = c.id
          WHERE c.id = ?2 AND (ab.seq IS NOT NULL OR c.id = ?1)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![viewer, id], contact_from_row)
        .optional()?)
}

pub(crate) fn in_address_book(conn: &Sql, owner: &str, contact: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM address_book WHERE owner_id = ?1 AND contact_id = ?2")?
        .exists(params![owner, contact])?)
}

/// Puts `contact` in `owner`'s address book unless already there (a direct conversation
/// reaching someone adds its other person to their book).
pub(crate) fn ensure_in_address_book(
    conn: &Sql,
    owner: &str,
    contact: &str,
    now: i64,
) -> Result<()> {
    let added = conn
        .prepare_cached(
            "INSERT INTO address_book (owner_id, contact_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (owner_id, contact_id) DO NOTHING",
        )?
        .execute(params![owner, contact, now])?;
    if added > 0 {
        let entry = get(conn, owner, contact)?;
        events::record(
            conn,
            "contact.created",
            owner,
            Payload::Contact(&entry),
            &[owner.to_owned()],
        )?;
    }
    Ok(())
}

/// Whether the person is someone's private contact (not an account).
pub(crate) fn is_private(conn: &Sql, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM contacts WHERE id = ?1 AND owner_id IS NOT NULL")?
        .exists([id])?)
}
