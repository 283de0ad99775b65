//! The route table: every path and method of the server, in one place.

pub mod attachments;
pub mod contacts;
pub mod conversations;
pub mod docs;
pub mod events;
pub mod groups;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod schemas;
pub mod webapp;

use crate::error::{Error, Result};
use crate::metrics;
use crate::middleware::{catch_panic, method_not_allowed, not_found};
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder, Resource, ResponseError, web};
use serde::Serialize;

/// What the route table takes from the server it serves: its API document, and the metrics'
/// counters when they are on.
#[derive(Clone)]
pub struct Routes {
    pub openapi: web::Data<openapi::OpenApiJson>,
    pub metrics: Option<web::Data<metrics::Registry>>,
}

/// Routes are tried in the order they are registered, and a path with `{id}` is matched by a
/// regex while a fixed one is a string comparison: so the API comes before the web app and the
/// docs (whose `/app/{version}/{path:.*}` and `/docs/{name:.*}` would be tried on every request),
/// and in each group the fixed paths come first. No fixed path here also fits a pattern, so
/// the order changes nothing else.
pub fn configure(cfg: &mut web::ServiceConfig, routes: &Routes) {
    let root = Table {
        prefix: "",
        metrics: routes.metrics.as_ref().map(|registry| &***registry),
    };
    let v1 = Table {
        prefix: "/v1",
        ..root
    };
    if let Some(registry) = &routes.metrics {
        cfg.app_data(registry.clone());
    }
    cfg.app_data(routes.openapi.clone())
        .service(
            root.resource("/health", "GET")
                .route(web::get().to(health::health)),
        )
        .service(
            root.resource("/openapi.json", "GET")
                .route(web::get().to(openapi::openapi_json)),
        )
        .service(
            web::scope("/v1")
                .service(
                    v1.resource("/contacts", "GET, POST")
                        .route(web::get().to(contacts::list_contacts))
                        .route(web::post().to(contacts::create_contact)),
                )
                .service(
                    v1.resource("/conversations", "GET, POST")
                        .route(web::get().to(conversations::list_conversations))
                        .route(web::post().to(conversations::create_conversation)),
                )
                .service(
                    v1.resource("/messages", "GET, POST")
                        .route(web::get().to(messages::list_messages))
                        .route(web::post().to(messages::create_message)),
                )
                .service(
                    v1.resource("/attachments", "GET, POST")
                        .route(web::get().to(attachments::list_attachments))
                        .route(web::post().to(attachments::create_attachment)),
                )
                .service(
                    v1.resource("/events", "GET")
                        .route(web::get().to(events::stream_events)),
                )
                .service(
                    v1.resource("/groups", "GET, POST")
                        .route(web::get().to(groups::list_groups))
                        .route(web::post().to(groups::create_group)),
                )
                .service(
                    v1.resource("/contacts/{id}", "GET, PUT, DELETE")
                        .route(web::get().to(contacts::get_contact))
                        .route(web::put().to(contacts::update_contact))
                        .route(web::delete().to(contacts::delete_contact)),
                )
                .service(
                    v1.resource("/conversations/{id}", "GET, PUT, DELETE")
                        .route(web::get().to(conversations::get_conversation))
                        .route(web::put().to(conversations::update_conversation))
                        .route(web::delete().to(conversations::delete_conversation)),
                )
                .service(
                    v1.resource("/messages/{id}", "GET, PUT, DELETE")
                        .route(web::get().to(messages::get_message))
                        .route(web::put().to(messages::update_message))
                        .route(web::delete().to(messages::delete_message)),
                )
                .service(
                    v1.resource("/attachments/{id}", "GET, PUT, DELETE")
                        .route(web::get().to(attachments::get_attachment))
                        .route(web::put().to(attachments::update_attachment))
                        .route(web::delete().to(attachments::delete_attachment)),
                )
                .service(
                    v1.resource("/attachments/{id}/content", "GET")
                        .route(web::get().to(attachments::get_attachment_content)),
                )
                .service(
                    v1.resource("/groups/{id}/contacts", "GET, POST")
                        .route(web::get().to(groups::list_group_contacts))
                        .route(web::post().to(groups::add_group_contacts)),
                )
                .service(
                    v1.resource("/groups/{id}/contacts/{contact_id}", "DELETE")
                        .route(web::delete().to(groups::delete_group_contact)),
                )
                .service(
                    v1.resource("/groups/{id}", "GET, PUT, DELETE")
                        .route(web::get().to(groups::get_group))
                        .route(web::put().to(groups::update_group))
                        .route(web::delete().to(groups::delete_group)),
                ),
        )
        .service(
            root.resource("/", "GET, HEAD")
                .route(web::get().to(webapp::page))
                .route(web::head().to(webapp::page)),
        )
        .service(
            root.resource("/app/demo-accounts", "GET")
                .route(web::get().to(webapp::list_demo_accounts)),
        )
        .service(
            root.resource("/app/me", "GET")
                .route(web::get().to(webapp::me)),
        )
        .service(
            root.resource("/app/{version}/{path:.*}", "GET, HEAD")
                .route(web::get().to(webapp::asset))
                .route(web::head().to(webapp::asset)),
        )
        .service(docs::files(&root))
        .service(
            root.resource("/docs", "GET")
                .route(web::get().to(docs::docs_redirect)),
        )
        .default_service(web::to(not_found));
}

/// Makes the resources of the route table, under a path prefix.
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    prefix: &'static str,
    /// On: each resource carries the counters of its route pattern.
    metrics: Option<&'a metrics::Registry>,
}

impl Table<'_> {
    /// A resource whose other methods get the JSON 405 with `Allow: allow`, and whose
    /// handlers' panics become 500s. `allow` lists the methods of its routes (a test checks
    /// they agree).
    pub(crate) fn resource(
        &self,
        path: &str,
        allow: &'static str,
    ) -> Resource<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + use<>,
    > {
        let resource = web::resource(path)
            .wrap(actix_web::middleware::from_fn(catch_panic))
            .default_service(web::to(move |req| method_not_allowed(req, allow)));
        match self.metrics {
            Some(registry) => resource.app_data(metrics::RouteLabel(
                registry.route(&format!("{}{path}", self.prefix)),
            )),
            None => resource,
        }
    }
}

pub(crate) fn ok(body: impl Serialize) -> HttpResponse {
    json(HttpResponse::Ok(), body)
}

pub(crate) fn created(body: impl Serialize) -> HttpResponse {
    json(HttpResponse::Created(), body)
}

/// A 200 or 201 whose JSON body is written already (`views::message_json`).
pub(crate) fn written(
    mut response: HttpResponseBuilder,
    body: serde_json::Result<Vec<u8>>,
) -> HttpResponse {
    match body {
        Ok(bytes) => response
            .insert_header(header::ContentType::json())
            .body(bytes),
        Err(e) => Error::internal(format!("response not serializable: {e}")).error_response(),
    }
}

/// Room for a page of ten messages (about 3.5 KiB), which `HttpResponseBuilder::json` would
/// grow to from 128 bytes in five copies.
const JSON_CAPACITY: usize = 4096;

fn json(response: HttpResponseBuilder, body: impl Serialize) -> HttpResponse {
    let mut bytes = Vec::with_capacity(JSON_CAPACITY);
    let written_to = serde_json::to_writer(&mut bytes, &body).map(|()| bytes);
    written(response, written_to)
}

/// The 204 of a delete. Attachments deleted with it (directly or by cascade) lose their bytes
/// now; should that fail, the trash keeps them for the next start-up.
pub(crate) async fn deleted(state: &crate::AppState) -> HttpResponse {
    if let Err(e) = state.files.empty_trash(&state.db).await {
        log::warn!("attachment files stay in the trash for now: {e}");
    }
    HttpResponse::NoContent().finish()
}

/// A rule's sentence as a 400 about `param`.
pub(crate) fn check(rule: std::result::Result<(), String>, param: &str) -> Result<()> {
    rule.map_err(|message| Error::invalid(param, message))
}

/// A list attribute within its limit.
pub(crate) fn check_count(param: &str, list: Option<&[String]>, max: usize) -> Result<()> {
    match list {
        Some(items) if items.len() > max => Err(Error::invalid(
            param,
            format!("{param} may hold at most {max} items."),
        )),
        _ => Ok(()),
    }
}
