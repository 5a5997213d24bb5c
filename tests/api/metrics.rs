//! `GET /metrics` (issue 17 item 3): Prometheus text with requests and latency by route and
//! status, the pool, links created, rate-limit rejections; an optional bearer token. The
//! recorder is the process's, shared by every test of this binary, so values are checked as
//! at least what this test did.

use authlink::http::limits::RateLimitSettings;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, assert_error_ctx, send};

/// The value of the sample `name{labels}` (labels as rendered, in order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_links_and_rejections_by_route_and_status() {
    let app =
        TestApp::builder().rate_limits(RateLimitSettings { api_per_key: 40, ..RateLimitSettings::OFF }).spawn().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1"})).await;
    app.link_ok(&session, json!({"toolkit": "github"})).await;
    app.get(&format!("connected_accounts/{}", crate::helpers::unknown_id("ca_"))).await;
    // Spend the key's quota to see a 429.
    let mut limited = false;
    for _ in 0..60 {
        if app.get("connected_accounts").await.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the per-key quota was never spent");

    let r = send(app.anonymous().request(Method::GET, "/metrics")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = &r.text;
    let at_least = |series: &str, min: f64| {
        let value = sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"));
        assert!(value >= min, "{series} = {value}, expected ≥ {min}");
    };
    at_least(r#"authlink_http_requests_total{method="POST",route="/api/v3.1/tool_router/session",status="201"}"#, 1.0);
    at_least(
        r#"authlink_http_requests_total{method="POST",route="/api/v3.1/tool_router/session/{session_id}/link",status="201"}"#,
        1.0,
    );
    at_least(
        r#"authlink_http_requests_total{method="GET",route="/api/v3.1/connected_accounts/{id}",status="404"}"#,
        1.0,
    );
    at_least(r#"authlink_http_requests_total{method="GET",route="/api/v3.1/connected_accounts",status="429"}"#, 1.0);
    at_least(
        r#"authlink_http_request_duration_seconds_bucket{method="POST",route="/api/v3.1/tool_router/session",status="201",le="+Inf"}"#,
        1.0,
    );
    at_least(
        r#"authlink_http_request_duration_seconds_count{method="POST",route="/api/v3.1/tool_router/session",status="201"}"#,
        1.0,
    );
    at_least(r#"authlink_links_created_total{toolkit="github"}"#, 1.0);
    at_least(r#"authlink_rate_limited_total{policy="api-key"}"#, 1.0);
    at_least(r#"authlink_db_pool_connections{state="idle"}"#, 0.0);
    at_least(r#"authlink_db_pool_connections{state="in_use"}"#, 0.0);
    at_least("authlink_db_pool_max_connections", 1.0);
    assert!(text.contains("# TYPE authlink_http_request_duration_seconds histogram"), "{text}");
    // No id, token or key ever becomes a label.
    assert!(!text.contains(&session), "a session id is a label");
    assert!(!text.contains(&app.api_key), "the API key is in the metrics");
    app.cleanup().await;
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set() {
    let app = TestApp::builder().metrics_token("scrape-secret").spawn().await;
    let cases: [(&str, Option<&str>); 4] = [
        ("no header", None),
        ("wrong token", Some("Bearer nope")),
        ("not bearer", Some("Basic c2NyYXBlLXNlY3JldA==")),
        ("the API key", Some("Bearer scrape-secre")),
    ];
    for (case, value) in cases {
        let mut rb = app.anonymous().request(Method::GET, "/metrics");
        if let Some(value) = value {
            rb = rb.header("authorization", value);
        }
        let r = send(rb).await;
        assert_error_ctx(&r, 401, "HTTP_Unauthorized", case);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "[{case}]");
        assert!(!r.text.contains("authlink_http"), "[{case}] metrics leaked");
    }
    let r =
        send(app.anonymous().request(Method::GET, "/metrics").header("authorization", "Bearer scrape-secret")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("authlink_db_pool_max_connections"), "{}", r.text);
    app.cleanup().await;
}

/// `authlink_db_pool_connections{state="waiting"}`: requests waiting for a database connection.
/// The test takes every connection of the server's pool itself, so the next API request waits;
/// the gauge says 1 while it does (and the request is answered once they are back), 0 after.
#[tokio::test]
async fn the_pool_gauge_counts_requests_waiting_for_a_connection() {
    let app = TestApp::builder().spawn().await;
    let waiting = |text: &str| sample(text, r#"authlink_db_pool_connections{state="waiting"}"#);
    let scrape = || async { send(app.anonymous().request(Method::GET, "/metrics")).await };
    let before = scrape().await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(waiting(&before.text), Some(0.0), "{}", before.text);

    // Every connection the pool may open (10, as TestApp connects it), held here.
    let held = match &app.db {
        crate::db::Db::Pg(pool) => {
            let mut held = Vec::new();
            for _ in 0..pool.options().get_max_connections() {
                held.push(pool.acquire().await.unwrap());
            }
            (held, Vec::new())
        }
        crate::db::Db::Lite(pool) => {
            let mut held = Vec::new();
            for _ in 0..pool.options().get_max_connections() {
                held.push(pool.acquire().await.unwrap());
            }
            (Vec::new(), held)
        }
    };
    let request = {
        let rb = app.api().request(Method::GET, "connected_accounts");
        tokio::spawn(send(rb))
    };
    // The store gives up after 800 ms (then answers 503): look well within that.
    let mut seen = None;
    for _ in 0..50 {
        let r = scrape().await;
        if let Some(n) = waiting(&r.text).filter(|n| *n >= 1.0) {
            seen = Some(n);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(held);
    assert_eq!(seen, Some(1.0), "the waiting request was never counted");
    let answered = request.await.unwrap();
    assert!(matches!(answered.status, 200 | 503), "{} {}", answered.status, answered.text);
    let after = scrape().await;
    assert_eq!(waiting(&after.text), Some(0.0), "{}", after.text);
    app.cleanup().await;
}
