//! The one error type of the server and the JSON error body of the contract (section 3):
//! `{"type", "message", "documentation_url", "param"}`.
//!
//! An `Error` carries what the client may read (`message`, `param`) apart from what only the log
//! may read (`cause`): a 5xx never shows its cause to the client.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    RequestTimeout,
    TooManyRequests,
    Internal,
    InsufficientStorage,
    /// Something the server depends on (the attachment store) does not answer.
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The closest kind for a status that some other layer (actix itself) produced.
    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            408 => ErrorKind::RequestTimeout,
            409 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            416 => ErrorKind::RangeNotSatisfiable,
            429 => ErrorKind::TooManyRequests,
            507 => ErrorKind::InsufficientStorage,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// The methods for an `Allow` header (405).
    pub allow: Option<&'static str>,
}

/// The body a client receives.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// `invalid_request` for every 4xx, `api_error` for every 5xx.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^(invalid_request|api_error)$")]
    pub kind: &'static str,
    pub message: &'a str,
    pub documentation_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<&'a str>,
}

static DISK_FULL: crate::log_limit::Throttled = crate::log_limit::Throttled::new();
/// When to retry after a full disk.
const DISK_FULL_RETRY_SECS: u64 = 30;
/// When to retry after a dependency failed.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

const INTERNAL_MESSAGE: &str =
    "The server could not complete the request; the cause has been logged. Please retry later.";

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
            allow: None,
        }
    }

    /// 400 about one attribute.
    pub fn invalid(param: &str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadRequest, message).with_param(param)
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadRequest, message)
    }

    /// 404 for an object named in the path: `no such message: 'ID'`.
    pub fn not_found(resource: &str, id: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("No such {resource}: '{}'.", printable(id)),
        )
    }

    /// 404 for an object named by an attribute of the request.
    pub fn not_found_param(param: &str, resource: &str, id: &str) -> Error {
        Error::not_found(resource, id).with_param(param)
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unauthorized, message)
    }

    /// 5xx: the cause goes to the log, the client gets a generic sentence.
    pub fn internal(cause: impl fmt::Display) -> Error {
        log::error!("internal error: {cause}");
        Error::new(ErrorKind::Internal, INTERNAL_MESSAGE)
    }

    /// 507: the disk is full. Logged at most once a second: while it lasts, every write fails.
    pub fn disk_full(cause: impl fmt::Display) -> Error {
        DISK_FULL.log(
            log::Level::Error,
            format_args!("the disk is full; writes are refused until there is room: {cause}"),
        );
        let mut error = Error::new(
            ErrorKind::InsufficientStorage,
            "The server's disk is full, so nothing was changed. Retry later.",
        );
        error.retry_after = Some(DISK_FULL_RETRY_SECS);
        error
    }

    /// 503: a service the server depends on failed; `message` tells the client which (never
    /// how: the cause goes to the log).
    pub fn unavailable(message: impl Into<String>, cause: impl fmt::Display) -> Error {
        log::error!("unavailable: {cause}");
        let mut error = Error::new(ErrorKind::Unavailable, message);
        error.retry_after = Some(UNAVAILABLE_RETRY_SECS);
        error
    }

    /// An I/O failure: 507 when the disk is full, else a logged 500.
    pub fn io(what: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Error::disk_full(format!("{what}: {e}"))
        } else {
            Error::internal(format!("{what}: {e}"))
        }
    }

    pub fn with_param(mut self, param: &str) -> Error {
        self.param = Some(param.to_owned());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn body(&self, public_url: &str) -> ErrorBody<'_> {
        let status = self.status();
        ErrorBody {
            kind: if status.is_server_error() {
                "api_error"
            } else {
                "invalid_request"
            },
            message: &self.message,
            documentation_url: format!("{public_url}/docs#errors"),
            param: self.param.as_deref(),
        }
    }

    /// The full response, with `documentation_url` based on `public_url`.
    pub fn to_response(&self, public_url: &str) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        if self.kind == ErrorKind::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"protocol\""));
        }
        if let Some(methods) = self.allow {
            response.insert_header((header::ALLOW, methods));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self.body(public_url))
    }
}

pub use crate::db::error::printable;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// Without a base URL at hand; the error boundary middleware re-renders it with one.
    fn error_response(&self) -> HttpResponse {
        self.to_response("")
    }
}

/// Storage failures, as statuses: the storage layer says what went wrong, this says how a
/// client hears of it.
impl From<crate::db::error::StoreError> for Error {
    fn from(err: crate::db::error::StoreError) -> Error {
        use crate::db::error::Kind;
        let error = match err.kind {
            Kind::NotFound => Error::new(ErrorKind::NotFound, err.message),
            Kind::Forbidden => Error::forbidden(err.message),
            Kind::Invalid => Error::bad_request(err.message),
            Kind::Conflict => Error::conflict(err.message),
            Kind::Full => return Error::disk_full(err.message),
            Kind::Internal => return Error::internal(err.message),
        };
        match &err.param {
            Some(param) => error.with_param(param),
            None => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(error: &Error) -> serde_json::Value {
        serde_json::to_value(error.body("http://h")).unwrap_or_default()
    }

    #[test]
    fn client_error_body_names_the_param() {
        let body = json(&Error::invalid("limit", "limit must be between 1 and 100."));
        assert_eq!(
            body,
            serde_json::json!({
                "type": "invalid_request",
                "message": "limit must be between 1 and 100.",
                "documentation_url": "http://h/docs#errors",
                "param": "limit",
            })
        );
    }

    #[test]
    fn server_error_body_hides_the_cause_and_omits_param() {
        let body = json(&Error::internal(
            "sqlite: no such table: secret_table at /home/x",
        ));
        assert_eq!(body["type"], "api_error");
        assert!(body.get("param").is_none());
        let text = body.to_string();
        assert!(!text.contains("secret_table") && !text.contains("/home/x"));
    }

    #[test]
    fn unauthorized_response_carries_www_authenticate() {
        let response = Error::unauthorized("A token is needed.").to_response("");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn printable_cuts_and_masks_input() {
        assert_eq!(printable("a\nb"), "a?b");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 65);
    }
}
