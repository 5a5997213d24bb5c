//! Rate limits (design §5): per API key and per client IP on the API, per client IP and per link
//! on the end user's pages, and failed API-key attempts per client IP. A 429 carries the
//! contract's envelope (API) or an HTML page (pages), `Retry-After`, and the `RateLimit` fields;
//! every response of a limited route carries the fields. A second client IP is 127.0.0.2,
//! which Linux routes over loopback like 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr};

use authlink::http::limits::RateLimitSettings;
use reqwest::Method;

use crate::helpers::{Resp, TestApp, assert_error, send};

const OFF: RateLimitSettings = RateLimitSettings::OFF;

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))).build().unwrap()
}

/// The `r=` and `t=` of `policy` in the response's `RateLimit` field.
#[track_caller]
fn state_of(r: &Resp, policy: &str) -> (u32, u64) {
    let field = r.header("ratelimit").unwrap_or_else(|| panic!("no RateLimit field; headers {:?}", r.headers));
    let item = field
        .split(", ")
        .find(|item| item.starts_with(&format!("\"{policy}\";")))
        .unwrap_or_else(|| panic!("no {policy} in RateLimit: {field}"));
    let param = |name: &str| {
        item.split(';').find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{item}: no {name}"))
    };
    (param("r").parse().unwrap(), param("t").parse().unwrap())
}

#[track_caller]
fn assert_policy(r: &Resp, policy: &str, quota: u32) {
    let field = r.header("ratelimit-policy").unwrap_or_else(|| panic!("no RateLimit-Policy; headers {:?}", r.headers));
    let item = format!("\"{policy}\";q={quota};w=60");
    assert!(field.split(", ").any(|i| i == item), "RateLimit-Policy {field} lacks {item}");
}

/// One limited class: the settings that limit it to 3 per minute, and its n-th request.
struct Case {
    name: &'static str,
    settings: RateLimitSettings,
    policy: &'static str,
    /// Answered by the API (envelope) rather than a page (HTML).
    api: bool,
    /// The status of a request under the limit.
    ok: u16,
}

async fn nth(app: &TestApp, case: &Case, n: usize) -> Resp {
    match case.policy {
        "api-key" | "api-ip" => app.get("auth_configs").await,
        // A fresh token each time: only the per-IP limit applies.
        "page-ip" => send(app.client.get(format!("{}/link/ln_unknown{n}", app.base))).await,
        "page-link" => send(app.client.post(format!("{}/link/ln_same/continue", app.base))).await,
        "failed-auth-ip" => app.as_key("ak_not_a_key_of_anyone").get("auth_configs").await,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn each_class_answers_429_with_retry_after_and_the_ratelimit_fields_past_its_quota() {
    let cases = [
        Case {
            name: "API per key",
            settings: RateLimitSettings { api_per_key: 3, ..OFF },
            policy: "api-key",
            api: true,
            ok: 200,
        },
        Case {
            name: "API per IP",
            settings: RateLimitSettings { api_per_ip: 3, ..OFF },
            policy: "api-ip",
            api: true,
            ok: 200,
        },
        Case {
            name: "pages per IP",
            settings: RateLimitSettings { pages_per_ip: 3, ..OFF },
            policy: "page-ip",
            api: false,
            ok: 404,
        },
        Case {
            name: "pages per link",
            settings: RateLimitSettings { pages_per_link: 3, ..OFF },
            policy: "page-link",
            api: false,
            ok: 404,
        },
        Case {
            name: "failed API keys per IP",
            settings: RateLimitSettings { failed_auth_per_ip: 3, ..OFF },
            policy: "failed-auth-ip",
            api: true,
            ok: 401,
        },
    ];
    for case in &cases {
        let app = TestApp::builder().rate_limits(case.settings).spawn().await;
        for n in 0..3u32 {
            let r = nth(&app, case, n as usize).await;
            assert_eq!(r.status, case.ok, "[{}] request {n}: {}", case.name, r.text);
            assert_policy(&r, case.policy, 3);
            let (remaining, reset) = state_of(&r, case.policy);
            assert_eq!(remaining, 2 - n, "[{}] request {n}", case.name);
            assert_eq!(reset, 20 * (u64::from(n) + 1), "[{}] request {n}: a cell comes back every 20 s", case.name);
        }
        let r = nth(&app, case, 3).await;
        if case.api {
            assert_error(&r, 429, "RateLimit_Exceeded");
            assert_eq!(r.body["error"]["code"], 429, "[{}]", case.name);
        } else {
            assert_eq!(r.status, 429, "[{}]: {}", case.name, r.text);
            assert!(r.header("content-type").unwrap_or("").starts_with("text/html"), "[{}]", case.name);
            assert_eq!(r.header("cache-control"), Some("no-store"), "[{}]", case.name);
            assert!(r.text.contains("Too many requests"), "[{}]: {}", case.name, r.text);
            // The page speaks the user's language (`?lang=` or Accept-Language).
            let de = match case.policy {
                "page-ip" => send(app.client.get(format!("{}/link/ln_unknown9?lang=de", app.base))).await,
                _ => {
                    let rb = app.client.post(format!("{}/link/ln_same/continue", app.base));
                    send(rb.header("accept-language", "de-CH, en;q=0.5")).await
                }
            };
            assert_eq!(de.status, 429, "[{}]", case.name);
            assert!(de.text.contains("<html lang=\"de\""), "[{}]: {}", case.name, de.text);
            assert!(de.text.contains("<h1>Zu viele Anfragen</h1>"), "[{}]: {}", case.name, de.text);
            assert!(
                de.text.contains("Warten Sie 20 Sekunden") || de.text.contains("Warten Sie 19 Sekunden"),
                "[{}]: {}",
                case.name,
                de.text
            );
        }
        let retry_after: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((19..=20).contains(&retry_after), "[{}] Retry-After {retry_after}", case.name);
        assert_policy(&r, case.policy, 3);
        assert_eq!(state_of(&r, case.policy), (0, retry_after), "[{}]", case.name);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn ordinary_responses_of_limited_routes_count_down_and_unlimited_routes_carry_no_fields() {
    // The defaults, advertised.
    let app = TestApp::builder().spawn().await;
    let r = app.get("auth_configs").await;
    r.expect(200, "list");
    assert_policy(&r, "api-key", 6000);
    assert_policy(&r, "api-ip", 12000);
    assert_eq!(state_of(&r, "api-key"), (5999, 1));
    let page = send(app.client.get(format!("{}/link/ln_nope", app.base))).await;
    assert_eq!(page.status, 404);
    assert_policy(&page, "page-ip", 600);
    assert_policy(&page, "page-link", 60);
    assert_eq!(state_of(&page, "page-link"), (59, 1));
    for path in ["/healthz", "/readyz", "/openapi.json", "/assets/authlink.css"] {
        let r = send(app.client.get(format!("{}{path}", app.base))).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("ratelimit").is_none() && r.header("ratelimit-policy").is_none(), "{path} is not limited");
    }
    app.cleanup().await;

    // Quotas that refill slower than the requests come (one a second): each answer shows one less.
    let slow = RateLimitSettings { api_per_key: 60, api_per_ip: 60, pages_per_ip: 60, pages_per_link: 60, ..OFF };
    let app = TestApp::builder().rate_limits(slow).spawn().await;
    let first = app.get("auth_configs").await;
    let second = app.v3().get("auth_configs").await;
    second.expect(200, "list on v3");
    assert_eq!(state_of(&first, "api-key").0, 59);
    assert_eq!(state_of(&second, "api-key").0, 58, "both API versions share the key's quota");
    assert_eq!(state_of(&second, "api-ip").0, 58);
    let page = send(app.client.get(format!("{}/link/ln_nope", app.base))).await;
    let callback = send(app.client.get(format!("{}/oauth/callback?state=x&code=y", app.base))).await;
    assert_eq!((state_of(&page, "page-ip").0, state_of(&callback, "page-ip").0), (59, 58));
    assert!(!callback.header("ratelimit").unwrap_or("").contains("page-link"), "the callback has no link");
    app.cleanup().await;
}

#[tokio::test]
async fn keys_ips_and_links_do_not_share_a_bucket() {
    let app = TestApp::builder()
        .rate_limits(RateLimitSettings { api_per_key: 2, api_per_ip: 4, pages_per_ip: 2, pages_per_link: 1, ..OFF })
        .spawn()
        .await;
    let other_key = app.new_project_key("project-b").await;
    for _ in 0..2 {
        app.get("auth_configs").await.expect(200, "key A within its quota");
    }
    assert_error(&app.get("auth_configs").await, 429, "RateLimit_Exceeded");
    let b = app.as_key(&other_key).get("auth_configs").await;
    b.expect(200, "key B has its own quota");
    assert_eq!(state_of(&b, "api-key").0, 1);
    // 127.0.0.1 has now spent all 4 of its API requests (the 429 counted too).
    let r = app.as_key(&other_key).get("auth_configs").await;
    assert_error(&r, 429, "RateLimit_Exceeded");
    assert!(r.text.contains("from this IP address"), "{}", r.text);
    let elsewhere =
        send(client_from(2).get(format!("{}/api/v3.1/auth_configs", app.base)).header("x-api-key", &other_key)).await;
    elsewhere.expect(200, "another IP has its own quota");
    assert_eq!(state_of(&elsewhere, "api-ip").0, 3);

    let page = |client: reqwest::Client, token: &'static str| {
        let url = format!("{}/link/{token}", app.base);
        async move { send(client.get(url)).await.status }
    };
    assert_eq!(page(app.client.clone(), "ln_one").await, 404);
    assert_eq!(page(app.client.clone(), "ln_one").await, 429, "the link's quota of 1 is spent");
    assert_eq!(page(client_from(2), "ln_two").await, 404, "another link, another IP");
    assert_eq!(page(app.client.clone(), "ln_three").await, 429, "127.0.0.1 spent its 2 page requests");
    assert_eq!(page(client_from(3), "ln_four").await, 404);
    app.cleanup().await;
}

#[tokio::test]
async fn an_ip_that_spent_its_failed_key_attempts_is_refused_before_its_key_is_checked() {
    let app = TestApp::builder().rate_limits(RateLimitSettings { failed_auth_per_ip: 2, ..OFF }).spawn().await;
    app.get("auth_configs").await.expect(200, "a valid key does not count");
    let bad = app.as_key("ak_wrong_key_number_one");
    assert_error(&bad.get("auth_configs").await, 401, "APIKey_InvalidAPIKey");
    for _ in 0..3 {
        let missing = app.anonymous().get("auth_configs").await;
        assert_error(&missing, 401, "Auth_NoAuthProvided");
        assert!(!missing.header("ratelimit").unwrap_or("").contains("failed-auth-ip"), "no key is no guess");
    }
    let user_key =
        send(app.anonymous().request(Method::GET, "auth_configs").header("x-user-api-key", "uak_guess")).await;
    assert_error(&user_key, 401, "HTTP_Unauthorized");
    assert_eq!(state_of(&user_key, "failed-auth-ip").0, 0, "a user key is a presented key");

    // Now even the valid key is refused from this IP: the key is not looked at.
    let r = app.get("auth_configs").await;
    assert_error(&r, 429, "RateLimit_Exceeded");
    assert!(r.text.contains("failed API-key attempts"), "{}", r.text);
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "one attempt comes back every 30 s, not {retry_after}");
    assert_eq!(state_of(&r, "failed-auth-ip"), (0, retry_after));
    let r = send(app.api().request(Method::POST, "auth_configs").header("x-api-key", "ak_guess").body("{}")).await;
    assert_error(&r, 429, "RateLimit_Exceeded");

    let elsewhere =
        send(client_from(2).get(format!("{}/api/v3.1/auth_configs", app.base)).header("x-api-key", &app.api_key)).await;
    elsewhere.expect(200, "another IP is not blocked");
    let page = send(app.client.get(format!("{}/link/ln_x", app.base))).await;
    assert_eq!(page.status, 404, "the pages are not behind the API's failed-key limit");
    app.cleanup().await;
}
