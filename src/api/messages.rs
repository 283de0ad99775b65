//! Messages, with reactions.

use super::{check, check_count, schemas, written};
use crate::account::Account;
use crate::db::attachments::MAX_PER_MESSAGE;
use crate::db::messages::{MessageChanges, NewMessage};
use crate::db::records;
use crate::error::ErrorBody;
use crate::error::{Error, Result};
use crate::extract::Query;
use crate::idempotency::{self, IdempotencyKey};
use crate::input::{Input, NamedLists, Request};
use crate::pagination::{Filters, List, Listing, PageQuery};
use crate::views::{Message, message_json};
use crate::{AppState, Settings, rules};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

type Id = web::Path<String>;

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
    Listing { page, filter }: Listing<MessageQuery>,
) -> Result<HttpResponse> {
    let conversation = filter.conversation_id;
    let list = state.db.messages_page(account, conversation, page).await?;
    let page = message_json::page(&state.views.messages(&list));
    Ok(written(HttpResponse::Ok(), page))
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
    key: IdempotencyKey,
    Input(body): Input<NewMessageRequest>,
) -> Result<HttpResponse> {
    let new = NewMessage {
        conversation_id: body.conversation_id,
        message: body.message,
        attachments: body.attachments.unwrap_or_default(),
    };
    let views = state.clone();
    let receipt = key.receipt(move |message: &records::Message| {
        idempotency::created(views.views.message(message))
    });
    let message = state.db.send_message(account, new, receipt).await?;
    let answer = message_json::one(&state.views.message(&message));
    Ok(written(HttpResponse::Created(), answer))
}

/// Retrieve a message
///
/// `GET /v1/messages/:id`
#[utoipa::path(
    get,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id", example = "SIuAFUNKdSYHZF2w")),
    responses((status = 200, description = "The message", body = Message)),
)]
pub async fn get_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let message = state.db.message(account, id.into_inner()).await?;
    let answer = message_json::one(&state.views.message(&message));
    Ok(written(HttpResponse::Ok(), answer))
}

/// Update a message (edit, react)
///
/// `PUT /v1/messages/:id`: `message` and `attachments` (sender only), `reactions` (as yourself).
#[utoipa::path(
    put,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id", example = "SIuAFUNKdSYHZF2w")),
    request_body(content((UpdateMessageRequest = "application/json"), (UpdateMessageRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Message), (status = 403, description = "Not yours to edit, or a reaction not as yourself", body = ErrorBody)),
)]
pub async fn update_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Input(body): Input<UpdateMessageRequest>,
) -> Result<HttpResponse> {
    let changes = MessageChanges {
        message: body.message,
        attachments: body.attachments,
        reactions: body.reactions.map(|r| r.0),
    };
    let message = state
        .db
        .update_message(account, id.into_inner(), changes)
        .await?;
    let answer = message_json::one(&state.views.message(&message));
    Ok(written(HttpResponse::Ok(), answer))
}

/// Delete a message
///
/// `DELETE /v1/messages/:id`: sender only, for everyone.
#[utoipa::path(
    delete,
    path = "/v1/messages/{id}",
    tag = "messages",
    params(("id" = String, Path, description = "The object's id", example = "SIuAFUNKdSYHZF2w")),
    responses((status = 204, description = "Deleted for everyone"), (status = 403, description = "Not your message", body = ErrorBody)),
)]
pub async fn delete_message(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state.db.delete_message(account, id.into_inner()).await?;
    Ok(super::deleted(&state).await)
}

/// Message text: not blank, within the configured length, no control characters but line
/// breaks and tabs.
fn check_message_text(text: &str, settings: &Settings) -> Result<()> {
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
    check(rules::text("message", text, 1, max), "message")
}

/// `POST /v1/messages`
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"conversation_id": "xgQQXg3hrtjh7AvZ", "message": "Stay put, Kevin."}))]
pub struct NewMessageRequest {
    /// A conversation you are in.
    #[schema(schema_with = schemas::object_id)]
    pub conversation_id: String,
    #[schema(schema_with = schemas::message_text)]
    pub message: String,
    /// Uploads of yours that belong to no message yet.
    #[schema(schema_with = schemas::attachment_ids)]
    pub attachments: Option<Vec<String>>,
}

impl Request for NewMessageRequest {
    fn validate(&self, settings: &Settings) -> Result<()> {
        check_message_text(&self.message, settings)?;
        check_count("attachments", self.attachments.as_deref(), MAX_PER_MESSAGE)
    }
}

/// `PUT /v1/messages/:id`
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"reactions": {"red_angry_face": ["KateMcCallister"]}}))]
pub struct UpdateMessageRequest {
    /// The new text (the sender only).
    #[schema(schema_with = schemas::message_text)]
    pub message: Option<String>,
    /// The full new list of attachments (the sender only); those left out go back to being
    /// unlinked uploads.
    #[schema(schema_with = schemas::attachment_ids)]
    pub attachments: Option<Vec<String>>,
    /// Your own reactions: name yourself to add one, give an empty list to remove it.
    #[schema(schema_with = schemas::reactions)]
    pub reactions: Option<NamedLists>,
}

impl Request for UpdateMessageRequest {
    fn validate(&self, settings: &Settings) -> Result<()> {
        if let Some(text) = &self.message {
            check_message_text(text, settings)?;
        }
        check_count("attachments", self.attachments.as_deref(), MAX_PER_MESSAGE)?;
        if let Some(reactions) = &self.reactions {
            if reactions.0.len() > schemas::MAX_REACTIONS_PER_REQUEST {
                return Err(Error::invalid(
                    "reactions",
                    format!(
                        "reactions may name at most {} entries at once.",
                        schemas::MAX_REACTIONS_PER_REQUEST
                    ),
                ));
            }
            for (emoji, _) in &reactions.0 {
                check(rules::emoji(emoji), "reactions")?;
            }
        }
        Ok(())
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only this conversation's messages (else: all your conversations').
    /// (An empty value is no filter.)
    #[param(pattern = r"^([A-Za-z0-9]{16})?$")]
    pub conversation_id: Option<String>,
}

impl Filters for MessageQuery {
    fn from_query(query: &Query) -> Result<MessageQuery> {
        Ok(MessageQuery {
            conversation_id: query.filter("conversation_id")?,
        })
    }
}
