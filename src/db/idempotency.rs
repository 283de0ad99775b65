//! Stored responses of POSTs made with an `Idempotency-Key`.

use super::error::Result;
use super::sql::{OptionalExtension, Sql};
use rusqlite::params;

/// Keys are honoured this long.
pub const TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request: String,
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
}

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

pub fn store(
    conn: &Sql,
    account: &str,
    key: &str,
    response: &StoredResponse,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO idempotency_keys
            (account_id, key, request, fingerprint, status, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (account_id, key) DO UPDATE SET
            request = excluded.request, fingerprint = excluded.fingerprint,
            status = excluded.status, body = excluded.body, created_at = excluded.created_at",
    )?
    .execute(params![
        account,
        key,
        response.request,
        response.fingerprint,
        response.status,
        response.body,
        now
    ])?;
    Ok(())
}

pub fn prune(conn: &Sql, before: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at <= ?1")?
        .execute([before])?)
}
