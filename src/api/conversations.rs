//! Conversations: direct and group, each seen from the caller.

use super::{check, created, ok, schemas};
use crate::account::Account;
use crate::db::conversations::{ConversationChanges, ConversationFilter, Target};
use crate::db::records;
use crate::error::{Error, Result};
use crate::extract::Query;
use crate::idempotency::{self, IdempotencyKey};
use crate::input::{Input, Request, nullable};
use crate::pagination::{Filters, List, Listing, PageQuery};
use crate::views::{self, Conversation};
use crate::{AppState, Settings, rules};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
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
    Listing { page, filter }: Listing<ConversationQuery>,
) -> Result<HttpResponse> {
    let filter = ConversationFilter {
        muted: filter.muted,
        archived: filter.archived,
        pinned: filter.pinned,
        group_id: filter.group_id,
    };
    let list = state.db.conversations_page(account, filter, page).await?;
    Ok(ok(views::list::<_, Conversation>(list)))
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
    key: IdempotencyKey,
    Input(body): Input<NewConversationRequest>,
) -> Result<HttpResponse> {
    let target = body.target()?;
    let receipt = key.receipt(
        |(conversation, was_created): &(records::Conversation, bool)| {
            let view = Conversation::from(conversation.clone());
            if *was_created {
                idempotency::created(view)
            } else {
                idempotency::ok(view)
            }
        },
    );
    let (conversation, was_created) = state
        .db
        .start_conversation(account, target, receipt)
        .await?;
    Ok(if was_created {
        created(Conversation::from(conversation))
    } else {
        ok(Conversation::from(conversation))
    })
}

/// Open (retrieve) a conversation
///
/// `GET /v1/conversations/:id`: opening it marks it and its messages read.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id", example = "xgQQXg3hrtjh7AvZ")),
    responses((status = 200, description = "The conversation, now opened: its messages from others are read", body = Conversation)),
)]
pub async fn get_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let conversation = state.db.open_conversation(account, id.into_inner()).await?;
    Ok(ok(Conversation::from(conversation)))
}

/// Update a conversation
///
/// `PUT /v1/conversations/:id`: `pinned_message_id`, `is_pinned`, `is_muted`, `archived_at`.
#[utoipa::path(
    put,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id", example = "xgQQXg3hrtjh7AvZ")),
    request_body(content((UpdateConversationRequest = "application/json"), (UpdateConversationRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Conversation)),
)]
pub async fn update_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Input(body): Input<UpdateConversationRequest>,
) -> Result<HttpResponse> {
    let changes = ConversationChanges {
        pinned_message_id: body.pinned_message_id,
        is_pinned: body.is_pinned,
        is_muted: body.is_muted,
        archived_at: body.archived_at,
    };
    let conversation = state
        .db
        .update_conversation(account, id.into_inner(), changes)
        .await?;
    Ok(ok(Conversation::from(conversation)))
}

/// Delete a conversation
///
/// `DELETE /v1/conversations/:id`: gone from the caller's view; others keep theirs.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The object's id", example = "xgQQXg3hrtjh7AvZ")),
    responses((status = 204, description = "Removed from your view")),
)]
pub async fn delete_conversation(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state
        .db
        .delete_conversation(account, id.into_inner())
        .await?;
    Ok(super::deleted(&state).await)
}

/// `POST /v1/conversations`: exactly one of `contact_id` and `group_id`.
#[derive(Deserialize)]
pub struct NewConversationRequest {
    pub contact_id: Option<String>,
    pub group_id: Option<String>,
}

impl NewConversationRequest {
    fn target(&self) -> Result<Target> {
        match (&self.contact_id, &self.group_id) {
            (Some(contact), None) => Ok(Target::Contact(contact.clone())),
            (None, Some(group)) => Ok(Target::Group(group.clone())),
            _ => Err(Error::invalid(
                "contact_id",
                "Give exactly one of contact_id and group_id.",
            )),
        }
    }
}

impl Request for NewConversationRequest {
    fn validate(&self, _: &Settings) -> Result<()> {
        self.target().map(drop)
    }
}

/// Its schema says "exactly one" the JSON Schema way: one of two objects, each requiring its
/// attribute; a body with both matches both alternatives, so it matches no `oneOf`.
impl utoipa::PartialSchema for NewConversationRequest {
    fn schema() -> RefOr<Schema> {
        let with = |name: &str, title: &str, description: &str, example: &str| {
            ObjectBuilder::new()
                .title(Some(title))
                .property(name, Ref::from_schema_name("ObjectId"))
                .required(name)
                .description(Some(description))
                .examples([serde_json::json!({ name: example })])
        };
        OneOfBuilder::new()
            .item(with(
                "contact_id",
                "NewConversationWithContact",
                "One of your contacts: your direct conversation with them.",
                "WAz8eIbvDR60rouK",
            ))
            .item(with(
                "group_id",
                "NewConversationWithGroup",
                "A group you are in: its conversation.",
                "L7cGNIBKZiNJ6wqF",
            ))
            .into()
    }
}

impl ToSchema for NewConversationRequest {}

/// `PUT /v1/conversations/:id`: every attribute optional; the settings are yours alone, but
/// the pinned message is shared by everyone in the conversation.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"is_muted": true}))]
pub struct UpdateConversationRequest {
    /// A message of this conversation; null unpins.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::object_id_or_null)]
    pub pinned_message_id: Option<Option<String>>,
    #[schema(nullable = false)]
    pub is_pinned: Option<bool>,
    #[schema(nullable = false)]
    pub is_muted: Option<bool>,
    /// When you archived it; null unarchives.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::timestamp_or_null)]
    pub archived_at: Option<Option<i64>>,
}

impl Request for UpdateConversationRequest {
    fn validate(&self, _: &Settings) -> Result<()> {
        if let Some(Some(at)) = self.archived_at {
            check(rules::timestamp("archived_at", at), "archived_at")?;
        }
        Ok(())
    }
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

impl Filters for ConversationQuery {
    fn from_query(query: &Query) -> Result<ConversationQuery> {
        Ok(ConversationQuery {
            muted: query.bool("muted")?,
            archived: query.bool("archived")?,
            pinned: query.bool("pinned")?,
            group_id: query.filter("group_id")?,
        })
    }
}
