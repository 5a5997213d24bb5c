//! The outbound client against a real local HTTP server on 127.0.0.1: what the policy refuses
//! never reaches the server, what the operator allowlists does, redirects are not followed,
//! bodies are capped, and every transport failure looks the same to a tenant.

#![expect(clippy::unwrap_used, reason = "test harness: a failed setup step or lookup should fail the test, loudly")]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authlink::outbound::{OutboundClient, OutboundError, OutboundLimits, OutboundPolicy, OutboundRefusal};
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use url::Url;

const BIG: usize = 4096;

/// Counts every request the server sees, so tests can show a refused call sent nothing.
#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn echo(State(hits): State<Hits>, headers: HeaderMap, body: String) -> Json<serde_json::Value> {
    hits.0.fetch_add(1, Ordering::SeqCst);
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Json(serde_json::json!({
        "authorization": h(header::AUTHORIZATION),
        "content_type": h(header::CONTENT_TYPE),
        "accept": h(header::ACCEPT),
        "user_agent": h(header::USER_AGENT),
        "body": body,
    }))
}

async fn server() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let count = |hits: &Hits| {
        let hits = hits.clone();
        move || hits.0.fetch_add(1, Ordering::SeqCst)
    };
    let (c1, c2, c3, c4) = (count(&hits), count(&hits), count(&hits), count(&hits));
    let app = Router::new()
        .route("/echo", post(echo).get(echo))
        .route(
            "/redirect",
            get(move || async move {
                c1();
                (StatusCode::FOUND, [(header::LOCATION, "/echo")])
            }),
        )
        .route(
            "/big",
            get(move || async move {
                c2();
                vec![b'x'; BIG]
            }),
        )
        .route(
            "/big-stream",
            get(move || async move {
                c3();
                // No Content-Length: the cap must hold while streaming, not only on the header.
                let chunks = (0..BIG / 512).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512]));
                Response::new(Body::from_stream(futures::stream::iter(chunks)))
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                c4();
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late".into_response()
            }),
        )
        .route(
            "/denied",
            post(|| async { (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "invalid_grant"}))) }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

fn limits() -> OutboundLimits {
    OutboundLimits {
        connect_timeout: Duration::from_millis(500),
        total_timeout: Duration::from_millis(700),
        max_response_bytes: 1024,
    }
}

fn client(allowlist: &str) -> OutboundClient {
    OutboundClient::new(OutboundPolicy::new(allowlist.parse().unwrap(), false), limits()).unwrap()
}

fn url(addr: SocketAddr, host: &str, path: &str) -> Url {
    Url::parse(&format!("http://{host}:{}{path}", addr.port())).unwrap()
}

#[tokio::test]
async fn local_server_is_refused_without_allowlist_and_nothing_is_sent() {
    let (addr, hits) = server().await;
    let client = client("");
    let https = Url::parse(&format!("https://127.0.0.1:{}/echo", addr.port())).unwrap();
    for target in [url(addr, "127.0.0.1", "/echo"), https, url(addr, "localhost", "/echo"), url(addr, "[::1]", "/echo")]
    {
        let err = client.get(&target, None).await.unwrap_err();
        assert!(matches!(err, OutboundError::Refused(_)), "{target}: {err:?}");
        assert_eq!(err.public_reason(), "endpoint address not allowed");
        assert_eq!(err.to_string(), "endpoint address not allowed");
    }
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn allowlisting_one_origin_opens_that_origin_only() {
    let (addr, hits) = server().await;
    let (other, other_hits) = server().await;
    let client = client(&format!("http://127.0.0.1:{}", addr.port()));

    let r = client
        .post_form(
            &url(addr, "127.0.0.1", "/echo"),
            &[("grant_type", "refresh_token"), ("x", "a b&c")],
            Some(("id", "secret")),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen["body"], "grant_type=refresh_token&x=a+b%26c");
    assert_eq!(seen["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(seen["accept"], "application/json");
    assert_eq!(seen["authorization"], "Basic aWQ6c2VjcmV0");
    assert_eq!(seen["user_agent"], concat!("authlink/", env!("CARGO_PKG_VERSION")));

    let r = client.get(&url(addr, "127.0.0.1", "/echo"), Some("tok")).await.unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen["authorization"], "Bearer tok");
    assert_eq!(hits.get(), 2);

    // Same host, another port: not allowlisted, so the address rules apply.
    let err = client.get(&url(other, "127.0.0.1", "/echo"), None).await.unwrap_err();
    assert!(matches!(err, OutboundError::Refused(OutboundRefusal::NotHttps)), "{err:?}");
    assert_eq!(other_hits.get(), 0);
}

#[tokio::test]
async fn allowlisted_host_name_is_resolved_and_reached() {
    let (addr, hits) = server().await;
    let client = client(&format!("http://localhost:{}", addr.port()));
    let r = client.get(&url(addr, "localhost", "/echo"), None).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(hits.get(), 1);
}

#[tokio::test]
async fn error_statuses_come_back_to_the_caller() {
    let (addr, _) = server().await;
    let client = client(&format!("http://127.0.0.1:{}", addr.port()));
    let r = client.post_form(&url(addr, "127.0.0.1", "/denied"), &[("code", "c")], None).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(!r.is_success());
    assert_eq!(r.body, br#"{"error":"invalid_grant"}"#);
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (addr, hits) = server().await;
    let client = client(&format!("http://127.0.0.1:{}", addr.port()));
    let r = client.get(&url(addr, "127.0.0.1", "/redirect"), None).await.unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(hits.get(), 1, "only /redirect was requested, /echo never");
}

#[tokio::test]
async fn bodies_over_the_cap_are_an_error() {
    let (addr, _) = server().await;
    let client = client(&format!("http://127.0.0.1:{}", addr.port()));
    for path in ["/big", "/big-stream"] {
        let err = client.get(&url(addr, "127.0.0.1", path), None).await.unwrap_err();
        assert!(matches!(err, OutboundError::TooLarge { limit: 1024 }), "{path}: {err:?}");
        assert_eq!(err.public_reason(), "the endpoint's response was too large");
    }
}

/// A closed port (connection refused) and a server that never answers (timeout) must be
/// indistinguishable to a tenant, or a custom token URL becomes a port scanner.
#[tokio::test]
async fn closed_port_and_timeout_give_the_same_public_text() {
    let (addr, hits) = server().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = client(&format!("http://127.0.0.1:{},http://127.0.0.1:{}", addr.port(), closed.port()));

    let refused = client.get(&url(closed, "127.0.0.1", "/echo"), None).await.unwrap_err();
    let timed_out = client.get(&url(addr, "127.0.0.1", "/slow"), None).await.unwrap_err();
    assert_eq!(hits.get(), 1);

    for err in [&refused, &timed_out] {
        assert!(matches!(err, OutboundError::Transport(_)), "{err:?}");
        assert_eq!(err.public_reason(), "the endpoint could not be used");
    }
    assert_eq!(refused.to_string(), timed_out.to_string());
    // The causes differ, and stay available for logs.
    let cause = |e: &OutboundError| match e {
        OutboundError::Transport(r) => (r.is_connect(), r.is_timeout()),
        _ => unreachable!(),
    };
    assert_eq!(cause(&refused), (true, false));
    assert_eq!(cause(&timed_out), (false, true));
}
