//! Request input, decoded: the body (JSON or bracket-nested form, chosen by `Content-Type`, else
//! 415) and the query string.
//!
//! Both encodings are read into one JSON tree, whose form leaves are all strings
//! (`is_muted=true`, `archived_at=`); `input.rs` reads a request type out of it, giving each
//! encoding its own meaning.

use crate::AppState;
use crate::body_clock::BodyClock;
use crate::error::{Error, ErrorKind, Result};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Bracket segments a form key may have (`reactions[smile][]` has two); a deeper key is refused
/// rather than parsed (never recursion, and no silent 201 for a hostile body).
const FORM_MAX_DEPTH: usize = 3;
/// More fields than any request of this API needs (a group's 10,000 members); guards against
/// field floods.
const FORM_MAX_FIELDS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

/// A parsed request body: its top-level attributes.
#[derive(Debug)]
pub struct Body {
    fields: Map<String, Value>,
    encoding: Encoding,
}

impl FromRequest for Body {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Body>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(read_body(req, payload))
    }
}

/// Reads and decodes the body, within `max_body_bytes` and no slower than
/// `min_body_bytes_per_second`. Not boxed, so that an extractor built on it (`input::Input`)
/// boxes one future instead of two.
pub(crate) fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Body>> + 'static {
    let (limit, min_rate) = req
        .app_data::<web::Data<AppState>>()
        .map(|state| {
            let settings = &state.settings;
            (settings.max_body_bytes, settings.min_body_bytes_per_second)
        })
        .unwrap_or((1024 * 1024, 1024));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().map(media_type).unwrap_or_default());
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let clock = BodyClock::new(min_rate);
    let mut payload = clock.count(payload.take()).quiet_first_poll();
    async move {
        if declared_length.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = clock.next(&mut payload).await? {
            let chunk = chunk.map_err(|e| {
                Error::bad_request(format!("The request body could not be read: {e}."))
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Body::parse(content_type.as_deref(), &bytes)
    }
}

pub(crate) fn too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl Body {
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Body> {
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        let encoding = match content_type {
            Some("application/json") => Encoding::Json,
            Some("application/x-www-form-urlencoded") => Encoding::Form,
            // A request with nothing in it (`curl -X PUT`) needs no content type.
            _ if empty => Encoding::Form,
            _ => {
                return Err(Error::new(
                    ErrorKind::UnsupportedMediaType,
                    "Send the body as application/json or application/x-www-form-urlencoded.",
                ));
            }
        };
        if empty {
            return Ok(Body {
                fields: Map::new(),
                encoding,
            });
        }
        let tree = match encoding {
            Encoding::Json => serde_json::from_slice::<Value>(bytes)
                .map_err(|e| Error::bad_request(format!("The body is not valid JSON: {e}.")))?,
            Encoding::Form => parse_form(bytes)?,
        };
        match tree {
            Value::Object(fields) => Ok(Body { fields, encoding }),
            _ => Err(Error::bad_request("The JSON body must be an object.")),
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The top-level attributes and how they were encoded (`input` reads them into a type).
    pub fn into_parts(self) -> (Map<String, Value>, Encoding) {
        (self.fields, self.encoding)
    }
}

fn parse_form(bytes: &[u8]) -> Result<Value> {
    let fields = bytes
        .split(|b| *b == b'&')
        .filter(|f| !f.is_empty())
        .count();
    if fields > FORM_MAX_FIELDS {
        return Err(Error::bad_request(format!(
            "The form body has more than {FORM_MAX_FIELDS} fields."
        )));
    }
    let named = attribute_pairs(bytes)?;
    if named.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    if let Some(flat) = flat_form(&named) {
        return Ok(flat);
    }
    nested_form(&named)
}

/// A form whose keys are all plain names, each once with a value
/// (`conversation_id=…&message=…`, the usual case): its pairs as strings, read without
/// serde_qs, which gives the same and costs a send a few thousand instructions. `None` for
/// anything else.
fn flat_form(named: &[u8]) -> Option<Value> {
    let mut fields = Map::new();
    for pair in named.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        // A bare key (no `=`) is left to serde_qs, which reads it as null.
        let at = pair.iter().position(|b| *b == b'=')?;
        let (key, value) = (&pair[..at], &pair[at + 1..]);
        let key = form_text(key)?;
        if key.contains('[') || fields.contains_key(&key) {
            return None;
        }
        fields.insert(key, Value::String(form_text(value)?));
    }
    Some(Value::Object(fields))
}

/// Form-encoded text (`+` for a space, `%XX` escapes); `None` unless every `%` starts an
/// escape and the text decodes to UTF-8 (serde_qs then gets to read it its own way, or say why
/// not).
fn form_text(raw: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    if !spaced.contains(&b'%') {
        return String::from_utf8(spaced).ok();
    }
    let escapes_whole = spaced.iter().enumerate().all(|(at, &b)| {
        b != b'%'
            || spaced
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_whole {
        return None;
    }
    let text = percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .ok()?;
    Some(text.into_owned())
}

/// Any form of attributes, nested ones (`reactions[smile][]=…`) included.
fn nested_form(named: &[u8]) -> Result<Value> {
    serde_qs::Config::new()
        .use_form_encoding(true)
        .max_depth(FORM_MAX_DEPTH)
        .deserialize_bytes::<Value>(named)
        .map_err(|e| Error::bad_request(format!("The form body could not be parsed: {e}.")))
}

/// The form without the pairs whose key cannot name an attribute (`[x`, `a]b`, ``): such a key
/// is an unknown attribute, ignored like any other, rather than a reason to refuse the body.
/// Attribute keys are a name with bracket segments: `message`, `reactions[smile][]`. A key with
/// more than `FORM_MAX_DEPTH` segments is a 400: no attribute is that deep.
fn attribute_pairs(bytes: &[u8]) -> Result<Vec<u8>> {
    /// The attribute's name and its number of bracket segments, if the key names one.
    fn attribute(key: &str) -> Option<(&str, usize)> {
        let (name, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
        // Attribute names start with a letter (a bare `4` would read as a list index).
        let starts_well = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !starts_well || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let mut depth = 0;
        while !rest.is_empty() {
            let segment = rest.strip_prefix('[')?;
            let end = segment.find(']')?;
            if segment[..end].contains('[') {
                return None;
            }
            depth += 1;
            rest = &segment[end + 1..];
        }
        Some((name, depth))
    }
    let mut kept = Vec::with_capacity(bytes.len());
    for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        // Only the key is decoded: the value is read later, once.
        let key_end = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
        let key = form_urlencoded::parse(&pair[..key_end])
            .next()
            .map(|(key, _)| key)
            .unwrap_or_default();
        let Some((name, depth)) = attribute(&key) else {
            continue;
        };
        if depth > FORM_MAX_DEPTH {
            return Err(Error::invalid(
                name,
                format!(
                    "The form key {} is nested deeper than {FORM_MAX_DEPTH} brackets.",
                    crate::error::printable(name)
                ),
            ));
        }
        if !kept.is_empty() {
            kept.push(b'&');
        }
        kept.extend_from_slice(pair);
    }
    Ok(kept)
}

fn parse_bool(key: &str, raw: &str) -> Result<bool> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(key, format!("{key} must be true or false."))),
    }
}

/// The query string: list filters and cursors (`curl -G -d key=value`), as its pairs in order.
/// A handful at most is read, so a search of the pairs beats hashing them into a map.
/// Pairs borrow from the query string unless they had escapes to decode.
#[derive(Debug, Default)]
pub struct Query<'q>(Vec<(Cow<'q, str>, Cow<'q, str>)>);

impl<'q> Query<'q> {
    pub fn parse(query_string: &'q str) -> Query<'q> {
        Query(form_urlencoded::parse(query_string.as_bytes()).collect())
    }

    /// A key given more than once means its last value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// An optional filter (an id); empty counts as absent (`curl -G -d conversation_id=`).
    pub fn filter(&self, key: &str) -> Result<Option<String>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(id) if crate::db::ids::is_id(id) => Ok(Some(id.to_owned())),
            Some(_) => Err(Error::invalid(
                key,
                format!("{key} must be an id: 16 letters and digits."),
            )),
        }
    }

    /// `true`/`false` (or `1`/`0`); absent or empty → no filter.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(raw) => parse_bool(key, raw).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A flat form reads as serde_qs reads it: the fast path changes nothing.
        #[test]
        fn a_flat_form_reads_as_serde_qs_reads_it(
            pairs in proptest::collection::vec(
                ("[a-d_][a-z0-9_]{0,3}", "([a-zA-Z0-9 +=.~-]|%[0-9A-Fa-f]{2}|%[G-Z]|%|é|😀){0,6}"),
                1..5,
            )
        ) {
            // (An empty value is sent both ways: `k=` and a bare `k`.)
            let form: Vec<String> = pairs
                .iter()
                .enumerate()
                .map(|(n, (k, v))| match (v.is_empty(), n % 2) {
                    (true, 0) => k.clone(),
                    _ => format!("{k}={v}"),
                })
                .collect();
            let named = form.join("&").into_bytes();
            if let Some(flat) = flat_form(&named) {
                prop_assert_eq!(Some(flat), nested_form(&named).ok());
            }
        }
    }

    fn form(body: &str) -> Body {
        Body::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
    }

    #[test]
    fn content_types() {
        let err = Body::parse(Some("text/plain"), b"x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnsupportedMediaType);
        let err = Body::parse(None, b"x=1").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnsupportedMediaType);
        assert!(Body::parse(None, b"").is_ok());
        assert_eq!(
            Body::parse(Some("application/json"), b"{")
                .unwrap_err()
                .kind,
            ErrorKind::BadRequest
        );
        assert!(Body::parse(Some("application/json"), b"[1]").is_err());
        assert_eq!(
            media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
    }

    #[test]
    fn hostile_forms_are_refused() {
        let deep = format!("a{}=1", "[a]".repeat(10_000));
        let err =
            Body::parse(Some("application/x-www-form-urlencoded"), deep.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest);
        assert_eq!(err.param.as_deref(), Some("a"));
        // As deep as an attribute can be, and one more.
        assert!(
            form("reactions[a][b][]=x")
                .into_parts()
                .0
                .contains_key("reactions")
        );
        assert!(
            Body::parse(
                Some("application/x-www-form-urlencoded"),
                b"reactions[a][b][c][]=x"
            )
            .is_err()
        );
        let many = "a=1&".repeat(FORM_MAX_FIELDS + 1);
        assert!(Body::parse(Some("application/x-www-form-urlencoded"), many.as_bytes()).is_err());
        assert!(Body::parse(Some("application/x-www-form-urlencoded"), b"a=%FF").is_err());
        let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(Body::parse(Some("application/json"), deep_json.as_bytes()).is_err());
    }

    #[test]
    fn keys_that_name_no_attribute_are_ignored() {
        let (fields, _) =
            form("message=hi&%5B%C2%A0=x&=y&a%5Db=z&reactions%5Bsmile%5D%5B%5D=Kate&[x=1")
                .into_parts();
        assert_eq!(fields["message"], "hi");
        assert_eq!(fields["reactions"]["smile"], serde_json::json!(["Kate"]));
        assert_eq!(fields.len(), 2);
        assert!(form("[=1&]=2").into_parts().0.is_empty());
        let (fields, _) = form("=null&4=null&message=x").into_parts();
        assert_eq!(fields.len(), 1);
    }

    #[test]
    fn query_bools() {
        let q = Query::parse("muted=true&archived=0&pinned=");
        assert_eq!(q.bool("muted").unwrap(), Some(true));
        assert_eq!(q.bool("archived").unwrap(), Some(false));
        assert_eq!(q.bool("pinned").unwrap(), None);
        assert!(Query::parse("muted=yes").bool("muted").is_err());
    }

    #[test]
    fn query_pairs_are_decoded_and_the_last_of_a_key_counts() {
        let q = Query::parse("limit=5&conversation_id=a%20b&limit=7&x+y=1&bad=%zz");
        assert_eq!(q.get("limit"), Some("7"));
        assert_eq!(q.get("conversation_id"), Some("a b"));
        assert_eq!(q.get("x y"), Some("1"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("missing"), None);
    }
}
