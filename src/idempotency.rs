//! `Idempotency-Key` on POST: the first successful response to a key is stored for 24 hours,
//! and a retry with the same key (same account, same request) gets it back without anything
//! being created again; the same key with a different request is a 409.
//!
//! The response is stored in the transaction of the change it answers (`IdempotencyKey`, handed
//! to the handler, gives the change a `Receipt`), so no change commits without it: not after a
//! crash, not on another server of a fleet. Requests with one key that run at once, on one
//! server or several, race to commit; the key's row lets one win, the others' changes are undone
//! and they answer with the winner's response. The fingerprint of a request is its method, path
//! and SHA-256 of its body; for a multipart upload, whose boundary differs on each try, it is its
//! length instead, so that uploads keep streaming. Only 2xx responses are kept: a failed request
//! may simply be retried.

use crate::AppState;
use crate::body_clock::BodyClock;
use crate::db::idempotency::{KeyUse, Receipt};
use crate::error::{Error, ErrorKind};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// A request's key, as the middleware hands it to the handler.
struct KeyInUse {
    key: KeyUse,
    /// Whether the handler gave its change a receipt (so the change stored the response).
    answered_by_change: AtomicBool,
}

/// What a POST handler receives of its request's `Idempotency-Key` (nothing without one): the
/// receipt its change records the response with.
pub struct IdempotencyKey(Option<Arc<KeyInUse>>);

impl IdempotencyKey {
    /// A receipt that stores `respond(done)` as the response (`created` or `ok` of the view the
    /// handler answers with); `None` without a key.
    pub fn receipt<T>(
        &self,
        respond: impl Fn(&T) -> (StatusCode, Vec<u8>) + Send + Sync + 'static,
    ) -> Option<Receipt<T>> {
        let used = self.0.as_ref()?;
        used.answered_by_change.store(true, Ordering::Relaxed);
        Some(Receipt {
            key: used.key.clone(),
            respond: Arc::new(move |done| {
                let (status, body) = respond(done);
                (status.as_u16(), body)
            }),
        })
    }
}

impl FromRequest for IdempotencyKey {
    type Error = actix_web::Error;
    type Future = Ready<Result<IdempotencyKey, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(IdempotencyKey(
            req.extensions().get::<Arc<KeyInUse>>().cloned(),
        )))
    }
}

/// A 201 with `view` as its JSON body, as the API writes it (`api::created`).
pub fn created(view: impl Serialize) -> (StatusCode, Vec<u8>) {
    (StatusCode::CREATED, json(view))
}

/// A 200 with `view` as its JSON body (`api::ok`).
pub fn ok(view: impl Serialize) -> (StatusCode, Vec<u8>) {
    (StatusCode::OK, json(view))
}

fn json(view: impl Serialize) -> Vec<u8> {
    // The views serialize infallibly (no maps with non-string keys, no custom errors).
    serde_json::to_vec(&view).unwrap_or_default()
}

pub async fn idempotency(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned).unwrap_or_default());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(key), Some(state), true) = (key, state, req.method() == Method::POST) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Ok(account) = state.accounts().authenticate(authorization) else {
        // The handler answers 401.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let error = Error::invalid(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
        );
        return Ok(req.error_response(error));
    }
    handle(&state, account.id.clone(), key, req, next).await
}

async fn handle(
    state: &web::Data<AppState>,
    account: String,
    key: String,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let fingerprint = match fingerprint(state, &mut req).await {
        Ok(fingerprint) => fingerprint,
        Err(error) => return Ok(req.error_response(error)),
    };
    let used = Arc::new(KeyInUse {
        key: KeyUse {
            account,
            key,
            request: format!("{} {}", req.method(), req.path()),
            fingerprint,
        },
        answered_by_change: AtomicBool::new(false),
    });
    let (http_request, payload) = req.into_parts();
    if let Some(answer) = replay(state, &used.key, &http_request).await {
        return Ok(answer);
    }
    http_request.extensions_mut().insert(used.clone());
    let req = ServiceRequest::from_parts(http_request, payload);

    let response = next.call(req).await?.map_into_boxed_body();
    let answered_by_change = used.answered_by_change.load(Ordering::Relaxed);
    if response.status() == StatusCode::CONFLICT && answered_by_change {
        // Perhaps another request with this key committed first (`db::idempotency::KEY_TAKEN`):
        // then its answer is this one's too.
        if let Some(answer) = replay(state, &used.key, response.request()).await {
            return Ok(answer);
        }
        return Ok(response);
    }
    // Every POST handler gives its change a receipt; one that did not would leave its key
    // unanswered (a retry would make the object again).
    debug_assert!(
        answered_by_change || !response.status().is_success(),
        "{} answered without recording its Idempotency-Key",
        used.key.request
    );
    Ok(response)
}

/// The answer to a key used before: its stored response, or 409 if that was another request.
async fn replay(
    state: &AppState,
    used: &KeyUse,
    request: &HttpRequest,
) -> Option<ServiceResponse<BoxBody>> {
    let stored = state
        .db
        .idempotent_response(used.account.clone(), used.key.clone())
        .await;
    let answer = match stored {
        Err(error) => HttpResponse::from_error(Error::from(error)),
        Ok(None) => return None,
        Ok(Some(stored))
            if stored.request != used.request || stored.fingerprint != used.fingerprint =>
        {
            let error = Error::new(
                ErrorKind::Conflict,
                "This Idempotency-Key was already used with a different request.",
            )
            .with_param("Idempotency-Key");
            HttpResponse::from_error(error)
        }
        Ok(Some(stored)) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            HttpResponse::build(status)
                .content_type("application/json")
                .insert_header(("Idempotent-Replayed", "true"))
                .body(stored.body)
        }
    };
    Some(ServiceResponse::new(request.clone(), answer))
}

/// Method-independent fingerprint of the body: SHA-256 of it, read here (it is small: at most
/// `max_body_bytes`) and handed on to the handler; for multipart, its declared length.
async fn fingerprint(state: &AppState, req: &mut ServiceRequest) -> Result<Vec<u8>, Error> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/") {
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("chunked");
        return Ok(format!("multipart:{length}").into_bytes());
    }
    let limit = state.settings.max_body_bytes;
    let clock = BodyClock::new(state.settings.min_body_bytes_per_second);
    let mut payload = clock.count(req.take_payload());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = clock.next(&mut payload).await? {
        let chunk = chunk
            .map_err(|e| Error::bad_request(format!("The request body could not be read: {e}.")))?;
        if body.len() + chunk.len() > limit {
            return Err(crate::extract::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let digest = Sha256::digest(&body).to_vec();
    req.set_payload(Payload::from(body));
    Ok(digest)
}
