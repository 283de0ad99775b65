//! Conversations: direct and group, each seen from the caller.

use super::{created, ok};
use crate::AppState;
use crate::auth::Account;
use crate::db::conversations::Conversation;
use crate::db::{
    self, conversations::ConversationChanges, conversations::ConversationFilter,
    conversations::Target,
};
use crate::error::{Error, Result};
use crate::extract::{Body, Query};
use crate::pagination::PageParams;
use crate::pagination::{List, PageQuery};
use actix_web::{HttpResponse, web};
use utoipa::{IntoParams, ToSchema};

type Id = web::Path<String>;

/// List all conversations
///
/// `GET /v1/conversations`: filters `muted`, `archived`, `pinned`, `group_id`.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    params(PageQuery, ConversationQuery),
    responses((status = 200, description = "Your conversations, most recently active first", body = List<Conversation>)),
)]
pub async fn list_conversations(
    state: web::Data<AppState>,
    account: Account,
    query: Query,
) -> Result<HttpResponse> {
    let page = PageParams::from_query(&query)?;
    let filter = ConversationFilter {
        muted: query.bool("muted")?,
        archived: query.bool("archived")?,
        pinned: query.bool("pinned")?,
        group_id: query.filter("group_id")?,
    };
    let list = state
        .db
        .read(move |c| db::conversations::list(c, &account.id, &filter, &page))
        .await?;
    Ok(ok(list))
}

/// Create a conversation
///
/// `POST /v1/conversations`: 201 when created, 200 when it already existed.
#[utoipa::path(
    post,
    path = "/v1/conversations",
    tag = "conversations",
    request_body(content((NewConversationRequest = "application/json"), (NewConversationRequest = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Created", body = Conversation), (status = 200, description = "It already existed", body = Conversation)),
)]
pub async fn create_conversation(
    state: web::Data<AppState>,
    account: Account,
    body: Body,
) -> Result<HttpResponse> {
    let target = match (body.string("contact_id")?, body.string("group_id")?) {
        (Some(contact), None) => Target::Contact(contact),
        (None, Some(group)) => Target::Group(group),
        _ => {
            return Err(Error::invalid(
                "contact_id",
                "Give exactly one of contact_id and group_id.",
            ));
        }
    };
    let (conversation, was_created) = state
        .db
        .write(move |tx| db::conversations::create(tx, &account.id, &target, db::now()))
        .await?;
    Ok(if was_created {
        created(conversation)
    } else {
        ok(conversation)
    })
}

/// Open (retrieve) a conversation
///
/// `GET /v1/conversations/:id`: opening it marks it and its messages read.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 200, description = "The conversation, now opened: its messages from others are read", body = Conversation)),
)]
pub async fn get_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let base = state.settings.public_url.clone();
    let conversation = state
        .db
        .write(move |tx| db::conversations::open(tx, &account.id, &id, db::now(), &base))
        .await?;
    Ok(ok(conversation))
}

/// Update a conversation
///
/// `PUT /v1/conversations/:id`: `pinned_message_id`, `is_pinned`, `is_muted`, `archived_at`.
#[utoipa::path(
    put,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id")),
    request_body(content((UpdateConversationRequest = "application/json"), (UpdateConversationRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Conversation)),
)]
pub async fn update_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let changes = ConversationChanges {
        pinned_message_id: body.nullable_string("pinned_message_id")?,
        is_pinned: body.bool("is_pinned")?,
        is_muted: body.bool("is_muted")?,
        archived_at: body.nullable_timestamp("archived_at")?,
    };
    let conversation = state
        .db
        .write(move |tx| db::conversations::update(tx, &account.id, &id, &changes))
        .await?;
    Ok(ok(conversation))
}

/// Delete a conversation
///
/// `DELETE /v1/conversations/:id`: gone from the caller's view; others keep theirs.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 204, description = "Removed from your view")),
)]
pub async fn delete_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state
        .db
        .write(move |tx| db::conversations::delete(tx, &account.id, &id))
        .await?;
    Ok(super::deleted(&state).await)
}

/// `POST /v1/conversations`: exactly one of `contact_id` and `group_id` (documentation only:
/// the handler reads the body itself).
#[derive(ToSchema, serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NewConversationRequest {
    /// One of your contacts: their direct conversation with you.
    WithContact {
        #[schema(pattern = r"^[A-Za-z0-9]{16}$")]
        contact_id: String,
    },
    /// A group you are in: its conversation.
    WithGroup {
        #[schema(pattern = r"^[A-Za-z0-9]{16}$")]
        group_id: String,
    },
}

/// `PUT /v1/conversations/:id`: every attribute optional.
#[derive(ToSchema)]
pub struct UpdateConversationRequest {
    /// A message of this conversation (shared by everyone in it); null unpins.
    #[schema(pattern = r"^[A-Za-z0-9]{16}$")]
    pub pinned_message_id: Option<String>,
    #[schema(schema_with = super::openapi::form_bool)]
    pub is_pinned: Option<bool>,
    #[schema(schema_with = super::openapi::form_bool)]
    pub is_muted: Option<bool>,
    /// Unix seconds; null unarchives.
    #[schema(minimum = 0, maximum = 253402300799_i64)]
    pub archived_at: Option<i64>,
}

/// List filters: `true` only those, `false` only those not, absent: all.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    pub muted: Option<bool>,
    pub archived: Option<bool>,
    pub pinned: Option<bool>,
    /// Only the conversation of this group.
    /// (An empty value is no filter.)
    #[param(pattern = r"^([A-Za-z0-9]{16})?$")]
    pub group_id: Option<String>,
}
