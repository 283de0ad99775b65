use crate::AppState;
use actix_web::{HttpResponse, web};
use utoipa::ToSchema;

/// `{"status": "ok"}` or `{"status": "unavailable"}`.
#[derive(ToSchema)]
pub struct Health {
    pub status: String,
}

/// How long the check waits for the database: a load balancer's check must get its 503 while
/// it still waits, not hang behind a pool that cannot connect.
const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Health check
///
/// `GET /health`: no token needed; answers once the database answers (503 when it does not
/// within 2 s: fit for a load balancer's readiness check).
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "The server and its database answer", body = Health), (status = 503, description = "The database does not answer", body = Health)),
    security(()),
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(DATABASE_WAIT, state.db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Ok(Err(_)) | Err(_) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
