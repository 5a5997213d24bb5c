//! The delivery worker: claims due deliveries, sends each once per claim, records the attempt.
//!
//! At least once: a delivery is PENDING until an attempt gets a 2xx; a worker that dies
//! mid-attempt (SIGKILL) leaves it claimed only until the claim's lease ends, then it falls due
//! again. Retries back off exponentially with jitter up to `retry_max`; a delivery still failing
//! `horizon` after its event gives up (FAILED, replayable), and a subscription whose every
//! attempt failed for the whole horizon is disabled with a reason. Every attempt (status code,
//! error, duration) is recorded. Claims take row locks (see [`WebhookStore::claim_deliveries`]),
//! so several processes on one database never send one attempt twice.
//!
//! Requests go through the guarded outbound client (no redirects followed, private addresses
//! refused unless allowlisted) with a 10 s timeout and the response read capped at 64 KiB.
//!
//! [`WebhookStore::claim_deliveries`]: crate::store::WebhookStore::claim_deliveries

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::signing;
use crate::{
    outbound::{OutboundClient, OutboundLimits},
    service::context::ServiceContext,
    store::{AttemptResult, ClaimedDelivery, EventRecord, NextStep, StoreResult},
};

/// Total time of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read from a receiver (the rest is an error, not buffered).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How the worker paces itself (the `AUTHLINK_WEBHOOK_*` settings).
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Give up on a delivery (and disable a subscription failing throughout) after this long.
    pub horizon: Duration,
    /// Pause between polls when nothing was due.
    pub poll_interval: Duration,
    /// First retry delay; doubled per attempt, with jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Deliveries claimed (and sent concurrently) per round.
    pub batch: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            horizon: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_millis(500),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            batch: 32,
        }
    }
}

/// How long a claim lasts: an attempt's timeout and a margin to record it.
fn lease() -> chrono::Duration {
    chrono::Duration::seconds(30)
}

/// The delay before attempt `attempt + 1` after `attempt` failed: `base × 2^(attempt-1)`, capped
/// at `max`, then a random 50–100 % of it (jitter, so receivers coming back are not hit by every
/// retry at once).
pub fn backoff(settings: &WebhookSettings, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(settings.retry_max);
    full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// Composio's V3 envelope: `{id, timestamp, type, metadata, data}`, `data` the connected account
/// as it was right after the change.
pub fn payload(event: &EventRecord, project: &str) -> serde_json::Value {
    let iso = crate::http::common::iso;
    serde_json::json!({
        "id": event.id,
        "timestamp": iso(event.created_at),
        "type": event.event_type,
        "metadata": {
            "project_id": project,
            "connected_account_id": event.account_id,
            "user_id": event.user_id,
            "toolkit_slug": event.toolkit,
            "auth_config_id": event.auth_config_id,
        },
        "data": {
            "id": event.account_id,
            "user_id": event.user_id,
            "status": event.status,
            "status_reason": event.status_reason,
            "is_disabled": event.is_disabled,
            "toolkit": { "slug": event.toolkit },
            "auth_config": {
                "id": event.auth_config_id,
                "auth_scheme": event.auth_scheme,
                "is_composio_managed": event.is_composio_managed,
            },
            "created_at": iso(event.account_created_at),
            "updated_at": iso(event.account_updated_at),
        },
    })
}

/// The worker's HTTP client: the guarded outbound client with the delivery limits.
pub fn client(ctx: &ServiceContext) -> Result<OutboundClient, reqwest::Error> {
    let limits = OutboundLimits {
        connect_timeout: Duration::from_secs(5),
        total_timeout: ATTEMPT_TIMEOUT,
        max_response_bytes: MAX_RESPONSE_BYTES,
    };
    OutboundClient::new(ctx.settings.outbound.clone(), limits)
}

/// One round: claims what is due and sends it; returns how many attempts were made.
pub async fn run_once(
    ctx: &Arc<ServiceContext>,
    client: &OutboundClient,
    settings: &WebhookSettings,
) -> StoreResult<usize> {
    let claimed = ctx.store.claim_deliveries(settings.batch, lease()).await?;
    let n = claimed.len();
    let mut tasks = tokio::task::JoinSet::new();
    for delivery in claimed {
        let (ctx, client, settings) = (ctx.clone(), client.clone(), *settings);
        tasks.spawn(async move { attempt(&ctx, &client, &settings, delivery).await });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "recording a webhook attempt failed; it will be retried"),
            Err(e) => tracing::error!(error = %e, "webhook attempt task failed"),
        }
    }
    Ok(n)
}

/// Sends one claimed delivery and records the outcome.
async fn attempt(
    ctx: &ServiceContext,
    client: &OutboundClient,
    settings: &WebhookSettings,
    d: ClaimedDelivery,
) -> StoreResult<()> {
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    let outcome = send(ctx, client, &d).await;
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (response_status, error) = match outcome {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) => (Some(status), Some(format!("receiver answered HTTP {status}"))),
        Err(e) => (None, Some(e)),
    };
    let horizon = chrono::Duration::from_std(settings.horizon).unwrap_or(chrono::Duration::days(1));
    let next = if error.is_none() {
        NextStep::Delivered
    } else if Utc::now() - d.event.created_at >= horizon {
        NextStep::GiveUp
    } else {
        let delay = chrono::Duration::from_std(backoff(settings, d.attempt)).unwrap_or(chrono::Duration::hours(1));
        NextStep::RetryAt(Utc::now() + delay)
    };
    match &error {
        None => tracing::info!(delivery = d.id, event = %d.event.id, attempt = d.attempt, "webhook delivered"),
        Some(e) => {
            tracing::info!(delivery = d.id, event = %d.event.id, attempt = d.attempt, error = %e, "webhook attempt failed");
        }
    }
    let result = AttemptResult {
        delivery_id: d.id,
        subscription_id: d.subscription.id.clone(),
        attempt: d.attempt,
        started_at,
        duration_ms,
        response_status: response_status.map(i64::from),
        error,
        next,
        disable_failing_since: Utc::now() - horizon,
    };
    ctx.store.finish_attempt(&result).await
}

/// The POST itself: the response status, or why there was none.
async fn send(ctx: &ServiceContext, client: &OutboundClient, d: &ClaimedDelivery) -> Result<u16, String> {
    let url = Url::parse(&d.subscription.webhook_url).map_err(|_| "the webhook URL does not parse".to_owned())?;
    let secrets =
        super::signing_secrets(ctx, &d.subscription).map_err(|_| "the signing secret cannot be opened".to_owned())?;
    let body = serde_json::to_vec(&payload(&d.event, &d.project.0.to_string())).map_err(|e| e.to_string())?;
    let timestamp = Utc::now().timestamp();
    let signature = signing::signature(&secrets, &d.event.id, timestamp, &body);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| -> Result<(), String> {
        let value = HeaderValue::from_str(value).map_err(|_| format!("bad {name} header"))?;
        headers.insert(HeaderName::from_static(name), value);
        Ok(())
    };
    put("webhook-id", &d.event.id)?;
    put("webhook-timestamp", &timestamp.to_string())?;
    put("webhook-signature", &signature)?;
    put("x-composio-webhook-version", &d.subscription.version)?;
    put("x-composio-delivery-attempt", &d.attempt.to_string())?;
    match client.post_json(&url, body, headers).await {
        Ok(response) => Ok(response.status),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs the worker until the task is aborted: a round, then (when nothing was due) a pause.
pub fn spawn(
    ctx: Arc<ServiceContext>,
    settings: WebhookSettings,
) -> Result<tokio::task::JoinHandle<()>, reqwest::Error> {
    let client = client(&ctx)?;
    Ok(tokio::spawn(async move {
        loop {
            match run_once(&ctx, &client, &settings).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook delivery round failed"),
            }
            tokio::time::sleep(settings.poll_interval).await;
        }
    }))
}
