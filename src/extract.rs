//! Request input: the body (JSON or bracket-nested form, chosen by `Content-Type`) and the query
//! string, with typed accessors that turn a wrong type into a 400 naming the attribute.
//!
//! Both encodings are read into one JSON tree. A form body's leaves are all strings
//! (`is_muted=true`, `archived_at=`), so the accessors accept the string spelling of a value only
//! from a form, and the real JSON type only from JSON.

use crate::AppState;
use crate::body_clock::BodyClock;
use crate::error::{Error, ErrorKind, Result};
use crate::rules;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};
use std::future::{Ready, ready};

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

/// Names, each with a list of strings, in the order given (`reactions`).
pub type NamedLists = Vec<(String, Vec<String>)>;

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
        let mut payload = clock.count(payload.take());
        Box::pin(async move {
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
        })
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

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// A string attribute; absent → `None`.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(key, format!("{key} must be a string."))),
        }
    }

    /// A required string attribute.
    pub fn required_string(&self, key: &str) -> Result<String> {
        self.string(key)?
            .ok_or_else(|| Error::invalid(key, format!("{key} is required.")))
    }

    /// A string that may be set to null: absent → `None`; `null` or an empty form value →
    /// `Some(None)`.
    pub fn nullable_string(&self, key: &str) -> Result<Option<Option<String>>> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.is_empty() && self.encoding == Encoding::Form => {
                Ok(Some(None))
            }
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(Error::invalid(
                key,
                format!("{key} must be a string or null."),
            )),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match (self.fields.get(key), self.encoding) {
            (None, _) => Ok(None),
            (Some(Value::Bool(b)), Encoding::Json) => Ok(Some(*b)),
            (Some(Value::String(s)), Encoding::Form) => parse_bool(key, s).map(Some),
            (Some(_), _) => Err(Error::invalid(key, format!("{key} must be true or false."))),
        }
    }

    /// A timestamp that may be set to null (`archived_at=` in a form).
    pub fn nullable_timestamp(&self, key: &str) -> Result<Option<Option<i64>>> {
        let bad = || {
            Error::invalid(
                key,
                format!("{key} must be a Unix time in seconds, or null."),
            )
        };
        let value = match (self.fields.get(key), self.encoding) {
            (None, _) => return Ok(None),
            (Some(Value::Null), _) => return Ok(Some(None)),
            (Some(Value::String(s)), Encoding::Form) if s.is_empty() => return Ok(Some(None)),
            (Some(Value::String(s)), Encoding::Form) => s.parse::<i64>().map_err(|_| bad())?,
            // 553.0 is an integer too (JSON Schema agrees).
            (Some(Value::Number(n)), Encoding::Json) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                        .map(|f| f as i64)
                })
                .ok_or_else(bad)?,
            (Some(_), _) => return Err(bad()),
        };
        rules::timestamp(key, value).map_err(|m| Error::invalid(key, m))?;
        Ok(Some(Some(value)))
    }

    /// A list of ids (`contacts[]=A&contacts[]=B`, or a JSON array). In a form a single value
    /// is a list of one, and an empty value an empty list.
    pub fn string_list(&self, key: &str, max_items: usize) -> Result<Option<Vec<String>>> {
        let Some(value) = self.fields.get(key) else {
            return Ok(None);
        };
        let list = string_list(key, value, self.encoding)?;
        if list.len() > max_items {
            return Err(Error::invalid(
                key,
                format!("{key} may hold at most {max_items} items."),
            ));
        }
        Ok(Some(list))
    }

    /// `reactions`: a map from emoji name to a list of usernames (`reactions[EMOJI][]=NAME`).
    pub fn string_list_map(&self, key: &str, max_keys: usize) -> Result<Option<NamedLists>> {
        let Some(value) = self.fields.get(key) else {
            return Ok(None);
        };
        let Value::Object(map) = value else {
            return Err(Error::invalid(
                key,
                format!("{key} must map names to lists, e.g. {key}[thumbs_up][]=USERNAME."),
            ));
        };
        if map.len() > max_keys {
            return Err(Error::invalid(
                key,
                format!("{key} may name at most {max_keys} entries at once."),
            ));
        }
        map.iter()
            .map(|(name, list)| Ok((name.clone(), string_list(key, list, self.encoding)?)))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

fn string_list(key: &str, value: &Value, encoding: Encoding) -> Result<Vec<String>> {
    let bad = || Error::invalid(key, format!("{key} must be a list of strings."));
    match (value, encoding) {
        (Value::Array(items), _) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect(),
        (Value::String(s), Encoding::Form) if s.is_empty() => Ok(Vec::new()),
        (Value::String(s), Encoding::Form) => Ok(vec![s.clone()]),
        _ => Err(bad()),
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
    serde_qs::Config::new()
        .use_form_encoding(true)
        .max_depth(FORM_MAX_DEPTH)
        .deserialize_bytes::<Value>(&named)
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
        let key = form_urlencoded::parse(pair)
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
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query_string: &str) -> Query {
        Query(
            form_urlencoded::parse(query_string.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A key given more than once means its last value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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

impl FromRequest for Query {
    type Error = Error;
    type Future = Ready<Result<Query>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Query::parse(req.query_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Body {
        Body::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
    }

    fn json(body: &str) -> Body {
        Body::parse(Some("application/json"), body.as_bytes()).unwrap()
    }

    #[test]
    fn form_brackets_as_curl_sends_them() {
        let body = form("reactions[red_angry_face][]=KateMcCallister&is_muted=true&archived_at=");
        assert_eq!(
            body.string_list_map("reactions", 10).unwrap(),
            Some(vec![(
                "red_angry_face".into(),
                vec!["KateMcCallister".into()]
            )])
        );
        assert_eq!(body.bool("is_muted").unwrap(), Some(true));
        assert_eq!(body.nullable_timestamp("archived_at").unwrap(), Some(None));
    }

    #[test]
    fn percent_encoded_brackets() {
        let body = form("attachments%5B%5D=a&attachments%5B%5D=b");
        assert_eq!(
            body.string_list("attachments", 10).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn empty_form_reaction_list_means_remove() {
        let body = form("reactions[smile]=");
        assert_eq!(
            body.string_list_map("reactions", 10).unwrap(),
            Some(vec![("smile".into(), vec![])])
        );
    }

    #[test]
    fn json_types_are_strict() {
        let body = json(r#"{"is_muted": "true", "archived_at": "5", "message": 7}"#);
        assert_eq!(
            body.bool("is_muted").unwrap_err().param.as_deref(),
            Some("is_muted")
        );
        assert!(body.nullable_timestamp("archived_at").is_err());
        assert!(body.string("message").is_err());
        let body = json(r#"{"is_muted": false, "archived_at": null, "pinned_message_id": null}"#);
        assert_eq!(body.bool("is_muted").unwrap(), Some(false));
        assert_eq!(body.nullable_timestamp("archived_at").unwrap(), Some(None));
        assert_eq!(
            body.nullable_string("pinned_message_id").unwrap(),
            Some(None)
        );
    }

    #[test]
    fn out_of_range_timestamps_are_refused() {
        assert!(
            form("archived_at=-1")
                .nullable_timestamp("archived_at")
                .is_err()
        );
        assert!(
            form("archived_at=99999999999999999999")
                .nullable_timestamp("archived_at")
                .is_err()
        );
        assert!(
            json(r#"{"archived_at": 1e300}"#)
                .nullable_timestamp("archived_at")
                .is_err()
        );
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
        assert!(form("reactions[a][b][]=x").string("message").is_ok());
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
        let body = form("message=hi&%5B%C2%A0=x&=y&a%5Db=z&reactions%5Bsmile%5D%5B%5D=Kate&[x=1");
        assert_eq!(body.string("message").unwrap().as_deref(), Some("hi"));
        let reactions = body.string_list_map("reactions", 10).unwrap().unwrap();
        assert_eq!(reactions.len(), 1);
        assert_eq!(form("[=1&]=2").string("message").unwrap(), None);
        assert_eq!(
            form("=null&4=null&message=x")
                .string("message")
                .unwrap()
                .as_deref(),
            Some("x")
        );
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
