//! Liveness and readiness probes for orchestrators (docker compose, Kubernetes).

use std::time::Duration;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{AppState, error::ApiError};

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "Process is up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long readiness waits for the database: a probe must answer quickly whatever the
/// database does (a stopped server can leave a connect hanging for the pool's whole timeout).
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The database answers within [`READY_TIMEOUT`]; until it does, traffic should not be routed here.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz", responses(
    (status = 200, description = "Database reachable"),
    (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error.cause = %e, "readiness: database failed");
            return Err(ApiError::Unavailable);
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer within 1 s");
            return Err(ApiError::Unavailable);
        }
    }
    Ok(Json(json!({"status": "ready"})))
}
