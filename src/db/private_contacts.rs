//! The one-time move of a database made before address books were private (schema version 3).
//!
//! Until then every person was one row shared by everyone: whoever first added a username set
//! its phone number and avatar, and everyone who added it later got that row back. Now a person
//! who is not an account belongs to one address book. Each such row goes to the first person
//! who knew it (their address book, their direct conversation with it, or their group), keeping
//! its id; everyone else who knew it gets a copy of their own, with a new id, and their address
//! book entry, direct conversation and the memberships in groups they own are moved to the copy.
//! Nothing anyone can reach is dropped: each copy starts with what the shared row had (a row
//! nobody knows any more, in no address book, conversation or group, is removed).
//!
//! Which rows are accounts is known from the config, and from what only an account can have done
//! (sign in, send, react, upload, own a group), so that an account missing
//! from the config at the moment of the move is not handed to somebody's address book.

use super::conversations::find_direct;
use super::error::Result;
use super::ids::new_id;
use super::sql::{self, OptionalExtension, Sql};
use rusqlite::params;

const MARKER: &str = "private_contacts";

/// Runs the move if this database still needs it; returns how many people were made private.
pub fn make_private(conn: &Sql, accounts: &[String]) -> Result<usize> {
    let pending: Option<String> = conn
        .prepare_cached("SELECT value FROM server_meta WHERE key = ?1")?
        .query_row([MARKER], |r| r.get(0))
        .optional()?;
    if pending.as_deref() != Some("pending") {
        return Ok(0);
    }
    let shared: Vec<String> = conn
        .prepare_cached("SELECT id FROM contacts WHERE owner_id IS NULL ORDER BY seq")?
        .query_map(params![], |r| r.get(0))?
        .collect::<sql::Result<_>>()?;
    let mut moved = 0;
    for person in shared {
        if accounts.contains(&person) || has_acted(conn, &person)? {
            continue;
        }
        let knowers = knowers(conn, &person)?;
        let Some((keeper, others)) = knowers.split_first() else {
            // Known to nobody, referenced by nothing: left public, the next person to add the
            // name would get what somebody once entered. It goes.
            conn.execute("DELETE FROM address_book WHERE owner_id = ?1", [&person])?;
            conn.execute("DELETE FROM contacts WHERE id = ?1", [&person])?;
            continue;
        };
        conn.execute(
            "UPDATE contacts SET owner_id = ?2 WHERE id = ?1",
            params![person, keeper],
        )?;
        for owner in others {
            give_copy(conn, &person, owner)?;
        }
        moved += 1;
    }
    conn.execute(
        "UPDATE server_meta SET value = 'done' WHERE key = ?1",
        [MARKER],
    )?;
    Ok(moved)
}

/// Whether the person did something only an account can do. (Not: having an address book. The
/// old release gave everyone added as a contact an address book holding who added them.)
fn has_acted(conn: &Sql, person: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 WHERE
                EXISTS (SELECT 1 FROM contacts WHERE id = ?1 AND last_active_at IS NOT NULL)
             OR EXISTS (SELECT 1 FROM messages WHERE sender_id = ?1)
             OR EXISTS (SELECT 1 FROM reactions WHERE contact_id = ?1)
             OR EXISTS (SELECT 1 FROM attachments WHERE uploader_id = ?1)
             OR EXISTS (SELECT 1 FROM chat_groups WHERE owner_id = ?1)
             OR EXISTS (SELECT 1 FROM idempotency_keys WHERE account_id = ?1)",
        )?
        .exists([person])?)
}

/// Who knows the person, first to know first: address books, then direct conversations, then
/// the owners of groups they are in.
fn knowers(conn: &Sql, person: &str) -> Result<Vec<String>> {
    let mut all: Vec<String> = Vec::new();
    let queries = [
        "SELECT owner_id FROM address_book WHERE contact_id = ?1 ORDER BY seq",
        "SELECT CASE WHEN direct_low = ?1 THEN direct_high ELSE direct_low END
           FROM conversations WHERE ?1 IN (direct_low, direct_high) ORDER BY seq",
        "SELECT g.owner_id FROM participants p
           JOIN conversations v ON v.id = p.conversation_id
           JOIN chat_groups g ON g.id = v.group_id
          WHERE p.contact_id = ?1 ORDER BY g.seq",
    ];
    for sql in queries {
        let found: Vec<String> = conn
            .prepare_cached(sql)?
            .query_map([person], |r| r.get(0))?
            .collect::<sql::Result<_>>()?;
        for owner in found {
            if owner != person && !all.contains(&owner) {
                all.push(owner);
            }
        }
    }
    Ok(all)
}

/// Gives `owner` a copy of `person` and moves what `owner` has of them onto it.
fn give_copy(conn: &Sql, person: &str, owner: &str) -> Result<()> {
    let copy = new_id();
    conn.execute(
        "INSERT INTO contacts
            (id, owner_id, username, phone_number, avatar_url, last_active_at, created_at)
         SELECT ?2, ?3, username, phone_number, avatar_url, last_active_at, created_at
           FROM contacts WHERE id = ?1",
        params![person, copy, owner],
    )?;
    conn.execute(
        "UPDATE address_book SET contact_id = ?3 WHERE owner_id = ?2 AND contact_id = ?1",
        params![person, owner, copy],
    )?;
    if let Some(conversation) = find_direct(conn, person, owner)? {
        let (low, high) = if owner < copy.as_str() {
            (owner, copy.as_str())
        } else {
            (copy.as_str(), owner)
        };
        conn.execute(
            "UPDATE conversations SET direct_low = ?2, direct_high = ?3 WHERE id = ?1",
            params![conversation, low, high],
        )?;
        conn.execute(
            "UPDATE participants SET contact_id = ?3 WHERE conversation_id = ?1 AND contact_id = ?2",
            params![conversation, person, copy],
        )?;
    }
    conn.execute(
        "UPDATE participants SET contact_id = ?3
          WHERE contact_id = ?1 AND conversation_id IN (
              SELECT v.id FROM conversations v JOIN chat_groups g ON g.id = v.group_id
               WHERE g.owner_id = ?2)",
        params![person, owner, copy],
    )?;
    Ok(())
}
