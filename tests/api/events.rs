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
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    deliveries: Vec<Delivery>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Answer 503 while set.
    down: bool,
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
                        let mut state = shared.lock().unwrap();
                        let answered = if state.down {
                            503
                        } else if state.fail_first > 0 {
                            state.fail_first -= 1;
                            500
                        } else {
                            200
                        };
                        state.deliveries.push(Delivery {
                            body: body.to_vec(),
                            signature: req
                                .headers()
                                .get("x-protocol-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            answered,
                        });
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
        let deadline = Instant::now() + Duration::from_secs(10);
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
    assert!(event["id"].as_str().is_some_and(|id| id.len() == 16));
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
    }
    // Every change produced its event: contacts (both books), the conversation (both views).
    assert_eq!(of_type(&delivered, "contact.created").len(), 2);
    assert_eq!(of_type(&delivered, "conversation.created").len(), 2);
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.deliveries().is_empty() {
        assert!(Instant::now() < deadline);
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop().await;
    receiver.state.lock().unwrap().down = false;

    let database = first.dir.path().join("test.db").display().to_string();
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
    dead.timeout_seconds = 30;
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
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    healthy.wait_for("10 events", |d| d.len() >= 10).await;
    drop(silent);
}

// ---------- Server-Sent Events ----------

struct Sse {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<web::Bytes, awc::error::PayloadError>>>,
    >,
    buffer: String,
}

#[derive(Debug, Clone)]
struct SseEvent {
    id: String,
    kind: String,
    data: Value,
}

impl Sse {
    async fn connect(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Sse {
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
        let greeting = sse.next_frame(Duration::from_secs(5)).await.unwrap();
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
    async fn until(&mut self, kind: &str, count: usize) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while seen.iter().filter(|e: &&SseEvent| e.kind == kind).count() < count {
            let event = self
                .next_event(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("no {kind} event within 5 s; got {seen:?}"));
            seen.push(event);
        }
        seen
    }
}

#[actix_web::test]
async fn a_new_message_reaches_the_other_participant_within_a_second() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut kate = Sse::connect(&app, KATE.1, None).await;
    let sent_at = Instant::now();
    let message = app.send(KEVIN.1, &conversation, "live").await;
    let event = kate
        .next_event(Duration::from_secs(1))
        .await
        .expect("within 1 s");
    assert!(sent_at.elapsed() < Duration::from_secs(1));
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
