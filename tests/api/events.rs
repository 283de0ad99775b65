//! Webhooks (a real receiver on 127.0.0.1 inside the test) and the SSE stream.

use crate::helpers::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------- A webhook receiver ----------

#[derive(Clone, Debug)]
struct Delivery {
    body: Vec<u8>,
    signature: String,
    /// The `x-protocol-event` header.
    event_type: String,
    /// 0: never answered (the receiver hung).
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    deliveries: Vec<Delivery>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Answer 503 while set.
    down: bool,
    /// Never answer a request whose body contains this text.
    hang_on: Option<String>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            fail_first,
            ..Default::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let answered = {
                            let mut state = shared.lock().unwrap();
                            let hang = state.hang_on.as_ref().is_some_and(|text| {
                                String::from_utf8_lossy(&body).contains(text.as_str())
                            });
                            let answered = if hang {
                                0
                            } else if state.down {
                                503
                            } else if state.fail_first > 0 {
                                state.fail_first -= 1;
                                500
                            } else {
                                200
                            };
                            state.deliveries.push(Delivery {
                                body: body.to_vec(),
                                signature: header("x-protocol-signature"),
                                event_type: header("x-protocol-event"),
                                answered,
                            });
                            answered
                        };
                        if answered == 0 {
                            actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
                        }
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(answered).unwrap(),
                        )
                        .finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Receiver { url, state }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// The bodies answered with 2xx, parsed.
    fn delivered(&self) -> Vec<Value> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.answered == 200)
            .map(|d| serde_json::from_slice(&d.body).unwrap())
            .collect()
    }

    /// Waits until `done` holds for the delivered events.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let delivered = self.delivered();
            if done(&delivered) {
                return delivered;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {delivered:?}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn webhook(url: &str, events: &[&str]) -> protocol::config::WebhookConfig {
    let events = events
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "[[accounts]]\nusername = \"x\"\nphone_number = \"1\"\ntoken = \"t\"\n\
         [[webhooks]]\nurl = \"{url}\"\nsecret = \"hook-secret\"\nevents = [{events}]\n\
         retry_base_ms = 20\nmax_attempts = 5\ntimeout_seconds = 2\n"
    );
    protocol::config::Config::parse(&text)
        .unwrap()
        .webhooks
        .remove(0)
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[actix_web::test]
async fn webhooks_are_signed_with_hmac_sha256_of_the_exact_body() {
    let receiver = Receiver::start(0);
    let hook = webhook(&receiver.url, &["*"]);
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "signed").await;

    let delivered = receiver
        .wait_for("message.created", |d| {
            !of_type(d, "message.created").is_empty()
        })
        .await;
    let event = of_type(&delivered, "message.created")[0];
    assert_eq!(event["payload"], message);
    // An event's id is its place in the outbox, in decimal.
    assert!(
        event["id"]
            .as_str()
            .is_some_and(|id| id.parse::<u64>().is_ok_and(|seq| seq > 0))
    );
    assert!(event["created_at"].is_i64());
    for delivery in receiver.deliveries() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(&delivery.body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(delivery.signature, expected);
        // The event type rides in a header too, so a receiver can route before parsing.
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(delivery.event_type, body["type"].as_str().unwrap());
    }
    // Every change produced its event: contacts (both books), the conversation (both views).
    assert_eq!(of_type(&delivered, "contact.created").len(), 2);
    assert_eq!(of_type(&delivered, "conversation.created").len(), 2);
}

/// An event carries the object exactly as the API answered it, links included: both are
/// printed by the same response types, with `file_url` under the configured `public_url`.
#[actix_web::test]
async fn event_payloads_are_the_api_answers_with_links_under_public_url() {
    let receiver = Receiver::start(0);
    let hook = webhook(&receiver.url, &["message.created", "attachment.created"]);
    let public = "https://chat.example.com/protocol";
    let app = spawn_app_with(|c| {
        c.webhooks.push(hook);
        c.server.public_url = Some(public.to_owned());
    })
    .await;
    let conversation = app.kevin_and_kate().await;
    let attachment = app
        .upload(KEVIN.1, "file", "a.txt", Some("text/plain"), b"hi", &[])
        .await
        .expect(201)
        .body
        .value();
    let id = attachment["id"].as_str().unwrap();
    assert_eq!(
        attachment["file_url"],
        format!("{public}/v1/attachments/{id}/content")
    );
    let message = app
        .send_with_attachments(KEVIN.1, &conversation, "with a file", &[id])
        .await;
    assert_eq!(
        message["attachments"][0]["file_url"],
        attachment["file_url"]
    );

    let delivered = receiver.wait_for("both events", |d| d.len() >= 2).await;
    assert_eq!(
        of_type(&delivered, "attachment.created")[0]["payload"],
        attachment
    );
    assert_eq!(
        of_type(&delivered, "message.created")[0]["payload"],
        message
    );
}

#[actix_web::test]
async fn only_subscribed_events_are_sent() {
    let receiver = Receiver::start(0);
    let hook = webhook(&receiver.url, &["message.*", "group.created"]);
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "one").await;
    app.put_form(
        &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
        KATE.1,
        "reactions[smile][]=KateMcCallister",
    )
    .await
    .expect(200);
    app.post_form("/v1/groups", KEVIN.1, "name=G")
        .await
        .expect(201);
    let delivered = receiver.wait_for("three events", |d| d.len() >= 3).await;
    let kinds: Vec<&str> = delivered
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message.created", "message.updated", "group.created"]
    );
}

#[actix_web::test]
async fn a_failing_receiver_gets_the_event_exactly_once_as_2xx() {
    let receiver = Receiver::start(2);
    let hook = webhook(&receiver.url, &["message.created"]);
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let message = app.send(KEVIN.1, &conversation, "retry me").await;
    let delivered = receiver.wait_for("the event", |d| !d.is_empty()).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["payload"]["id"], message["id"]);
    let attempts = receiver.deliveries();
    assert_eq!(
        attempts.iter().map(|d| d.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    // The same event each time.
    assert!(attempts.windows(2).all(|w| w[0].body == w[1].body));
}

#[actix_web::test]
async fn delivery_order_follows_event_order() {
    let receiver = Receiver::start(1);
    let hook = webhook(&receiver.url, &["message.created"]);
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(app.send(KEVIN.1, &conversation, &format!("n{i}")).await["id"].clone());
    }
    let delivered = receiver.wait_for("20 events", |d| d.len() >= 20).await;
    let order: Vec<Value> = delivered
        .iter()
        .map(|e| e["payload"]["id"].clone())
        .collect();
    assert_eq!(order, sent);
}

#[actix_web::test]
async fn a_restart_between_change_and_delivery_still_delivers() {
    let receiver = Receiver::start(0);
    receiver.state.lock().unwrap().down = true;
    let hook = webhook(&receiver.url, &["message.created"]);
    let first = spawn_app_with(|c| {
        let mut hook = hook.clone();
        hook.max_attempts = 1_000;
        c.webhooks.push(hook);
    })
    .await;
    let conversation = first.kevin_and_kate().await;
    let message = first.send(KEVIN.1, &conversation, "survive").await;
    // Wait until it has been tried and refused at least once, then stop that server.
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.deliveries().is_empty() {
        assert!(Instant::now() < deadline);
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop().await;
    receiver.state.lock().unwrap().down = false;

    let database = first.database();
    let _second = spawn_app_with(|c| {
        c.server.database = database;
        c.webhooks.push(hook);
    })
    .await;
    let delivered = receiver
        .wait_for("the event after restart", |d| !d.is_empty())
        .await;
    assert_eq!(delivered[0]["payload"]["id"], message["id"]);
}

#[actix_web::test]
async fn a_dead_endpoint_slows_neither_the_api_nor_other_endpoints() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let healthy = Receiver::start(0);
    let mut dead = webhook(&silent_url, &["*"]);
    dead.timeout_seconds = 600;
    let live = webhook(&healthy.url, &["message.created"]);
    let app = spawn_app_with(|c| {
        c.webhooks.push(dead);
        c.webhooks.push(live);
    })
    .await;
    let conversation = app.kevin_and_kate().await;
    let started = Instant::now();
    for i in 0..10 {
        app.send(KEVIN.1, &conversation, &format!("m{i}")).await;
    }
    healthy.wait_for("10 events", |d| d.len() >= 10).await;
    // Were delivery on the request path, the first send alone would wait for the dead
    // endpoint's 600 s timeout. (Speed is measured in bench/, not here.)
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

/// The rows of `webhook_failures`: (url, event_id, attempts, last_error), once `count` exist.
async fn wait_for_failures(app: &TestApp, count: usize) -> Vec<(String, String, u32, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows: Vec<(String, String, u32, String)> = app.sql(|conn| {
            conn.prepare_cached(
                "SELECT url, event_id, attempts, last_error FROM webhook_failures ORDER BY seq",
            )
            .unwrap()
            .query_map(rusqlite::params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        });
        if rows.len() >= count {
            return rows;
        }
        assert!(Instant::now() < deadline, "no failure recorded: {rows:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn after_max_attempts_the_failure_is_recorded_and_the_next_event_goes_out() {
    let receiver = Receiver::start(3);
    let mut hook = webhook(&receiver.url, &["message.created"]);
    hook.max_attempts = 3;
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let lost = app
        .send(KEVIN.1, &conversation, "refused three times")
        .await;
    let next = app.send(KEVIN.1, &conversation, "the next one").await;

    let delivered = receiver.wait_for("the next event", |d| !d.is_empty()).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["payload"]["id"], next["id"]);
    let attempts = receiver.deliveries();
    assert_eq!(
        attempts.iter().map(|d| d.answered).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let given_up: Value = serde_json::from_slice(&attempts[0].body).unwrap();
    assert_eq!(given_up["payload"]["id"], lost["id"]);

    let failures = wait_for_failures(&app, 1).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (url, event_id, tries, error) = &failures[0];
    assert_eq!(url, &receiver.url);
    assert_eq!(event_id, given_up["id"].as_str().unwrap());
    assert_eq!(*tries, 3);
    assert!(error.contains("500"), "{error}");
}

#[actix_web::test]
async fn a_receiver_that_never_answers_times_out_is_retried_and_given_up() {
    let receiver = Receiver::start(0);
    receiver.state.lock().unwrap().hang_on = Some("never answered".into());
    let mut hook = webhook(&receiver.url, &["message.created"]);
    hook.max_attempts = 2;
    hook.timeout_seconds = 1;
    let app = spawn_app_with(|c| c.webhooks.push(hook)).await;
    let conversation = app.kevin_and_kate().await;
    let hung = app.send(KEVIN.1, &conversation, "never answered").await;
    let next = app.send(KEVIN.1, &conversation, "answered").await;

    let delivered = receiver.wait_for("the next event", |d| !d.is_empty()).await;
    assert_eq!(delivered[0]["payload"]["id"], next["id"]);
    let attempts = receiver.deliveries();
    assert_eq!(
        attempts.iter().map(|d| d.answered).collect::<Vec<_>>(),
        [0, 0, 200],
        "two attempts that timed out, then the next event"
    );
    let failures = wait_for_failures(&app, 1).await;
    let (_, event_id, tries, error) = &failures[0];
    let given_up: Value = serde_json::from_slice(&attempts[0].body).unwrap();
    assert_eq!(given_up["payload"]["id"], hung["id"]);
    assert_eq!(event_id, given_up["id"].as_str().unwrap());
    assert_eq!(*tries, 2);
    assert!(
        !error.starts_with("HTTP"),
        "not a status but a timeout: {error}"
    );
}

// ---------- Server-Sent Events ----------

pub(crate) struct Sse {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<web::Bytes, awc::error::PayloadError>>>,
    >,
    buffer: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) data: Value,
}

impl Sse {
    pub(crate) async fn connect(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Sse {
        let mut request = app
            .client()
            .get(format!("{}/v1/events", app.base))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .timeout(Duration::from_secs(3600));
        if let Some(id) = last_event_id {
            request = request.insert_header(("Last-Event-ID", id.to_owned()));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        let mut sse = Sse {
            body: Box::pin(response),
            buffer: String::new(),
        };
        // The greeting comment tells the stream is live.
        let greeting = sse.next_frame(WAIT).await.unwrap();
        assert!(greeting.contains(": connected"), "{greeting}");
        sse
    }

    /// The next frame (text up to a blank line), or None on timeout.
    async fn next_frame(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return Some(frame);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match actix_web::rt::time::timeout(left, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }

    /// The next event (comments skipped), or None on timeout.
    async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.next_frame(left).await?;
            let mut event = SseEvent {
                id: String::new(),
                kind: String::new(),
                data: Value::Null,
            };
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    event.id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event.kind = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    event.data = serde_json::from_str(v).unwrap();
                }
            }
            if !event.kind.is_empty() {
                return Some(event);
            }
        }
    }

    /// Events until `kind` has been seen `count` times (all events returned).
    pub(crate) async fn until(&mut self, kind: &str, count: usize) -> Vec<SseEvent> {
        self.until_event(|e| e.kind == kind, count).await
    }

    /// Events until `wanted` has held for `count` of them (all events returned).
    pub(crate) async fn until_event(
        &mut self,
        wanted: impl Fn(&SseEvent) -> bool,
        count: usize,
    ) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while seen.iter().filter(|e| wanted(e)).count() < count {
            let event = self.next_event(WAIT).await.unwrap_or_else(|| {
                panic!(
                    "no further event within {WAIT:?}; got {} events, the last {:?}",
                    seen.len(),
                    seen.last().map(|e| (&e.kind, &e.id))
                )
            });
            seen.push(event);
        }
        seen
    }
}

/// How long a stream may stay silent before a test gives up on an event it expects: generous,
/// as a busy machine may stall; an event that never comes fails the test all the same.
const WAIT: Duration = Duration::from_secs(30);

/// The `message.created` payload ids among `events`, in stream order.
fn created_ids(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "message.created")
        .map(|e| e.data["payload"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts no event came twice and they came in the outbox's order (their `seq`, which is
/// their id).
fn once_each_in_order(app: &TestApp, events: &[SseEvent]) {
    let seqs: Vec<i64> = app.sql(|conn| {
        events
            .iter()
            .map(|e| {
                conn.query_row("SELECT seq FROM events WHERE seq = ?1", [&e.id], |r| {
                    r.get(0)
                })
                .unwrap_or_else(|_| panic!("event {} is not in the outbox", e.id))
            })
            .collect()
    });
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice: {seqs:?}"
    );
}

#[actix_web::test]
async fn a_new_message_reaches_the_other_participant_live() {
    // How fast is for bench/; here: it arrives on the open stream, without a reconnect.
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    let message = app.send(KEVIN.1, &conversation, "live").await;
    let event = kate.next_event(WAIT).await.expect("the event");
    assert_eq!(event.kind, "message.created");
    assert_eq!(event.data["type"], "message.created");
    assert_eq!(event.data["id"], event.id.as_str());
    assert_eq!(event.data["payload"], message);
}

#[actix_web::test]
async fn a_message_that_brings_a_deleted_conversation_back_reaches_its_returner() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    app.send(KATE.1, &conversation, "before").await;
    app.delete(&format!("/v1/conversations/{conversation}"), KEVIN.1)
        .await
        .expect(204);
    let mut kevin = Sse::connect(&app, KEVIN.1, None).await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    let message = app.send(KATE.1, &conversation, "after").await;
    for stream in [&mut kevin, &mut kate] {
        let event = stream.until("message.created", 1).await.remove(0);
        assert_eq!(event.data["payload"], message);
    }
}

#[actix_web::test]
async fn streams_show_only_what_the_account_can_see() {
    let app = spawn_app().await;
    let mut peter = Sse::connect(&app, PETER.1, None).await;
    let conversation = app.kevin_and_kate().await;
    for i in 0..5 {
        app.send(KEVIN.1, &conversation, &format!("private {i}"))
            .await;
    }
    // Peter's own change (his new conversation, his new contact) is all his stream shows.
    app.add_contact(PETER.1, "BuzzMcCallister").await;
    let mut seen = peter.until("contact.created", 1).await;
    while let Some(event) = peter.next_event(Duration::from_millis(300)).await {
        seen.push(event);
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["conversation.created", "contact.created"]);
    assert_eq!(seen[1].data["payload"]["username"], "BuzzMcCallister");
    assert_eq!(seen[0].data["account_id"], seen[1].data["account_id"]);
    for event in &seen {
        assert!(
            !event.data.to_string().contains(&conversation),
            "leaked: {event:?}"
        );
    }
}

#[actix_web::test]
async fn last_event_id_replays_everything_missed_once_and_in_order() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    app.send(KEVIN.1, &conversation, "before").await;
    let last = kate.until("message.created", 1).await.pop().unwrap();
    drop(kate);

    let mut missed = Vec::new();
    for i in 0..50 {
        missed.push(
            app.send(KEVIN.1, &conversation, &format!("missed {i}"))
                .await["id"]
                .clone(),
        );
    }
    let mut kate = Sse::connect(&app, KATE.1, Some(&last.id)).await;
    let replayed = kate.until("message.created", 50).await;
    let ids: Vec<Value> = replayed
        .iter()
        .filter(|e| e.kind == "message.created")
        .map(|e| e.data["payload"]["id"].clone())
        .collect();
    assert_eq!(ids, missed);
    let mut event_ids: Vec<&str> = replayed.iter().map(|e| e.id.as_str()).collect();
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(event_ids.len(), replayed.len(), "an event came twice");

    // Then it continues live.
    let after = app.send(KEVIN.1, &conversation, "after").await;
    let live = kate.until("message.created", 1).await;
    assert_eq!(live.last().unwrap().data["payload"]["id"], after["id"]);
}

#[actix_web::test]
async fn the_stream_needs_a_token() {
    let app = spawn_app().await;
    app.request("GET", "/v1/events", None, None, &[])
        .await
        .expect_error(401, None);
}

#[actix_web::test]
async fn updates_and_deletes_are_streamed_too() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    let message = app.send(KEVIN.1, &conversation, "edit me").await;
    let id = message["id"].as_str().unwrap();
    app.put_json(
        &format!("/v1/messages/{id}"),
        KEVIN.1,
        json!({"message": "edited"}),
    )
    .await
    .expect(200);
    app.delete(&format!("/v1/messages/{id}"), KEVIN.1)
        .await
        .expect(204);
    let events = kate.until("message.deleted", 1).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["message.created", "message.updated", "message.deleted"]
    );
    assert_eq!(events[1].data["payload"]["message"], "edited");
}

// ---------- Replay (Last-Event-ID) ----------

#[actix_web::test]
async fn an_unknown_last_event_id_replays_everything_retained() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(app.send(KEVIN.1, &conversation, &format!("m{i}")).await["id"].clone());
    }
    // Never an event id (ids are the outbox's seqs, 1 and up: one past the newest came from
    // another database), or not even shaped like one: the stream starts from the oldest event
    // still kept rather than refusing or skipping ahead.
    for unknown in [
        "AAAAAAAAAAAAAAAA",
        "not an id; at all",
        "999999999",
        "0",
        "-1",
        "+1",
        "99999999999999999999999",
    ] {
        let mut kate = Sse::connect(&app, KATE.1, Some(unknown)).await;
        let replayed = kate.until("message.created", 3).await;
        let kinds: Vec<&str> = replayed.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "conversation.created",
                "contact.created",
                "message.created",
                "message.created",
                "message.created"
            ],
            "{unknown}"
        );
        assert_eq!(created_ids(&replayed), sent);
        once_each_in_order(&app, &replayed);
    }
}

#[actix_web::test]
async fn a_pruned_last_event_id_replays_what_is_still_retained() {
    let first = spawn_app().await;
    let conversation = first.kevin_and_kate().await;
    let mut kate = Sse::connect(&first, KATE.1, None).await;
    first.send(KEVIN.1, &conversation, "old").await;
    let seen = kate.until("message.created", 1).await.pop().unwrap();
    drop(kate);
    let mut kept = Vec::new();
    for i in 0..3 {
        kept.push(
            first
                .send(KEVIN.1, &conversation, &format!("kept {i}"))
                .await["id"]
                .clone(),
        );
    }
    // Everything up to the event Kate saw grows old past the retention; the start-up prune
    // of the next run removes it.
    first.sql(|conn| {
        conn.execute(
            "UPDATE events SET created_at = 1 WHERE seq <= ?1",
            [&seen.id],
        )
        .unwrap()
    });
    let app = first.restarted().await;
    let deadline = Instant::now() + WAIT;
    while app.sql(|conn| {
        conn.query_row(
            "SELECT count(*) FROM events WHERE created_at = 1",
            rusqlite::params![],
            |r| r.get::<i64>(0),
        )
        .unwrap()
    }) > 0
    {
        assert!(Instant::now() < deadline, "the old events were not pruned");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    let mut kate = Sse::connect(&app, KATE.1, Some(&seen.id)).await;
    let replayed = kate.until("message.created", 3).await;
    assert_eq!(created_ids(&replayed), kept);
    assert!(
        replayed.iter().all(|e| e.kind == "message.created"),
        "only what is still kept: {replayed:?}"
    );
    once_each_in_order(&app, &replayed);
}

#[actix_web::test]
async fn more_missed_events_than_one_catch_up_batch_are_all_replayed() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    app.send(KEVIN.1, &conversation, "seen").await;
    let seen = kate.until("message.created", 1).await.pop().unwrap();
    drop(kate);
    // More than one catch-up batch (500) of missed events, sent 10 at a time.
    let missed_count = 530;
    for chunk in 0..missed_count / 10 {
        let sends = (0..10).map(|i| {
            let text = format!("missed {}", chunk * 10 + i);
            let conversation = conversation.clone();
            let app = &app;
            async move { app.send(KEVIN.1, &conversation, &text).await }
        });
        futures_util::future::join_all(sends).await;
    }
    // The server's own order of those messages: its list, oldest first.
    let mut in_order = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/v1/messages?conversation_id={conversation}&limit=100{cursor}"),
                KATE.1,
            )
            .await
            .expect(200);
        in_order.extend(page.ids());
        if !page.has_more() {
            break;
        }
        cursor = format!("&starting_after={}", in_order.last().unwrap());
    }
    in_order.reverse();
    in_order.remove(0); // "seen"
    assert_eq!(in_order.len(), missed_count);

    let mut kate = Sse::connect(&app, KATE.1, Some(&seen.id)).await;
    let replayed = kate.until("message.created", missed_count).await;
    assert_eq!(created_ids(&replayed), in_order);
    once_each_in_order(&app, &replayed);
    // Then live, with nothing lost at the seam.
    let after = app.send(KEVIN.1, &conversation, "after").await;
    let live = kate.until("message.created", 1).await;
    assert_eq!(created_ids(&live), [after["id"].as_str().unwrap()]);
}

#[actix_web::test]
async fn a_stream_that_falls_behind_the_hub_catches_up_from_the_outbox() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    let mut sent = Vec::new();
    for i in 0..300 {
        sent.push(app.send(KEVIN.1, &conversation, &format!("n{i}")).await["id"].clone());
    }
    assert_eq!(created_ids(&kate.until("message.created", 300).await), sent);
    // Opening the conversation reads all 300 at once: one commit with 301 events for Kate,
    // far more than a stream's queue (64) holds, so her stream is marked lagged and reads the
    // rest from the outbox.
    app.get(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect(200);
    let events = kate.until("conversation.updated", 1).await;
    let mut updated: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "message.updated")
        .map(|e| e.data["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 301, "nothing else, nothing twice");
    updated.sort();
    let mut expected: Vec<String> = sent
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(updated, expected);
    once_each_in_order(&app, &events);
    // And it is live again.
    let after = app.send(KEVIN.1, &conversation, "after").await;
    let live = kate.until("message.created", 1).await;
    assert_eq!(created_ids(&live), [after["id"].as_str().unwrap()]);
}

#[actix_web::test]
async fn replay_works_across_a_restart() {
    let first = spawn_app().await;
    let conversation = first.kevin_and_kate().await;
    let mut kate = Sse::connect(&first, KATE.1, None).await;
    first.send(KEVIN.1, &conversation, "before").await;
    let seen = kate.until("message.created", 1).await.pop().unwrap();
    drop(kate);
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(
            first
                .send(KEVIN.1, &conversation, &format!("missed {i}"))
                .await["id"]
                .clone(),
        );
    }
    let app = first.restarted().await;
    let mut kate = Sse::connect(&app, KATE.1, Some(&seen.id)).await;
    let replayed = kate.until("message.created", 3).await;
    assert_eq!(created_ids(&replayed), missed);
    assert_eq!(replayed.len(), 3, "{replayed:?}");
    let after = app.send(KEVIN.1, &conversation, "after").await;
    let live = kate.until("message.created", 1).await;
    assert_eq!(created_ids(&live), [after["id"].as_str().unwrap()]);
}

#[actix_web::test]
async fn another_accounts_event_id_replays_nothing_of_theirs() {
    let app = spawn_app().await;
    // Peter's private world: a contact, their conversation, a message in it.
    let mut peter = Sse::connect(&app, PETER.1, None).await;
    let buzz = app.add_contact(PETER.1, "BuzzMcCallister").await;
    let peters_first = peter.until("contact.created", 1).await.remove(0);
    let buzz_conversation = buzz["conversation_id"].as_str().unwrap().to_owned();
    let conversation = app.kevin_and_kate().await;
    let secret = app.send(PETER.1, &buzz_conversation, "secret").await;
    let for_kate = app.send(KEVIN.1, &conversation, "for kate").await;
    let marker = app.send(KEVIN.1, &conversation, "marker").await;

    // Kate presents Peter's event id: it is only a position; what follows it is hers alone.
    let mut kate = Sse::connect(&app, KATE.1, Some(&peters_first.id)).await;
    let marker_id = marker["id"].as_str().unwrap().to_owned();
    let replayed = kate
        .until_event(|e| e.data["payload"]["id"] == marker_id.as_str(), 1)
        .await;
    assert_eq!(
        created_ids(&replayed),
        [for_kate["id"].as_str().unwrap(), marker_id.as_str()]
    );
    for event in &replayed {
        assert_ne!(event.id, peters_first.id);
        let text = event.data.to_string();
        for private in [
            &buzz_conversation,
            buzz["id"].as_str().unwrap(),
            secret["id"].as_str().unwrap(),
            "BuzzMcCallister",
        ] {
            assert!(!text.contains(private), "leaked {private}: {event:?}");
        }
    }
}
