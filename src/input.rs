//! Typed request bodies. Each request type of the API (`NewMessageRequest`, …) is at once what
//! the OpenAPI document shows and what its handler receives: `Input<T>` reads the body (JSON or
//! a bracket-nested form, decoded by `extract::Body`), deserializes `T` from it with serde and
//! runs `T`'s own checks, some of which follow the config (`max_message_chars`).
//!
//! The deserializer keeps the two encodings' meanings apart. A form's leaves are all strings, so
//! the string spelling of a value is accepted only from a form (`is_muted=true`, `archived_at=`
//! for null, one `attachments[]=ID` for a list of one), and the real JSON type only from JSON.
//! Whatever the type that asks, a wrong value is a 400 that names the attribute, in the words
//! of `Field`'s messages; a missing one says it is required.

use crate::error::{Error, Result};
use crate::extract::{Body, Encoding};
use crate::{AppState, Settings};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

/// A request body type: serde gives its shape, `validate` what types cannot say.
pub trait Request: DeserializeOwned {
    /// Lengths, patterns and limits (some from the config), each failure a 400 naming its
    /// attribute.
    fn validate(&self, settings: &Settings) -> Result<()>;
}

/// The extractor: the body as `T`, checked.
pub struct Input<T>(pub T);

impl<T: Request + 'static> FromRequest for Input<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Input<T>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let body = crate::extract::read_body(req, payload);
        Box::pin(async move {
            let value: T = from_body(body.await?)?;
            if let Some(state) = state {
                value.validate(&state.settings)?;
            }
            Ok(Input(value))
        })
    }
}

/// Deserializes `T` from a decoded body.
pub fn from_body<T: DeserializeOwned>(body: Body) -> Result<T> {
    let (fields, encoding) = body.into_parts();
    T::deserialize(Fields { fields, encoding }).map_err(|e| e.0)
}

/// For an attribute that may be set to null: `#[serde(default, deserialize_with =
/// "input::nullable")]` on an `Option<Option<T>>` gives `None` when absent, `Some(None)` for
/// `null` (or an empty form value), `Some(Some(value))` otherwise.
pub fn nullable<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: de::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct NullableVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for NullableVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a value or null")
        }

        fn visit_none<E: de::Error>(self) -> std::result::Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D: de::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> std::result::Result<Option<T>, D::Error> {
            T::deserialize(deserializer).map(Some)
        }
    }

    deserializer
        .deserialize_newtype_struct(NULLABLE, NullableVisitor(PhantomData))
        .map(Some)
}

/// The name by which `nullable` asks `Field` for null-or-value semantics.
const NULLABLE: &str = "$protocol::nullable";

/// Names, each with a list of strings, in the order given: `reactions[EMOJI][]=USERNAME`, or
/// `{"EMOJI": ["USERNAME"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedLists(pub Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for NamedLists {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<NamedLists, D::Error> {
        struct NamedListsVisitor;

        impl<'de> Visitor<'de> for NamedListsVisitor {
            type Value = NamedLists;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("names mapped to lists of strings")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<NamedLists, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Vec<String>>()? {
                    entries.push(entry);
                }
                Ok(NamedLists(entries))
            }
        }

        d.deserialize_map(NamedListsVisitor)
    }
}

/// The error while deserializing: already the API's 400 (with `param` once known).
#[derive(Debug)]
struct DeError(Error);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> DeError {
        DeError(Error::bad_request(message.to_string()))
    }

    fn missing_field(field: &'static str) -> DeError {
        DeError(Error::invalid(field, format!("{field} is required.")))
    }
}

impl DeError {
    /// An error from inside an attribute's value names that attribute.
    fn about(mut self, key: &str) -> DeError {
        if self.0.param.is_none() {
            self.0 = self.0.with_param(key);
        }
        self
    }
}

type DeResult<T> = std::result::Result<T, DeError>;

/// The top level: a body's attributes.
struct Fields {
    fields: Map<String, Value>,
    encoding: Encoding,
}

impl<'de> de::Deserializer<'de> for Fields {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        visitor.visit_map(Attributes {
            fields: self.fields.into_iter(),
            pending: None,
            encoding: self.encoding,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct Attributes {
    fields: serde_json::map::IntoIter,
    /// The attribute whose name was just handed out; its value comes next.
    pending: Option<(String, Value)>,
    encoding: Encoding,
}

impl<'de> MapAccess<'de> for Attributes {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> DeResult<Option<K::Value>> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        let name = seed.deserialize(key.as_str().into_deserializer())?;
        self.pending = Some((key, value));
        Ok(Some(name))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> DeResult<V::Value> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| DeError(Error::internal("a body value was asked for twice")))?;
        let field = Field {
            key: &key,
            value,
            encoding: self.encoding,
            nullable: false,
        };
        seed.deserialize(field).map_err(|e| e.about(&key))
    }
}

/// One attribute's value. What the caller asks for (a string, a bool, a list…) decides how a
/// form's string is read and which sentence a wrong value gets.
struct Field<'a> {
    key: &'a str,
    value: Value,
    encoding: Encoding,
    /// Asked for through `nullable`: null is allowed, and the sentences say so.
    nullable: bool,
}

impl Field<'_> {
    fn is_form(&self) -> bool {
        self.encoding == Encoding::Form
    }

    fn wrong(&self, what: &str) -> DeError {
        let or_null = if self.nullable { " or null" } else { "" };
        DeError(Error::invalid(
            self.key,
            format!("{} must be {what}{or_null}.", self.key),
        ))
    }

    fn not_a_list(&self) -> DeError {
        DeError(Error::invalid(
            self.key,
            format!("{} must be a list of strings.", self.key),
        ))
    }
}

impl<'de> de::Deserializer<'de> for Field<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(ref n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(f)) => visitor.visit_f64(f),
                (None, None) => Err(self.wrong("a number")),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Array(_) => self.deserialize_seq(visitor),
            Value::Object(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self.value {
            Value::String(s) => visitor.visit_string(s),
            _ => Err(self.wrong("a string")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        let value = match (&self.value, self.encoding) {
            (Value::Bool(b), Encoding::Json) => Some(*b),
            (Value::String(s), Encoding::Form) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.wrong("true or false")),
        }
    }

    /// Every integer attribute of this API is a time: Unix seconds. JSON may write one as a
    /// whole float (`553.0`; JSON Schema agrees that it is an integer).
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        let value = match (&self.value, self.encoding) {
            (Value::String(s), Encoding::Form) => s.parse::<i64>().ok(),
            (Value::Number(n), Encoding::Json) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                    .map(|f| f as i64)
            }),
            _ => None,
        };
        match value {
            Some(i) => visitor.visit_i64(i),
            None => Err(self.wrong("a Unix time in seconds")),
        }
    }

    /// Present means given: `null` for an attribute that is not nullable is a wrong value, not
    /// an absent one (the inner type's sentence says what it must be).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> DeResult<V::Value> {
        if name != NULLABLE {
            return visitor.visit_newtype_struct(self);
        }
        let is_null = match &self.value {
            Value::Null => true,
            Value::String(s) => s.is_empty() && self.is_form(),
            _ => false,
        };
        if is_null {
            visitor.visit_none()
        } else {
            visitor.visit_some(Field {
                nullable: true,
                ..self
            })
        }
    }

    /// A list of strings: a JSON array, or in a form `key[]=a&key[]=b`, where one value is a
    /// list of one and an empty value an empty list.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        let items = match self.value {
            Value::Array(items) => items,
            Value::String(s) if self.encoding == Encoding::Form => {
                if s.is_empty() {
                    Vec::new()
                } else {
                    vec![Value::String(s)]
                }
            }
            _ => return Err(self.not_a_list()),
        };
        let key = self.key;
        let mut items = items.into_iter().map(|value| Element { key, value });
        let list = visitor.visit_seq(de::value::SeqDeserializer::new(&mut items))?;
        Ok(list)
    }

    /// Names mapped to lists (`reactions[EMOJI][]=USERNAME`); each list reads like a field's.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        let Value::Object(map) = self.value else {
            let key = self.key;
            return Err(DeError(Error::invalid(
                key,
                format!("{key} must map names to lists, e.g. {key}[thumbs_up][]=USERNAME."),
            )));
        };
        visitor.visit_map(Entries {
            key: self.key,
            entries: map.into_iter(),
            pending: None,
            encoding: self.encoding,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> DeResult<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct tuple tuple_struct enum identifier
    }
}

/// An item of a list: a string, or the list is wrong.
struct Element<'a> {
    key: &'a str,
    value: Value,
}

impl<'de> IntoDeserializer<'de, DeError> for Element<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Element<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self.value {
            Value::String(s) => visitor.visit_string(s),
            _ => Err(DeError(Error::invalid(
                self.key,
                format!("{} must be a list of strings.", self.key),
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The entries of a map attribute; their values read as `Field`s of that attribute.
struct Entries<'a> {
    key: &'a str,
    entries: serde_json::map::IntoIter,
    pending: Option<Value>,
    encoding: Encoding,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> DeResult<Option<K::Value>> {
        let Some((name, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(value);
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> DeResult<V::Value> {
        let value = self.pending.take().unwrap_or(Value::Null);
        seed.deserialize(Field {
            key: self.key,
            value,
            encoding: self.encoding,
            nullable: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        name: String,
        note: Option<String>,
        #[serde(default, deserialize_with = "nullable")]
        cleared: Option<Option<String>>,
        flag: Option<bool>,
        #[serde(default, deserialize_with = "nullable")]
        at: Option<Option<i64>>,
        ids: Option<Vec<String>>,
        reactions: Option<NamedLists>,
    }

    fn form(body: &str) -> Result<Sample> {
        from_body(Body::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap())
    }

    fn json(body: &str) -> Result<Sample> {
        from_body(Body::parse(Some("application/json"), body.as_bytes()).unwrap())
    }

    fn param(result: Result<Sample>) -> (String, String) {
        let error = result.unwrap_err();
        (error.param.unwrap_or_default(), error.message)
    }

    #[test]
    fn form_brackets_as_curl_sends_them() {
        let sample = form(
            "name=x&reactions[red_angry_face][]=KateMcCallister&flag=true&at=&ids[]=a&ids[]=b",
        )
        .unwrap();
        assert_eq!(
            sample.reactions,
            Some(NamedLists(vec![(
                "red_angry_face".into(),
                vec!["KateMcCallister".into()]
            )]))
        );
        assert_eq!(sample.flag, Some(true));
        assert_eq!(sample.at, Some(None));
        assert_eq!(sample.ids, Some(vec!["a".into(), "b".into()]));
        assert_eq!(sample.cleared, None);
    }

    #[test]
    fn form_lists_of_one_and_of_none() {
        let sample = form("name=x&ids=a&reactions[smile]=&flag=0&at=553").unwrap();
        assert_eq!(sample.ids, Some(vec!["a".into()]));
        assert_eq!(
            sample.reactions,
            Some(NamedLists(vec![("smile".into(), vec![])]))
        );
        assert_eq!(sample.flag, Some(false));
        assert_eq!(sample.at, Some(Some(553)));
        assert_eq!(form("name=x&ids=").unwrap().ids, Some(vec![]));
        let sample = form("name=x&ids%5B%5D=a&ids%5B%5D=b").unwrap();
        assert_eq!(sample.ids, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn json_types_are_strict_and_errors_name_the_attribute() {
        assert_eq!(
            param(json(r#"{"name": "x", "flag": "true"}"#)),
            ("flag".into(), "flag must be true or false.".into())
        );
        assert_eq!(
            param(json(r#"{"name": "x", "at": "5"}"#)),
            (
                "at".into(),
                "at must be a Unix time in seconds or null.".into()
            )
        );
        assert_eq!(param(json(r#"{"name": 7}"#)).0, "name");
        assert_eq!(
            param(json(r#"{"name": "x", "note": null}"#)),
            ("note".into(), "note must be a string.".into())
        );
        assert_eq!(
            param(json(r#"{"name": "x", "cleared": 5}"#)),
            ("cleared".into(), "cleared must be a string or null.".into())
        );
        assert_eq!(
            param(json(r#"{"name": "x", "ids": ["a", 5]}"#)),
            ("ids".into(), "ids must be a list of strings.".into())
        );
        assert_eq!(
            param(json(r#"{"name": "x", "ids": "a"}"#)),
            ("ids".into(), "ids must be a list of strings.".into())
        );
        assert_eq!(
            param(json(r#"{"name": "x", "reactions": []}"#)).0,
            "reactions"
        );
        assert_eq!(
            param(json(r#"{"name": "x", "reactions": {"smile": "Kate"}}"#)),
            (
                "reactions".into(),
                "reactions must be a list of strings.".into()
            )
        );
        let sample =
            json(r#"{"name": "x", "flag": false, "at": 553.0, "cleared": null, "other": [1]}"#)
                .unwrap();
        assert_eq!(sample.flag, Some(false));
        assert_eq!(sample.at, Some(Some(553)));
        assert_eq!(sample.cleared, Some(None));
        assert!(json(r#"{"name": "x", "at": 553.5}"#).is_err());
        assert!(json(r#"{"name": "x", "at": 1e300}"#).is_err());
    }

    #[test]
    fn required_and_repeated_attributes() {
        assert_eq!(
            param(form("note=x")),
            ("name".into(), "name is required.".into())
        );
        assert_eq!(
            param(form("name=a&name=b")),
            ("name".into(), "name must be a string.".into())
        );
        assert_eq!(
            param(form("name=a&flag=yes")),
            ("flag".into(), "flag must be true or false.".into())
        );
        // An empty form value is an empty string, except where null is allowed.
        let sample = form("name=&note=&cleared=").unwrap();
        assert_eq!(sample.name, "");
        assert_eq!(sample.note, Some(String::new()));
        assert_eq!(sample.cleared, Some(None));
    }
}
