//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! `ToSchema` derives of the very types the handlers parse and answer with, so it cannot drift
//! from the code. Each server makes its own (`document`): its `servers` entry is the server's
//! `public_url`, and the limits the config sets (`max_message_chars`) are its own.

use super::schemas::{ID_PATTERN, ObjectId};
use super::{attachments, contacts, conversations, events, groups, health, messages};
use crate::Settings;
use crate::error::ErrorBody;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder, ServerBuilder};
use utoipa::{Modify, OpenApi};

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
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        health::health,
        openapi_json,
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
        groups::list_group_contacts,
        groups::add_group_contacts,
        groups::delete_group_contact,
        attachments::list_attachments,
        attachments::create_attachment,
        attachments::get_attachment,
        attachments::get_attachment_content,
        attachments::update_attachment,
        attachments::delete_attachment,
        events::stream_events,
    ),
    components(schemas(ErrorBody, ObjectId)),
    modifiers(&Conventions),
    tags(
        (name = "contacts", description = "Your address book"),
        (name = "conversations", description = "Direct and group conversations, seen by you"),
        (name = "messages", description = "Messages, reactions, read receipts"),
        (name = "groups", description = "Groups you are a member of"),
        (name = "attachments", description = "Files: streamed upload, download with ranges"),
        (name = "events", description = "Realtime Server-Sent Events"),
        (name = "health", description = "Liveness, without a token"),
        (name = "documentation", description = "This document, without a token"),
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
            if let Some(create) = item.post.as_mut() {
                idempotency_key(create, &error);
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                // `security(())`: one requirement that asks for nothing.
                let public = operation.security.as_ref().is_some_and(|requirements| {
                    requirements
                        .iter()
                        .all(|r| r == &SecurityRequirement::default())
                });
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

/// Every POST takes an `Idempotency-Key` (`idempotency.rs`); the same key with another
/// request is a 409.
fn idempotency_key(
    operation: &mut utoipa::openapi::path::Operation,
    error: &dyn Fn(&str) -> RefOr<Response>,
) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Makes a retry safe: the first successful response to this key is kept for 24 hours \
             and a retry with the same key and request gets it again, creating nothing twice.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
    operation
        .responses
        .responses
        .entry("409".to_owned())
        .or_insert_with(|| error("Conflict (for an Idempotency-Key: used with another request)"));
}

/// The document of a server with these settings, as JSON.
pub fn document(settings: &Settings) -> serde_json::Result<serde_json::Value> {
    let mut document = serde_json::to_value(typed_document(settings))?;
    add_links(&mut document);
    Ok(document)
}

fn typed_document(settings: &Settings) -> utoipa::openapi::OpenApi {
    let mut openapi = ApiDoc::openapi();
    openapi.servers = Some(vec![
        ServerBuilder::new()
            .url(settings.public_url.as_str())
            .description(Some("This server (its public_url)"))
            .build(),
    ]);
    // The limits this server's config sets.
    if let Some(components) = openapi.components.as_mut() {
        for (schema, name) in [
            ("NewMessageRequest", "message"),
            ("UpdateMessageRequest", "message"),
            ("NewGroupRequest", "contacts"),
            ("UpdateGroupRequest", "contacts"),
            ("AddGroupContactsRequest", "contacts"),
        ] {
            let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut(schema) else {
                continue;
            };
            match request.properties.get_mut(name) {
                Some(RefOr::T(Schema::Object(text))) => {
                    text.max_length = Some(settings.max_message_chars);
                }
                Some(RefOr::T(Schema::Array(members))) => {
                    members.max_items = Some(settings.max_group_members);
                }
                _ => {}
            }
        }
    }
    add_form_bodies(&mut openapi);
    openapi
}

/// OpenAPI links: which operation can take an id that a response returns. They say how the
/// API fits together, and they let a fuzzer (schemathesis' stateful phase) reach operations
/// that need an existing object, such as `POST /v1/conversations` with a new contact's id or
/// `PUT /v1/conversations/{id}` pinning a message of that very conversation.
///
/// Added to the JSON: utoipa 5.5 writes a link's fields in snake case (`operation_id`).
fn add_links(document: &mut serde_json::Value) {
    use serde_json::json;
    // The operations on the object a POST made: (POST path, link name, operation id).
    const ON_THE_NEW_OBJECT: &[(&str, &str, &str)] = &[
        ("/v1/contacts", "GetContact", "get_contact"),
        ("/v1/contacts", "UpdateContact", "update_contact"),
        ("/v1/contacts", "DeleteContact", "delete_contact"),
        ("/v1/conversations", "OpenConversation", "get_conversation"),
        (
            "/v1/conversations",
            "UpdateConversation",
            "update_conversation",
        ),
        (
            "/v1/conversations",
            "DeleteConversation",
            "delete_conversation",
        ),
        ("/v1/messages", "GetMessage", "get_message"),
        ("/v1/messages", "UpdateMessage", "update_message"),
        ("/v1/messages", "DeleteMessage", "delete_message"),
        ("/v1/groups", "GetGroup", "get_group"),
        ("/v1/groups", "UpdateGroup", "update_group"),
        ("/v1/groups", "DeleteGroup", "delete_group"),
        ("/v1/groups", "ListMembers", "list_group_contacts"),
        ("/v1/groups", "AddMembers", "add_group_contacts"),
        ("/v1/attachments", "GetAttachment", "get_attachment"),
        ("/v1/attachments", "Download", "get_attachment_content"),
        ("/v1/attachments", "RenameAttachment", "update_attachment"),
        ("/v1/attachments", "DeleteAttachment", "delete_attachment"),
    ];
    let mut links: Vec<(&str, &str, serde_json::Value)> = ON_THE_NEW_OBJECT
        .iter()
        .map(|(path, name, operation)| {
            let link =
                json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}});
            (*path, *name, link)
        })
        .collect();
    links.extend([
        (
            "/v1/contacts",
            "OpenTheirConversation",
            json!({"operationId": "create_conversation",
                   "requestBody": {"contact_id": "$response.body#/id"}}),
        ),
        (
            "/v1/groups",
            "OpenItsConversation",
            json!({"operationId": "create_conversation",
                   "requestBody": {"group_id": "$response.body#/id"}}),
        ),
        (
            "/v1/groups/{id}/contacts",
            "RemoveMember",
            json!({"operationId": "delete_group_contact",
                   "parameters": {"id": "$request.path.id",
                                  "contact_id": "$response.body#/data/0/id"}}),
        ),
        (
            "/v1/messages",
            "PinIt",
            json!({"operationId": "update_conversation",
                   "parameters": {"id": "$response.body#/conversation_id"},
                   "requestBody": {"pinned_message_id": "$response.body#/id"}}),
        ),
    ]);
    for (path, name, link) in links {
        // What a POST made is its 201; an existing conversation comes back with 200.
        for status in ["200", "201"] {
            let pointer = format!(
                "/paths/{}/post/responses/{status}",
                path.replace('~', "~0").replace('/', "~1")
            );
            if let Some(response) = document
                .pointer_mut(&pointer)
                .and_then(serde_json::Value::as_object_mut)
                && let Some(links) = response
                    .entry("links")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
            {
                links.insert(name.to_owned(), link.clone());
            }
        }
    }
}

/// Form bodies get schemas of their own. A form has no null: an empty value clears a nullable
/// attribute (`archived_at=`), so each form schema is its JSON twin with `null` taken out of
/// every type and empty strings allowed where null was.
const FORM: &str = "application/x-www-form-urlencoded";

fn add_form_bodies(openapi: &mut utoipa::openapi::OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    // An upload is its file and message_id: other (small) parts are ignored, so the
    // document does not invite them.
    if let Some(RefOr::T(Schema::Object(upload))) = components.schemas.get_mut("UploadRequest") {
        upload.additional_properties = Some(Box::new(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
    }
    let mut forms = Vec::new();
    for item in openapi.paths.paths.values_mut() {
        for operation in [&mut item.post, &mut item.put].into_iter().flatten() {
            let Some(content) = operation
                .request_body
                .as_mut()
                .and_then(|body| body.content.get_mut(FORM))
            else {
                continue;
            };
            if let Some(RefOr::Ref(reference)) = content.schema.as_mut()
                && let Some(name) = reference
                    .ref_location
                    .strip_prefix("#/components/schemas/")
                    .map(str::to_owned)
            {
                reference.ref_location = format!("#/components/schemas/{name}Form");
                forms.push(name);
            }
        }
    }
    for name in forms {
        if let Some(RefOr::T(schema)) = components.schemas.get(&name) {
            let mut form = schema.clone();
            without_null(&mut form);
            components
                .schemas
                .insert(format!("{name}Form"), RefOr::T(form));
        }
    }
}

fn is_id_ref(items: &utoipa::openapi::schema::ArrayItems) -> bool {
    matches!(items, utoipa::openapi::schema::ArrayItems::RefOrSchema(item)
        if matches!(item.as_ref(), RefOr::Ref(r) if r.ref_location.ends_with("/ObjectId")))
}

/// Takes `null` out of a schema's types (recursively through properties and alternatives); a
/// string that could be null may be empty instead.
fn without_null(schema: &mut utoipa::openapi::schema::Schema) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    match schema {
        Schema::Object(object) => {
            if let SchemaType::Array(types) = &object.schema_type
                && types.contains(&Type::Null)
            {
                let rest: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                if rest == [Type::String]
                    && let Some(pattern) = object.pattern.as_mut()
                    && let Some(inner) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$'))
                {
                    *pattern = format!("^({inner})?$");
                }
                object.schema_type = match rest.as_slice() {
                    [one] => SchemaType::Type(one.clone()),
                    _ => SchemaType::Array(rest),
                };
            }
            for property in object.properties.values_mut() {
                match property {
                    RefOr::T(Schema::Array(array)) if is_id_ref(&array.items) => {
                        // `contacts=` (one empty value) is an empty list in a form.
                        array.items = utoipa::openapi::schema::ArrayItems::RefOrSchema(Box::new(
                            RefOr::T(Schema::Object(
                                utoipa::openapi::schema::ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .pattern(Some(format!(
                                        "^({})?$",
                                        &ID_PATTERN[1..ID_PATTERN.len() - 1]
                                    )))
                                    .build(),
                            )),
                        ));
                    }
                    RefOr::T(inner) => without_null(inner),
                    RefOr::Ref(_) => {}
                }
            }
        }
        Schema::OneOf(one_of) => {
            for item in one_of.items.iter_mut() {
                if let RefOr::T(inner) = item {
                    without_null(inner);
                    // Generated clients name a model by its title: the twin's must differ.
                    if let Schema::Object(object) = inner
                        && let Some(title) = object.title.as_mut()
                    {
                        title.push_str("Form");
                    }
                }
            }
        }
        _ => {}
    }
}

/// The document, rendered once per server.
#[derive(Clone)]
pub struct OpenApiJson(pub web::Bytes);

impl OpenApiJson {
    pub fn new(settings: &crate::Settings) -> OpenApiJson {
        // Serializing a document of plain strings and maps cannot fail; should it, the
        // reference says so rather than the server refusing to start.
        let json = document(settings)
            .and_then(|document| serde_json::to_vec(&document))
            .unwrap_or_else(|e| {
                log::error!("the OpenAPI document could not be rendered: {e}");
                b"{}".to_vec()
            });
        OpenApiJson(json.into())
    }
}

/// The OpenAPI document
///
/// `GET /openapi.json`: this server's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", content_type = "application/json", body = Object)),
    security(()),
)]
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(document.0.clone())
}
