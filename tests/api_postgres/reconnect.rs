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

/// A writer transaction that could not take the writers' lock (here `lock_timeout` while
/// another session holds it; in life a cancel, or a long transaction of another server) leaves
/// nothing behind: the sends meanwhile fail, and once the lock is free the next ones succeed.
#[actix_web::test]
async fn writes_go_on_after_the_writers_lock_timed_out() {
    let url = crate::support::postgres::fresh_database().expect("PostgreSQL");
    let timed = format!("{url}?options=-c%20lock_timeout%3D300");
    let app = spawn_app_with(|c| c.server.database = timed).await;
    let conversation = app.kevin_and_kate().await;

    // Another session holds the writers' lock.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .execute(
                "SELECT pg_advisory_lock($1)",
                &[&protocol::db::sql::WRITER_LOCK],
            )
            .unwrap();
        held.send(()).unwrap();
        released.recv().unwrap();
        client
            .execute(
                "SELECT pg_advisory_unlock($1)",
                &[&protocol::db::sql::WRITER_LOCK],
            )
            .unwrap();
    });
    holding.recv().unwrap();
    let body = format!("conversation_id={conversation}&message=blocked");
    let blocked = app.post_form("/v1/messages", KEVIN.1, &body).await;
    assert_eq!(blocked.status, 500, "{:?}", blocked.body);

    release.send(()).unwrap();
    holder.join().unwrap();
    app.send(KEVIN.1, &conversation, "free again").await;
    app.send(KATE.1, &conversation, "and again").await;
    let page = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KATE.1,
        )
        .await
        .expect(200);
    let texts: Vec<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["and again", "free again"],
        "nothing of the failed send"
    );
}
