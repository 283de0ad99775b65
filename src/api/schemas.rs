//! The schemas of request attributes, built from the rules they document (`rules.rs` patterns
//! and limits), for `#[schema(schema_with = …)]` on the request types. Limits that the config
//! sets (`max_message_chars`) get their default here and this server's value in
//! `openapi::document`.

use crate::rules;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// What every id looks like (`db::ids`).
/// Emoji entries one request may change (the message handlers check it; the document shows it).
pub const MAX_REACTIONS_PER_REQUEST: usize = 32;

pub const ID_PATTERN: &str = "^[A-Za-z0-9]{16}$";

/// An object id: 16 letters and digits.
pub struct ObjectId;

impl utoipa::PartialSchema for ObjectId {
    fn schema() -> RefOr<Schema> {
        string(ID_PATTERN, None)
            .examples([serde_json::json!("SIuAFUNKdSYHZF2w")])
            .into()
    }
}

impl utoipa::ToSchema for ObjectId {}

/// Bytes of any type (a download).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

fn string(pattern: &str, max_length: Option<usize>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(max_length)
}

/// The same schema, where null is allowed too (a form sends an empty value for it).
fn or_null(builder: ObjectBuilder) -> Object {
    builder
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

pub fn object_id() -> Object {
    string(ID_PATTERN, None).build()
}

pub fn object_id_or_null() -> Object {
    or_null(string(ID_PATTERN, None))
}

pub fn username() -> Object {
    string(rules::USERNAME_PATTERN, Some(rules::MAX_USERNAME_CHARS))
        .description(Some("1-64 letters A-Z and a-z, digits, `_`, `.` and `-`."))
        .examples([serde_json::json!("FrankMcCallister")])
        .build()
}

pub fn phone_number() -> Object {
    string(rules::PHONE_PATTERN, Some(rules::MAX_PHONE_CHARS))
        .description(Some("Digits, spaces and `+-().`"))
        .examples([serde_json::json!("1-800-759-3000")])
        .build()
}

pub fn avatar_url_or_null() -> Object {
    or_null(
        string(rules::URL_PATTERN, Some(rules::MAX_URL_CHARS))
            .examples([serde_json::json!("https://example.com/avatar.jpg")]),
    )
}

pub fn display_name_or_null() -> Object {
    or_null(
        string(rules::NAME_PATTERN, Some(rules::MAX_DISPLAY_NAME_CHARS)).description(Some(
            "Your name for them; null (an empty form value) clears it.",
        )),
    )
}

pub fn group_name() -> Object {
    string(
        rules::NON_BLANK_NAME_PATTERN,
        Some(rules::MAX_GROUP_NAME_CHARS),
    )
    .examples([serde_json::json!("Plaza Hotel")])
    .build()
}

pub fn description_or_null() -> Object {
    or_null(string(
        rules::TEXT_PATTERN,
        Some(rules::MAX_DESCRIPTION_CHARS),
    ))
}

/// Message text, at most `max_message_chars` characters: the default here, the server's own
/// in its document.
pub fn message_text() -> Object {
    string(
        rules::NON_BLANK_TEXT_PATTERN,
        Some(crate::config::ServerConfig::default().max_message_chars),
    )
    .description(Some(
        "Not blank; no control characters but line breaks and tabs; at most \
         `max_message_chars` characters (this server's limit is the `maxLength`).",
    ))
    .examples([serde_json::json!("Stay put, Kevin.")])
    .build()
}

pub fn filename() -> Object {
    string(rules::FILENAME_PATTERN, Some(rules::MAX_FILENAME_CHARS))
        .min_length(Some(1))
        .description(Some(
            "A plain name: no slashes, backslashes or control characters, not only dots.",
        ))
        .examples([serde_json::json!("invoice.pdf")])
        .build()
}

/// Unix seconds, or null.
pub fn timestamp_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(rules::MAX_TIMESTAMP))
        .description(Some("Unix seconds; null clears it."))
        .build()
}

fn id_list(max_items: usize, description: &str) -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("ObjectId"))
        .max_items(Some(max_items))
        .description(Some(description))
        .build()
}

pub fn attachment_ids() -> utoipa::openapi::schema::Array {
    id_list(
        crate::db::attachments::MAX_PER_MESSAGE,
        "Ids of attachments you uploaded (`attachments[]=ID` in a form).",
    )
}

/// Contact ids, at most `max_group_members`: the default here, the server's own in its
/// document.
pub fn member_ids() -> utoipa::openapi::schema::Array {
    id_list(
        crate::config::ServerConfig::default().max_group_members,
        "Contact ids from your address book (`contacts[]=ID` in a form); the owner is always a member.",
    )
}

/// The same, where the list is the request (`POST /v1/groups/:id/contacts`).
pub fn member_ids_required() -> utoipa::openapi::schema::Array {
    id_list(
        crate::config::ServerConfig::default().max_group_members,
        "Contact ids from your address book (`contacts[]=ID` in a form).",
    )
}

/// `{"EMOJI": ["YOUR_USERNAME"]}` adds your reaction, `{"EMOJI": []}` removes it
/// (`reactions[EMOJI][]=USERNAME` in a form).
pub fn reactions() -> Object {
    let usernames = ArrayBuilder::new()
        .items(string(
            rules::USERNAME_PATTERN,
            Some(rules::MAX_USERNAME_CHARS),
        ))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(string(rules::EMOJI_PATTERN, None)))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Array(
            usernames,
        )))))
        .max_properties(Some(MAX_REACTIONS_PER_REQUEST))
        .description(Some(
            "`{\"EMOJI\": [\"YOUR_USERNAME\"]}` adds your reaction, `{\"EMOJI\": []}` removes \
             it (`reactions[EMOJI][]=USERNAME` in a form).",
        ))
        .examples([serde_json::json!({"red_angry_face": ["KateMcCallister"]})])
        .build()
}
