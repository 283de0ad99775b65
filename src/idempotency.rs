//! `Idempotency-Key` on POST: the first successful response to a key is stored for 24 hours,
//! and a retry with the same key (same account, same request) gets it back without anything
//! being created again; the same key with a different request is a 409.
//!
//! Requests with one key run one at a time (a per-key lock), so concurrent retries create one
//! object. The fingerprint of a request is its method, path and SHA-256 of its body; for a
//! multipart upload, whose boundary differs on each try, it is its length instead, so that
//! uploads keep streaming. Only 2xx responses are kept: a failed request may simply be retried.
//!
//! The response is stored right after the change commits, in a second transaction: a crash in
//! between would let a retry create the object again (documented in the README).

use crate::AppState;
use crate::body_clock::BodyClock;
use crate::db::idempotency::StoredResponse;
use crate::error::{Error, ErrorKind};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// One lock per (account, key) in use.
#[derive(Default)]
pub struct KeyLocks {
    locks: Mutex<HashMap<(String, String), KeyLock>>,
}

impl KeyLocks {
    fn lock_for(&self, account: &str, key: &str) -> KeyLock {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks
            .entry((account.to_owned(), key.to_owned()))
            .or_default()
            .clone()
    }

    /// Forgets a lock nobody else holds or waits for.
    fn release(&self, account: &str, key: &str) {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = (account.to_owned(), key.to_owned());
        if locks
            .get(&id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&id);
        }
    }
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

    let lock = state.idempotency.lock_for(&account.id, &key);
    let guard = lock.lock().await;
    let result = handle(&state, &account.id, &key, req, next).await;
    drop(guard);
    drop(lock);
    state.idempotency.release(&account.id, &key);
    result
}

async fn handle(
    state: &web::Data<AppState>,
    account: &str,
    key: &str,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request = format!("{} {}", req.method(), req.path());
    let fingerprint = match fingerprint(state, &mut req).await {
        Ok(fingerprint) => fingerprint,
        Err(error) => return Ok(req.error_response(error)),
    };
    let stored = state
        .db
        .idempotent_response(account.to_owned(), key.to_owned())
        .await;
    match stored {
        Err(error) => return Ok(req.error_response(Error::from(error))),
        Ok(Some(stored)) => {
            if stored.request != request || stored.fingerprint != fingerprint {
                let error = Error::new(
                    ErrorKind::Conflict,
                    "This Idempotency-Key was already used with a different request.",
                )
                .with_param("Idempotency-Key");
                return Ok(req.error_response(error));
            }
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            let response = HttpResponse::build(status)
                .content_type("application/json")
                .insert_header(("Idempotent-Replayed", "true"))
                .body(stored.body);
            return Ok(req.into_response(response));
        }
        Ok(None) => {}
    }

    let response = next.call(req).await?.map_into_boxed_body();
    if !response.status().is_success() {
        return Ok(response);
    }
    let (http_request, response) = response.into_parts();
    let status = response.status();
    let headers = response.headers().clone();
    let body = match actix_web::body::to_bytes(response.into_body()).await {
        Ok(body) => body,
        Err(_) => {
            let error = Error::internal("could not read a response to store it");
            return Ok(ServiceResponse::from_err(error, http_request));
        }
    };
    let stored = StoredResponse {
        request,
        fingerprint,
        status: status.as_u16(),
        body: body.to_vec(),
    };
    if let Err(e) = state
        .db
        .store_idempotent_response(account.to_owned(), key.to_owned(), stored)
        .await
    {
        log::warn!("could not store an idempotent response: {e}");
    }
    let mut rebuilt = HttpResponse::build(status);
    for (name, value) in &headers {
        rebuilt.insert_header((name.clone(), value.clone()));
    }
    Ok(ServiceResponse::new(http_request, rebuilt.body(body)))
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
