//! Contacts: the caller's address book.

use super::{check, created, ok};
use crate::auth::Account;
use crate::db::contacts::Contact;
use crate::db::{self, contacts::NewContact};
use crate::error::ErrorBody;
use crate::error::Result;
use crate::extract::{Body, Query};
use crate::pagination::PageParams;
use crate::pagination::{List, PageQuery};
use crate::{AppState, rules};
use actix_web::{HttpResponse, web};
use utoipa::ToSchema;

type Id = web::Path<String>;

/// List all contacts
///
/// `GET /v1/contacts`
#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    params(PageQuery),
    responses((status = 200, description = "Your address book, most recently added first", body = List<Contact>)),
)]
pub async fn list_contacts(
    state: web::Data<AppState>,
    account: Account,
    query: Query,
) -> Result<HttpResponse> {
    let page = PageParams::from_query(&query)?;
    let list = state
        .db
        .read(move |c| db::contacts::list(c, &account.id, &page))
        .await?;
    Ok(ok(list))
}

/// Add a contact
///
/// `POST /v1/contacts`
#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    request_body(content((NewContactRequest = "application/json"), (NewContactRequest = "application/x-www-form-urlencoded"))),
    responses((status = 201, description = "Added", body = Contact), (status = 409, description = "Already in your address book", body = ErrorBody)),
)]
pub async fn create_contact(
    state: web::Data<AppState>,
    account: Account,
    body: Body,
) -> Result<HttpResponse> {
    let new = new_contact(&body)?;
    let contact = state
        .db
        .write(move |tx| db::contacts::create(tx, &account.id, &new, db::now()))
        .await?;
    Ok(created(contact))
}

/// Retrieve a contact
///
/// `GET /v1/contacts/:id`
#[utoipa::path(
    get,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 200, description = "The contact", body = Contact)),
)]
pub async fn get_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let contact = state
        .db
        .read(move |c| db::contacts::get(c, &account.id, &id))
        .await?;
    Ok(ok(contact))
}

/// Update a contact
///
/// `PUT /v1/contacts/:id`: `display_name` only.
#[utoipa::path(
    put,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id")),
    request_body(content((UpdateContactRequest = "application/json"), (UpdateContactRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Contact)),
)]
pub async fn update_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let display_name = body.nullable_string("display_name")?;
    if let Some(Some(name)) = &display_name {
        check(
            rules::name("display_name", name, 0, rules::MAX_DISPLAY_NAME_CHARS),
            "display_name",
        )?;
    }
    let contact = state
        .db
        .write(move |tx| {
            db::contacts::update(
                tx,
                &account.id,
                &id,
                display_name.as_ref().map(Option::as_deref),
            )
        })
        .await?;
    Ok(ok(contact))
}

/// Delete a contact
///
/// `DELETE /v1/contacts/:id`
#[utoipa::path(
    delete,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id")),
    responses((status = 204, description = "Removed from your address book")),
)]
pub async fn delete_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state
        .db
        .write(move |tx| db::contacts::delete(tx, &account.id, &id))
        .await?;
    Ok(super::deleted(&state).await)
}

fn new_contact(body: &Body) -> Result<NewContact> {
    let username = body.required_string("username")?;
    check(rules::username(&username), "username")?;
    let phone_number = body.required_string("phone_number")?;
    check(rules::phone_number(&phone_number), "phone_number")?;
    let avatar_url = body.nullable_string("avatar_url")?.flatten();
    if let Some(url) = &avatar_url {
        check(rules::url("avatar_url", url), "avatar_url")?;
    }
    let display_name = body.nullable_string("display_name")?.flatten();
    if let Some(name) = &display_name {
        check(
            rules::name("display_name", name, 0, rules::MAX_DISPLAY_NAME_CHARS),
            "display_name",
        )?;
    }
    Ok(NewContact {
        username,
        phone_number,
        avatar_url,
        display_name,
    })
}

/// `POST /v1/contacts`: adds a person to your address book (creating them if the server does
/// not know the username).
#[derive(ToSchema)]
pub struct NewContactRequest {
    /// 1-64 letters, digits, `_`, `.`, `-`.
    #[schema(pattern = r"^[\p{L}\p{N}_.\-]{1,64}$")]
    pub username: String,
    /// Digits, spaces and `+-().`, at most 32 characters.
    #[schema(pattern = r"^[0-9+\-(). ]*[0-9][0-9+\-(). ]*$", max_length = 32)]
    pub phone_number: String,
    #[schema(pattern = r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$", max_length = 2048)]
    pub avatar_url: Option<String>,
    /// Your name for them.
    #[schema(max_length = 128, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub display_name: Option<String>,
}

/// `PUT /v1/contacts/:id`
#[derive(ToSchema)]
pub struct UpdateContactRequest {
    /// Your name for them; null (or an empty form value) clears it.
    #[schema(max_length = 128, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub display_name: Option<String>,
}
