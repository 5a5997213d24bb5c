//! Prometheus metrics (issue 17 item 3), recorded through the `metrics` facade and rendered by
//! `metrics-exporter-prometheus` at `GET /metrics` ([`crate::http::metrics`]).
//!
//! The recorder is the process's global one, installed by [`init`] (which [`crate::app`] calls):
//! metrics are per process, as a Prometheus scrape of each replica expects. Names and labels are
//! kept to bounded sets: routes are the router's matched paths (`/api/v3.1/connected_accounts/{id}`,
//! not the id), toolkits the catalog's or a project's auth configs', outcomes fixed words.

use std::{sync::OnceLock, time::Duration};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds: a create takes a few milliseconds, a callback with a token
/// exchange up to the outbound timeout.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once; `None` when another recorder was installed first (metrics then go
/// there, and `/metrics` says it has nothing).
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    describe_counter!("authlink_http_requests_total", "HTTP requests answered, by method, route and status");
    describe_histogram!(
        "authlink_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method, route and status"
    );
    describe_gauge!("authlink_http_requests_in_flight", "HTTP requests being answered");
    describe_gauge!(
        "authlink_db_pool_connections",
        "Database pool connections by state (in_use, idle), and requests waiting for one (waiting)"
    );
    describe_gauge!("authlink_db_pool_max_connections", "Largest size of the database pool");
    describe_counter!("authlink_db_unavailable_total", "Requests answered 503 because the database could not be used");
    describe_counter!("authlink_links_created_total", "Links created, by toolkit");
    describe_counter!(
        "authlink_links_completed_total",
        "Connections finished at the OAuth callback, by toolkit and outcome (active, failed, pending_verification)"
    );
    describe_counter!(
        "authlink_token_refreshes_total",
        "Token refreshes, by outcome (refreshed, expired, provider_error)"
    );
    describe_counter!("authlink_rate_limited_total", "Requests refused 429 by a rate limit, by policy");
    describe_counter!("authlink_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key");
}

/// The text exposition of every metric; `None` without a recorder of ours.
pub fn render() -> Option<String> {
    init().map(PrometheusHandle::render)
}

/// One answered HTTP request.
pub fn http_request(method: &'static str, route: String, status: u16, took: Duration) {
    let labels = [("method", method.to_owned()), ("route", route), ("status", status.to_string())];
    counter!("authlink_http_requests_total", &labels).increment(1);
    histogram!("authlink_http_request_duration_seconds", &labels).record(took.as_secs_f64());
    if status == 503 {
        counter!("authlink_db_unavailable_total").increment(1);
    }
}

/// Requests in flight: +1 when one starts, -1 when it ends.
pub fn in_flight(delta: f64) {
    gauge!("authlink_http_requests_in_flight").increment(delta);
}

/// The database pool, sampled at each scrape.
pub fn pool(stats: crate::store::PoolStats) {
    gauge!("authlink_db_pool_connections", "state" => "in_use").set(f64::from(stats.size.saturating_sub(stats.idle)));
    gauge!("authlink_db_pool_connections", "state" => "idle").set(f64::from(stats.idle));
    gauge!("authlink_db_pool_connections", "state" => "waiting").set(f64::from(stats.waiting));
    gauge!("authlink_db_pool_max_connections").set(f64::from(stats.max));
}

pub fn link_created(toolkit: &str) {
    counter!("authlink_links_created_total", "toolkit" => toolkit.to_owned()).increment(1);
}

/// `outcome`: `active`, `failed` or `pending_verification` (user-bound completion).
pub fn link_completed(toolkit: &str, outcome: &'static str) {
    counter!("authlink_links_completed_total", "toolkit" => toolkit.to_owned(), "outcome" => outcome).increment(1);
}

/// `outcome`: `refreshed`, `expired` (the provider refused the refresh token) or `provider_error`.
pub fn refresh(outcome: &'static str) {
    counter!("authlink_token_refreshes_total", "outcome" => outcome).increment(1);
}

pub fn rate_limited(policy: &'static str) {
    counter!("authlink_rate_limited_total", "policy" => policy).increment(1);
}

pub fn idempotent_replay() {
    counter!("authlink_idempotent_replays_total").increment(1);
}
