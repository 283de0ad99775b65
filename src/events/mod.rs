//! Events beyond the request: the realtime hub (SSE), webhook delivery, and retention.
//! Recording an event is part of each change, in `db::events`.

pub mod hub;
pub mod webhooks;

use crate::AppState;
use std::time::Duration;

/// How often old events and idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Deletes events older than the retention that every webhook endpoint has passed, and
/// idempotency keys older than a day. Runs for the life of the server.
pub async fn prune_periodically(state: actix_web::web::Data<AppState>) {
    let retention_hours = state.settings.event_retention_hours;
    loop {
        let pruned = state.db.prune(retention_hours, state.webhook_urls()).await;
        match pruned {
            Ok((0, 0)) => {}
            Ok((events, keys)) => {
                log::info!("pruned {events} old events and {keys} old idempotency keys")
            }
            Err(e) => log::warn!("pruning failed: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
