//! `/docs`, the interactive API reference without a token: Swagger UI, its files built into the
//! binary from `assets/swagger-ui/` (so the page works offline), reading `/openapi.json`
//! (`openapi.rs`).

use crate::error::{Error, ErrorKind};
use actix_web::http::header;
use actix_web::{HttpResponse, web};

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
