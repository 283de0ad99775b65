//! Stored responses of POSTs made with an `Idempotency-Key`.
//!
//! A change made under a key records its response in the change's own transaction (`Receipt`),
//! so a change is never committed without it, on any server of a fleet: the key's row is the
//! claim. Two requests with one key that run at once both try; the row's primary key lets one
//! commit and undoes the other, whose caller then replays the winner's response.

use super::error::{Result, StoreError};
use super::sql::{OptionalExtension, Sql};
use rusqlite::params;
use std::sync::Arc;

/// Keys are honoured this long.
pub const TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request: String,
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
}

/// A POST made with an `Idempotency-Key`: whose key, and what request it was.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub account: String,
    pub key: String,
    /// Method and path.
    pub request: String,
    /// Of the body (the caller decides how).
    pub fingerprint: Vec<u8>,
}

/// What the response to a change of type `T` will be: (status, body).
pub type Respond<T> = Arc<dyn Fn(&T) -> (u16, Vec<u8>) + Send + Sync>;

/// A key's use and how to answer it, for the change's transaction to record.
pub struct Receipt<T> {
    pub key: KeyUse,
    pub respond: Respond<T>,
}

impl<T> Receipt<T> {
    /// Records the response to `done` under the key, in the transaction that made `done`.
    /// A key already answered (by a request that committed first): `Conflict`, which undoes
    /// the change.
    pub fn record(&self, tx: &Sql, done: &T, now: i64) -> Result<()> {
        let (status, body) = (self.respond)(done);
        let response = StoredResponse {
            request: self.key.request.clone(),
            fingerprint: self.key.fingerprint.clone(),
            status,
            body,
        };
        if claim(tx, &self.key.account, &self.key.key, &response, now)? {
            Ok(())
        } else {
            Err(StoreError::conflict(KEY_TAKEN).with_param("Idempotency-Key"))
        }
    }
}

/// The message of the conflict a `Receipt` reports (the API replays the stored answer instead).
pub const KEY_TAKEN: &str = "Another request with this Idempotency-Key finished first.";

/// The response first given to this account's key, if within the TTL.
pub fn find(conn: &Sql, account: &str, key: &str, now: i64) -> Result<Option<StoredResponse>> {
    Ok(conn
        .prepare_cached(
            "SELECT request, fingerprint, status, body FROM idempotency_keys
              WHERE account_id = ?1 AND key = ?2 AND created_at > ?3",
        )?
        .query_row(params![account, key, now - TTL_SECS], |r| {
            Ok(StoredResponse {
                request: r.get(0)?,
                fingerprint: r.get(1)?,
                status: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .optional()?)
}

/// Stores `response` under a key that has none within the TTL (an expired one is replaced).
/// Whether it did: `false` when the key is answered already.
pub fn claim(
    conn: &Sql,
    account: &str,
    key: &str,
    response: &StoredResponse,
    now: i64,
) -> Result<bool> {
    let stored = conn
        .prepare_cached(
            "INSERT INTO idempotency_keys
                (account_id, key, request, fingerprint, status, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (account_id, key) DO UPDATE SET
                request = excluded.request, fingerprint = excluded.fingerprint,
                status = excluded.status, body = excluded.body, created_at = excluded.created_at
             WHERE idempotency_keys.created_at <= ?8",
        )?
        .execute(params![
            account,
            key,
            response.request,
            response.fingerprint,
            response.status,
            response.body,
            now,
            now - TTL_SECS
        ])?;
    Ok(stored == 1)
}

pub fn prune(conn: &Sql, before: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at <= ?1")?
        .execute([before])?)
}
