//! Cursor pagination (contract section 6): `limit`, `starting_after`, `ending_before` in, and
//! `{"has_more", "data"}` out. The SQL side of it is `db::page`.

use crate::error::{Error, Result};
use crate::extract::Query;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use std::future::{Ready, ready};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 100;

/// The pagination parameters every list takes (for the OpenAPI document; `PageParams` parses).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100; 10 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The page after this item (an id from the list).
    #[param(pattern = r"^[A-Za-z0-9]{16}$")]
    pub starting_after: Option<String>,
    /// The page before this item (an id from the list); not with `starting_after`.
    #[param(pattern = r"^[A-Za-z0-9]{16}$")]
    pub ending_before: Option<String>,
}

/// A list's own query parameters, read into the type that documents them (`MessageQuery`, ...).
pub trait Filters: Sized {
    fn from_query(query: &Query) -> Result<Self>;
}

/// A list without filters.
impl Filters for () {
    fn from_query(_: &Query) -> Result<()> {
        Ok(())
    }
}

/// The extractor of a list request: its page (`PageQuery`, read as `PageParams`) and its
/// filters, from one reading of the query string.
pub struct Listing<F> {
    pub page: PageParams,
    pub filter: F,
}

impl<F: Filters> FromRequest for Listing<F> {
    type Error = Error;
    type Future = Ready<Result<Listing<F>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = Query::parse(req.query_string());
        ready(PageParams::from_query(&query).and_then(|page| {
            Ok(Listing {
                page,
                filter: F::from_query(&query)?,
            })
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// An item of the list (by id) that the page starts after or ends before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    After(String),
    Before(String),
}

impl Cursor {
    pub fn id(&self) -> &str {
        match self {
            Cursor::After(id) | Cursor::Before(id) => id,
        }
    }

    /// The query parameter it came from, for error messages.
    pub fn param(&self) -> &'static str {
        match self {
            Cursor::After(_) => "starting_after",
            Cursor::Before(_) => "ending_before",
        }
    }
}

impl PageParams {
    pub fn from_query(query: &Query) -> Result<PageParams> {
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        "limit",
                        format!("limit must be an integer between 1 and {MAX_LIMIT}."),
                    )
                })?,
        };
        let after = query.get("starting_after");
        let before = query.get("ending_before");
        let cursor = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "ending_before",
                    "Use starting_after or ending_before, not both.",
                ));
            }
            (Some(id), None) => Some(Cursor::After(id.to_owned())),
            (None, Some(id)) => Some(Cursor::Before(id.to_owned())),
            (None, None) => None,
        };
        Ok(PageParams { limit, cursor })
    }
}

/// A page of a list, in the list's order.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// Whether more items exist beyond this page in the direction of travel.
    pub has_more: bool,
    pub data: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(qs: &str) -> Result<PageParams> {
        PageParams::from_query(&Query::parse(qs))
    }

    #[test]
    fn defaults() {
        assert_eq!(
            parse("").unwrap(),
            PageParams {
                limit: 10,
                cursor: None
            }
        );
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(parse("limit=1").unwrap().limit, 1);
        assert_eq!(parse("limit=100").unwrap().limit, 100);
        for bad in ["0", "101", "-1", "99999999999999999999", "ten", "", "1.5"] {
            let err = parse(&format!("limit={bad}")).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("limit"), "{bad}");
        }
    }

    #[test]
    fn cursors() {
        assert_eq!(
            parse("starting_after=abc").unwrap().cursor,
            Some(Cursor::After("abc".into()))
        );
        assert_eq!(
            parse("ending_before=abc").unwrap().cursor,
            Some(Cursor::Before("abc".into()))
        );
        assert!(parse("starting_after=a&ending_before=b").is_err());
    }
}
