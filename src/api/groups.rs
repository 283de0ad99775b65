//! Groups: owned by their creator, seen by their members.

use super::{check, created, ok};
use crate::auth::Account;
use crate::db::contacts::Contact;
use crate::db::groups::Group;
use crate::db::{self, groups::GroupChanges, groups::NewGroup};
use crate::error::ErrorBody;
use crate::error::Result;
use crate::extract::{Body, Query};
use crate::pagination::PageParams;
use crate::pagination::{List, PageQuery};
use crate::{AppState, rules};
use actix_web::{HttpResponse, web};
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
    query: Query,
) -> Result<HttpResponse> {
    let page = PageParams::from_query(&query)?;
    let archived = query.bool("archived")?;
    let list = state
        .db
        .read(move |c| db::groups::list(c, &account.id, archived, &page))
        .await?;
    Ok(ok(list))
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
    body: Body,
) -> Result<HttpResponse> {
    let name = body.required_string("name")?;
    check_name(&name)?;
    let new = NewGroup {
        name,
        description: checked_description(&body)?.flatten(),
        avatar_url: checked_avatar_url(&body)?.flatten(),
        contacts: body
            .string_list("contacts", state.settings.max_group_members)?
            .unwrap_or_default(),
    };
    let max = state.settings.max_group_members;
    let group = state
        .db
        .write(move |tx| db::groups::create(tx, &account.id, &new, max, db::now()))
        .await?;
    Ok(created(group))
}

/// Retrieve a group
///
/// `GET /v1/groups/:id`
#[utoipa::path(
    get,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 200, description = "The group", body = Group)),
)]
pub async fn get_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let group = state
        .db
        .read(move |c| db::groups::get(c, &account.id, &id))
        .await?;
    Ok(ok(group))
}

/// Update a group
///
/// `PUT /v1/groups/:id`: owner only.
#[utoipa::path(
    put,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id")),
    request_body(content((UpdateGroupRequest = "application/json"), (UpdateGroupRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Group), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn update_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let name = body.string("name")?;
    if let Some(name) = &name {
        check_name(name)?;
    }
    let changes = GroupChanges {
        name,
        description: checked_description(&body)?,
        avatar_url: checked_avatar_url(&body)?,
        contacts: body.string_list("contacts", state.settings.max_group_members)?,
        archived_at: body.nullable_timestamp("archived_at")?,
    };
    let max = state.settings.max_group_members;
    let group = state
        .db
        .write(move |tx| db::groups::update(tx, &account.id, &id, &changes, max))
        .await?;
    Ok(ok(group))
}

/// Delete a group
///
/// `DELETE /v1/groups/:id`: owner only; its conversation and messages go too.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 204, description = "Deleted with its conversation"), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn delete_group(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state
        .db
        .write(move |tx| db::groups::delete(tx, &account.id, &id))
        .await?;
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
    params(("id" = String, Path, description = "The group's id"), PageQuery),
    responses((status = 200, description = "Members, the newest first", body = List<Contact>)),
)]
pub async fn list_group_contacts(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    query: Query,
) -> Result<HttpResponse> {
    let page = PageParams::from_query(&query)?;
    let list = state
        .db
        .read(move |c| db::groups::list_members(c, &account.id, &id, &page))
        .await?;
    Ok(ok(list))
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
    params(("id" = String, Path, description = "The group's id")),
    request_body(content((AddGroupContactsRequest = "application/json"), (AddGroupContactsRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The members added", body = List<Contact>), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn add_group_contacts(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let max = state.settings.max_group_members;
    let contacts = body.string_list("contacts", max)?.ok_or_else(|| {
        crate::error::Error::invalid("contacts", "contacts is required: the contact ids to add.")
    })?;
    let added = state
        .db
        .write(move |tx| db::groups::add_members(tx, &account.id, &id, &contacts, max))
        .await?;
    Ok(ok(List {
        has_more: false,
        data: added,
    }))
}

/// Remove a member from a group
///
/// `DELETE /v1/groups/:id/contacts/:contact_id`: owner only.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}/contacts/{contact_id}",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id"), ("contact_id" = String, Path, description = "The member's contact id")),
    responses((status = 204, description = "No longer a member"), (status = 403, description = "Only the owner may", body = ErrorBody)),
)]
pub async fn delete_group_contact(
    state: web::Data<AppState>,
    account: Account,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, member) = path.into_inner();
    state
        .db
        .write(move |tx| db::groups::remove_member(tx, &account.id, &id, &member))
        .await?;
    Ok(super::deleted(&state).await)
}

fn check_name(name: &str) -> Result<()> {
    check(
        rules::name("name", name, 1, rules::MAX_GROUP_NAME_CHARS),
        "name",
    )
}

fn checked_description(body: &Body) -> Result<Option<Option<String>>> {
    let description = body.nullable_string("description")?;
    if let Some(Some(text)) = &description {
        check(
            rules::text("description", text, 0, rules::MAX_DESCRIPTION_CHARS),
            "description",
        )?;
    }
    Ok(description)
}

fn checked_avatar_url(body: &Body) -> Result<Option<Option<String>>> {
    let url = body.nullable_string("avatar_url")?;
    if let Some(Some(url)) = &url {
        check(rules::url("avatar_url", url), "avatar_url")?;
    }
    Ok(url)
}

/// `POST /v1/groups`
#[derive(ToSchema)]
pub struct NewGroupRequest {
    /// 1-128 characters, not blank.
    #[schema(
        max_length = 128,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    #[schema(pattern = r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$", max_length = 2048)]
    pub avatar_url: Option<String>,
    /// Contact ids from your address book (`contacts[]=ID`).
    #[schema(nullable = false, max_items = 10000, value_type = Option<Vec<super::openapi::ObjectId>>)]
    pub contacts: Option<Vec<String>>,
}

/// `PUT /v1/groups/:id`: the owner only.
#[derive(ToSchema)]
pub struct UpdateGroupRequest {
    #[schema(
        nullable = false,
        max_length = 128,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    #[schema(pattern = r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$", max_length = 2048)]
    pub avatar_url: Option<String>,
    /// The full new member list; the owner stays.
    #[schema(nullable = false, max_items = 10000, value_type = Option<Vec<super::openapi::ObjectId>>)]
    pub contacts: Option<Vec<String>>,
    /// Unix seconds; null unarchives.
    #[schema(minimum = 0, maximum = 253402300799_i64)]
    pub archived_at: Option<i64>,
}

/// `POST /v1/groups/:id/contacts`
#[derive(ToSchema)]
pub struct AddGroupContactsRequest {
    /// Contact ids from your address book (`contacts[]=ID`).
    #[schema(max_items = 10000, value_type = Vec<super::openapi::ObjectId>)]
    pub contacts: Vec<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    pub archived: Option<bool>,
}
