//! Groups: owned by their creator, seen by their members.

use super::{check, check_count, created, ok, schemas};
use crate::account::Account;
use crate::db::groups::{GroupChanges, NewGroup};
use crate::db::records;
use crate::error::ErrorBody;
use crate::error::Result;
use crate::extract::Query;
use crate::idempotency::{self, IdempotencyKey};
use crate::input::{Input, Request, nullable};
use crate::pagination::{Filters, List, Listing, PageQuery};
use crate::views::Group;
use crate::views::{self, Contact};
use crate::{AppState, Settings, rules};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

type Id = web::Path<String>;

/// List all groups
///
/// `GET /v1/groups`: filter `archived`.
#[utoipa::path(
    get,
    path = "/v1/groups",
    tag = "groups",
    params(PageQuery, GroupQuery),
    responses((status = 200, description = "Your groups, newest first", body = List<Group>)),
)]
pub async fn list_groups(
    state: web::Data<AppState>,
    account: Account,
    Listing { page, filter }: Listing<GroupQuery>,
) -> Result<HttpResponse> {
    let archived = filter.archived;
    let list = state.db.groups_page(account, archived, page).await?;
    Ok(ok(views::list::<_, Group>(list)))
}

/// Create a group
///
/// `POST /v1/groups`
#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "groups",
    request_body(content((NewGroupRequest = "application/json"), (NewGroupRequest = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Created", body = Group)),
)]
pub async fn create_group(
    state: web::Data<AppState>,
    account: Account,
    key: IdempotencyKey,
    Input(body): Input<NewGroupRequest>,
) -> Result<HttpResponse> {
    let new = NewGroup {
        name: body.name,
        description: body.description.flatten(),
        avatar_url: body.avatar_url.flatten(),
        contacts: body.contacts.unwrap_or_default(),
    };
    let max = state.settings.max_group_members;
    let receipt =
        key.receipt(|group: &records::Group| idempotency::created(Group::from(group.clone())));
    let group = state.db.create_group(account, new, max, receipt).await?;
    Ok(created(Group::from(group)))
}

/// Retrieve a group
///
/// `GET /v1/groups/:id`
#[utoipa::path(
    get,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id", example = "L7cGNIBKZiNJ6wqF")),
    responses((status = 200, description = "The group", body = Group)),
)]
pub async fn get_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let group = state.db.group(account, id.into_inner()).await?;
    Ok(ok(Group::from(group)))
}

/// Update a group
///
/// `PUT /v1/groups/:id`: owner only.
#[utoipa::path(
    put,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id", example = "L7cGNIBKZiNJ6wqF")),
    request_body(content((UpdateGroupRequest = "application/json"), (UpdateGroupRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Group), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn update_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Input(body): Input<UpdateGroupRequest>,
) -> Result<HttpResponse> {
    let changes = GroupChanges {
        name: body.name,
        description: body.description,
        avatar_url: body.avatar_url,
        contacts: body.contacts,
        archived_at: body.archived_at,
    };
    let max = state.settings.max_group_members;
    let group = state
        .db
        .update_group(account, id.into_inner(), changes, max)
        .await?;
    Ok(ok(Group::from(group)))
}

/// Delete a group
///
/// `DELETE /v1/groups/:id`: owner only; its conversation and messages go too.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id", example = "L7cGNIBKZiNJ6wqF")),
    responses((status = 204, description = "Deleted with its conversation"), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn delete_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state.db.delete_group(account, id.into_inner()).await?;
    Ok(super::deleted(&state).await)
}

/// List a group's members
///
/// `GET /v1/groups/:id/contacts`: the members as contact objects, newest member first, a page
/// at a time (a large group's object carries thousands).
#[utoipa::path(
    get,
    path = "/v1/groups/{id}/contacts",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id", example = "L7cGNIBKZiNJ6wqF"), PageQuery),
    responses((status = 200, description = "Members, the newest first", body = List<Contact>)),
)]
pub async fn list_group_contacts(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Listing { page, .. }: Listing<()>,
) -> Result<HttpResponse> {
    let list = state
        .db
        .group_members_page(account, id.into_inner(), page)
        .await?;
    Ok(ok(views::list::<_, Contact>(list)))
}

/// Add members to a group
///
/// `POST /v1/groups/:id/contacts`: owner only; `contacts` are contact ids from your address
/// book. Those already members are skipped; the answer lists the members added. Its cost
/// follows the change, not the group (`PUT contacts` replaces the whole list).
#[utoipa::path(
    post,
    path = "/v1/groups/{id}/contacts",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id", example = "L7cGNIBKZiNJ6wqF")),
    request_body(content((AddGroupContactsRequest = "application/json"), (AddGroupContactsRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The members added", body = List<Contact>), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn add_group_contacts(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    key: IdempotencyKey,
    Input(body): Input<AddGroupContactsRequest>,
) -> Result<HttpResponse> {
    let max = state.settings.max_group_members;
    let contacts = body.contacts;
    let receipt =
        key.receipt(|added: &Vec<records::Contact>| idempotency::ok(added_members(added.clone())));
    let added = state
        .db
        .add_group_members(account, id.into_inner(), contacts, max, receipt)
        .await?;
    Ok(ok(added_members(added)))
}

/// The answer to adding members: those added, as one page.
fn added_members(added: Vec<records::Contact>) -> List<Contact> {
    List {
        has_more: false,
        data: added.into_iter().map(Contact::from).collect(),
    }
}

/// Remove a member from a group
///
/// `DELETE /v1/groups/:id/contacts/:contact_id`: owner only.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}/contacts/{contact_id}",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id", example = "L7cGNIBKZiNJ6wqF"), ("contact_id" = String, Path, description = "The member's contact id", example = "5wuv8qDC5zI2QwyL")),
    responses((status = 204, description = "No longer a member"), (status = 403, description = "Only the owner may", body = ErrorBody), (status = 409, description = "The owner stays in the group (delete the group instead)", body = ErrorBody)),
)]
pub async fn delete_group_contact(
    state: web::Data<AppState>,
    account: Account,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, member) = path.into_inner();
    state.db.remove_group_member(account, id, member).await?;
    Ok(super::deleted(&state).await)
}

/// What a new group and a change to one share. The member list's limit is the config's
/// `max_group_members`.
fn check_group(
    name: Option<&str>,
    description: Option<&Option<String>>,
    avatar_url: Option<&Option<String>>,
    contacts: Option<&[String]>,
    settings: &Settings,
) -> Result<()> {
    if let Some(name) = name {
        check(
            rules::name("name", name, 1, rules::MAX_GROUP_NAME_CHARS),
            "name",
        )?;
    }
    if let Some(Some(text)) = description {
        check(
            rules::text("description", text, 0, rules::MAX_DESCRIPTION_CHARS),
            "description",
        )?;
    }
    if let Some(Some(url)) = avatar_url {
        check(rules::url("avatar_url", url), "avatar_url")?;
    }
    check_count("contacts", contacts, settings.max_group_members)
}

/// `POST /v1/groups`
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "Plaza Hotel", "contacts": ["WAz8eIbvDR60rouK"]}))]
pub struct NewGroupRequest {
    #[schema(schema_with = schemas::group_name)]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::description_or_null)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::avatar_url_or_null)]
    pub avatar_url: Option<Option<String>>,
    #[schema(schema_with = schemas::member_ids)]
    pub contacts: Option<Vec<String>>,
}

impl Request for NewGroupRequest {
    fn validate(&self, settings: &Settings) -> Result<()> {
        check_group(
            Some(&self.name),
            self.description.as_ref(),
            self.avatar_url.as_ref(),
            self.contacts.as_deref(),
            settings,
        )
    }
}

/// `PUT /v1/groups/:id`: the owner only.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"description": "Room 411"}))]
pub struct UpdateGroupRequest {
    #[schema(schema_with = schemas::group_name)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::description_or_null)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::avatar_url_or_null)]
    pub avatar_url: Option<Option<String>>,
    /// The full new member list; the owner stays.
    #[schema(schema_with = schemas::member_ids)]
    pub contacts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::timestamp_or_null)]
    pub archived_at: Option<Option<i64>>,
}

impl Request for UpdateGroupRequest {
    fn validate(&self, settings: &Settings) -> Result<()> {
        check_group(
            self.name.as_deref(),
            self.description.as_ref(),
            self.avatar_url.as_ref(),
            self.contacts.as_deref(),
            settings,
        )?;
        if let Some(Some(at)) = self.archived_at {
            check(rules::timestamp("archived_at", at), "archived_at")?;
        }
        Ok(())
    }
}

/// `POST /v1/groups/:id/contacts`
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"contacts": ["WAz8eIbvDR60rouK"]}))]
pub struct AddGroupContactsRequest {
    /// The members to add; those already in are skipped.
    #[schema(schema_with = schemas::member_ids_required)]
    pub contacts: Vec<String>,
}

impl Request for AddGroupContactsRequest {
    fn validate(&self, settings: &Settings) -> Result<()> {
        check_count("contacts", Some(&self.contacts), settings.max_group_members)
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// `true`: only archived groups; `false`: only the others.
    pub archived: Option<bool>,
}

impl Filters for GroupQuery {
    fn from_query(query: &Query) -> Result<GroupQuery> {
        Ok(GroupQuery {
            archived: query.bool("archived")?,
        })
    }
}
