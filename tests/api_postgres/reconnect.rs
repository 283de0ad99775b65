//! The server outlives its database connections: when PostgreSQL drops them (a restart, a
//! failover, an administrator), the writer and the readers connect again, and a request fails
//! at most while that happens.

use crate::helpers::*;
use std::time::{Duration, Instant};

/// Ends every connection of the app's database but the caller's own.
fn drop_connections(app: &TestApp) -> usize {
    app.sql(|conn| {
        conn.prepare_cached(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap()
        .query_map(rusqlite::params![], |r| r.get::<bool>(0))
        .unwrap()
        .filter(|ended| matches!(ended, Ok(true)))
        .count()
    })
}

#[actix_web::test]
async fn writes_and_reads_go_on_after_postgresql_drops_the_connections() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    app.send(KEVIN.1, &conversation, "before").await;
    assert!(drop_connections(&app) >= 2, "the writer's and a reader's");

    // The first requests may meet a dead connection (and fail, changing nothing); within a
    // few, both paths work again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed = 0;
    let body = format!("conversation_id={conversation}&message=after");
    loop {
        let sent = app.post_form("/v1/messages", KEVIN.1, &body).await;
        if sent.status == 201 {
            break;
        }
        assert_eq!(sent.status, 500, "{:?}", sent.body);
        failed += 1;
        assert!(Instant::now() < deadline, "the writer never reconnected");
    }
    assert!(
        failed <= 2,
        "{failed} sends failed before the writer reconnected"
    );
    let texts = loop {
        let page = app
            .get(
                &format!("/v1/messages?conversation_id={conversation}"),
                KATE.1,
            )
            .await;
        if page.status == 200 {
            break page;
        }
        assert!(Instant::now() < deadline, "the readers never reconnected");
    };
    let texts: Vec<&str> = texts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["after", "before"]);
    // And they keep working.
    app.send(KATE.1, &conversation, "again").await;
}
