//! Contacts: the caller's address book.

use super::{check, created, ok};
use crate::auth::Account;
use crate::db::{self, contacts::NewContact};
use crate::error::Result;
use crate::extract::{Body, Query};
use crate::pagination::PageParams;
use crate::{AppState, rules};
use actix_web::{HttpResponse, web};

type Id = web::Path<String>;

/// `GET /v1/contacts`
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

/// `POST /v1/contacts`
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

/// `GET /v1/contacts/:id`
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

/// `PUT /v1/contacts/:id`: `display_name` only.
pub async fn update_contact(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    body: Body,
) -> Result<HttpResponse> {
    let display_name = body.nullable_string("display_name")?;
    if let Some(Some(name)) = &display_name {
        check(
            rules::text("display_name", name, 0, rules::MAX_DISPLAY_NAME_CHARS),
            "display_name",
        )?;
    }
    let contact = state
        .db
        .write(move |tx| db::contacts::update(tx, &account.id, &id, display_name))
        .await?;
    Ok(ok(contact))
}

/// `DELETE /v1/contacts/:id`
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
            rules::text("display_name", name, 0, rules::MAX_DISPLAY_NAME_CHARS),
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
