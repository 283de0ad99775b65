use crate::AppState;
use actix_web::{HttpResponse, web};

/// `GET /health`: no token needed; answers once the database answers.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state
        .db
        .read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
    {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
