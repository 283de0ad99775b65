//! What a storage operation can fail with, in the terms of the chat: a missing object, a
//! refused action, an unusable input (naming the request field it came from), a conflict, a
//! full disk, a failure of the database itself. It knows nothing of HTTP: the API maps each
//! kind to a status (`crate::error`).

use super::sql::{Failure, SqlError};
use std::fmt;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// No such object, or none the account may see.
    NotFound,
    /// The account sees it but may not do this.
    Forbidden,
    /// An input cannot be used (an id of the wrong kind, a cursor that is not in the list…).
    Invalid,
    /// The change conflicts with what is stored.
    Conflict,
    /// The disk is full: nothing was changed.
    Full,
    /// The database failed, or a bug: the cause is for the log only.
    Internal,
}

#[derive(Debug, Clone)]
pub struct StoreError {
    pub kind: Kind,
    /// What the account may read (for `Internal`: the cause, for the log).
    pub message: String,
    /// The request field the failure is about.
    pub param: Option<String>,
}

impl StoreError {
    fn new(kind: Kind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            param: None,
        }
    }

    /// An object named in the request that does not exist (for this account).
    pub fn not_found(resource: &str, id: &str) -> StoreError {
        StoreError::new(
            Kind::NotFound,
            format!("No such {resource}: '{}'.", printable(id)),
        )
    }

    /// `not_found` for an object named by a field of the request.
    pub fn not_found_param(param: &str, resource: &str, id: &str) -> StoreError {
        StoreError::not_found(resource, id).with_param(param)
    }

    pub fn forbidden(message: impl Into<String>) -> StoreError {
        StoreError::new(Kind::Forbidden, message)
    }

    pub fn invalid(param: &str, message: impl Into<String>) -> StoreError {
        StoreError::new(Kind::Invalid, message).with_param(param)
    }

    /// `invalid` about the request as a whole.
    pub fn bad_request(message: impl Into<String>) -> StoreError {
        StoreError::new(Kind::Invalid, message)
    }

    pub fn conflict(message: impl Into<String>) -> StoreError {
        StoreError::new(Kind::Conflict, message)
    }

    pub fn internal(cause: impl fmt::Display) -> StoreError {
        StoreError::new(Kind::Internal, cause.to_string())
    }

    pub fn with_param(mut self, param: &str) -> StoreError {
        self.param = Some(param.to_owned());
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// Constraint failures that a request can cause are checked for before writing, so one that
/// still reaches this point is a conflict with a concurrent change (or a bug).
impl From<SqlError> for StoreError {
    fn from(err: SqlError) -> StoreError {
        match err.failure() {
            Failure::Duplicate => {
                log::warn!("unique constraint: {err}");
                StoreError::conflict("The request conflicts with an object that already exists.")
            }
            Failure::Full => StoreError::new(Kind::Full, format!("database: {err}")),
            Failure::Other => StoreError::internal(format!("database: {err}")),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        StoreError::from(SqlError::from(err))
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> StoreError {
        StoreError::internal(format!("connection pool: {err}"))
    }
}

/// Client input as it may appear in a message: control characters replaced, at most 64
/// characters.
pub fn printable(input: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = input
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if input.chars().count() > MAX {
        out.push('…');
    }
    out
}
