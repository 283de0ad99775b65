//! Messages, with reactions.

use super::{check, created, ok};
use crate::auth::Account;
use crate::db::attachments::MAX_PER_MESSAGE;
use crate::db::messages::Message;
use crate::db::{self, messages::MessageChanges, messages::NewMessage};
use crate::error::ErrorBody;
use crate::error::{Error, Result};
use crate::extract::{Body, Query};
use crate::pagination::PageParams;
use crate::pagination::{List, PageQuery};
use crate::{AppState, Settings, rules};
use actix_web::{HttpResponse, web};
use utoipa::{IntoParams, ToSchema};

type Id = web::Path<String>;

/// Emoji entries one request may change.
const MAX_REACTIONS_PER_REQUEST: usize = 32;

/// List all messages
///
/// `GET /v1/messages`: `conversation_id` optional.
#[utoipa::path(
    get,
    path = "/v1/messages",
    tag = "messages",
    params(PageQuery, MessageQuery),
    responses((status = 200, description = "Messages, newest first", body = List<Message>)),
)]
pub async fn list_messages(
    state: web::Data<AppState>,
    account: Account,
    query: Query,
) -> Result<HttpResponse> {
    let page = PageParams::from_query(&query)?;
    let conversation = query.filter("conversation_id")?;
    let base = state.settings.public_url.clone();
    let list = state
        .db
        .read(move |c| db::messages::list(c, &account.id, conversation.as_deref(), &page, &base))
        .await?;
    Ok(ok(list))
}

/// Send a message
///
/// `POST /v1/messages`
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "messages",
    request_body(content((NewMessageRequest = "application/json"), (NewMessageRequest = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Sent", body = Message)),
)]
pub async fn create_message(
    state: web::Data<AppState>,
    account: Account,
    body: Body,
) -> Result<HttpResponse> {
    let new = NewMessage {
        conversation_id: body.required_string("conversation_id")?,
        message: message_text(&body.required_string("message")?, &state.settings)?,
        attachments: body
            .string_list("attachments", MAX_PER_MESSAGE)?
            .unwrap_or_default(),
    };
    let base = state.settings.public_url.clone();
    let message = state
        .db
        .write(move |tx| db::messages::create(tx, &account, &new, db::now(), &base))
        .await?;
    Ok(created(message))
}

/// Retrieve a message
///
/// `GET /v1/messages/:id`
#[utoipa::path(
    get,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 200, description = "The message", body = Message)),
)]
pub async fn get_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let base = state.settings.public_url.clone();
    let message = state
        .db
        .read(move |c| db::messages::get(c, &account.id, &id, &base))
        .await?;
    Ok(ok(message))
}

/// Update a message (edit, react)
///
/// `PUT /v1/messages/:id`: `message` and `attachments` (sender only), `reactions` (as yourself).
#[utoipa::path(
    put,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id")),
    request_body(content((UpdateMessageRequest = "application/json"), (UpdateMessageRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Message), (status = 403, description = "Not yours to edit, or a reaction not as yourself", body = ErrorBody)),
)]
pub async fn update_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let message = body
        .string("message")?
        .map(|text| message_text(&text, &state.settings))
        .transpose()?;
    let reactions = body.string_list_map("reactions", MAX_REACTIONS_PER_REQUEST)?;
    for (emoji, _) in reactions.iter().flatten() {
        check(rules::emoji(emoji), "reactions")?;
    }
    let changes = MessageChanges {
        message,
        attachments: body.string_list("attachments", MAX_PER_MESSAGE)?,
        reactions,
    };
    let base = state.settings.public_url.clone();
    let message = state
        .db
        .write(move |tx| db::messages::update(tx, &account, &id, &changes, db::now(), &base))
        .await?;
    Ok(ok(message))
}

/// Delete a message
///
/// `DELETE /v1/messages/:id`: sender only, for everyone.
#[utoipa::path(
    delete,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 204, description = "Deleted for everyone"), (status = 403, description = "Not your message", body = ErrorBody)),
)]
pub async fn delete_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let base = state.settings.public_url.clone();
    state
        .db
        .write(move |tx| db::messages::delete(tx, &account.id, &id, &base))
        .await?;
    Ok(super::deleted(&state).await)
}

/// Message text: not blank, within the configured length, no control characters but line
/// breaks and tabs.
fn message_text(text: &str, settings: &Settings) -> Result<String> {
    let max = settings.max_message_chars;
    if text.trim().is_empty() {
        return Err(Error::invalid("message", "message must not be empty."));
    }
    if text.chars().count() > max {
        return Err(Error::invalid(
            "message",
            format!("message must be at most {max} characters."),
        ));
    }
    check(rules::text("message", text, 1, max), "message")?;
    Ok(text.to_owned())
}

/// `POST /v1/messages`
#[derive(ToSchema)]
pub struct NewMessageRequest {
    #[schema(pattern = r"^[A-Za-z0-9]{16}$")]
    pub conversation_id: String,
    /// Not blank; at most `max_message_chars` characters (16,384 by default); no control
    /// characters but line breaks and tabs.
    #[schema(
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$",
        max_length = 16384
    )]
    pub message: String,
    /// Ids of attachments you uploaded that belong to no message yet (`attachments[]=ID`).
    #[schema(nullable = false, max_items = 32, value_type = Option<Vec<super::openapi::ObjectId>>)]
    pub attachments: Option<Vec<String>>,
}

/// `PUT /v1/messages/:id`
#[derive(ToSchema)]
pub struct UpdateMessageRequest {
    /// The sender only.
    #[schema(
        nullable = false,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$",
        max_length = 16384
    )]
    pub message: Option<String>,
    /// The full new list (the sender only).
    #[schema(nullable = false, max_items = 32, value_type = Option<Vec<super::openapi::ObjectId>>)]
    pub attachments: Option<Vec<String>>,
    /// `{"EMOJI": ["YOUR_USERNAME"]}` adds your reaction, `{"EMOJI": []}` removes it
    /// (`reactions[EMOJI][]=USERNAME` in a form).
    #[schema(nullable = false, value_type = Option<HashMap<String, Vec<String>>>)]
    pub reactions: Option<()>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only this conversation's messages (else: all your conversations').
    /// (An empty value is no filter.)
    #[param(pattern = r"^([A-Za-z0-9]{16})?$")]
    pub conversation_id: Option<String>,
}
