//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! models' `ToSchema` derives, so it cannot drift from the code; and the docs page that shows
//! it (Swagger UI, its files built into the binary).

use super::{attachments, contacts, conversations, events, groups, health, messages};
use crate::error::ErrorBody;
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Protocol server",
        description = "The Protocol chat API: contacts, conversations, messages (with reactions \
                       and attachments), groups, cursor pagination and realtime events. Bodies are \
                       JSON or bracket-nested forms (`curl -d`); lists take `limit`, \
                       `starting_after` and `ending_before`. Authorize with a token from \
                       protocol.toml: with the shipped file and its demo data, \
                       `kate-example-token-change-me` sees the docs' examples (the server \
                       prints the demo tokens when it starts).",
        license(name = "MIT")
    ),
    paths(
        health::health,
        contacts::list_contacts,
        contacts::create_contact,
        contacts::get_contact,
        contacts::update_contact,
        contacts::delete_contact,
        conversations::list_conversations,
        conversations::create_conversation,
        conversations::get_conversation,
        conversations::update_conversation,
        conversations::delete_conversation,
        messages::list_messages,
        messages::create_message,
        messages::get_message,
        messages::update_message,
        messages::delete_message,
        groups::list_groups,
        groups::create_group,
        groups::get_group,
        groups::update_group,
        groups::delete_group,
        attachments::list_attachments,
        attachments::create_attachment,
        attachments::get_attachment,
        attachments::get_attachment_content,
        attachments::update_attachment,
        attachments::delete_attachment,
        events::stream_events,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions),
    tags(
        (name = "contacts", description = "Your address book"),
        (name = "conversations", description = "Direct and group conversations, seen by you"),
        (name = "messages", description = "Messages, reactions, read receipts"),
        (name = "groups", description = "Groups you are a member of"),
        (name = "attachments", description = "Files: streamed upload, download with ranges"),
        (name = "events", description = "Realtime Server-Sent Events"),
        (name = "health", description = "Liveness, without a token"),
    )
)]
pub struct ApiDoc;

/// What every operation shares: the two ways to authenticate, and the error responses any
/// request can get (each with the contract's error body).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("basic", Vec::<String>::new()),
        ]);
        let error = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::content::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .into()
        };
        let common = [
            (
                "400",
                "A parameter or the body is invalid (`param` names it)",
            ),
            ("401", "No token, or not a valid one"),
            ("404", "No such object (or not yours to see)"),
            ("405", "The path does not take this method"),
            ("408", "The request body stopped arriving"),
            ("413", "The body is too large"),
            ("415", "The body's Content-Type is not accepted"),
            ("429", "Too many requests (see Retry-After)"),
            ("500", "The server failed; the cause is in its log"),
        ];
        for item in openapi.paths.paths.values_mut() {
            // A partial update may change nothing: its body is optional.
            if let Some(body) = item.put.as_mut().and_then(|op| op.request_body.as_mut()) {
                body.required = Some(utoipa::openapi::Required::False);
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let public = operation.security.as_ref().is_some_and(|s| s.is_empty())
                    || operation
                        .tags
                        .as_ref()
                        .is_some_and(|t| t.iter().any(|t| t == "health"));
                for (status, description) in common {
                    if public && status != "500" && status != "405" {
                        continue;
                    }
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                }
            }
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /docs/…` (the interactive reference, its files built into the binary) and
/// `GET /openapi.json`; neither needs a token.
pub fn docs() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document())
}

/// `GET /docs` → `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// A boolean attribute: `true`/`false` in JSON; in a form, `true`/`false` or `1`/`0`.
pub fn form_bool() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["true", "false", "1", "0"])),
            )
            .description(Some("true or false (a form may also send 1 or 0)"))
            .build(),
    )
}
