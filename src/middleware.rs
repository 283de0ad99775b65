//! The error boundary: a panicking handler becomes a JSON 500 (actix-web would drop the
//! connection), and every error response, whether ours or one that actix-web made itself (a
//! payload error, say), leaves with the contract's JSON error body.

use crate::AppState;
use crate::error::{Error, ErrorKind};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// App-wide, outermost: one log line per request (target `access`): method, path (never the
/// query string, which may carry ids and cursors), status, duration and the account. Tokens
/// never reach the log.
///
/// It also answers `HEAD` like `GET` without the body (RFC 9110 §9.3.2): the request goes on
/// as a `GET`, and the response keeps its headers, `Content-Length` included, but sends no
/// byte (nor reads the file or stream it would have sent). Here rather than in a layer of its
/// own, which would cost every request an allocation.
pub async fn access_log(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let head = method == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let result = next.call(req).await.map(|response| {
        if head {
            response.map_body(|_, body| BoxBody::new(Headless(body.size())))
        } else {
            response.map_into_boxed_body()
        }
    });
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(response) => {
            let account = response
                .request()
                .extensions()
                .get::<crate::account::Account>()
                .map(|a| a.username.clone())
                .unwrap_or_else(|| "-".into());
            log::info!(
                target: "access",
                "{method} {} {} {elapsed:.1}ms {account}",
                crate::error::printable(&path),
                response.status().as_u16()
            );
        }
        Err(e) => {
            log::info!(target: "access", "{method} {} error {elapsed:.1}ms: {e}", crate::error::printable(&path))
        }
    }
    result
}

/// App-wide: gives every error response the contract's JSON body, with `documentation_url`
/// based on `public_url`.
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(error) => return Err(error),
    };
    let Some(error) = response.response().error() else {
        return Ok(response);
    };
    let api_error = match error.as_error::<Error>() {
        Some(ours) => ours.clone(),
        None => foreign(response.status()),
    };
    let (request, _) = response.into_parts();
    let public_url = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.public_url.clone())
        .unwrap_or_default();
    Ok(ServiceResponse::new(
        request,
        api_error.to_response(&public_url),
    ))
}

/// Per resource (after routing, so holding a clone of the request is safe): a panicking
/// handler becomes a 500 that `render_errors` then renders, and the worker keeps serving.
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request = req.request().clone();
    // The async block moves the call itself inside catch_unwind, so a panic while building the
    // handler's future is caught too.
    let outcome = AssertUnwindSafe(async move { next.call(req).await })
        .catch_unwind()
        .await;
    match outcome {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let error = Error::internal(format!(
                "handler panicked on {} {}: {what}",
                request.method(),
                request.path()
            ));
            Ok(ServiceResponse::from_err(error, request))
        }
    }
}

/// An error actix-web produced on its own: keep its status, give it our body.
fn foreign(status: actix_web::http::StatusCode) -> Error {
    let kind = ErrorKind::from_status(status);
    let message = match kind {
        ErrorKind::PayloadTooLarge => "The request body is too large.",
        ErrorKind::UnsupportedMediaType => "The request body has an unsupported Content-Type.",
        ErrorKind::Internal => return Error::internal(format!("framework error {status}")),
        _ => "The request could not be read.",
    };
    Error::new(kind, message)
}

/// For unknown paths.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "No such route: {} {}.",
            req.method(),
            crate::error::printable(req.path())
        ),
    ))
}

/// For a known path with a method it does not have; `allow` lists the ones it has.
pub async fn method_not_allowed(
    req: actix_web::HttpRequest,
    allow: &'static str,
) -> Result<HttpResponse, Error> {
    let mut error = Error::new(
        ErrorKind::MethodNotAllowed,
        format!(
            "{} is not allowed on {}; use {allow}.",
            req.method(),
            crate::error::printable(req.path())
        ),
    );
    error.allow = Some(allow);
    Err(error)
}

/// The body of a `HEAD` response: the size the `GET` body has, and no bytes.
struct Headless(BodySize);

impl MessageBody for Headless {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        self.0
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        std::task::Poll::Ready(None)
    }
}
