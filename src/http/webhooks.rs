//! `webhook_subscriptions` in Composio's shape (composio-client's `webhook_subscriptions`
//! resource: create, retrieve, update, list, delete, `rotate_secret`, `event_types`), plus
//! authlink's delivery log: `GET webhook_subscriptions/{id}/deliveries` lists every delivery with
//! every attempt, `POST webhook_deliveries/{id}/replay` sends one again with the same
//! `webhook-id`. As Composio does, responses carry the signing secret (the API key is the
//! capability); authlink stores it sealed.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::webhook_schemas::{
    enabled_events_schema, nullable_enabled, nullable_enabled_events, nullable_version, nullable_webhook_url,
    webhook_url_schema,
};
use validator::Validate;

use super::{
    common::{ListResponse, iso, page_limit},
    extract::{FieldErrors, IdPath, LenientQuery, PathId, Project, ValidatedJson},
};
use crate::{
    AppState,
    domain::{EventType, WebhookSubscriptionId},
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::webhooks::{self, Fields},
    store::{AttemptRecord, Cursor, DeliveryRecord, SubscriptionRecord},
};

/// A subscription as Composio returns it, plus authlink's `disabled_at`/`disabled_reason`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    /// `ws_…`.
    pub id: String,
    pub webhook_url: String,
    /// Always `V3`.
    pub version: String,
    pub enabled_events: Vec<String>,
    /// The signing secret: the HMAC-SHA256 key is its UTF-8 bytes.
    pub secret: String,
    pub created_at: String,
    pub updated_at: String,
    /// `false` once every attempt failed for the whole delivery horizon (PATCH `enabled: true`
    /// turns it back on).
    pub enabled: bool,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

fn respond(state: &AppState, s: SubscriptionRecord) -> ApiResult<SubscriptionResponse> {
    let secret = webhooks::secret(state, &s)?;
    Ok(SubscriptionResponse {
        id: s.id.to_string(),
        webhook_url: s.webhook_url,
        version: s.version,
        enabled_events: s.enabled_events,
        secret,
        created_at: iso(s.created_at),
        updated_at: iso(s.updated_at),
        enabled: s.disabled_at.is_none(),
        disabled_at: s.disabled_at.map(iso),
        disabled_reason: s.disabled_reason,
    })
}

/// Body of `POST webhook_subscriptions`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateSubscriptionRequest {
    /// https (http only to a loopback host), at most 2048 characters.
    #[schema(schema_with = webhook_url_schema, required = true)]
    pub webhook_url: Option<String>,
    /// Event types from `GET webhook_subscriptions/event_types`; at least one.
    #[schema(schema_with = enabled_events_schema, required = true)]
    pub enabled_events: Option<Vec<String>>,
    /// `V3` (the default, also for `null`; V1 and V2 are refused).
    #[schema(schema_with = nullable_version)]
    pub version: Option<String>,
}

/// Body of `PATCH webhook_subscriptions/{id}`; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateSubscriptionRequest {
    /// `null` or absent: unchanged.
    #[schema(schema_with = nullable_webhook_url)]
    pub webhook_url: Option<String>,
    #[schema(schema_with = nullable_enabled_events)]
    pub enabled_events: Option<Vec<String>>,
    #[schema(schema_with = nullable_version)]
    pub version: Option<String>,
    /// authlink: `true` re-enables a subscription disabled after failing for the horizon (only
    /// `true`: delete the subscription to stop deliveries).
    #[schema(schema_with = nullable_enabled)]
    pub enabled: Option<bool>,
}

/// `rotate_secret`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotateSecretResponse {
    pub id: String,
    /// The new secret; the previous one keeps signing (a second signature) for 24 hours.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    pub success: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeItem {
    pub event_type: &'static str,
    pub description: &'static str,
    pub supported_versions: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypesResponse {
    pub items: Vec<EventTypeItem>,
}

/// Creates a subscription; the secret is in the answer.
#[utoipa::path(post, path = "/webhook_subscriptions", tag = "webhooks", operation_id = "create_webhook_subscription",
    request_body = CreateSubscriptionRequest,
    responses(
        (status = 201, body = SubscriptionResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<CreateSubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<SubscriptionResponse>)> {
    let fields = Fields {
        webhook_url: body.webhook_url.as_deref(),
        enabled_events: body.enabled_events.as_deref(),
        version: body.version.as_deref(),
    };
    let record = webhooks::create(&state, project, &fields).await?;
    tracing::info!(subscription = %record.id, "webhook subscription created");
    Ok((StatusCode::CREATED, Json(respond(&state, record)?)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Accepted for Composio's client and ignored (any value): every subscription (at most 20)
    /// is on one page.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// The project's subscriptions, newest first (one page: a project has at most 20).
#[utoipa::path(get, path = "/webhook_subscriptions", tag = "webhooks", operation_id = "list_webhook_subscriptions",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<SubscriptionResponse>),
        (status = 400, description = "A query value holds NUL", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    LenientQuery(_q): LenientQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<SubscriptionResponse>>> {
    let subs = state.store.list_subscriptions(project).await?;
    let total = i64::try_from(subs.len()).unwrap_or(i64::MAX);
    let items = subs.into_iter().map(|s| respond(&state, s)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(ListResponse {
        items,
        next_cursor: None,
        total_pages: i64::from(total > 0),
        current_page: 1,
        total_items: total,
    }))
}

/// One subscription.
#[utoipa::path(get, path = "/webhook_subscriptions/{id}", tag = "webhooks", operation_id = "get_webhook_subscription",
    params(("id" = String, Path, description = "`ws_…` id")),
    responses(
        (status = 200, body = SubscriptionResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<WebhookSubscriptionId>,
) -> ApiResult<Json<SubscriptionResponse>> {
    let record = state
        .store
        .subscription(project, &id)
        .await?
        .ok_or_else(|| ApiError::WebhookSubscriptionNotFound(id.to_string()))?;
    Ok(Json(respond(&state, record)?))
}

/// Changes the URL, the events or (authlink) re-enables it.
#[utoipa::path(patch, path = "/webhook_subscriptions/{id}", tag = "webhooks", operation_id = "update_webhook_subscription",
    params(("id" = String, Path, description = "`ws_…` id")),
    request_body = UpdateSubscriptionRequest,
    responses(
        (status = 200, body = SubscriptionResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<WebhookSubscriptionId>,
    ValidatedJson(body): ValidatedJson<UpdateSubscriptionRequest>,
) -> ApiResult<Json<SubscriptionResponse>> {
    if body.enabled == Some(false) {
        return Err(ApiError::field("enabled", "may only be true (delete the subscription to stop deliveries)"));
    }
    let fields = Fields {
        webhook_url: body.webhook_url.as_deref(),
        enabled_events: body.enabled_events.as_deref(),
        version: body.version.as_deref(),
    };
    let record = webhooks::update(&state, project, &id, &fields, body.enabled == Some(true)).await?;
    Ok(Json(respond(&state, record)?))
}

/// Deletes a subscription and its delivery log; pending deliveries are dropped.
#[utoipa::path(delete, path = "/webhook_subscriptions/{id}", tag = "webhooks", operation_id = "delete_webhook_subscription",
    params(("id" = String, Path, description = "`ws_…` id")),
    responses(
        (status = 200, body = DeleteResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<WebhookSubscriptionId>,
) -> ApiResult<Json<DeleteResponse>> {
    if !state.store.delete_subscription(project, &id).await? {
        return Err(ApiError::WebhookSubscriptionNotFound(id.to_string()));
    }
    Ok(Json(DeleteResponse { success: true }))
}

/// A new signing secret; deliveries carry signatures with both secrets for 24 hours.
#[utoipa::path(post, path = "/webhook_subscriptions/{id}/rotate_secret", tag = "webhooks",
    operation_id = "rotate_webhook_subscription_secret",
    params(("id" = String, Path, description = "`ws_…` id")),
    responses(
        (status = 200, body = RotateSecretResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<WebhookSubscriptionId>,
) -> ApiResult<Json<RotateSecretResponse>> {
    let (record, secret) = webhooks::rotate(&state, project, &id).await?;
    tracing::info!(subscription = %record.id, "webhook secret rotated");
    Ok(Json(RotateSecretResponse { id: record.id.to_string(), secret }))
}

/// The event types authlink sends.
#[utoipa::path(get, path = "/webhook_subscriptions/event_types", tag = "webhooks",
    operation_id = "list_webhook_event_types",
    responses(
        (status = 200, body = EventTypesResponse),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn event_types(_project: Project) -> Json<EventTypesResponse> {
    Json(EventTypesResponse {
        items: EventType::ALL
            .into_iter()
            .map(|e| EventTypeItem {
                event_type: e.as_str(),
                description: e.description(),
                supported_versions: vec![webhooks::VERSION],
            })
            .collect(),
    })
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    /// The receiver's HTTP status; absent when there was no response (refused, timeout).
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub success: bool,
}

impl From<AttemptRecord> for AttemptResponse {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            started_at: iso(a.started_at),
            duration_ms: a.duration_ms,
            response_status: a.response_status,
            error: a.error,
            success: a.success,
        }
    }
}

/// A delivery of one event to one subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// The delivery's id (what `POST webhook_deliveries/{id}/replay` takes).
    pub id: String,
    /// The `webhook-id` of every attempt, and the payload's `id`.
    pub event_id: String,
    pub event_type: String,
    pub connected_account_id: String,
    /// `PENDING`, `DELIVERED` or `FAILED` (gave up at the horizon).
    pub status: String,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub attempts: Vec<AttemptResponse>,
}

impl From<DeliveryRecord> for DeliveryResponse {
    fn from(d: DeliveryRecord) -> Self {
        Self {
            id: d.id.to_string(),
            event_id: d.event_id,
            event_type: d.event_type,
            connected_account_id: d.connected_account_id,
            status: d.state,
            next_attempt_at: d.next_attempt_at.map(iso),
            last_error: d.last_error,
            delivered_at: d.delivered_at.map(iso),
            created_at: iso(d.created_at),
            attempts: d.attempts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1..=100, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// authlink: the subscription's deliveries, newest first, each with every attempt.
#[utoipa::path(get, path = "/webhook_subscriptions/{id}/deliveries", tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = "`ws_…` id"), DeliveriesQuery),
    responses(
        (status = 200, body = ListResponse<DeliveryResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<WebhookSubscriptionId>,
    LenientQuery(q): LenientQuery<DeliveriesQuery>,
) -> ApiResult<Json<ListResponse<DeliveryResponse>>> {
    let mut e = FieldErrors::default();
    let limit = e.check("limit", page_limit(q.limit.as_deref(), 20, 100)).unwrap_or(20);
    let before = q.cursor.as_deref().and_then(|c| {
        let id = Cursor::decode(c).and_then(|c| c.id.parse::<i64>().ok());
        e.check("cursor", id.ok_or("is not a cursor returned by this API"))
    });
    e.finish()?;
    if state.store.subscription(project, &id).await?.is_none() {
        return Err(ApiError::WebhookSubscriptionNotFound(id.to_string()));
    }
    let page = state.store.list_deliveries(project, &id, limit, before).await?;
    Ok(Json(ListResponse::from_page(page, limit, Into::into)))
}

/// A delivery id in a path: a positive integer.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryId(pub i64);

impl PathId for DeliveryId {
    fn from_path(name: &str, raw: Option<&str>, _: &Parts) -> Result<Self, Response> {
        raw.and_then(|r| r.parse::<i64>().ok()).filter(|n| *n > 0).map(Self).ok_or_else(|| {
            ApiError::field(name, "must be a delivery id (a positive integer, as GET …/deliveries lists)")
                .into_response()
        })
    }
}

/// authlink: sends a delivery again, now, with the same `webhook-id` (whatever its state).
#[utoipa::path(post, path = "/webhook_deliveries/{id}/replay", tag = "webhooks", operation_id = "replay_webhook_delivery",
    params(("id" = String, Path, description = "delivery id")),
    responses(
        (status = 200, body = DeliveryResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(DeliveryId(id)): IdPath<DeliveryId>,
) -> ApiResult<Json<DeliveryResponse>> {
    let record = state
        .store
        .replay_delivery(project, id)
        .await?
        .ok_or_else(|| ApiError::WebhookDeliveryNotFound(id.to_string()))?;
    Ok(Json(record.into()))
}
