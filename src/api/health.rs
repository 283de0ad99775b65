use crate::AppState;
use actix_web::{HttpResponse, web};
use utoipa::ToSchema;

/// `{"status": "ok"}` or `{"status": "unavailable"}`.
#[derive(ToSchema)]
pub struct Health {
    pub status: String,
}

/// Health check
///
/// `GET /health`: no token needed; answers once the database answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "The server and its database answer", body = Health), (status = 503, description = "The database does not answer", body = Health)),
    security(()),
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
