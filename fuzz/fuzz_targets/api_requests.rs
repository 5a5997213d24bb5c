//! Whole requests through the real router on an in-memory SQLite store: the input picks a route
//! and supplies its query string (the list filters), path id and body. Every answer must be
//! below 500 and carry the contract's envelope when it is an error.
#![no_main]
use std::sync::{Arc, OnceLock};

use authlink::{
    AppState, Settings,
    catalog::Catalog,
    config::EncryptionKey,
    crypto::{Sealer, sha256},
    http::limits::{Limits, RateLimitSettings, ServerSettings},
    outbound::OutboundPolicy,
    store::{KeyStore, Store, sqlite::SqliteStore},
};
use axum::{body::Body, http::Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const KEY: &str = "ak_fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz0123456789";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn app() -> &'static axum::Router {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    APP.get_or_init(|| {
        runtime().block_on(async {
            let store = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
            store.create_api_key("fuzz", &sha256(KEY), "fuzz").await.unwrap();
            let store: Arc<dyn Store> = Arc::new(store);
            let settings = Settings {
                public_base: "http://127.0.0.1:1".into(),
                link_ttl: std::time::Duration::from_secs(600),
                callback_allowlist: "https://app.example.com".parse().unwrap(),
                outbound: OutboundPolicy::new("".parse().unwrap(), false),
                link_url_allowlist: "".parse().unwrap(),
                mcp_allowed_origins: "".parse().unwrap(),
            };
            let state = AppState::new(store, Catalog::embedded().unwrap(), Sealer::new(&EncryptionKey([1; 32]), &[]), settings)
                .with_limits(Limits::new(RateLimitSettings::OFF, ServerSettings::default()));
            authlink::app(state)
        })
    })
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v3.1/connected_accounts?"),
    ("GET", "/api/v3/connected_accounts?"),
    ("GET", "/api/v3.1/auth_configs?"),
    ("GET", "/api/v3.1/api_keys?"),
    ("POST", "/api/v3.1/tool_router/session"),
    ("POST", "/api/v3.1/connected_accounts/link"),
    ("POST", "/api/v3.1/connected_accounts"),
    ("POST", "/api/v3.1/auth_configs"),
    ("POST", "/api/v3.1/api_keys"),
    ("GET", "/api/v3.1/connected_accounts/"),
    ("PATCH", "/api/v3.1/connected_accounts/"),
    ("GET", "/api/v3.1/tool_router/session/"),
    ("GET", "/link/"),
    ("GET", "/oauth/callback?"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let (method, prefix) = ROUTES[usize::from(pick) % ROUTES.len()];
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (tail, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    // The tail goes into the URI as the client would send it (percent-encoding what a URI cannot hold).
    let tail: String = tail
        .iter()
        .map(|b| if b.is_ascii_graphic() && !b"#%".contains(b) { (*b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let Ok(request) = Request::builder()
        .method(method)
        .uri(format!("{prefix}{tail}"))
        .header("x-api-key", KEY)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let response = runtime().block_on(app().clone().oneshot(request)).unwrap();
    let status = response.status();
    assert!(status.as_u16() < 500 || status.as_u16() == 503, "{method} {prefix}{tail}: {status}");
});
