//! What a download answers (RFC 9110 sections 13 and 14), decided from the request's headers and
//! the stored bytes' validators, apart from how the bytes are read.
//!
//! Attachment bytes never change once stored, so `ETag` (the id and size) is a strong validator
//! and `Last-Modified` is when the attachment was made. One range is served as 206; a request for
//! several ranges gets the whole file (RFC 9110 allows ignoring `Range`; a multipart answer would
//! rarely be smaller); a `Range` that is not a valid byte-range set is ignored, and an `If-Range`
//! that does not match the current validators means the whole file.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The validators of the stored bytes.
#[derive(Debug, Clone)]
pub struct Validators {
    /// Quoted, strong: `"ID-SIZE"`.
    pub etag: String,
    /// Whole seconds (HTTP dates have no finer resolution).
    pub last_modified: SystemTime,
}

impl Validators {
    pub fn new(id: &str, size: u64, created_at: i64) -> Validators {
        Validators {
            etag: format!("\"{id}-{size}\""),
            last_modified: UNIX_EPOCH + Duration::from_secs(u64::try_from(created_at).unwrap_or(0)),
        }
    }
}

/// The request headers that matter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with every byte.
    Whole,
    /// 206 with `len` bytes from `start`.
    Part { start: u64, len: u64 },
    /// 304: the client's copy is current.
    NotModified,
    /// 416: the range names no byte of the file.
    Unsatisfiable,
}

pub fn decide(size: u64, validators: &Validators, request: &Conditions) -> Answer {
    if not_modified(validators, request) {
        return Answer::NotModified;
    }
    let Some(range) = request.range else {
        return Answer::Whole;
    };
    if let Some(if_range) = request.if_range
        && !if_range_matches(validators, if_range)
    {
        return Answer::Whole;
    }
    match parse_range(range) {
        Some(specs) if specs.len() == 1 => resolve(specs[0], size),
        _ => Answer::Whole,
    }
}

/// `If-None-Match` (weak comparison, `*` matches), else `If-Modified-Since`.
fn not_modified(validators: &Validators, request: &Conditions) -> bool {
    if let Some(tags) = request.if_none_match {
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == validators.etag);
    }
    request
        .if_modified_since
        .and_then(|date| httpdate::parse_http_date(date).ok())
        .is_some_and(|since| validators.last_modified <= since)
}

/// `If-Range` holds an entity tag (compared strongly) or a date (must equal Last-Modified).
fn if_range_matches(validators: &Validators, value: &str) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        return value == validators.etag;
    }
    if value.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(value).is_ok_and(|date| date == validators.last_modified)
}

/// One `first-last`, `first-` or `-suffix` of a byte-range set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    From(u64, Option<u64>),
    Suffix(u64),
}

/// The specs of `bytes=…`, or `None` when it is not a valid byte-range set.
fn parse_range(value: &str) -> Option<Vec<Spec>> {
    let set = value.trim().strip_prefix("bytes=")?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let specs: Option<Vec<Spec>> = set
        .split(',')
        .map(|spec| match spec.trim().split_once('-')? {
            ("", last) => Some(Spec::Suffix(number(last)?)),
            (first, "") => Some(Spec::From(number(first)?, None)),
            (first, last) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(Spec::From(first, Some(last)))
            }
        })
        .collect();
    specs.filter(|s| !s.is_empty())
}

fn resolve(spec: Spec, size: u64) -> Answer {
    match spec {
        Spec::From(first, _) if first >= size => Answer::Unsatisfiable,
        Spec::From(first, last) => {
            let last = last.map_or(size - 1, |l| l.min(size - 1));
            Answer::Part {
                start: first,
                len: last - first + 1,
            }
        }
        Spec::Suffix(0) => Answer::Unsatisfiable,
        Spec::Suffix(_) if size == 0 => Answer::Unsatisfiable,
        Spec::Suffix(n) => {
            let len = n.min(size);
            Answer::Part {
                start: size - len,
                len,
            }
        }
    }
}

/// The `Last-Modified` header value.
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators() -> Validators {
        Validators::new("AAAAAAAAAAAAAAAA", 1000, 700_000_000)
    }

    fn ask(range: &str) -> Answer {
        decide(
            1000,
            &validators(),
            &Conditions {
                range: Some(range),
                ..Default::default()
            },
        )
    }

    #[test]
    fn single_ranges() {
        assert_eq!(ask("bytes=0-99"), Answer::Part { start: 0, len: 100 });
        assert_eq!(
            ask("bytes=990-"),
            Answer::Part {
                start: 990,
                len: 10
            }
        );
        assert_eq!(
            ask("bytes=990-5000"),
            Answer::Part {
                start: 990,
                len: 10
            }
        );
        assert_eq!(
            ask("bytes=-10"),
            Answer::Part {
                start: 990,
                len: 10
            }
        );
        assert_eq!(
            ask("bytes=-5000"),
            Answer::Part {
                start: 0,
                len: 1000
            }
        );
        assert_eq!(
            ask("bytes=0-"),
            Answer::Part {
                start: 0,
                len: 1000
            }
        );
        assert_eq!(ask("bytes=1000-"), Answer::Unsatisfiable);
        assert_eq!(ask("bytes=-0"), Answer::Unsatisfiable);
    }

    #[test]
    fn several_ranges_or_nonsense_get_the_whole_file() {
        assert_eq!(ask("bytes=0-1,5-9"), Answer::Whole);
        for nonsense in [
            "",
            "bytes=",
            "items=0-5",
            "bytes=9-1",
            "bytes=a-b",
            "bytes=1-2,",
        ] {
            assert_eq!(ask(nonsense), Answer::Whole, "{nonsense:?}");
        }
    }

    #[test]
    fn if_range_must_match_the_current_validators() {
        let v = validators();
        let with = |if_range: &str| {
            decide(
                1000,
                &v,
                &Conditions {
                    range: Some("bytes=0-9"),
                    if_range: Some(if_range),
                    ..Default::default()
                },
            )
        };
        assert_eq!(with(&v.etag), Answer::Part { start: 0, len: 10 });
        assert_eq!(with("\"other\""), Answer::Whole);
        assert_eq!(with(&format!("W/{}", v.etag)), Answer::Whole);
        assert_eq!(
            with(&http_date(v.last_modified)),
            Answer::Part { start: 0, len: 10 }
        );
        assert_eq!(with("Mon, 01 Jan 2001 00:00:00 GMT"), Answer::Whole);
        assert_eq!(with("garbage"), Answer::Whole);
    }

    #[test]
    fn conditional_gets() {
        let v = validators();
        let check = |conditions: Conditions| decide(1000, &v, &conditions);
        let tag = v.etag.clone();
        assert_eq!(
            check(Conditions {
                if_none_match: Some(&tag),
                ..Default::default()
            }),
            Answer::NotModified
        );
        assert_eq!(
            check(Conditions {
                if_none_match: Some("\"x\", *"),
                ..Default::default()
            }),
            Answer::NotModified
        );
        assert_eq!(
            check(Conditions {
                if_none_match: Some("\"x\""),
                ..Default::default()
            }),
            Answer::Whole
        );
        let later = http_date(v.last_modified + Duration::from_secs(60));
        let earlier = http_date(v.last_modified - Duration::from_secs(60));
        assert_eq!(
            check(Conditions {
                if_modified_since: Some(&later),
                ..Default::default()
            }),
            Answer::NotModified
        );
        assert_eq!(
            check(Conditions {
                if_modified_since: Some(&earlier),
                ..Default::default()
            }),
            Answer::Whole
        );
    }
}
