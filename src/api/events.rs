//! `GET /v1/events`: the caller's events as Server-Sent Events.
//!
//! Each event is `id:` (the event id), `event:` (its type) and `data:` (the JSON body webhooks
//! get). With `Last-Event-ID`, everything after that event that is still retained is replayed
//! first, then the stream goes live, with no gap and nothing twice: the stream subscribes before
//! it reads the backlog, and skips anything at or before the last event it sent.

use crate::AppState;
use crate::account::Account;
use crate::db::Db;
use crate::db::events::StoredEvent;
use crate::error::Result;
use crate::events::hub::{Frame, Subscription};
use crate::limits::too_many;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One event, as the `data:` of an SSE frame and the body of a webhook POST.
#[derive(utoipa::ToSchema)]
pub struct EventBody {
    /// The event's position in the event log, in decimal: later events have larger ids.
    #[schema(example = "1042", pattern = "^[1-9][0-9]*$")]
    pub id: String,
    /// `RESOURCE.ACTION`, e.g. `message.created`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    /// Whose view the payload shows (who acted, for messages and attachments).
    pub account_id: String,
    /// The object as it is after the change (before it, for a delete).
    pub payload: serde_json::Value,
}

/// When to retry after the per-account stream cap said no.
const STREAM_RETRY_SECS: u64 = 5;
const KEEP_ALIVE: Duration = Duration::from_secs(15);
const CATCH_UP_BATCH: u32 = 500;

/// Stream events (Server-Sent Events)
///
/// `GET /v1/events`
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Replay everything after this event")),
    responses((status = 200, description = "Server-Sent Events: `id`, `event` (the type) and `data` (the event JSON) per event", content_type = "text/event-stream", body = EventBody)),
)]
pub async fn stream_events(
    state: web::Data<AppState>,
    account: Account,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let max = state.settings.max_event_streams_per_account;
    let Some(subscription) = state.hub.subscribe_within(&account.id, max) else {
        return Err(too_many(
            &format!(
                "This account already has {max} event streams open, the most it may hold; \
                 close one or retry later."
            ),
            STREAM_RETRY_SECS,
        ));
    };
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Where to start: after the named event; from the oldest retained one if it is no longer
    // known; or, for a fresh stream, after everything already committed.
    let (cursor, catch_up) = match last_event_id {
        Some(id) => {
            let seq = state.db.event_seq(id).await?;
            (seq.unwrap_or(0), true)
        }
        None => (state.db.newest_event_seq().await?, false),
    };
    let stream = SseStream {
        db: state.db.clone(),
        person: account.id,
        cursor,
        catch_up,
        backlog: VecDeque::new(),
        subscription,
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        greeted: false,
    };
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<Bytes, actix_web::Error>(chunk), stream))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

struct SseStream {
    db: Db,
    person: String,
    /// The seq of the last event sent (or skipped as already known).
    cursor: i64,
    catch_up: bool,
    backlog: VecDeque<StoredEvent>,
    subscription: Subscription,
    keep_alive: tokio::time::Interval,
    greeted: bool,
}

impl SseStream {
    /// The next bytes to send; `None` ends the stream (server shutting down, or a database
    /// error while catching up).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.greeted {
            self.greeted = true;
            return Some(Bytes::from_static(b"retry: 3000\n: connected\n\n"));
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if let Some(chunk) = self.send(&Frame::of(&event)) {
                    return Some(chunk);
                }
                continue;
            }
            if self.catch_up || self.subscription.lagged.swap(false, Ordering::Relaxed) {
                let (person, after) = (self.person.clone(), self.cursor);
                let batch = self
                    .db
                    .events_for(person, after, CATCH_UP_BATCH)
                    .await
                    .map_err(|e| log::warn!("event stream catch-up: {e}"))
                    .ok()?;
                self.catch_up = batch.len() == CATCH_UP_BATCH as usize;
                self.backlog.extend(batch);
                continue;
            }
            tokio::select! {
                event = self.subscription.events.recv() => {
                    if let Some(chunk) = self.send(&*event?) {
                        return Some(chunk);
                    }
                }
                _ = self.keep_alive.tick() => {
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
            }
        }
    }

    /// The frame of an event not sent yet.
    fn send(&mut self, frame: &Frame) -> Option<Bytes> {
        if frame.seq <= self.cursor {
            return None;
        }
        self.cursor = frame.seq;
        self.keep_alive.reset();
        Some(frame.bytes.clone())
    }
}
