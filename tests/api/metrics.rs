//! `/metrics`: off unless `server.metrics_listen` is set, then served there and only there, with
//! what the server did (requests by route, the writer's batches, sizes, webhooks). The text is
//! checked by a real Prometheus parser in tests/tools.rs.

use crate::helpers::*;
use serde_json::json;

/// The value of the sample `name{labels}` (labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}

async fn scrape(app: &TestApp) -> String {
    let base = app.metrics_base.as_ref().expect("metrics are on");
    let mut response = awc::Client::default()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
}

#[actix_web::test]
async fn off_by_default_and_never_on_the_api_port() {
    let app = spawn_app().await;
    assert!(app.metrics_base.is_none());
    app.get("/metrics", KEVIN.1).await.expect_error(404, None);

    let app = spawn_app_with(|c| c.server.metrics_listen = Some("127.0.0.1:0".into())).await;
    // On, they are still not on the API port, whatever the token.
    app.get("/metrics", KEVIN.1).await.expect_error(404, None);
    app.request("GET", "/metrics", None, None, &[])
        .await
        .expect_error(404, None);
    // And the metrics port serves nothing of the API.
    let base = app.metrics_base.clone().unwrap();
    let response = awc::Client::default()
        .get(format!("{base}/v1/contacts"))
        .insert_header(("Authorization", format!("Bearer {}", KEVIN.1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_method_and_status() {
    let app = spawn_app_with(|c| c.server.metrics_listen = Some("127.0.0.1:0".into())).await;
    let conversation = app.kevin_and_kate().await;
    for text in ["one", "two", "three"] {
        app.send(KEVIN.1, &conversation, text).await;
    }
    let message = app.send(KATE.1, &conversation, "four").await;
    let path = format!("/v1/messages/{}", message["id"].as_str().unwrap());
    app.get(&path, KEVIN.1).await.expect(200);
    app.put_json(&path, KEVIN.1, json!({"message": "not yours"}))
        .await
        .expect_error(403, Some("message"));
    app.get("/v1/messages/AAAAAAAAAAAAAAAA", KEVIN.1)
        .await
        .expect_error(404, None);
    app.get("/no/such/route", KEVIN.1)
        .await
        .expect_error(404, None);
    app.get("/v1/messages?limit=0", KEVIN.1)
        .await
        .expect_error(400, Some("limit"));
    let upload = app
        .upload(KEVIN.1, "file", "a.txt", None, &[7u8; 1234], &[])
        .await
        .expect(201);

    let text = scrape(&app).await;
    let requests = |route: &str, method: &str, status: &str| {
        sample(
            &text,
            &format!(
                "protocol_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        )
    };
    // The route pattern, never the raw path (ids would make a series per object).
    assert_eq!(requests("/v1/messages", "POST", "201"), Some(4.0), "{text}");
    assert_eq!(requests("/v1/messages/{id}", "GET", "200"), Some(1.0));
    assert_eq!(requests("/v1/messages/{id}", "PUT", "403"), Some(1.0));
    assert_eq!(requests("/v1/messages/{id}", "GET", "404"), Some(1.0));
    assert_eq!(requests("/v1/messages", "GET", "400"), Some(1.0));
    assert_eq!(requests("/v1/attachments", "POST", "201"), Some(1.0));
    assert_eq!(requests("unmatched", "GET", "404"), Some(1.0));
    assert!(!text.contains("AAAAAAAAAAAAAAAA") && !text.contains(&conversation));
    // Latency histograms per route and method.
    assert_eq!(
        sample(
            &text,
            "protocol_http_request_duration_seconds_count{route=\"/v1/messages\",method=\"POST\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            "protocol_http_request_duration_seconds_bucket{route=\"/v1/messages\",method=\"POST\",le=\"+Inf\"}"
        ),
        Some(4.0)
    );
    // Every change went through the writer: a batch and a queue wait each at least.
    let batches = sample(&text, "protocol_writer_batch_size_count").unwrap();
    let jobs = sample(&text, "protocol_writer_batch_size_sum").unwrap();
    assert!(
        batches >= 1.0 && jobs >= 6.0,
        "{batches} batches, {jobs} jobs"
    );
    assert!(sample(&text, "protocol_writer_queue_wait_seconds_count").unwrap() >= 6.0);
    // Storage.
    assert!(sample(&text, "protocol_database_bytes").unwrap() > 0.0);
    assert!(sample(&text, "protocol_database_wal_bytes").is_some());
    assert_eq!(sample(&text, "protocol_attachments"), Some(1.0));
    assert_eq!(sample(&text, "protocol_attachment_bytes"), Some(1234.0));
    assert_eq!(sample(&text, "protocol_event_streams_open"), Some(0.0));
    // Tokens never appear.
    assert!(!text.contains(KEVIN.1) && !text.contains(KATE.1));
    drop(upload);
}

#[actix_web::test]
async fn webhook_retries_and_failures_are_counted_per_endpoint() {
    let app = spawn_app_with(|c| {
        c.server.metrics_listen = Some("127.0.0.1:0".into());
        // Nothing listens on port 9: every attempt fails at once.
        c.webhooks = protocol::config::Config::parse(
            "[[accounts]]\nusername = \"x\"\nphone_number = \"1\"\ntoken = \"t\"\n\
             [[webhooks]]\nurl = \"http://user:secret@127.0.0.1:9/hook?key=s3cret\"\n\
             secret = \"s\"\nmax_attempts = 2\nretry_base_ms = 1\n",
        )
        .unwrap()
        .webhooks;
    })
    .await;
    let endpoint = "endpoint=\"http://127.0.0.1:9/hook\"";
    // The worker reads its cursor first; events after it are its backlog.
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&app).await;
        if sample(
            &text,
            &format!("protocol_webhook_backlog_events{{{endpoint}}}"),
        )
        .is_some()
        {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(text.contains(endpoint), "{text}");
    app.kevin_and_kate().await;
    // Each event: one failed attempt retried, then given up on.
    for _ in 0..400 {
        text = scrape(&app).await;
        let failures = sample(
            &text,
            &format!("protocol_webhook_failures_total{{{endpoint}}}"),
        );
        let backlog = sample(
            &text,
            &format!("protocol_webhook_backlog_events{{{endpoint}}}"),
        );
        if failures >= Some(2.0) && backlog == Some(0.0) {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let failures = sample(
        &text,
        &format!("protocol_webhook_failures_total{{{endpoint}}}"),
    );
    let retries = sample(
        &text,
        &format!("protocol_webhook_retries_total{{{endpoint}}}"),
    );
    assert!(failures >= Some(2.0), "{text}");
    assert_eq!(retries, failures, "one retry per failed event: {text}");
    assert_eq!(
        sample(
            &text,
            &format!("protocol_webhook_deliveries_total{{{endpoint}}}")
        ),
        Some(0.0)
    );
    // The URL's credentials and query string are not in the label.
    assert!(
        !text.contains("secret") && !text.contains("s3cret"),
        "{text}"
    );
}

/// Every metric the Grafana dashboard in docs/ queries is one the server exports.
#[actix_web::test]
async fn the_grafana_dashboard_queries_metrics_that_exist() {
    let app = spawn_app_with(|c| c.server.metrics_listen = Some("127.0.0.1:0".into())).await;
    let text = scrape(&app).await;
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut used = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("protocol_"))
            {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|base| families.contains(base))
                    .unwrap_or(name);
                assert!(
                    families.contains(&family),
                    "{name} in {expr:?} is not exported"
                );
                used += 1;
            }
        }
    }
    assert!(used >= 12, "{used}");
}
