//! Contacts: the caller's address book.

use super::{check, created, ok, schemas};
use crate::account::Account;
use crate::db::contacts::NewContact;
use crate::db::records;
use crate::error::ErrorBody;
use crate::error::Result;
use crate::idempotency::{self, IdempotencyKey};
use crate::input::{Input, Request, nullable};
use crate::pagination::{List, Listing, PageQuery};
use crate::views::{self, Contact};
use crate::{AppState, Settings, rules};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
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
    Listing { page, .. }: Listing<()>,
) -> Result<HttpResponse> {
    let list = state.db.contacts_page(account, page).await?;
    Ok(ok(views::list::<_, Contact>(list)))
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
    key: IdempotencyKey,
    Input(body): Input<NewContactRequest>,
) -> Result<HttpResponse> {
    let new = NewContact {
        username: body.username,
        phone_number: body.phone_number,
        avatar_url: body.avatar_url.flatten(),
        display_name: body.display_name.flatten(),
    };
    let receipt = key
        .receipt(|contact: &records::Contact| idempotency::created(Contact::from(contact.clone())));
    let contact = state.db.add_contact(account, new, receipt).await?;
    Ok(created(Contact::from(contact)))
}

/// Retrieve a contact
///
/// `GET /v1/contacts/:id`
#[utoipa::path(
    get,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id", example = "WAz8eIbvDR60rouK")),
    responses((status = 200, description = "The contact", body = Contact)),
)]
pub async fn get_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let contact = state.db.contact(account, id.into_inner()).await?;
    Ok(ok(Contact::from(contact)))
}

/// Update a contact
///
/// `PUT /v1/contacts/:id`: `display_name` only.
#[utoipa::path(
    put,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id", example = "WAz8eIbvDR60rouK")),
    request_body(content((UpdateContactRequest = "application/json"), (UpdateContactRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Updated", body = Contact)),
)]
pub async fn update_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Input(body): Input<UpdateContactRequest>,
) -> Result<HttpResponse> {
    let display_name = body.display_name;
    let contact = state
        .db
        .update_contact(account, id.into_inner(), display_name)
        .await?;
    Ok(ok(Contact::from(contact)))
}

/// Delete a contact
///
/// `DELETE /v1/contacts/:id`
#[utoipa::path(
    delete,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    params(("id" = String, Path, description = "The object's id", example = "WAz8eIbvDR60rouK")),
    responses((status = 204, description = "Removed from your address book")),
)]
pub async fn delete_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state.db.delete_contact(account, id.into_inner()).await?;
    Ok(super::deleted(&state).await)
}

fn check_display_name(name: Option<&Option<String>>) -> Result<()> {
    match name {
        Some(Some(name)) => check(
            rules::name("display_name", name, 0, rules::MAX_DISPLAY_NAME_CHARS),
            "display_name",
        ),
        _ => Ok(()),
    }
}

/// `POST /v1/contacts`: adds a person to your address book (creating them if the server does
/// not know the username).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "FrankMcCallister", "phone_number": "1-800-759-3000"}))]
pub struct NewContactRequest {
    #[schema(schema_with = schemas::username)]
    pub username: String,
    #[schema(schema_with = schemas::phone_number)]
    pub phone_number: String,
    /// Their picture, for people the server does not know yet.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::avatar_url_or_null)]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::display_name_or_null)]
    pub display_name: Option<Option<String>>,
}

impl Request for NewContactRequest {
    fn validate(&self, _: &Settings) -> Result<()> {
        check(rules::username(&self.username), "username")?;
        check(rules::phone_number(&self.phone_number), "phone_number")?;
        if let Some(Some(url)) = &self.avatar_url {
            check(rules::url("avatar_url", url), "avatar_url")?;
        }
        check_display_name(self.display_name.as_ref())
    }
}

/// `PUT /v1/contacts/:id`
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"display_name": "Mom"}))]
pub struct UpdateContactRequest {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schemas::display_name_or_null)]
    pub display_name: Option<Option<String>>,
}

impl Request for UpdateContactRequest {
    fn validate(&self, _: &Settings) -> Result<()> {
        check_display_name(self.display_name.as_ref())
    }
}
