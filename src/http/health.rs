//! Liveness and readiness probes for orchestrators (docker compose, Kubernetes).

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{AppState, error::ApiError};

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "Process is up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers; until it does, traffic should not be routed here.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz", responses(
    (status = 200, description = "Database reachable"),
    (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok(Json(json!({"status": "ready"})))
}
