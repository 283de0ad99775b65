//! The API's own documentation, without a token: `/openapi.json` (this server's document, made
//! once at start-up) and `/docs`, the interactive reference (Swagger UI, its files built into
//! the binary from `assets/swagger-ui/`, so the page works offline).

use crate::error::{Error, ErrorKind};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};

/// The document, rendered once per server.
#[derive(Clone)]
pub struct OpenApiJson(pub web::Bytes);

impl OpenApiJson {
    pub fn new(settings: &crate::Settings) -> OpenApiJson {
        // Serializing a document of plain strings and maps cannot fail; should it, the
        // reference says so rather than the server refusing to start.
        let json = super::openapi::document(settings)
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

/// `GET /docs` → `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The page's files: (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/index.html"),
    ),
    (
        "swagger-initializer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-initializer.js"),
    ),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    ),
    (
        "favicon-16x16.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-16x16.png"),
    ),
];

/// `GET /docs/` and `GET /docs/FILE`.
pub(crate) fn files(
    table: &super::Table,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    table
        .resource("/docs/{name:.*}", "GET")
        .route(web::get().to(docs_file))
}

async fn docs_file(name: web::Path<String>) -> Result<HttpResponse, Error> {
    let name = match name.as_str() {
        "" => "index.html",
        other => other,
    };
    let (_, content_type, bytes) =
        FILES
            .iter()
            .find(|(file, _, _)| *file == name)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "No such file of the docs page: {}.",
                        crate::error::printable(name)
                    ),
                )
            })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        // The files change only with the binary.
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}
